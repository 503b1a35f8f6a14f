"""`$var` references and outgoing-variable promotion (workflow-semantics §1.3, §1.5).

Only a whole top-level incoming value is resolved (`"$var.job.x"`, `"$var.<taskKey>.x"`); a `$var`
nested inside an object or array stays literal text, as on Itential. The Enable Query suffix
`#/json/pointer` picks a nested value of the referenced one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_MISSING = object()


def unescape_pointer_token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def pointer_get(value: Any, pointer: str) -> Any:
    """RFC 6901 lookup; a missing path gives None."""
    if pointer in ("", "/"):
        return value
    for raw in pointer.lstrip("/").split("/"):
        token = unescape_pointer_token(raw)
        if isinstance(value, Mapping):
            value = value.get(token, _MISSING)
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return None
        if value is _MISSING:
            return None
    return value


def parse_reference(text: str) -> tuple[str, str, str | None] | None:
    """`$var.<source>.<name>[#/<pointer>]` → (source, name, pointer), or None if not a reference."""
    if not text.startswith("$var."):
        return None
    body, _, pointer = text[5:].partition("#")
    source, dot, name = body.partition(".")
    if not source or not dot or not name:
        return None
    return source, name, pointer or None


def resolve(value: Any, job_vars: Mapping[str, Any], task_outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """The value an incoming argument takes at run time."""
    if not isinstance(value, str):
        return value
    ref = parse_reference(value)
    if ref is None:
        return value
    source, name, pointer = ref
    scope = job_vars if source == "job" else task_outputs.get(source, {})
    found = scope.get(name)
    return pointer_get(found, pointer) if pointer else found


def resolve_incoming(
    incoming: Mapping[str, Any], job_vars: Mapping[str, Any], task_outputs: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    return {key: resolve(value, job_vars, task_outputs) for key, value in incoming.items()}


def job_target(declaration: Any) -> str | None:
    """The job variable an outgoing/error declaration promotes to (`"$var.job.X"` → X)."""
    if isinstance(declaration, str):
        ref = parse_reference(declaration)
        if ref and ref[0] == "job" and ref[2] is None:
            return ref[1]
    return None


def promote(outgoing_decl: Mapping[str, Any], results: Mapping[str, Any]) -> dict[str, Any]:
    """Job-variable updates implied by a task's results and its `outgoing` declarations."""
    updates: dict[str, Any] = {}
    for name, declaration in outgoing_decl.items():
        target = job_target(declaration)
        if target is not None:
            updates[target] = results.get(name)
    return updates
