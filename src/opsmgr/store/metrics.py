"""Aggregate job and task metrics (`GET /workflow_engine/{jobs,tasks}/metrics`, workflow-semantics §6).

Everything is computed by the database: one GROUP BY query per page with conditional aggregates
(`SUM(CASE ...)`, portable to SQLite and PostgreSQL) and one count of the groups. Run time is
`end_time - start_time` in milliseconds, summed over the rows that have an end time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Float, and_, case, cast, func, literal, select, true

from opsmgr.store.jobs import visible_clause
from opsmgr.store.schema import job, task

JOB_STATUSES = ("running", "complete", "error", "canceled", "paused")
TASK_STATUSES = ("incomplete", "scheduled", "running", "paused", "complete", "error", "failure", "canceled")
FINISH_STATES = ("success", "failure", "error")


@dataclass(frozen=True)
class Filter:
    """What to aggregate and which page of groups to return. Keys name the group columns below."""

    groups: frozenset[str] | None  # the caller's groups; None = no restriction (admin)
    since: int | None = None  # start_time >= since (epoch ms)
    equals: tuple[str, str] | None = None  # (key, value)
    contains: tuple[str, str] | None = None  # (key, value)
    sort: str = "workflow"
    order: int = 1
    skip: int = 0
    limit: int = 25


# group columns by key: what equals/contains/sort may name
JOB_KEYS: dict[str, Any] = {"workflow": job.c.name}
TASK_KEYS: dict[str, Any] = {
    "workflow": job.c.name,
    "task_key": task.c.task_key,
    "name": task.c.name,
    "app": task.c.app,
    "type": task.c.type,
}


def _count_if(cond: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)


def _time_if(table: Any, cond: ColumnElement[bool]) -> ColumnElement[Any]:
    timed = and_(cond, table.c.end_time.is_not(None))
    return func.coalesce(func.sum(case((timed, table.c.end_time - table.c.start_time), else_=0)), 0)


def _timed_if(table: Any, cond: ColumnElement[bool]) -> ColumnElement[Any]:
    return _count_if(and_(cond, table.c.end_time.is_not(None)))


def _average(total: ColumnElement[Any], n: ColumnElement[Any]) -> ColumnElement[Any]:
    """Average for sorting; groups without a timed row sort as -1 (below every real average)."""
    return func.coalesce(cast(total, Float) / func.nullif(n, 0), literal(-1.0))


def _where(f: Filter, keys: dict[str, Any], start: Any, job_id: Any) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = [visible_clause(job_id, f.groups)]
    if f.since is not None:
        clauses.append(start >= f.since)
    if f.equals is not None:
        clauses.append(keys[f.equals[0]] == f.equals[1])
    if f.contains is not None:
        clauses.append(keys[f.contains[0]].contains(f.contains[1], autoescape=True))
    return and_(true(), *clauses)


def _order(sort_col: Any, order: int, tie_break: list[Any]) -> list[Any]:
    first = sort_col.desc() if order == -1 else sort_col.asc()
    return [first, *(c.asc() for c in tie_break if c is not sort_col)]


def _page(
    conn: Connection, stmt: Any, group_cols: list[Any], f: Filter, sort_col: Any
) -> tuple[list[dict[str, Any]], int]:
    total = conn.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = conn.execute(stmt.order_by(*_order(sort_col, f.order, group_cols)).offset(f.skip).limit(f.limit))
    # aggregates come back as int (SQLite) or Decimal (PostgreSQL SUM of BIGINT): make them int
    found = [{k: v if v is None or isinstance(v, str) else int(v) for k, v in r.items()} for r in rows.mappings()]
    return found, int(total)


def job_metrics(conn: Connection, f: Filter) -> tuple[list[dict[str, Any]], int]:
    """One row per workflow (job name): `workflow`, `n_<status>` counts, and for every status
    `time_<status>` (summed run time) and `timed_<status>` (rows with an end time). Plus the total."""
    aggregates: dict[str, ColumnElement[Any]] = {}
    for status in JOB_STATUSES:
        is_status = job.c.status == status
        aggregates[f"n_{status}"] = _count_if(is_status)
        aggregates[f"time_{status}"] = _time_if(job, is_status)
        aggregates[f"timed_{status}"] = _timed_if(job, is_status)
    sorts = {
        "workflow": job.c.name,
        "jobs_complete": aggregates["n_complete"],
        "total_run_time": aggregates["time_complete"],
        "average_run_time": _average(aggregates["time_complete"], aggregates["timed_complete"]),
    }
    stmt = (
        select(job.c.name.label("workflow"), *(v.label(k) for k, v in aggregates.items()))
        .where(_where(f, JOB_KEYS, job.c.start_time, job.c.id))
        .group_by(job.c.name)
    )
    return _page(conn, stmt, [job.c.name], f, sorts[f.sort])


def task_metrics(conn: Connection, f: Filter) -> tuple[list[dict[str, Any]], int]:
    """One row per (workflow, task key, app, name, type): `n_<status>` counts, and per finish state
    `n_<state>`, `time_<state>`, `timed_<state>` (prefixed `fs_`). Plus the total number of rows."""
    aggregates: dict[str, ColumnElement[Any]] = {"runs": func.count()}
    for status in TASK_STATUSES:
        aggregates[f"n_{status}"] = _count_if(task.c.status == status)
    for state in FINISH_STATES:
        is_state = task.c.finish_state == state
        aggregates[f"fs_n_{state}"] = _count_if(is_state)
        aggregates[f"fs_time_{state}"] = _time_if(task, is_state)
        aggregates[f"fs_timed_{state}"] = _timed_if(task, is_state)
    group_cols = [TASK_KEYS[k] for k in ("workflow", "task_key", "app", "name", "type")]
    stmt = (
        select(*(TASK_KEYS[k].label(k) for k in TASK_KEYS), *(v.label(k) for k, v in aggregates.items()))
        .select_from(task.join(job, job.c.id == task.c.job_id))
        .where(_where(f, TASK_KEYS, task.c.start_time, task.c.job_id))
        .group_by(*group_cols)
    )
    return _page(conn, stmt, group_cols, f, TASK_KEYS[f.sort])
