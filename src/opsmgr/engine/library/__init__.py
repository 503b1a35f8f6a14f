"""The WorkFlowEngine utility task library (workflow-semantics §3.6), beyond the core tasks in `builtins`.

Every task here is pure and async: it reads `ctx.incoming` (and, for the job-variable tasks, the job
variables it was given) and returns an `Outcome`. Bad input never raises: it is an `error` outcome whose
message names the task and the input at fault. Input and output names follow Itential's task
reference (docs.itential.com, "Task references"); each module says where a name is our own choice.
"""

from __future__ import annotations

from typing import Any

from opsmgr.domain.values import integer as integer  # re-exported for the library modules
from opsmgr.engine.registry import Outcome


def bad(task: str, name: str, problem: str) -> Outcome:
    """An error outcome naming the task and its bad input."""
    return Outcome("error", error={"message": f"{task}: {name} {problem}"})


def type_name(value: Any) -> str:
    """The JSON type of a value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
