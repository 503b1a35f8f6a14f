"""Jobs and their GBAC groups.

Visibility (decisions §4) is kept twice: `job_group` rows (the groups, in order) and a `visibility` key on
every job and task row: the job's group ids, sorted and space-separated, `''` when it has none. The key
makes "tasks the caller may see" an index range (ADR 0009); `insert_job`, `set_job_groups` and
`store.tasks.insert_tasks` are the only writers, and keep the copies equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Text,
    True_,
    and_,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BooleanClauseList
from sqlalchemy.sql.selectable import ScalarSelect

from opsmgr.store.schema import job, job_group, task


def _one(conn: Connection, stmt: Any) -> dict[str, Any] | None:
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def visibility_key(groups: Iterable[str]) -> str:
    """The `visibility` of a job with these groups: sorted ids, space-separated; '' for none."""
    return " ".join(sorted(set(groups)))


def insert_job(conn: Connection, values: dict[str, Any], groups: list[str]) -> None:
    conn.execute(insert(job).values({**values, "visibility": visibility_key(groups)}))
    _insert_groups(conn, values["id"], groups)


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
    """Replace the job's groups, and the `visibility` key of the job and of its task iterations."""
    conn.execute(delete(job_group).where(job_group.c.job_id == job_id))
    _insert_groups(conn, job_id, groups)
    key = visibility_key(groups)
    conn.execute(update(job).where(job.c.id == job_id).values(visibility=key))
    conn.execute(update(task).where(task.c.job_id == job_id, task.c.visibility != key).values(visibility=key))


def _insert_groups(conn: Connection, job_id: str, groups: list[str]) -> None:
    rows = [{"job_id": job_id, "group_id": g, "position": i} for i, g in enumerate(dict.fromkeys(groups))]
    if rows:
        conn.execute(insert(job_group), rows)


def visible_clause(job_id_column: Any, groups: Iterable[str] | None) -> ColumnElement[bool]:
    """Rows whose job has no groups or shares one with `groups` (None: no restriction, admin).

    On `job` and `task` rows this is `visibility IN (the keys the caller may see)`: an index range per
    key instead of two `job_group` probes per row. Other tables (events) keep the probes.
    """
    table = getattr(job_id_column, "table", None)
    if table is job or table is task:
        if groups is None:
            return true()
        return table.c.visibility.in_(_visible_keys(frozenset(groups)))
    if groups is None:
        return job_id_column.is_not(None)
    any_group = exists().where(job_group.c.job_id == job_id_column)
    shared = exists().where(job_group.c.job_id == job_id_column, job_group.c.group_id.in_(list(groups)))
    return or_(not_(any_group), shared)


def shares_a_group(table: Any, groups: Iterable[str]) -> ColumnElement[bool]:
    """`job` or `task` rows whose job has one of `groups` (an index range per key, like visible_clause)."""
    return and_(table.c.visibility != "", table.c.visibility.in_(_visible_keys(frozenset(groups))))


def has_groups(table: Any) -> ColumnElement[bool]:
    """`job` or `task` rows whose job has groups."""
    return table.c.visibility != ""


@lru_cache(maxsize=512)
def _visible_keys(groups: frozenset[str]) -> Select[Any]:
    """The `visibility` keys in use that a member of `groups` may see: '' and every key naming one of them.

    The keys in use are read with a loose index scan of `ix_job_visibility` (one seek per distinct key:
    there are as many as distinct group sets of jobs, a handful to a few hundred). Cached per group set,
    so a statement holds one CTE object however often it is built.
    """
    keys = select(func.min(job.c.visibility).label("v")).cte("visibility_keys", recursive=True)
    following = select(func.min(job.c.visibility)).where(job.c.visibility > keys.c.v).scalar_subquery()
    keys = keys.union_all(select(following).where(keys.c.v.is_not(None)))
    spaced = literal(" ") + keys.c.v + literal(" ")
    mine = [spaced.contains(f" {g} ", autoescape=True) for g in sorted(groups)]
    return select(keys.c.v).where(or_(keys.c.v == "", *mine))


def search_jobs(
    conn: Connection, where: ColumnElement[bool], order: list[Any], skip: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of jobs and the exact number matching `where` (ADR 0009): `matching_ids` first; when there
    are more, the count, then the page's ids (skipped rows are only index entries), then those rows."""
    where = resolve_visibility(conn, job, where)
    few = matching_ids(conn, job, where)
    page_where: ColumnElement[bool] = where
    if few is not None:
        total, page_where = len(few), job.c.id.in_(few)
    else:
        counted = select(func.count()).select_from(job)
        total = conn.execute(counted if isinstance(where, True_) else counted.where(where)).scalar_one()
    if skip >= total:
        return [], total
    page = select(job.c.id).where(page_where).order_by(*order).offset(skip).limit(limit).subquery()
    rows = conn.execute(select(job).join(page, page.c.id == job.c.id).order_by(*order)).mappings()
    return [dict(r) for r in rows], total


FEW = 100


def resolve_visibility(conn: Connection, table: Any, where: ColumnElement[bool]) -> ColumnElement[bool]:
    """PostgreSQL: `where` with the visible keys read first and inlined as a list (`visibility IN ('', …)`).

    Its planner estimates a recursive CTE at one row, so it would take the visibility clause for a
    selective one and sort every match; with the keys as constants it uses the column's statistics.
    SQLite plans without statistics and is left as it is (see store.tasks._walk_in_order).
    """
    if conn.dialect.name != "postgresql":
        return where
    terms = list(where.clauses) if isinstance(where, BooleanClauseList) and where.operator is operators.and_ \
        else [where]
    resolved = []
    for term in terms:
        keys_query: Any = getattr(term, "right", None)
        if isinstance(term, BinaryExpression) and term.left is table.c.visibility \
                and isinstance(keys_query, ScalarSelect):
            keys_select: Any = keys_query.element
            keys = [r[0] for r in conn.execute(keys_select)]
            term = table.c.visibility.in_(keys)
        resolved.append(term)
    return and_(*resolved)


def matching_ids(conn: Connection, table: Any, where: ColumnElement[bool]) -> list[str] | None:
    """Every id matching `where` if there are at most FEW, else None (after reading FEW + 1 of them).

    A condition no index serves (a path into `variables`) costs one scan of the rows; reading the ids in
    that scan gives the total and the page's candidates at once, instead of scanning again for the page.
    """
    ids = [r[0] for r in conn.execute(select(table.c.id).where(where).limit(FEW + 1))]
    return ids if len(ids) <= FEW else None


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
