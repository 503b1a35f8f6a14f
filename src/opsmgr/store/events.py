"""The event outbox: rows appended in the transaction of a state change, read in id order; and the durable
cursors of its consumers (`event_consumer`), each leased by one process at a time."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, insert, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from opsmgr.store.jobs import visible_clause
from opsmgr.store.schema import event, event_consumer, job, trigger


def insert_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """One INSERT statement for all of `rows` (executemany)."""
    conn.execute(insert(event), rows)


def job_summary(conn: Connection, job_id: str) -> dict[str, Any] | None:
    stmt = select(job.c.id, job.c.name, job.c.status, job.c.trigger, job.c.parent).where(job.c.id == job_id)
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def stored_status(conn: Connection, job_id: str) -> str | None:
    return conn.execute(select(job.c.status).where(job.c.id == job_id)).scalar_one_or_none()


def events_after(conn: Connection, after: int, groups: Iterable[str] | None, limit: int) -> list[dict[str, Any]]:
    """Every event with an id above `after`, in id order, each with `visible`: whether a caller in `groups`
    may see it (None: admin, every event). For others the job must still exist: the groups of a deleted
    job are gone, and so are its events. Invisible rows are returned too (without payload) so that a
    reader can tell a gap in the ids (a transaction not yet committed) from a filtered event."""
    if groups is None:
        visible: Any = literal(True)
    else:
        visible = and_(exists().where(job.c.id == event.c.job_id), visible_clause(event.c.job_id, groups))
    stmt = select(event.c.id, event.c.source, event.c.topic, event.c.at, event.c.payload, visible.label("visible"))
    rows = conn.execute(stmt.where(event.c.id > after).order_by(event.c.id).limit(limit)).mappings()
    return [{**r, "visible": bool(r["visible"])} for r in rows]

def latest_id(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(event.c.id), 0))).scalar_one())


# consumer cursors ---------------------------------------------------------------------------------------------


def ensure_consumer(conn: Connection, name: str, last_event_id: int) -> None:
    """Create the cursor `name` at `last_event_id` unless it exists (two processes may race here)."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(event_consumer).values(name=name, last_event_id=last_event_id, attempts=0)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))


def get_consumer(conn: Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute(select(event_consumer).where(event_consumer.c.name == name)).mappings().first()
    return dict(row) if row else None


def lease_consumer(conn: Connection, name: str, owner: str, now: int, until: int) -> bool:
    """Take or extend the lease of cursor `name`: ONE conditional UPDATE, so of several processes at most
    one holds it (the holder, or anyone once it expired)."""
    c = event_consumer.c
    stmt = update(event_consumer).where(
        c.name == name, or_(c.lease_owner == owner, c.lease_owner.is_(None), c.lease_until < now)
    ).values(lease_owner=owner, lease_until=until)
    return bool(conn.execute(stmt).rowcount)


def move_consumer(conn: Connection, name: str, owner: str, last: int, values: dict[str, Any]) -> bool:
    """Update cursor `name` only if it still stands at `last` under our lease (a fencing check: a process
    that lost its lease, or raced another, changes nothing)."""
    c = event_consumer.c
    stmt = update(event_consumer).where(c.name == name, c.last_event_id == last, c.lease_owner == owner)
    return bool(conn.execute(stmt.values(**values)).rowcount)


def delete_consumer(conn: Connection, name: str) -> None:
    conn.execute(delete(event_consumer).where(event_consumer.c.name == name))


def event_triggers(conn: Connection) -> list[dict[str, Any]]:
    """The enabled eventSystem triggers."""
    stmt = select(trigger).where(trigger.c.type == "eventSystem", trigger.c.enabled.is_(True)).order_by(trigger.c.id)
    return [dict(r) for r in conn.execute(stmt).mappings()]
