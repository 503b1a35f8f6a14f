"""Task iterations, their history, and the work queue of automatic tasks.

The claim is one conditional UPDATE: it sets the owner only where there is none and the task still
waits for a person, and reports through its row count whether this caller won.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    True_,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BooleanClauseList

from opsmgr.store.jobs import matching_ids, resolve_visibility
from opsmgr.store.schema import job, job_group, task, task_history

JOB_SUMMARY = (
    job.c.name.label("job_name"),
    job.c.description.label("job_description"),
    job.c.ancestors.label("job_ancestors"),
)


def insert_tasks(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert iterations; each takes its job's `visibility` key (store.jobs) unless the row carries it."""
    if not rows:
        return
    missing = {r["job_id"] for r in rows if "visibility" not in r}
    if missing:
        found = conn.execute(select(job.c.id, job.c.visibility).where(job.c.id.in_(missing)))
        keys = {r.id: r.visibility for r in found}
        rows = [r if "visibility" in r else {**r, "visibility": keys.get(r["job_id"], "")} for r in rows]
    conn.execute(insert(task), rows)


def get_task(conn: Connection, task_id: str) -> dict[str, Any] | None:
    """A task iteration with the summary of its job (name, description, ancestors)."""
    stmt = select(task, *JOB_SUMMARY).join(job, job.c.id == task.c.job_id).where(task.c.id == task_id)
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def latest_iteration(conn: Connection, job_id: str, task_key: str) -> dict[str, Any] | None:
    stmt = (
        select(task, *JOB_SUMMARY)
        .join(job, job.c.id == task.c.job_id)
        .where(and_(task.c.job_id == job_id, task.c.task_key == task_key))
        .order_by(task.c.start_time.desc(), task.c.id.desc())
        .limit(1)
    )
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


# The claim path runs these statements thousands of times a second: they are built once, so each call
# skips building the expression and its cache key and goes straight to the compiled form.
_TASK_WITH_JOB_GROUPS = (
    select(task, *JOB_SUMMARY, job_group.c.group_id.label("job_group_id"))
    .select_from(
        task.join(job, job.c.id == task.c.job_id).outerjoin(job_group, job_group.c.job_id == task.c.job_id)
    )
    .where(task.c.id == bindparam("task_id"))
    .order_by(job_group.c.position)
)
_CLAIM = (
    update(task)
    .where(
        and_(
            task.c.id == bindparam("task_id"),
            task.c.type == "manual",
            task.c.status == "running",
            task.c.owner.is_(None),
        )
    )
    .values(owner=bindparam("new_owner"), claim_time=bindparam("at"), last_updated=bindparam("at"))
)
_APPEND_HISTORY = insert(task_history)


def task_with_job_groups(conn: Connection, task_id: str) -> tuple[dict[str, Any] | None, list[str]]:
    """`get_task` and the groups of its job, in one statement (one row per job group)."""
    rows = conn.execute(_TASK_WITH_JOB_GROUPS, {"task_id": task_id}).mappings().all()
    if not rows:
        return None, []
    row = dict(rows[0])
    del row["job_group_id"]
    return row, [r["job_group_id"] for r in rows if r["job_group_id"] is not None]


def claim_if_unowned(conn: Connection, task_id: str, owner: str, now: int) -> bool:
    """Make `owner` the owner if the task waits for a person and has none; True if this call won."""
    result = conn.execute(_CLAIM, {"task_id": task_id, "new_owner": owner, "at": now})
    return result.rowcount == 1


def set_owner_if(conn: Connection, task_id: str, expected: str | None, owner: str | None, now: int) -> bool:
    """Replace the owner only if it is still `expected` and the task still waits (release, assign)."""
    current = task.c.owner.is_(None) if expected is None else task.c.owner == expected
    result = conn.execute(
        update(task)
        .where(and_(task.c.id == task_id, task.c.type == "manual", task.c.status == "running", current))
        .values(owner=owner, claim_time=now if owner else None, last_updated=now)
    )
    return result.rowcount == 1


def finish_if_owned(conn: Connection, task_id: str, owner: str, values: dict[str, Any]) -> bool:
    """Finish a waiting manual task if `owner` still holds it."""
    result = conn.execute(
        update(task)
        .where(
            and_(
                task.c.id == task_id,
                task.c.type == "manual",
                task.c.status == "running",
                task.c.owner == owner,
            )
        )
        .values(**values)
    )
    return result.rowcount == 1


def update_task(conn: Connection, task_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(task).where(task.c.id == task_id).values(**values))


def cancel_waiting(conn: Connection, job_id: str, now: int) -> list[str]:
    """Cancel every iteration of a job that has not finished; returns their ids."""
    ids = [
        r.id
        for r in conn.execute(
            select(task.c.id).where(
                and_(task.c.job_id == job_id, task.c.status.in_(("running", "scheduled", "paused")))
            )
        )
    ]
    if ids:
        conn.execute(
            update(task)
            .where(task.c.id.in_(ids))
            .values(status="canceled", end_time=now, last_updated=now, queue_state=None, lease_until=None)
        )
    return ids


def append_history(
    conn: Connection,
    task_id: str,
    action: str,
    by: str,
    from_owner: str | None,
    to_owner: str | None,
    at: int,
    detail: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        _APPEND_HISTORY,
        {"task_id": task_id, "action": action, "by": by, "from_owner": from_owner, "to_owner": to_owner,
         "at": at, "detail": detail},
    )


def history(conn: Connection, task_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(task_history).where(task_history.c.task_id == task_id).order_by(task_history.c.id)
    ).mappings()
    return [dict(r) for r in rows]


def search_tasks(
    conn: Connection, where: ColumnElement[bool], order: list[Any], skip: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of iterations (with their job summary) and the exact number matching `where`.

    Two statements (ADR 0009): the count, and the page's ids (skipped rows are only index entries), whose
    rows alone are then read and joined with their job. A text pattern on `name` is matched against the
    few distinct names first (`_names_matching`), so it becomes index seeks instead of a scan.
    """
    where = resolve_visibility(conn, task, _names_matching(where))
    few = matching_ids(conn, task, where)
    page_where: ColumnElement[bool]
    if few is not None:
        total, page_where = len(few), task.c.id.in_(few)
    else:
        total = conn.execute(_count(task, where)).scalar_one()
        page_where = where if conn.dialect.name == "postgresql" else _walk_in_order(where)
    if skip >= total:
        return [], total
    page = select(task.c.id).where(page_where).order_by(*order).offset(skip).limit(limit).subquery()
    stmt = (
        select(task, *JOB_SUMMARY)
        .join(page, page.c.id == task.c.id)
        .join(job, job.c.id == task.c.job_id)
        .order_by(*order)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()], total


def _count(table: Any, where: ColumnElement[bool]) -> Any:
    """`count(*)`, without a WHERE when there is no condition (SQLite then counts the smallest index)."""
    stmt = select(func.count()).select_from(table)
    return stmt if isinstance(where, True_) else stmt.where(where)


def _walk_in_order(where: ColumnElement[bool]) -> ColumnElement[bool]:
    """`where` with `visibility` hidden from the planner (`visibility || ''`, the same value).

    The count wants the (visibility, ...) indexes: a range per visible key holds exactly the matches. A
    page of many matches does not: from several ranges, SQLite would sort every match to find 25. Without
    them it walks the index of the sort key (`ix_task_start_id`, `ix_task_name_id`), checking visibility
    in the index entry, and stops after skip + limit matches.
    """
    def replace(term: Any) -> Any:
        if isinstance(term, BinaryExpression) and term.left is task.c.visibility:
            return BinaryExpression(task.c.visibility + "", term.right, term.operator)
        return term

    return _each_term(where, replace)


def _names_matching(where: ColumnElement[bool]) -> ColumnElement[bool]:
    """Rewrite each text pattern on `task.name` (contains, starts-with, ends-with: store.search's
    `pattern_match`) into `name IN (the distinct names that match it)`.

    Task names are few (one per task type a workflow uses: hundreds, not millions), and a recursive
    query reads the distinct ones with one index seek each (a loose index scan of `ix_task_name_id`).
    The pattern is the same element, applied to each distinct name instead of each row.
    """
    def replace(term: Any) -> Any:
        match = getattr(term, "element", term)  # in a WHERE, a boolean function sits in AsBoolean
        if getattr(match, "name", None) != "pattern_match":
            return term
        column, *patterns = list(match.clauses)
        if column is not task.c.name:
            return term
        return task.c.name.in_(select(_NAMES.c.n).where(type(match)(_NAMES.c.n, *patterns)))

    return _each_term(where, replace)


def _each_term(where: ColumnElement[bool], replace: Callable[[Any], Any]) -> ColumnElement[bool]:
    """`where` with each of its top-level AND terms passed through `replace` (the conditions of a
    search and the visibility clause are such terms; nothing deeper is rewritten)."""
    terms = list(where.clauses) if isinstance(where, BooleanClauseList) and where.operator is operators.and_ \
        else [where]
    changed = [replace(t) for t in terms]
    if all(a is b for a, b in zip(changed, terms, strict=True)):
        return where
    return and_(*changed)


def _distinct_names() -> Any:
    names = select(func.min(task.c.name).label("n")).cte("task_names", recursive=True)
    following = select(func.min(task.c.name)).where(task.c.name > names.c.n).scalar_subquery()
    return names.union_all(select(following).where(names.c.n.is_not(None)))


_NAMES = _distinct_names()


def tasks_of_job(conn: Connection, job_id: str) -> list[dict[str, Any]]:
    stmt = select(task).where(task.c.job_id == job_id).order_by(task.c.start_time, task.c.id)
    return [dict(r) for r in conn.execute(stmt).mappings()]


# work queue --------------------------------------------------------------------------------------


def lease_ready(
    conn: Connection, now: int, limit: int, server_id: str, lease_until: int, skip_locked: bool
) -> list[dict[str, Any]]:
    """Take up to `limit` due automatic tasks (or ones whose lease ran out) for this server.

    A task that has not started yet (`scheduled`) is taken only while its job is `running`: a paused or
    errored job starts nothing new (decisions §6). One that already started (`running`: back from a wait,
    or its lease ran out) is taken whatever the job's status, so running tasks finish.
    """
    due = or_(
        and_(task.c.queue_state == "ready", task.c.due_at <= now),
        and_(task.c.queue_state == "leased", task.c.lease_until < now),
    )
    stmt = select(task.c.id).where(due, _may_start()).order_by(task.c.due_at, task.c.id).limit(limit)
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True)
    ids = [r.id for r in conn.execute(stmt)]
    if not ids:
        return []
    conn.execute(
        update(task)
        .where(task.c.id.in_(ids))
        .values(queue_state="leased", lease_until=lease_until, status="running", last_updated=now)
    )
    rows = conn.execute(select(task).where(task.c.id.in_(ids))).mappings()
    return [dict(r) for r in rows]


def _may_start() -> ColumnElement[bool]:
    """A task already started may always continue; one not started yet only while its job runs."""
    return or_(
        task.c.status == "running",
        exists().where(and_(job.c.id == task.c.job_id, job.c.status == "running")),
    )


def next_due(conn: Connection) -> int | None:
    """When a worker can next lease something: the earliest due time of a ready task that may start,
    or the earliest lease expiry (a task whose worker died is taken again then)."""
    ready = conn.execute(
        select(func.min(task.c.due_at)).where(task.c.queue_state == "ready", _may_start())
    ).scalar()
    expiry = conn.execute(select(func.min(task.c.lease_until)).where(task.c.queue_state == "leased")).scalar()
    times = [t for t in (ready, expiry) if t is not None]
    return min(times) if times else None


def job_ids_of(conn: Connection, task_ids: Iterable[str]) -> dict[str, str]:
    ids = list(task_ids)
    if not ids:
        return {}
    return {r.id: r.job_id for r in conn.execute(select(task.c.id, task.c.job_id).where(task.c.id.in_(ids)))}


# job controls (issue #3) -------------------------------------------------------------------------

WAITING = ("running", "scheduled", "paused")


def waiting_iterations(conn: Connection, job_ids: list[str], keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """`{id, job_id, task_key, status}` of the unfinished iterations of `job_ids` (of `keys` only, if given)."""
    if not job_ids:
        return []
    where = and_(task.c.job_id.in_(job_ids), task.c.status.in_(WAITING))
    if keys is not None:
        where = and_(where, task.c.task_key.in_(list(keys)))
    stmt = select(task.c.id, task.c.job_id, task.c.task_key, task.c.status).where(where).order_by(task.c.id)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def cancel_iterations(conn: Connection, task_ids: list[str], now: int) -> None:
    """Mark iterations canceled and take them off the work queue (a lease holder's result is then dropped)."""
    if task_ids:
        conn.execute(
            update(task)
            .where(task.c.id.in_(task_ids))
            .values(status="canceled", end_time=now, last_updated=now, queue_state=None, lease_until=None)
        )


def delete_tasks_of_jobs(conn: Connection, job_ids: list[str]) -> tuple[int, int]:
    """Delete every iteration of `job_ids` and their history; returns (tasks, history entries) deleted."""
    if not job_ids:
        return 0, 0
    ids = select(task.c.id).where(task.c.job_id.in_(job_ids))
    history_count = conn.execute(delete(task_history).where(task_history.c.task_id.in_(ids))).rowcount
    task_count = conn.execute(delete(task).where(task.c.job_id.in_(job_ids))).rowcount
    return task_count, history_count
