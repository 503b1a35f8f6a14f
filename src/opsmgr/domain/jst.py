"""The subset of Itential JST (JSON Schema Transformation) documents opsmgr runs (workflow-semantics §3.6).

A JST document as exported by Itential's JST Designer (seen in `Itential-Pre-Builts/IAP---Data-Manipulation`,
`bundles/transformations/*.json`) is:

    {name, incoming: [{$id, type, ...schema}], outgoing: [{$id, ...schema}],
     steps: [...], functions: [...], view, comments, ...}

Steps are a data-flow graph, in no particular order:
- `{"id": n, "type": "method", "library": "String", "method": "split", "args": [null, "/", null]}` calls a
  library method; `args[0]` is the value it works on (`this`), the rest its arguments. A `null` argument is
  filled by an assign step (or stays JavaScript's `undefined`); any other value is a literal.
- `{"id": n, "type": "assign", "from": {location, name, ptr}, "to": {location, name, ptr}}` copies a value:
  from `incoming` (name = an incoming `$id`, ptr = a JSON pointer into it) or `method` (name = a method step
  id, ptr = `/return` or a pointer below it), to `outgoing` (name = an outgoing `$id`, ptr = where in it) or
  `method` (ptr = `/args/<i>/value`).

Supported: `assign` and `method` steps, with the methods in `METHODS` (those whose JavaScript meaning is
unambiguous). Not supported, and named by `problems` so a workflow import can refuse them: custom
`functions`, `declaration` steps and any other step type, other methods, other locations and pointers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from opsmgr.domain import pointers
from opsmgr.errors import Invalid

_ARG = re.compile(r"^/args/(0|[1-9][0-9]*)/value$")
_UNDEFINED: Any = None  # JavaScript's undefined: an argument nobody filled


class JSTError(ValueError):
    """The document is outside the subset, or a method got a value it cannot work on."""


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise JSTError(f"{what} must be a string, got {type(value).__name__ if value is not None else 'null'}")
    return value


def _array(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise JSTError(f"{what} must be an array, got {type(value).__name__ if value is not None else 'null'}")
    return value


def _join_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def _split(args: list[Any]) -> Any:
    text = _string(args[0], "String.split: the string")
    separator, limit = [*args, None, None][1:3]
    pieces = [text] if separator is None else list(text) if separator == "" else text.split(str(separator))
    return pieces if limit is None else pieces[: max(int(limit), 0)]


def _join(args: list[Any]) -> Any:
    items = _array(args[0], "Array.join: the array")
    separator = args[1] if len(args) > 1 and args[1] is not None else ","
    return str(separator).join(_join_text(item) for item in items)


def _get_index(args: list[Any]) -> Any:
    items = _array(args[0], "Array.getIndex: the array")
    index = args[1] if len(args) > 1 else None
    if isinstance(index, bool) or not isinstance(index, int):
        raise JSTError(f"Array.getIndex: the index must be an integer, got {index!r}")
    return items[index] if 0 <= index < len(items) else None


# (library, method) → (minimum number of args, implementation over the filled args)
METHODS: dict[tuple[str, str], tuple[int, Callable[[list[Any]], Any]]] = {
    ("String", "toLowerCase"): (1, lambda a: _string(a[0], "String.toLowerCase: the string").lower()),
    ("String", "toUpperCase"): (1, lambda a: _string(a[0], "String.toUpperCase: the string").upper()),
    ("String", "trim"): (1, lambda a: _string(a[0], "String.trim: the string").strip()),
    ("String", "split"): (1, _split),
    ("Array", "join"): (1, _join),
    ("Array", "length"): (1, lambda a: len(_array(a[0], "Array.length: the array"))),
    ("Array", "getIndex"): (2, _get_index),
}


def _ids(schemas: Any, where: str, problems: list[dict[str, str]]) -> set[str]:
    if not isinstance(schemas, list):
        problems.append({"path": where, "message": f"{where} must be an array of schemas with $id"})
        return set()
    ids = set()
    for i, schema in enumerate(schemas):
        if not isinstance(schema, Mapping) or not isinstance(schema.get("$id"), str):
            problems.append({"path": f"{where}.{i}", "message": "a schema needs a string $id"})
        else:
            ids.add(schema["$id"])
    return ids


def _pointer_ok(ptr: Any) -> bool:
    try:
        pointers.parse(ptr)
    except Invalid:
        return False
    return True


def problems(doc: Any) -> list[dict[str, str]]:
    """Why `doc` is not a JST document opsmgr can run, as `{path, message}` (paths inside the document)."""
    if not isinstance(doc, Mapping):
        return [{"path": "", "message": "a JST document must be an object"}]
    found: list[dict[str, str]] = []
    incoming = _ids(doc.get("incoming", []), "incoming", found)
    outgoing = _ids(doc.get("outgoing", []), "outgoing", found)
    if doc.get("functions"):
        found.append({"path": "functions", "message": "custom JST functions are not supported"})
    steps = doc.get("steps", [])
    if not isinstance(steps, list):
        return [*found, {"path": "steps", "message": "steps must be an array"}]
    methods = {s.get("id"): s for s in steps if isinstance(s, Mapping) and s.get("type") == "method"}
    for i, step in enumerate(steps):
        path = f"steps.{i}"
        kind = step.get("type") if isinstance(step, Mapping) else None
        if kind == "method":
            key = (step.get("library"), step.get("method"))
            if key not in METHODS:
                found.append({"path": path, "message": f"method {key[0]}.{key[1]} is not supported (supported: "
                              + ", ".join(f"{lib}.{name}" for lib, name in METHODS) + ")"})
            elif not isinstance(step.get("args"), list) or len(step["args"]) < METHODS[key][0]:
                found.append({"path": f"{path}.args", "message": f"{key[0]}.{key[1]} needs an args array "
                              f"of at least {METHODS[key][0]}"})
        elif kind == "assign":
            found.extend(_assign_problems(step, path, incoming, outgoing, methods))
        else:
            found.append({"path": path, "message": f"{kind!r} steps are not supported (only assign and method)"})
    if not found:
        cycle = _cycle(steps)
        if cycle:
            found.append({"path": "steps", "message": "method steps depend on each other in a cycle: "
                          + " -> ".join(map(str, cycle))})
    return found


def _assign_problems(step: Mapping[str, Any], path: str, incoming: set[str], outgoing: set[str],
                     methods: Mapping[Any, Mapping[str, Any]]) -> list[dict[str, str]]:
    found = []
    source, target = step.get("from"), step.get("to")
    if not isinstance(source, Mapping) or not isinstance(target, Mapping):
        return [{"path": path, "message": "an assign step needs from and to objects"}]
    where, name, ptr = source.get("location"), source.get("name"), source.get("ptr", "")
    if where == "incoming":
        if name not in incoming:
            found.append({"path": f"{path}.from", "message": f"unknown incoming {name!r}"})
        elif not _pointer_ok(ptr):
            found.append({"path": f"{path}.from.ptr", "message": f"{ptr!r} is not a JSON pointer"})
    elif where == "method":
        if name not in methods:
            found.append({"path": f"{path}.from", "message": f"unknown method step {name!r}"})
        elif not (isinstance(ptr, str) and (ptr == "/return" or ptr.startswith("/return/")) and _pointer_ok(ptr)):
            found.append({"path": f"{path}.from.ptr", "message": f"a method result is read at /return, not {ptr!r}"})
    else:
        found.append({"path": f"{path}.from", "message": f"assigning from {where!r} is not supported"})
    where, name, ptr = target.get("location"), target.get("name"), target.get("ptr", "")
    if where == "outgoing":
        if name not in outgoing:
            found.append({"path": f"{path}.to", "message": f"unknown outgoing {name!r}"})
        elif not _pointer_ok(ptr):
            found.append({"path": f"{path}.to.ptr", "message": f"{ptr!r} is not a JSON pointer"})
    elif where == "method":
        match = _ARG.match(ptr) if isinstance(ptr, str) else None
        if name not in methods:
            found.append({"path": f"{path}.to", "message": f"unknown method step {name!r}"})
        elif match is None or int(match.group(1)) >= len(methods[name].get("args") or []):
            found.append({"path": f"{path}.to.ptr", "message": f"{ptr!r} is not an argument of method step {name}"})
    else:
        found.append({"path": f"{path}.to", "message": f"assigning to {where!r} is not supported"})
    return found


def _inputs(steps: list[Any]) -> dict[Any, list[tuple[int, Mapping[str, Any]]]]:
    """Method step id → the (argument index, source) pairs assigned to it."""
    feeds: dict[Any, list[tuple[int, Mapping[str, Any]]]] = {}
    for step in steps:
        if step.get("type") == "assign" and step["to"].get("location") == "method":
            index = int(_ARG.match(step["to"]["ptr"]).group(1))  # type: ignore[union-attr]
            feeds.setdefault(step["to"]["name"], []).append((index, step["from"]))
    return feeds


def _cycle(steps: list[Any]) -> list[Any] | None:
    feeds = _inputs(steps)
    state: dict[Any, int] = {}

    def visit(node: Any, trail: list[Any]) -> list[Any] | None:
        if state.get(node) == 1:
            return [*trail[trail.index(node):], node]
        if state.get(node) == 2:
            return None
        state[node] = 1
        for _, source in feeds.get(node, []):
            if source.get("location") == "method" and (found := visit(source["name"], [*trail, node])):
                return found
        state[node] = 2
        return None

    for node in list(feeds):
        if found := visit(node, []):
            return found
    return None


def _put(document: Any, ptr: str, value: Any) -> Any:
    """`value` at `ptr` in `document`, creating the objects on the way."""
    tokens = pointers.parse(ptr)
    if not tokens:
        return value
    head, rest = tokens[0], pointers.join(tokens[1:])
    container = dict(document) if isinstance(document, Mapping) else {}
    container[head] = _put(container.get(head), rest, value)
    return container


def run(doc: Mapping[str, Any], incoming: Mapping[str, Any]) -> dict[str, Any]:
    """The outgoing values (every outgoing `$id`, None when nothing is assigned to it), or JSTError."""
    found = problems(doc)
    if found:
        raise JSTError("; ".join(f"{p['path']}: {p['message']}" if p["path"] else p["message"] for p in found))
    steps = doc.get("steps", [])
    methods = {s["id"]: s for s in steps if s.get("type") == "method"}
    feeds = _inputs(steps)
    results: dict[Any, Any] = {}

    def value_of(source: Mapping[str, Any]) -> Any:
        if source["location"] == "incoming":
            return pointers.get(incoming.get(source["name"]), source.get("ptr", ""))
        return pointers.get(call(source["name"]), source["ptr"][len("/return"):])

    def call(step_id: Any) -> Any:
        if step_id not in results:
            step = methods[step_id]
            args = list(step["args"])
            for index, source in feeds.get(step_id, []):
                args[index] = value_of(source)
            results[step_id] = METHODS[(step["library"], step["method"])][1](args)
        return results[step_id]

    out: dict[str, Any] = {schema["$id"]: _UNDEFINED for schema in doc.get("outgoing", [])}
    for step in steps:
        if step["type"] == "assign" and step["to"]["location"] == "outgoing":
            name = step["to"]["name"]
            out[name] = _put(out[name], step["to"].get("ptr", ""), value_of(step["from"]))
    return out
