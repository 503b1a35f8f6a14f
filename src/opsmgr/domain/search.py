"""The Operations Manager search syntax (decisions §9, ops-manager-api §4): parsing and validation.

`operator[field]=value` pairs combine with AND. Each searchable field is declared with a type, so
values are checked and converted here; an unknown operator, field or bad value raises Invalid naming it.
The store compiles a parsed `Query` to SQL; nothing here knows about SQL.

Besides the declared fields, a field declared as `<prefix>.*` (type `json`) opens dotted paths into a
JSON column: `variables.a.b`. Segments are `[A-Za-z0-9_-]{1,64}`, at most 8 deep. Such a value has no
declared type, so a query value is `Loose` and matches by this rule (docs/api.md, "JSON paths"):
- `equals`/`in`/`not-in`: a stored string equal to the text; a stored number numerically equal when the
  text is a JSON number; a stored boolean when the text is `true`/`false`. Objects, arrays and null never
  match (`not-in` matches them, and absent paths, as it does NULL columns).
- `gt`/`gte`/`lt`/`lte`: when the text is a JSON number, stored numbers compared numerically; otherwise
  stored strings compared by code point.
- `contains`/`starts-with`/`ends-with`: stored strings only, case-sensitive.
- `exists`: the path is present (any value, null included).
A path through an encrypted value (decisions §7) or a large value stored aside matches nothing but
`exists` on the value itself: neither plaintext nor ciphertext can be matched.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opsmgr.errors import Invalid

OPERATORS = ("equals", "contains", "starts-with", "ends-with", "in", "not-in", "gt", "gte", "lt", "lte", "exists")
TEXT_ONLY = {"contains", "starts-with", "ends-with"}
RANGES = {"gt", "gte", "lt", "lte"}
LISTS = ("array", "groups")  # list-of-ids fields: equals = holds the id; exists = the list is not empty
MAX_LIMIT = 500
DEFAULT_LIMIT = 25
MAX_SKIP = 10**9
# query parameters that carry credentials, not search terms (decisions §3)
AUTH_PARAMS = frozenset({"token"})
_PARAM = re.compile(r"^([A-Za-z-]+)\[(.*)\]$", re.DOTALL)
SEGMENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_DEPTH = 8
_NUMBER = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")
MAX_TERMS = 32
MAX_IN = 500  # values of one in/not-in (each is a bound parameter)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Field:
    """A searchable field: its public dotted name, the column it maps to and its value type.

    `json` fields are paths into a JSON column: declared as `<prefix>.*`, resolved with a `path`.
    `text_search` makes `contains` a word/phrase search (jobs' `description`, ops-manager-api §4.3).
    """

    name: str
    column: str
    type: str = "str"  # str | int | date | bool | json | array (JSON array of ids) | groups (the job's groups)
    path: tuple[str, ...] = ()
    text_search: bool = False


@dataclass(frozen=True)
class Loose:
    """A query value compared with a JSON path: its text, and the number / boolean it also stands for."""

    text: str
    number: int | float | None = None
    boolean: bool | None = None


@dataclass(frozen=True)
class TextQuery:
    """`contains[description]` as a text search; every term is ASCII-lowercased."""

    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()


@dataclass(frozen=True)
class Condition:
    op: str  # one of OPERATORS, or "text" (a TextQuery value)
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
    dereference: list[str] = field(default_factory=list)


def fields(*specs: Field) -> dict[str, Field]:
    """The field table of a search, by public name. A `json` field without a path is a whole JSON column:
    it is keyed `<name>.*` and opens paths below it; one named `<name>.*` opens paths below its path."""
    return {(f"{f.name}.*" if f.type == "json" and not f.path else f.name): f for f in specs}


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


def ascii_lower(text: str) -> str:
    """Lowercase A-Z only: what SQLite's lower() and PostgreSQL's lower(... COLLATE "C") both do."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def loose(raw: str) -> Loose:
    """The JSON-path reading of a query value (module docstring)."""
    number: int | float | None = None
    match = _NUMBER.match(raw)
    if match:
        if match.group(2) is None and match.group(3) is None and len(raw) <= 18:
            number = int(raw)
        else:
            as_float = float(raw)
            number = as_float if math.isfinite(as_float) else None
    boolean = {"true": True, "false": False}.get(raw)
    return Loose(raw, number, boolean)


def convert(param: str, spec: Field, raw: str) -> Any:
    """The typed value of `raw` for `spec` (dates accept ISO 8601 or epoch milliseconds)."""
    if "\x00" in raw:
        raise _bad(param, "must not contain NUL characters")
    if spec.type in ("str", *LISTS):
        return raw
    if spec.type == "json":
        return loose(raw)
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
            parsed = parsed.replace(tzinfo=UTC)
        return (parsed - _EPOCH) // timedelta(milliseconds=1)  # exact, unlike timestamp() * 1000
    raise AssertionError(spec.type)


def parse_text(param: str, raw: str) -> TextQuery:
    """MongoDB-like text search: words, "quoted phrases", -negated words or phrases (docs/api.md)."""
    if "\x00" in raw:
        raise _bad(param, "must not contain NUL characters")
    words: list[str] = []
    phrases: list[str] = []
    excluded: list[str] = []
    for minus, phrase, word in re.findall(r'(-?)"([^"]*)"?|(\S+)', raw):
        if word:
            if word.startswith("-") and len(word) > 1:
                excluded.append(ascii_lower(word[1:]))
            else:
                words.append(ascii_lower(word))
        elif phrase.strip():
            (excluded if minus else phrases).append(ascii_lower(" ".join(phrase.split())))
    if not words and not phrases:
        raise _bad(param, "needs at least one word or \"phrase\" that is not negated")
    if len(words) + len(phrases) + len(excluded) > MAX_TERMS:
        raise _bad(param, f"at most {MAX_TERMS} words and phrases")
    return TextQuery(tuple(words), tuple(phrases), tuple(excluded))


def resolve(param: str, name: str, fields: Mapping[str, Field]) -> Field:
    """The field `name` names: a declared one, or a path below a declared `<prefix>.*` JSON field."""
    if name in fields and not name.endswith(".*"):  # a declared field (a `json` one has a fixed path)
        return fields[name]
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        base = fields.get(".".join(parts[:i]) + ".*")
        if base is None:
            continue
        path = parts[i:]
        if len(path) > MAX_DEPTH:
            raise _bad(param, f"a path below {base.name} is at most {MAX_DEPTH} names deep")
        for segment in path:
            if not SEGMENT.match(segment):
                raise _bad(param, f"path segment {segment[:80]!r} must be 1-64 of A-Z a-z 0-9 _ -")
        return Field(name, base.column, "json", base.path + tuple(path))
    raise _bad(param, f"unknown field {name[:200]!r}")


def apply_paging(
    query: Query, key: str, raw: str, fields: Mapping[str, Field], min_limit: int = 1, list_known: bool = False
) -> bool:
    """Apply `limit`, `skip`, `order` or `sort` to `query`; False when `key` is none of them."""
    if key == "limit":
        query.limit = _int(key, raw, min_limit, MAX_LIMIT)
    elif key == "skip":
        query.skip = _int(key, raw, 0, MAX_SKIP)
    elif key == "order":
        if raw not in ("1", "-1"):
            raise _bad(key, f"must be 1 or -1, got {raw[:80]!r}")
        query.order = int(raw)
    elif key == "sort":
        if raw not in fields or fields[raw].type in ("json", *LISTS):
            sortable = sorted(k for k, f in fields.items() if f.type not in ("json", *LISTS))
            known = f"; known: {', '.join(sortable)}" if list_known else ""
            raise _bad(key, f"cannot sort on unknown field {raw[:200]!r}{known}")
        query.sort = fields[raw]
    else:
        return False
    return True


def _condition(key: str, op: str, spec: Field, raw: str) -> Condition:
    if spec.type in LISTS and op not in ("equals", "in", "not-in", "exists"):
        raise _bad(key, f"{op} does not apply to a list of ids; use equals, in, not-in or exists")
    if op in TEXT_ONLY and spec.type not in ("str", "json"):
        raise _bad(key, f"{op} applies to text fields only")
    if op in RANGES and spec.type == "bool":
        raise _bad(key, f"{op} does not apply to true/false fields")
    if op == "contains" and spec.text_search:
        return Condition("text", spec, parse_text(key, raw))
    if op in ("in", "not-in"):
        parts = raw.split(",")
        if len(parts) > MAX_IN:
            raise _bad(key, f"at most {MAX_IN} values")
        return Condition(op, spec, [convert(key, spec, part) for part in parts])
    if op == "exists":
        return Condition(op, spec, convert(key, Field(spec.name, spec.column, "bool"), raw))
    return Condition(op, spec, convert(key, spec, raw))


def parse(
    params: Iterable[tuple[str, str]],
    fields: Mapping[str, Field],
    default_sort: str,
    extra_params: Iterable[str] = (),
    dereferences: Iterable[str] = (),
) -> Query:
    """Parse query-string pairs into a Query, or raise Invalid naming the first bad parameter."""
    query = Query(sort=fields[default_sort])
    allowed_extra = set(extra_params) | AUTH_PARAMS
    known_refs = tuple(dereferences)
    for key, raw in params:
        if apply_paging(query, key, raw, fields):
            continue
        if key in ("include", "exclude"):
            paths = [p.strip() for p in raw.split(",") if p.strip()]
            if not paths:
                raise _bad(key, "must list at least one field")
            setattr(query, key, paths)
        elif key == "dereference" and known_refs:
            for ref in (r.strip() for r in raw.split(",")):
                if ref not in known_refs:
                    raise _bad(key, f"unknown value {ref[:200]!r}; known: {', '.join(known_refs)}")
                if ref not in query.dereference:
                    query.dereference.append(ref)
        elif key in allowed_extra:
            continue
        else:
            match = _PARAM.match(key)
            if not match:
                raise _bad(key, "unknown query parameter")
            op, name = match.groups()
            if op not in OPERATORS:
                raise _bad(key, f"unknown operator {op!r}")
            query.conditions.append(_condition(key, op, resolve(key, name, fields), raw))
    if query.include is not None and query.exclude is not None and query.exclude != ["_id"]:
        raise _bad("exclude", "can be combined with include only as exclude=_id")
    return query


def parse_projection(params: Iterable[tuple[str, str]], dereferences: Iterable[str] = ()) -> Query:
    """For single-document reads: only include/exclude, dereference (and credentials) are accepted."""
    pairs = list(params)
    refs = tuple(dereferences)
    for key, _ in pairs:
        if key not in ("include", "exclude") and key not in AUTH_PARAMS and not (key == "dereference" and refs):
            raise _bad(key, "unknown query parameter (a single-document read takes include, exclude, dereference)")
    return parse(pairs, {"_id": Field("_id", "id")}, default_sort="_id", dereferences=refs)


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
