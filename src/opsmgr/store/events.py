"""The event outbox: rows appended in the transaction of a state change, read in id order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, and_, exists, func, insert, literal, select

from opsmgr.store.jobs import visible_clause
from opsmgr.store.schema import event, job


def insert_event(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(event).values(**values))


def job_summary(conn: Connection, job_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(job.c.id, job.c.name, job.c.status).where(job.c.id == job_id)).mappings().first()
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
