"""Task implementations registered by `app` + `name`, and what they receive and return.

A task implementation is an async callable `impl(ctx) -> Outcome`. Manual tasks have no
implementation: they wait for a person. Workflow import rejects any `app`/`name` not registered here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TaskContext:
    job_id: str
    task_id: str
    task_key: str
    incoming: Mapping[str, Any]
    job_variables: Mapping[str, Any]
    task_outputs: Mapping[str, Mapping[str, Any]]
    runtime: Mapping[str, Any]
    now_ms: int


@dataclass
class Outcome:
    """A task's result: finish state, outgoing variables, and optional effects."""

    finish_state: str = "success"
    outputs: dict[str, Any] = field(default_factory=dict)
    error: Any = None
    job_variables: dict[str, Any] | None = None  # set job variables directly (newVariable)
    wait_until: int | None = None  # epoch ms: come back then, holding no worker (delay)
    runtime: dict[str, Any] | None = None  # state kept for the next run after a wait
    job_description: str | None = None  # replace the job's description (updateJobDescription)


TaskImpl = Callable[[TaskContext], Awaitable[Outcome]]


@dataclass(frozen=True)
class TaskSpec:
    app: str
    name: str
    impl: TaskImpl | None  # None for manual tasks


class Registry:
    def __init__(self) -> None:
        self._specs: dict[tuple[str, str], TaskSpec] = {}

    def register(self, app: str, name: str, impl: TaskImpl | None) -> None:
        self._specs[(app, name)] = TaskSpec(app, name, impl)

    def get(self, app: str, name: str) -> TaskSpec | None:
        return self._specs.get((app, name))

    def known(self) -> frozenset[tuple[str, str]]:
        return frozenset(self._specs)


def default_registry() -> Registry:
    """The built-in WorkFlowEngine tasks."""
    from opsmgr.engine import builtins

    registry = Registry()
    builtins.register(registry)
    return registry
