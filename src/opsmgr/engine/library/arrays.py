"""Array tasks: push/pop/shift on a job variable, arrayPush, arrayLength, arrayIncludes, arrayIndexOf, join.

- `push` / `pop` / `shift` (§3.6 [O][S]): `job_variable` is the NAME of a job variable holding an array
  (not a `$var` reference); `push` also takes `item_to_push`. Outgoing `job_variable_value` is the
  variable's new value; `pop`/`shift` also output `item`, the element they removed (our addition; null
  when the array was empty). The new array is written back through `Outcome.job_variables`. A missing
  variable, or one that is not an array, is an error. Note: the task works on the job variables it was
  given, so two of these running in parallel branches on the same variable keep only one change.
- `arrayPush` ("push (array)"): `arr`, `elementN` → `pushedArray`.
- `arrayLength` ("length (array)"): `arr` → `length`.
- `arrayIncludes`: `arr`, `searchElement`, `fromIndex` (default 0) → `result` (boolean).
- `arrayIndexOf`: `arr`, `searchElement`, `fromIndex` (default 0) → `index` (-1 if absent).
- `join`: `arr`, `separator` (default `,`) → `joinedElements`; null elements become "".

Element equality is JavaScript's strict equality for primitives (`2` is not `"2"`, `true` is not `1`);
objects and arrays compare by value (JavaScript compares them by identity, which a workflow cannot use).
A negative `fromIndex` counts from the end, as in JavaScript.
"""

from __future__ import annotations

from typing import Any

from opsmgr.engine.library import bad, integer, type_name
from opsmgr.engine.library.text import js_string
from opsmgr.engine.registry import Outcome, TaskContext


def same(a: Any, b: Any) -> bool:
    """Strict equality: numbers with numbers, otherwise only values of the same type."""
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, numbers) and isinstance(b, numbers):
        return a == b
    return type(a) is type(b) and a == b


def _job_array(task: str, ctx: TaskContext) -> tuple[str, list[Any]] | Outcome:
    name = ctx.incoming.get("job_variable")
    if not isinstance(name, str) or not name:
        return bad(task, "job_variable", f"must be the name of a job variable, got {name!r}")
    if name.startswith("$var."):
        return bad(task, "job_variable", f"must be a job variable's name, not a reference: {name!r}")
    if name not in ctx.job_variables:
        return bad(task, "job_variable", f"names {name!r}, which is not a job variable")
    value = ctx.job_variables[name]
    if not isinstance(value, list):
        return bad(task, "job_variable", f"names {name!r}, which holds a {type_name(value)}, not an array")
    return name, list(value)


async def push(ctx: TaskContext) -> Outcome:
    """Append `item_to_push` to the job variable named `job_variable`."""
    found = _job_array("push", ctx)
    if isinstance(found, Outcome):
        return found
    name, items = found
    items.append(ctx.incoming.get("item_to_push"))
    return Outcome(outputs={"job_variable_value": items}, job_variables={name: items})


async def pop(ctx: TaskContext) -> Outcome:
    """Remove the last element of the job variable named `job_variable`."""
    found = _job_array("pop", ctx)
    if isinstance(found, Outcome):
        return found
    name, items = found
    item = items.pop() if items else None
    return Outcome(outputs={"job_variable_value": items, "item": item}, job_variables={name: items})


async def shift(ctx: TaskContext) -> Outcome:
    """Remove the first element of the job variable named `job_variable`."""
    found = _job_array("shift", ctx)
    if isinstance(found, Outcome):
        return found
    name, items = found
    item = items.pop(0) if items else None
    return Outcome(outputs={"job_variable_value": items, "item": item}, job_variables={name: items})


def _array(task: str, ctx: TaskContext) -> list[Any] | Outcome:
    arr = ctx.incoming.get("arr")
    if not isinstance(arr, list):
        return bad(task, "arr", f"must be an array, got {type_name(arr)}")
    return arr


def _start(task: str, ctx: TaskContext, length: int) -> int | Outcome:
    raw = ctx.incoming.get("fromIndex")
    if raw in (None, ""):
        return 0
    start = integer(raw)
    if start is None:
        return bad(task, "fromIndex", f"must be an integer, got {raw!r}")
    return max(length + start, 0) if start < 0 else start


async def array_push(ctx: TaskContext) -> Outcome:
    """`arr` with `elementN` appended (a new array)."""
    arr = _array("arrayPush", ctx)
    if isinstance(arr, Outcome):
        return arr
    return Outcome(outputs={"pushedArray": [*arr, ctx.incoming.get("elementN")]})


async def array_length(ctx: TaskContext) -> Outcome:
    """The number of elements of `arr`."""
    arr = _array("arrayLength", ctx)
    if isinstance(arr, Outcome):
        return arr
    return Outcome(outputs={"length": len(arr)})


def _index_of(arr: list[Any], wanted: Any, start: int) -> int:
    return next((i for i in range(start, len(arr)) if same(arr[i], wanted)), -1)


async def array_includes(ctx: TaskContext) -> Outcome:
    """Whether `arr` holds `searchElement` at or after `fromIndex`."""
    arr = _array("arrayIncludes", ctx)
    if isinstance(arr, Outcome):
        return arr
    start = _start("arrayIncludes", ctx, len(arr))
    if isinstance(start, Outcome):
        return start
    return Outcome(outputs={"result": _index_of(arr, ctx.incoming.get("searchElement"), start) >= 0})


async def array_index_of(ctx: TaskContext) -> Outcome:
    """The first position of `searchElement` in `arr` at or after `fromIndex`, or -1."""
    arr = _array("arrayIndexOf", ctx)
    if isinstance(arr, Outcome):
        return arr
    start = _start("arrayIndexOf", ctx, len(arr))
    if isinstance(start, Outcome):
        return start
    return Outcome(outputs={"index": _index_of(arr, ctx.incoming.get("searchElement"), start)})


async def join(ctx: TaskContext) -> Outcome:
    """The elements of `arr` written out and joined with `separator`."""
    arr = _array("join", ctx)
    if isinstance(arr, Outcome):
        return arr
    separator = ctx.incoming.get("separator")
    if separator is None:
        separator = ","
    if not isinstance(separator, str):
        return bad("join", "separator", f"must be a string, got {type_name(separator)}")
    texts = []
    for i, item in enumerate(arr):
        text = "" if item is None else js_string(item)
        if text is None:
            return bad("join", f"arr[{i}]", f"must be a string, number or boolean, got {type_name(item)}")
        texts.append(text)
    return Outcome(outputs={"joinedElements": separator.join(texts)})
