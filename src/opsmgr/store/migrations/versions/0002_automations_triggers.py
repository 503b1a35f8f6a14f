"""automations and triggers; job.trigger

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('automation',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('component_type', sa.String(length=40), nullable=True),
    sa.Column('component_id', sa.String(length=36), nullable=True),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=24), nullable=True),
    sa.Column('last_updated', sa.BigInteger(), nullable=False),
    sa.Column('last_updated_by', sa.String(length=24), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('automation_group',
    sa.Column('automation_id', sa.String(length=24), nullable=False),
    sa.Column('access', sa.String(length=8), nullable=False),
    sa.Column('group_id', sa.String(length=24), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['automation_id'], ['automation.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('automation_id', 'access', 'group_id')
    )
    with op.batch_alter_table('automation_group', schema=None) as batch_op:
        batch_op.create_index('ix_automation_group_group', ['group_id'], unique=False)

    op.create_table('trigger',
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('action_type', sa.String(length=20), nullable=False),
    sa.Column('action_id', sa.String(length=24), nullable=False),
    sa.Column('route_name', sa.String(length=200), nullable=True),
    sa.Column('document', _json(), nullable=False),
    sa.Column('last_executed', sa.BigInteger(), nullable=True),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('created_by', sa.String(length=24), nullable=True),
    sa.Column('last_updated', sa.BigInteger(), nullable=False),
    sa.Column('last_updated_by', sa.String(length=24), nullable=True),
    sa.ForeignKeyConstraint(['action_id'], ['automation.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('trigger', schema=None) as batch_op:
        batch_op.create_index('ix_trigger_action', ['action_id'], unique=False)
        batch_op.create_index('ix_trigger_name', ['name'], unique=False)
        batch_op.create_index('ux_trigger_enabled_route', ['route_name'], unique=True,
                              sqlite_where=sa.text('enabled = 1 AND route_name IS NOT NULL'),
                              postgresql_where=sa.text('enabled AND route_name IS NOT NULL'))

    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.add_column(sa.Column('trigger', _json(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('job', schema=None) as batch_op:
        batch_op.drop_column('trigger')
    with op.batch_alter_table('trigger', schema=None) as batch_op:
        batch_op.drop_index('ux_trigger_enabled_route')
        batch_op.drop_index('ix_trigger_name')
        batch_op.drop_index('ix_trigger_action')
    op.drop_table('trigger')
    with op.batch_alter_table('automation_group', schema=None) as batch_op:
        batch_op.drop_index('ix_automation_group_group')
    op.drop_table('automation_group')
    op.drop_table('automation')
