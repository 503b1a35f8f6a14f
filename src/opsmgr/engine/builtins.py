"""Built-in WorkFlowEngine tasks (workflow-semantics §3.6): stub, newVariable, delay, evaluation, merge,
and the manual ViewData, ViewDiff and ErrorHandling. Inputs and outputs are named as on Itential. The
utility library (query, makeData, array/string/time tasks, restCall, …) lives in `opsmgr.engine.library` and is
registered here too."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from opsmgr.engine.registry import Outcome, Registry, TaskContext

APP = "WorkFlowEngine"
OPERATORS = ("contains", "!contains", "<", "<=", ">", ">=", "==", "!=")


def _seconds(value: Any, name: str) -> float:
    try:
        seconds = float(value or 0)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}") from None
    if seconds < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return seconds


def _wait(ctx: TaskContext, seconds: float) -> int | None:
    """When to wake up, or None if the wait is over (or there is none)."""
    if seconds <= 0:
        return None
    wake = ctx.runtime.get("wake_at")
    if wake is None:
        return ctx.now_ms + int(seconds * 1000)
    return None if ctx.now_ms >= wake else int(wake)


async def stub(ctx: TaskContext) -> Outcome:
    """Emit the given finish state (`type`: success|error) with `response`, after `delay` seconds."""
    state = ctx.incoming.get("type") or "success"
    if state not in ("success", "error", "failure"):
        return Outcome("error", error={"message": f"stub type must be success or error, got {state!r}"})
    wake = _wait(ctx, _seconds(ctx.incoming.get("delay"), "delay"))
    if wake is not None:
        return Outcome(wait_until=wake, runtime={"wake_at": wake})
    response = ctx.incoming.get("response")
    if state == "error":
        return Outcome("error", {"response": response}, error=response)
    return Outcome(state, {"response": response})


async def new_variable(ctx: TaskContext) -> Outcome:
    """Set job variable `name` to `value`."""
    name, value = ctx.incoming.get("name"), ctx.incoming.get("value")
    if not isinstance(name, str) or not name:
        return Outcome("error", error={"message": f"newVariable needs a non-empty name, got {name!r}"})
    return Outcome(outputs={"value": value}, job_variables={name: value})


async def delay(ctx: TaskContext) -> Outcome:
    """Wait `time` seconds without holding a worker."""
    seconds = _seconds(ctx.incoming.get("time"), "time")
    wake = _wait(ctx, seconds)
    if wake is not None:
        return Outcome(wait_until=wake, runtime={"wake_at": wake})
    return Outcome(outputs={"time_in_milliseconds": int(seconds * 1000)})


def reference(ref: Any, ctx: TaskContext, key: str = "variable") -> Any:
    """Resolve a `{task, variable}` (or `{task, value}`) reference: job, static or a task's output."""
    if not isinstance(ref, Mapping):
        return ref
    source, name = ref.get("task"), ref.get(key)
    if source == "static":
        return name
    if source == "job":
        return ctx.job_variables.get(str(name))
    return ctx.task_outputs.get(str(source), {}).get(str(name))


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def compare(left: Any, operator: str, right: Any) -> bool:
    """The evaluation operators: contains, !contains, <, <=, >, >=, ==, != (with type coercion)."""
    if operator not in OPERATORS:
        raise ValueError(f"unknown evaluation operator {operator!r}")
    if operator in ("contains", "!contains"):
        if isinstance(left, Mapping):
            found = str(right) in left
        elif isinstance(left, list):
            found = right in left
        elif isinstance(left, str):
            try:
                found = re.search(str(right), left) is not None
            except re.error:
                found = str(right) in left
        else:
            found = False
        return found if operator == "contains" else not found
    ln, rn = _number(left), _number(right)
    if operator in ("==", "!="):
        equal = (ln == rn) if ln is not None and rn is not None else left == right or str(left) == str(right)
        return equal if operator == "==" else not equal
    if ln is not None and rn is not None:
        a: Any
        b: Any
        a, b = ln, rn
    elif isinstance(left, str) and isinstance(right, str):
        a, b = left, right
    else:
        return False
    if operator == "<":
        return bool(a < b)
    if operator == "<=":
        return bool(a <= b)
    if operator == ">":
        return bool(a > b)
    if operator == ">=":
        return bool(a >= b)
    raise ValueError(f"unknown evaluation operator {operator!r}")


async def evaluation(ctx: TaskContext) -> Outcome:
    """True → success with `return_value: true`; otherwise failure."""
    groups = ctx.incoming.get("evaluation_groups") or []
    if not isinstance(groups, list):
        return Outcome("error", error={"message": "evaluation_groups must be a list"})
    results = []
    try:
        for group in groups:
            checks = [
                compare(reference(e.get("operand_1"), ctx), e.get("operator", "=="), reference(e.get("operand_2"), ctx))
                for e in group.get("evaluations", [])
            ]
            results.append(all(checks) if group.get("all_true_flag", True) else any(checks))
    except (ValueError, AttributeError) as exc:
        return Outcome("error", error={"message": str(exc)})
    passed = all(results) if ctx.incoming.get("all_true_flag", True) else any(results)
    return Outcome("success", {"return_value": True}) if passed else Outcome("failure", {"return_value": False})


async def merge(ctx: TaskContext) -> Outcome:
    """Build an object from `{key, value: {task, variable}}` items; repeated keys collect into a list."""
    items = ctx.incoming.get("data_to_merge") or []
    if not isinstance(items, list):
        return Outcome("error", error={"message": "data_to_merge must be a list"})
    merged: dict[str, Any] = {}
    collected: set[str] = set()  # keys already turned into a list (a value may itself be a list)
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
            return Outcome("error", error={"message": f"each data_to_merge item needs a key: {item!r}"})
        value = reference(item.get("value"), ctx)
        key = item["key"]
        if key in collected:
            merged[key].append(value)
        elif key in merged:
            merged[key] = [merged[key], value]
            collected.add(key)
        else:
            merged[key] = value
    return Outcome(outputs={"merged_object": merged})


async def run_by_flow(ctx: TaskContext) -> Outcome:
    """childJob and forEach are run by the job flow (services.childjobs / progress); a worker that gets one
    anyway (it was queued by an older version) ends it in error."""
    return Outcome("error", error={"message": f"task {ctx.task_key} is run by the job flow, not by a worker"})


def register(registry: Registry) -> None:
    # pure built-ins run inline when they become ready; a stub or delay that has to wait still queues
    registry.register(APP, "stub", stub, inline=True)
    registry.register(APP, "newVariable", new_variable, inline=True)
    registry.register(APP, "delay", delay, inline=True)
    registry.register(APP, "evaluation", evaluation, inline=True)
    registry.register(APP, "merge", merge, inline=True)
    registry.register(APP, "ViewData", None)  # manual: a person finishes it
    registry.register(APP, "ViewDiff", None)  # manual
    registry.register(APP, "ErrorHandling", None)  # manual: the person picks retry or abort
    # run by the job flow itself (services.childjobs, services.progress), never leased by a worker
    registry.register(APP, "childJob", run_by_flow)
    registry.register(APP, "forEach", run_by_flow)
    _register_library(registry)


IO_TASKS = frozenset({"restCall"})  # tasks that talk to the outside world always go through the queue


def _register_library(registry: Registry) -> None:
    # imported here: the library modules use `reference` and `compare` from this module
    from opsmgr.engine.library import arrays, data, http, opsmgr_search, query, text, transform
    from opsmgr.engine.library import time as times

    tasks = {
        "updateJobDescription": data.update_job_description,
        "deepmerge": data.deepmerge,
        "decision": data.decision,
        "makeData": data.make_data,
        "modify": data.modify,
        "setObjectKey": data.set_object_key,
        "query": query.query,
        "push": arrays.push,
        "pop": arrays.pop,
        "shift": arrays.shift,
        "arrayPush": arrays.array_push,
        "arrayLength": arrays.array_length,
        "arrayIncludes": arrays.array_includes,
        "arrayIndexOf": arrays.array_index_of,
        "join": arrays.join,
        "stringConcat": text.string_concat,
        "split": text.split,
        "parse": text.parse,
        "numberToString": text.number_to_string,
        "stringLength": text.string_length,
        "substring": text.substring,
        "getTime": times.get_time,
        "calculateTimeDiff": times.calculate_time_diff,
        "restCall": http.rest_call,
        "transformation": transform.transformation,
    }
    for name, impl in tasks.items():
        registry.register(APP, name, impl, inline=name not in IO_TASKS)
    # Ops Manager search as the task's actor: reads the database, so never inline
    registry.register(opsmgr_search.APP, "getJobs", opsmgr_search.get_jobs, inline=False)
    registry.register(opsmgr_search.APP, "getTasks", opsmgr_search.get_tasks, inline=False)
