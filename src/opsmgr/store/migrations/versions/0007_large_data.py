"""job_data: large job variables and task outputs stored aside, served by GET /operations-manager/large-data/:id

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'job_data',
        sa.Column('id', sa.String(length=24), nullable=False),
        sa.Column('job_id', sa.String(length=24), nullable=False),
        sa.Column('task_id', sa.String(length=36), nullable=True),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('value', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'),
                  nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('created', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_job_data_job', 'job_data', ['job_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_job_data_job', table_name='job_data')
    op.drop_table('job_data')
