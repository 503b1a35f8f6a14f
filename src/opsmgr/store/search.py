"""Compiles a parsed search `Query` (opsmgr.domain.search) into SQLAlchemy Core clauses, identical in
meaning on SQLite and PostgreSQL, and the batch reads that `dereference` needs.

Where the two dialects differ, a small SQL element renders each one (`@compiles`):
- text order is by code point: PostgreSQL compares `COLLATE "C"` (its default collation may not be byte
  order), SQLite's BINARY already is;
- `contains`/`starts-with`/`ends-with` are case-sensitive and literal: `GLOB` with `[*]` escapes on SQLite,
  `LIKE ... ESCAPE '!'` on PostgreSQL (both can use an index for a prefix);
- JSON paths use `json_type`/`json_extract` on SQLite and `jsonb_typeof`/`#>`/`#>>` on PostgreSQL; a value
  is read only when its JSON type is the one compared (`CASE`, so PostgreSQL never casts a non-number);
- NULLs sort first ascending and last descending on both (MongoDB's order: null is lowest).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    Float,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    false,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.sqltypes import NullType

from opsmgr.domain.search import Condition, Loose, Query, TextQuery
from opsmgr.store.jobs import has_groups, shares_a_group
from opsmgr.store.schema import account, group_member, job, job_group, task
from opsmgr.store.tasks import JOB_SUMMARY

# keys of stored objects that stand for a value: encrypted (domain.documents.SEALED) or stored aside
# (services.large_data); a path never reads inside them
OPAQUE = ("$enc", "$largeData")


# dialect-specific elements ------------------------------------------------------------------------------


class _Element(FunctionElement[Any]):
    inherit_cache = True


class codepoint(_Element):
    """A text column compared by code point."""

    type = String()
    name = "codepoint"
    inherit_cache = True


@compiles(codepoint)
def _codepoint(element: codepoint, compiler: Any, **kw: Any) -> str:
    return compiler.process(next(iter(element.clauses)), **kw)


@compiles(codepoint, "postgresql")
def _codepoint_pg(element: codepoint, compiler: Any, **kw: Any) -> str:
    return f'({compiler.process(next(iter(element.clauses)), **kw)} COLLATE "C")'


class pattern_match(_Element):
    """`column` matches a pattern: (column, GLOB pattern for SQLite, LIKE pattern with ! escapes)."""

    type = Boolean()  # used as a boolean
    name = "pattern_match"
    inherit_cache = True


@compiles(pattern_match)
def _glob(element: pattern_match, compiler: Any, **kw: Any) -> str:
    col, glob, _ = list(element.clauses)
    return f"({compiler.process(col, **kw)} GLOB {compiler.process(glob, **kw)})"


@compiles(pattern_match, "postgresql")
def _like(element: pattern_match, compiler: Any, **kw: Any) -> str:
    col, _, like = list(element.clauses)
    return f"(({compiler.process(col, **kw)}) LIKE {compiler.process(like, **kw)} ESCAPE '!')"


class lower_contains(_Element):
    """`column` holds `term` (already ASCII-lowercased), ignoring ASCII case."""

    type = Boolean()
    name = "lower_contains"
    inherit_cache = True


@compiles(lower_contains)
def _lower_contains(element: lower_contains, compiler: Any, **kw: Any) -> str:
    col, term = (compiler.process(c, **kw) for c in element.clauses)
    return f"(instr(lower({col}), {term}) > 0)"


@compiles(lower_contains, "postgresql")
def _lower_contains_pg(element: lower_contains, compiler: Any, **kw: Any) -> str:
    col, term = (compiler.process(c, **kw) for c in element.clauses)
    return f'(strpos(lower(({col}) COLLATE "C"), {term}) > 0)'


class _JsonAt(_Element):
    """The value at a path of a JSON column: (column, SQLite path, PostgreSQL path). One subclass per
    reading, so the kind is part of the statement's cache key."""

    inherit_cache = True
    sqlite = ""
    postgresql = ""


class json_present(_JsonAt):
    """Any value there, null included."""

    type = Boolean()
    name = "json_present"
    inherit_cache = True
    sqlite = "(json_type({c}, {p}) IS NOT NULL)"
    postgresql = "(({c}) #> {p} IS NOT NULL)"


class json_object(_JsonAt):
    type = Boolean()
    name = "json_object"
    inherit_cache = True
    sqlite = "(json_type({c}, {p}) = 'object')"
    postgresql = "(jsonb_typeof(({c}) #> {p}) = 'object')"


class json_string(_JsonAt):
    """The string there, else NULL."""

    type = String()
    name = "json_string"
    inherit_cache = True
    sqlite = "(CASE WHEN json_type({c}, {p}) = 'text' THEN json_extract({c}, {p}) END)"
    postgresql = "(CASE WHEN jsonb_typeof(({c}) #> {p}) = 'string' THEN ({c}) #>> {p} END)"


class json_number(_JsonAt):
    """The number there, else NULL."""

    type = NullType()
    name = "json_number"
    inherit_cache = True
    sqlite = "(CASE WHEN json_type({c}, {p}) IN ('integer', 'real') THEN json_extract({c}, {p}) END)"
    postgresql = "(CASE WHEN jsonb_typeof(({c}) #> {p}) = 'number' THEN CAST(({c}) #>> {p} AS NUMERIC) END)"


class json_boolean(_JsonAt):
    """'true' or 'false' when a boolean is there, else NULL."""

    type = String()
    name = "json_boolean"
    inherit_cache = True
    sqlite = "(CASE json_type({c}, {p}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' END)"
    postgresql = "(CASE WHEN jsonb_typeof(({c}) #> {p}) = 'boolean' THEN ({c}) #>> {p} END)"


@compiles(_JsonAt)
def _json_at(element: _JsonAt, compiler: Any, **kw: Any) -> str:
    col, path, _ = list(element.clauses)
    return element.sqlite.format(c=compiler.process(col, **kw), p=compiler.process(path, **kw))


@compiles(_JsonAt, "postgresql")
def _json_at_pg(element: _JsonAt, compiler: Any, **kw: Any) -> str:
    col, _, path = list(element.clauses)
    return element.postgresql.format(c=compiler.process(col, **kw), p=f"CAST({compiler.process(path, **kw)} AS TEXT[])")


class json_array_overlaps(_Element):
    """A JSON array column holds one of the given strings: (column, expanding list, list)."""

    type = Boolean()
    name = "json_array_overlaps"
    inherit_cache = True


@compiles(json_array_overlaps)
def _overlaps(element: json_array_overlaps, compiler: Any, **kw: Any) -> str:
    col, values, _ = list(element.clauses)
    return (f"EXISTS (SELECT 1 FROM json_each({compiler.process(col, **kw)}) "
            f"WHERE json_each.value IN {compiler.process(values, **kw)})")


@compiles(json_array_overlaps, "postgresql")
def _overlaps_pg(element: json_array_overlaps, compiler: Any, **kw: Any) -> str:
    col, _, values = list(element.clauses)
    return f"(({compiler.process(col, **kw)}) ?| CAST({compiler.process(values, **kw)} AS TEXT[]))"


class json_array_empty(_Element):
    type = Boolean()
    name = "json_array_empty"
    inherit_cache = True


@compiles(json_array_empty)
def _empty(element: json_array_empty, compiler: Any, **kw: Any) -> str:
    return f"(json_array_length({compiler.process(next(iter(element.clauses)), **kw)}) = 0)"


@compiles(json_array_empty, "postgresql")
def _empty_pg(element: json_array_empty, compiler: Any, **kw: Any) -> str:
    return f"(jsonb_array_length({compiler.process(next(iter(element.clauses)), **kw)}) = 0)"


# JSON paths ------------------------------------------------------------------------------------------------


_KINDS: dict[str, type[_JsonAt]] = {
    "present": json_present, "object": json_object, "string": json_string, "number": json_number,
    "boolean": json_boolean,
}


def _at(kind: str, col: Any, path: Iterable[str]) -> Any:
    parts = list(path)
    sqlite_path = "$" + "".join(f'."{p}"' for p in parts)
    pg_path = "{" + ",".join(parts) + "}"
    return _KINDS[kind](col, bindparam(None, sqlite_path, String()), bindparam(None, pg_path, String()))


def _reachable(col: Any, path: tuple[str, ...]) -> list[ColumnElement[Any]]:
    """Guards: no step of the path goes into an encrypted or stored-aside value, and a digit step reads an object key
    (PostgreSQL's `#>` would index an array with it; SQLite's `$."0"` would not)."""
    guards: list[ColumnElement[Any]] = []
    for i in range(1, len(path)):
        guards += [not_(_at("present", col, (*path[:i], marker))) for marker in OPAQUE]
    for i, part in enumerate(path):
        if part.lstrip("-").isdigit():
            guards.append(_at("object", col, path[:i]) if i else true())
    return guards


def _json_equals(col: Any, path: tuple[str, ...], value: Loose) -> ColumnElement[bool]:
    options: list[ColumnElement[bool]] = [_at("string", col, path) == value.text]
    if value.number is not None:
        options.append(_at("number", col, path) == _number(value.number))
    if value.boolean is not None:
        options.append(_at("boolean", col, path) == ("true" if value.boolean else "false"))
    return or_(*options)


def _number(value: int | float) -> Any:
    return bindparam(None, value, Integer() if isinstance(value, int) else Float())


def _json_range(op: str, col: Any, path: tuple[str, ...], value: Loose) -> ColumnElement[bool]:
    if value.number is not None:
        return _compare(op, _at("number", col, path), _number(value.number))
    return _compare(op, codepoint(_at("string", col, path)), value.text)


def _json_clause(cond: Condition, col: Any) -> ColumnElement[bool]:
    op, value, path = cond.op, cond.value, cond.field.path
    guards = _reachable(col, path)
    if op == "exists":
        present = and_(_at("present", col, path), *guards)
        return present if value else not_(func.coalesce(present, false()))
    if op == "not-in":
        matched = and_(or_(*(_json_equals(col, path, v) for v in value)), *guards)
        return not_(func.coalesce(matched, false()))
    if op == "equals":
        clause = _json_equals(col, path, value)
    elif op == "in":
        clause = or_(*(_json_equals(col, path, v) for v in value))
    elif op in ("contains", "starts-with", "ends-with"):
        clause = _pattern(op, _at("string", col, path), value.text)
    else:
        clause = _json_range(op, col, path, value)
    return and_(clause, *guards)


# text ---------------------------------------------------------------------------------------------------


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _like_escape(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _pattern(op: str, col: Any, text: str) -> ColumnElement[bool]:
    glob, like = _glob_escape(text), _like_escape(text)
    if op == "contains":
        glob, like = f"*{glob}*", f"%{like}%"
    elif op == "starts-with":
        glob, like = f"{glob}*", f"{like}%"
    else:
        glob, like = f"*{glob}", f"%{like}"
    return pattern_match(col, bindparam(None, glob, String()), bindparam(None, like, String()))


def _text_search(col: Any, query: TextQuery) -> ColumnElement[bool]:
    def has(term: str) -> ColumnElement[bool]:
        return lower_contains(col, bindparam(None, term, String()))

    clauses: list[ColumnElement[bool]] = [col.is_not(None)]
    clauses += [has(p) for p in query.phrases]
    if query.words:
        clauses.append(or_(*(has(w) for w in query.words)))
    clauses += [not_(has(x)) for x in query.excluded]
    return and_(*clauses)


# conditions ------------------------------------------------------------------------------------------------


def _compare(op: str, col: Any, value: Any) -> ColumnElement[bool]:
    if op == "gt":
        return col > value
    if op == "gte":
        return col >= value
    if op == "lt":
        return col < value
    return col <= value


def _holds(col: Any, kind: str, values: list[str] | None) -> ColumnElement[bool]:
    """The list of ids holds one of `values` (None: holds any id at all)."""
    if kind == "groups":  # the job's job_group rows; `col` is the job id
        rows = select(job_group.c.job_id).where(job_group.c.job_id == col)
        return (rows if values is None else rows.where(job_group.c.group_id.in_(values))).exists()
    if values is None:
        return not_(json_array_empty(col))
    return json_array_overlaps(col, bindparam(None, values, String(), expanding=True),
                               bindparam(None, values, ARRAY(String())))


def _list_clause(cond: Condition, col: Any) -> ColumnElement[bool]:
    op, value, kind = cond.op, cond.value, cond.field.type
    if op == "exists":
        return _holds(col, kind, None) if value else not_(_holds(col, kind, None))
    held = _holds(col, kind, [value] if op == "equals" else list(value))
    return not_(held) if op == "not-in" else held


def condition_clause(table: Table, cond: Condition) -> ColumnElement[bool]:
    col = table.c[cond.field.column]
    if cond.field.type == "json":
        return _json_clause(cond, col)
    if cond.field.type in ("array", "groups"):
        return _list_clause(cond, col)
    op, value = cond.op, cond.value
    if op == "text":
        return _text_search(col, value)
    if op == "equals":
        return col == value
    if op == "in":
        return col.in_(value)
    if op == "not-in":
        return (col.not_in(value)) | col.is_(None)
    if op in ("contains", "starts-with", "ends-with"):
        return _pattern(op, col, value)
    if op in ("gt", "gte", "lt", "lte"):
        return _compare(op, codepoint(col) if cond.field.type == "str" else col, value)
    if op == "exists":
        return col.is_not(None) if value else col.is_(None)
    raise AssertionError(op)


def where_clause(table: Table, query: Query) -> ColumnElement[bool]:
    clauses = [condition_clause(table, c) for c in query.conditions]
    return and_(true(), *clauses)


def order_by(table: Table, query: Query, tie_break: str = "id") -> list[Any]:
    """Sort column (text by code point, NULLs lowest) then the primary key, so pages are stable under ties."""
    assert query.sort is not None
    col: Any = table.c[query.sort.column]
    nullable = col.nullable
    if query.sort.type == "str":
        col = codepoint(col)
    key = table.c[tie_break]
    if query.order == -1:
        return [col.desc().nulls_last() if nullable else col.desc(), key.desc()]
    return [col.asc().nulls_first() if nullable else col.asc(), key.asc()]


# views (GET /operations-manager/tasks/workable) ----------------------------------------------------------


def workable_clause(account_id: str, groups: Iterable[str] | None, may_write: bool) -> ColumnElement[bool]:
    """Manual tasks waiting for a person, unassigned or owned by `account_id`, that the caller may work
    (decisions §4): the task's groups if any, else its job's groups, else any write role; `groups` None
    is admin. Visibility of the job is applied by the caller of this function."""
    waiting = and_(task.c.type == "manual", task.c.status == "running",
                   or_(task.c.owner.is_(None), task.c.owner == account_id))
    if groups is None:
        return waiting
    mine = sorted(set(groups))
    task_empty = json_array_empty(task.c.groups)
    if not mine:
        in_task_groups: ColumnElement[bool] = false()
        in_job_groups: ColumnElement[bool] = false()
    else:
        in_task_groups = json_array_overlaps(
            task.c.groups, bindparam(None, mine, String(), expanding=True), bindparam(None, mine, ARRAY(String()))
        )
        # the job's groups through the task's copy of its visibility key (store.jobs), not a job_group
        # lookup per waiting task
        in_job_groups = shares_a_group(task, mine)
    job_has_groups = has_groups(task)
    by_job = or_(in_job_groups, and_(not_(job_has_groups), true() if may_write else false()))
    return and_(waiting, or_(and_(not_(task_empty), in_task_groups), and_(task_empty, by_job)))


# dereference batch reads -----------------------------------------------------------------------------------


def jobs_by_ids(conn: Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {r["id"]: dict(r) for r in conn.execute(select(job).where(job.c.id.in_(wanted))).mappings()}


def tasks_by_ids(conn: Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Task iterations (with their job summary) by id."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = select(task, *JOB_SUMMARY).join(job, job.c.id == task.c.job_id).where(task.c.id.in_(wanted))
    return {r["id"]: dict(r) for r in conn.execute(stmt).mappings()}


def accounts_by_ids(conn: Connection, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Accounts by id, each with `group_ids` (its groups), in two statements."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = {r["id"]: {**dict(r), "group_ids": []}
            for r in conn.execute(select(account).where(account.c.id.in_(wanted))).mappings()}
    members = conn.execute(
        select(group_member.c.account_id, group_member.c.group_id)
        .where(group_member.c.account_id.in_(list(rows)))
        .order_by(group_member.c.account_id, group_member.c.group_id)
    )
    for m in members:
        rows[m.account_id]["group_ids"].append(m.group_id)
    return rows
