"""The Operations Manager search syntax (decisions §9, ops-manager-api §4): parsing and validation.

`operator[field]=value` pairs combine with AND. Each searchable field is declared with a type, so
values are checked and converted here; an unknown operator, field or bad value raises Invalid naming it.
The store compiles a parsed `Query` to SQL; nothing here knows about SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opsmgr.errors import Invalid

OPERATORS = ("equals", "contains", "starts-with", "ends-with", "in", "not-in", "gt", "gte", "lt", "lte", "exists")
TEXT_ONLY = {"contains", "starts-with", "ends-with"}
MAX_LIMIT = 500
DEFAULT_LIMIT = 25
# query parameters that carry credentials, not search terms (decisions §3)
AUTH_PARAMS = frozenset({"token"})
_PARAM = re.compile(r"^([a-z-]+)\[([A-Za-z0-9_.]+)\]$")


@dataclass(frozen=True)
class Field:
    """A searchable field: its public dotted name, the column it maps to and its value type."""

    name: str
    column: str
    type: str = "str"  # str | int | date | bool


@dataclass(frozen=True)
class Condition:
    op: str
    field: Field
    value: Any


@dataclass
class Query:
    conditions: list[Condition] = field(default_factory=list)
    sort: Field | None = None
    order: int = 1
    skip: int = 0
    limit: int = DEFAULT_LIMIT
    include: list[str] | None = None
    exclude: list[str] | None = None


def _bad(param: str, message: str) -> Invalid:
    return Invalid.problems(f"{param}: {message}", [{"path": param, "message": message}])


def _int(param: str, raw: str, low: int, high: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise _bad(param, f"must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise _bad(param, f"must be {bound}, got {value}")
    return value


def convert(param: str, spec: Field, raw: str) -> Any:
    """The typed value of `raw` for `spec` (dates accept ISO 8601 or epoch milliseconds)."""
    if "\x00" in raw:
        raise _bad(param, "must not contain NUL characters")
    if spec.type == "str":
        return raw
    if spec.type == "int":
        return _int(param, raw, -(2**63), 2**63 - 1)
    if spec.type == "bool":
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
        raise _bad(param, f"must be true or false, got {raw!r}")
    if spec.type == "date":
        if re.fullmatch(r"-?\d{1,15}", raw):
            return int(raw)
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise _bad(param, f"must be an ISO 8601 date or epoch milliseconds, got {raw!r}") from None
        if parsed.tzinfo is None:
            from datetime import UTC

            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp() * 1000)
    raise AssertionError(spec.type)


def apply_paging(
    query: Query, key: str, raw: str, fields: Mapping[str, Field], min_limit: int = 1, list_known: bool = False
) -> bool:
    """Apply `limit`, `skip`, `order` or `sort` to `query`; False when `key` is none of them."""
    if key == "limit":
        query.limit = _int(key, raw, min_limit, MAX_LIMIT)
    elif key == "skip":
        query.skip = _int(key, raw, 0, 10**9)
    elif key == "order":
        if raw not in ("1", "-1"):
            raise _bad(key, f"must be 1 or -1, got {raw!r}")
        query.order = int(raw)
    elif key == "sort":
        if raw not in fields:
            known = f"; known: {', '.join(sorted(fields))}" if list_known else ""
            raise _bad(key, f"cannot sort on unknown field {raw!r}{known}")
        query.sort = fields[raw]
    else:
        return False
    return True


def parse(
    params: Iterable[tuple[str, str]],
    fields: Mapping[str, Field],
    default_sort: str,
    extra_params: Iterable[str] = (),
) -> Query:
    """Parse query-string pairs into a Query, or raise Invalid naming the first bad parameter."""
    query = Query(sort=fields[default_sort])
    allowed_extra = set(extra_params) | AUTH_PARAMS
    for key, raw in params:
        if apply_paging(query, key, raw, fields):
            continue
        if key in ("include", "exclude"):
            paths = [p.strip() for p in raw.split(",") if p.strip()]
            if not paths:
                raise _bad(key, "must list at least one field")
            setattr(query, key, paths)
        elif key in allowed_extra:
            continue
        else:
            match = _PARAM.match(key)
            if not match:
                raise _bad(key, "unknown query parameter")
            op, name = match.groups()
            if op not in OPERATORS:
                raise _bad(key, f"unknown operator {op!r}")
            if name not in fields:
                raise _bad(key, f"unknown field {name!r}")
            spec = fields[name]
            if op in TEXT_ONLY and spec.type != "str":
                raise _bad(key, f"{op} applies to text fields only")
            value: Any
            if op in ("in", "not-in"):
                value = [convert(key, spec, part) for part in raw.split(",")]
            elif op == "exists":
                value = convert(key, Field(name, spec.column, "bool"), raw)
            else:
                value = convert(key, spec, raw)
            query.conditions.append(Condition(op, spec, value))
    if query.include is not None and query.exclude is not None and query.exclude != ["_id"]:
        raise _bad("exclude", "can be combined with include only as exclude=_id")
    return query


def parse_projection(params: Iterable[tuple[str, str]]) -> Query:
    """For single-document reads: only include/exclude (and credentials) are accepted."""
    pairs = list(params)
    for key, _ in pairs:
        if key not in ("include", "exclude") and key not in AUTH_PARAMS:
            raise _bad(key, "unknown query parameter (a single-document read takes include and exclude)")
    return parse(pairs, {"_id": Field("_id", "id")}, default_sort="_id")


def _pick(doc: Mapping[str, Any], path: list[str]) -> Any:
    value: Any = doc
    for part in path:
        if not isinstance(value, Mapping) or part not in value:
            return _ABSENT
        value = value[part]
    return value


_ABSENT = object()


def project(doc: dict[str, Any], include: list[str] | None, exclude: list[str] | None) -> dict[str, Any]:
    """Apply `include`/`exclude` (dotted paths) to a document, as ops-manager-api §4.4 describes."""
    if include is not None:
        out: dict[str, Any] = {}
        paths = [p.split(".") for p in include]
        if not (exclude and "_id" in exclude) and ["_id"] not in paths:
            paths.insert(0, ["_id"])
        for path in paths:
            value = _pick(doc, path)
            if value is _ABSENT:
                continue
            into = out
            for part in path[:-1]:
                into = into.setdefault(part, {})
            into[path[-1]] = value
        return out
    if exclude:
        out = dict(doc)
        for dotted in exclude:
            path = dotted.split(".")
            target: Any = out
            for part in path[:-1]:
                if not isinstance(target, dict) or not isinstance(target.get(part), dict):
                    target = None
                    break
                target[part] = dict(target[part])
                target = target[part]
            if isinstance(target, dict):
                target.pop(path[-1], None)
        return out
    return doc


def page_metadata(query: Query, total: int, page_size: int) -> dict[str, Any]:
    """The pagination block of a search answer (ops-manager-api §3.7)."""
    next_skip = query.skip + query.limit
    return {
        "skip": query.skip,
        "limit": query.limit,
        "total": total,
        "nextPageSkip": next_skip if next_skip < total else None,
        "previousPageSkip": max(0, query.skip - query.limit) if query.skip > 0 else None,
        "currentPageSize": page_size,
    }
