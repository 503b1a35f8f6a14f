"""Jobs and their GBAC groups."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, Text, cast, delete, exists, func, insert, not_, or_, select, update

from opsmgr.store.schema import job, job_group


def _one(conn: Connection, stmt: Any) -> dict[str, Any] | None:
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def insert_job(conn: Connection, values: dict[str, Any], groups: list[str]) -> None:
    conn.execute(insert(job).values(**values))
    set_job_groups(conn, values["id"], groups)


def get_job(conn: Connection, job_id: str, for_update: bool = False) -> dict[str, Any] | None:
    stmt = select(job).where(job.c.id == job_id)
    if for_update:
        stmt = stmt.with_for_update()  # serializes outcomes of parallel branches on PostgreSQL
    return _one(conn, stmt)


def update_job(conn: Connection, job_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(job).where(job.c.id == job_id).values(**values))


def job_groups(conn: Connection, job_id: str) -> list[str]:
    rows = conn.execute(
        select(job_group.c.group_id).where(job_group.c.job_id == job_id).order_by(job_group.c.position)
    )
    return [r.group_id for r in rows]


def groups_of_jobs(conn: Connection, job_ids: Iterable[str]) -> dict[str, list[str]]:
    ids = list(set(job_ids))
    found: dict[str, list[str]] = {i: [] for i in ids}
    if ids:
        rows = conn.execute(
            select(job_group.c.job_id, job_group.c.group_id)
            .where(job_group.c.job_id.in_(ids))
            .order_by(job_group.c.job_id, job_group.c.position)
        )
        for r in rows:
            found[r.job_id].append(r.group_id)
    return found


def set_job_groups(conn: Connection, job_id: str, groups: list[str]) -> None:
    conn.execute(delete(job_group).where(job_group.c.job_id == job_id))
    rows = [{"job_id": job_id, "group_id": g, "position": i} for i, g in enumerate(dict.fromkeys(groups))]
    if rows:
        conn.execute(insert(job_group), rows)


def visible_clause(job_id_column: Any, groups: Iterable[str] | None) -> ColumnElement[bool]:
    """Rows whose job has no groups or shares one with `groups` (None: no restriction, admin)."""
    if groups is None:
        return job_id_column.is_not(None)
    any_group = exists().where(job_group.c.job_id == job_id_column)
    shared = exists().where(job_group.c.job_id == job_id_column, job_group.c.group_id.in_(list(groups)))
    return or_(not_(any_group), shared)


def search_jobs(
    conn: Connection, where: ColumnElement[bool], order: list[Any], skip: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    total = conn.execute(select(func.count()).select_from(job).where(where)).scalar_one()
    rows = conn.execute(select(job).where(where).order_by(*order).offset(skip).limit(limit)).mappings()
    return [dict(r) for r in rows], total


# job controls (issue #3) -------------------------------------------------------------------------


def descendants(conn: Connection, job_id: str, for_update: bool = False) -> list[dict[str, Any]]:
    """The child jobs of `job_id` at any depth: jobs other than itself whose `ancestors` hold its id.

    `ancestors` is JSON; the text match (ids are 24 hex, so nothing in them is a LIKE wildcard) narrows
    the rows on both dialects and the exact test is made here.
    """
    stmt = select(job).where(job.c.id != job_id, cast(job.c.ancestors, Text).like(f'%"{job_id}"%'))
    if for_update:
        stmt = stmt.with_for_update()
    rows = [dict(r) for r in conn.execute(stmt.order_by(job.c.id)).mappings()]
    return [r for r in rows if job_id in (r["ancestors"] or [])]


def delete_jobs(conn: Connection, job_ids: list[str]) -> int:
    """Delete jobs and their group rows; returns the number of jobs deleted."""
    if not job_ids:
        return 0
    conn.execute(delete(job_group).where(job_group.c.job_id.in_(job_ids)))
    return int(conn.execute(delete(job).where(job.c.id.in_(job_ids))).rowcount)
