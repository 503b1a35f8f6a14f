"""trigger.next_run_at: the due time of a schedule trigger, claimed by the scheduler

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('trigger', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_run_at', sa.BigInteger(), nullable=True))
        batch_op.create_index('ix_trigger_next_run', ['next_run_at'], unique=False)
    # enabled schedules saved before this revision get their next due time from now on
    import time

    from opsmgr.domain.triggers import next_run_at

    bind = op.get_bind()
    table = sa.table('trigger', sa.column('id', sa.String), sa.column('type', sa.String),
                     sa.column('enabled', sa.Boolean), sa.column('document', sa.JSON),
                     sa.column('next_run_at', sa.BigInteger))
    now = int(time.time() * 1000)
    rows = bind.execute(sa.select(table.c.id, table.c.document)
                        .where(table.c.type == 'schedule', table.c.enabled.is_(True))).all()
    for row in rows:
        document = row.document if isinstance(row.document, dict) else {}
        due = next_run_at({**document, 'type': 'schedule', 'enabled': True}, now) if 'firstRunAt' in document else None
        if due is not None:
            bind.execute(sa.update(table).where(table.c.id == row.id).values(next_run_at=due))


def downgrade() -> None:
    with op.batch_alter_table('trigger', schema=None) as batch_op:
        batch_op.drop_index('ix_trigger_next_run')
        batch_op.drop_column('next_run_at')
