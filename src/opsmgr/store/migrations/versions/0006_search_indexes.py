"""search: a `visibility` key on jobs and tasks, and the indexes of the search queries (ADR 0009)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-11 10:00:00.000000
"""

from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

TASK_INDEXES = {
    'ix_task_status_type_start': ['status', 'type', 'start_time', 'visibility', 'id'],
    'ix_task_visibility_start': ['visibility', 'start_time'],
    'ix_task_visibility_name': ['visibility', 'name'],
    'ix_task_start_id': ['start_time', 'id', 'visibility'],
    'ix_task_name_id': ['name', 'id', 'visibility'],
}
WAITING = ['type', 'status', 'start_time', 'id', 'visibility', 'owner', 'job_id', 'groups']


def upgrade() -> None:
    op.add_column('job', sa.Column('visibility', sa.Text(), server_default='', nullable=False))
    op.add_column('task', sa.Column('visibility', sa.Text(), server_default='', nullable=False))
    _backfill()
    op.create_index('ix_job_visibility', 'job', ['visibility'], unique=False)
    if op.get_bind().dialect.name == 'sqlite':  # PostgreSQL limits a B-tree entry to ~2.7 kB
        op.create_index('ix_job_visibility_variables', 'job', ['visibility', 'variables', 'id'], unique=False)
    op.drop_index('ix_task_status_type', table_name='task')
    for name, columns in TASK_INDEXES.items():
        op.create_index(name, 'task', columns, unique=False)
    waiting = sa.text("type = 'manual' AND status = 'running'")
    op.create_index('ix_task_waiting', 'task', WAITING, unique=False, sqlite_where=waiting, postgresql_where=waiting)


def _backfill() -> None:
    """Each job with groups gets its key (sorted ids, space-separated), and so do its task iterations."""
    conn = op.get_bind()
    groups: dict[str, list[str]] = {}
    for job_id, group_id in conn.execute(sa.text('SELECT job_id, group_id FROM job_group')):
        groups.setdefault(job_id, []).append(group_id)
    keys = [{'id': job_id, 'k': ' '.join(sorted(set(gs)))} for job_id, gs in groups.items()]
    if keys:
        conn.execute(sa.text('UPDATE job SET visibility = :k WHERE id = :id'), keys)
        conn.execute(sa.text('UPDATE task SET visibility = :k WHERE job_id = :id'), keys)


def downgrade() -> None:
    op.drop_index('ix_task_waiting', table_name='task')
    for name in TASK_INDEXES:
        op.drop_index(name, table_name='task')
    op.create_index('ix_task_status_type', 'task', ['status', 'type'], unique=False)
    if op.get_bind().dialect.name == 'sqlite':
        op.drop_index('ix_job_visibility_variables', table_name='job')
    op.drop_index('ix_job_visibility', table_name='job')
    with op.batch_alter_table('task') as batch:
        batch.drop_column('visibility')
    with op.batch_alter_table('job') as batch:
        batch.drop_column('visibility')
