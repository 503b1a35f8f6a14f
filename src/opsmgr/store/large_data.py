"""Large variable values stored aside from their job row (`job_data`, migration 0007; services.large_data)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from opsmgr.store.schema import job_data


def insert_values(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(job_data), rows)


def values_of(conn: Connection, job_id: str, ids: Iterable[str]) -> dict[str, Any]:
    """The stored values of `ids` that belong to `job_id` (a reference never reads another job's data)."""
    rows = conn.execute(
        select(job_data.c.id, job_data.c.value).where(job_data.c.job_id == job_id, job_data.c.id.in_(list(ids)))
    )
    return {r.id: r.value for r in rows}


def get_value(conn: Connection, data_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(job_data.c.id, job_data.c.job_id, job_data.c.value).where(job_data.c.id == data_id)
    ).mappings().first()
    return dict(row) if row else None


def delete_ids(conn: Connection, ids: list[str]) -> None:
    if ids:
        conn.execute(delete(job_data).where(job_data.c.id.in_(ids)))


def delete_of_jobs(conn: Connection, job_ids: list[str]) -> int:
    """Delete the large values of `job_ids`; returns how many."""
    if not job_ids:
        return 0
    return int(conn.execute(delete(job_data).where(job_data.c.job_id.in_(job_ids))).rowcount)
