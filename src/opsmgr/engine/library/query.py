"""The `query` task and the json-query subset it understands (workflow-semantics §3.6).

Itential's `query` task evaluates a json-query expression (the npm `json-query` package) against `obj`.
Real workflows use a small part of that language, which is what we support:

- dotted paths: `response.results.id` (a leading `.` is allowed);
- array indexes: `items[0]`, `items[-1]` (from the end);
- `[**]`: continue with every element of an array, so `items[**].name` collects `name` across `items`;
- filters: `items[name=eth0]` (first element whose field equals the value, compared as text) and
  `items[*name=eth0]` (all of them); the value may be quoted;
- `:get(key)` (and `["key"]`) for keys containing `:` or `.`: `ports:get(ge-0/0/1:0).mtu`.

Incoming: `obj` (anything), `query` (string), `pass_on_null` (bool, default false). Outgoing:
`return_data`. No match (the result is null/missing, or `[**]`/`[*f=v]` collected nothing) ends the task with
`failure` and `return_data: null`, unless `pass_on_null` is true, in which case it is `success`.
Anything else in the expression (functions, `:select`, parent references) is an error naming the query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from opsmgr.engine.library import bad
from opsmgr.engine.registry import Outcome, TaskContext

_NAME = re.compile(r"[^.\[\]:]+")
_GET = re.compile(r":get\(([^)]*)\)")


class QueryError(ValueError):
    """The expression is outside the supported subset."""


@dataclass(frozen=True)
class Step:
    kind: str  # key | index | all | first | every
    key: str = ""
    index: int = 0
    value: str = ""


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def parse(expression: str) -> list[Step]:
    """Split a query into steps, or raise QueryError saying where it stopped making sense."""
    steps: list[Step] = []
    pos, text = 0, expression.strip()
    while pos < len(text):
        char = text[pos]
        if char == ".":
            pos += 1
            if pos >= len(text) or text[pos] in ".]":
                raise QueryError(f"empty key at position {pos} of {expression!r}")
            continue
        if char == ":":
            match = _GET.match(text, pos)
            if not match:
                raise QueryError(f"unsupported helper at position {pos} of {expression!r} (only :get(key))")
            steps.append(Step("key", key=_unquote(match.group(1))))
            pos = match.end()
            continue
        if char == "[":
            end = text.find("]", pos)
            if end < 0:
                raise QueryError(f"unclosed [ at position {pos} of {expression!r}")
            steps.append(_bracket(text[pos + 1:end], expression))
            pos = end + 1
            continue
        match = _NAME.match(text, pos)
        if not match:
            raise QueryError(f"unexpected {char!r} at position {pos} of {expression!r}")
        steps.append(Step("key", key=match.group(0)))
        pos = match.end()
    return steps


def _bracket(inner: str, expression: str) -> Step:
    inner = inner.strip()
    if inner in ("**", "*"):
        return Step("all")
    if re.fullmatch(r"-?\d+", inner):
        return Step("index", index=int(inner))
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        return Step("key", key=inner[1:-1])
    if "=" in inner:
        field, value = inner.split("=", 1)
        every = field.startswith("*")
        field = field.lstrip("*").strip()
        if not field or field.endswith(("!", "<", ">")):
            raise QueryError(f"unsupported filter [{inner}] in {expression!r} (only [field=value])")
        return Step("every" if every else "first", key=field, value=_unquote(value))
    raise QueryError(f"unsupported selector [{inner}] in {expression!r}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _one(value: Any, step: Step) -> Any:
    if step.kind == "key":
        if isinstance(value, dict):
            return value.get(step.key)
        if isinstance(value, list) and re.fullmatch(r"-?\d+", step.key):
            return _one(value, Step("index", index=int(step.key)))
        return None
    if step.kind == "index":
        if isinstance(value, list) and -len(value) <= step.index < len(value):
            return value[step.index]
        return None
    items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else []
    matching = [i for i in items if isinstance(i, dict) and _text(i.get(step.key)) == step.value]
    if step.kind == "first":
        return matching[0] if matching else None
    return matching


def evaluate(obj: Any, steps: list[Step]) -> Any:
    """Apply the steps. After `[**]` (or `[*f=v]`) each later step maps over the collected elements."""
    value: Any = obj
    many = False
    for step in steps:
        if step.kind == "all":
            if many:
                value = [x for item in value for x in (item if isinstance(item, list) else [item])]
            elif isinstance(value, list):
                value = list(value)
            elif isinstance(value, dict):
                value = list(value.values())
            else:
                return None
            many = True
        elif many:
            results = [_one(item, step) for item in value]
            if step.kind == "every":
                value = [x for group in results for x in group]
            else:
                value = [r for r in results if r is not None]
        else:
            value = _one(value, step)
            if step.kind == "every":
                many = True
            elif value is None:
                return None
    return value


def run_query(obj: Any, expression: str) -> Any:
    return evaluate(obj, parse(expression))


async def query(ctx: TaskContext) -> Outcome:
    """Pull data out of `obj` with `query`; no match is `failure` unless `pass_on_null`."""
    expression = ctx.incoming.get("query")
    if expression is None:
        expression = ""
    if not isinstance(expression, str):
        return bad("query", "query", f"must be a string, got {expression!r}")
    pass_on_null = ctx.incoming.get("pass_on_null", False)
    if pass_on_null in ("true", "false"):
        pass_on_null = pass_on_null == "true"
    if not isinstance(pass_on_null, bool):
        return bad("query", "pass_on_null", f"must be true or false, got {pass_on_null!r}")
    try:
        steps = parse(expression)
    except QueryError as exc:
        return bad("query", "query", str(exc))
    result = evaluate(ctx.incoming.get("obj"), steps)
    collected = any(step.kind in ("all", "every") for step in steps)
    if result is None or (collected and result == []):
        return Outcome("success" if pass_on_null else "failure", {"return_data": None})
    return Outcome(outputs={"return_data": result})
