"""Task implementations registered by `app` + `name`, and what they receive and return.

A task implementation is an async callable `impl(ctx) -> Outcome`. Manual tasks have no
implementation: they wait for a person. Workflow import rejects any `app`/`name` not registered here.

Plugins: an installed package adds tasks through the entry-point group `opsmgr.tasks`; each entry point
names a callable `register(registry)` that calls `registry.register(app, name, impl)`. A plugin that fails
to load or to register is logged and skipped (none of its tasks are kept), and it cannot replace a task
that is already registered.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsmgr.store.database import Database

log = logging.getLogger("opsmgr.engine.plugins")
PLUGIN_GROUP = "opsmgr.tasks"


@dataclass(frozen=True)
class Actor:
    """Who a task runs as (its `actor`: Pronghorn, the job's initiator, or who worked a manual task)."""

    account_id: str | None
    username: str | None


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
    actor: Actor | None = None
    # The Engine's database, for the few tasks that read it through `opsmgr.services` (getJobs/getTasks):
    # set for queued tasks only, None for inline (pure) tasks and in unit tests that do not need it. A task
    # using it must not block the event loop: call services via `starlette.concurrency.run_in_threadpool`.
    database: Database | None = None


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
    # pure and quick (no I/O, no side effects beyond its Outcome): may run inside the transaction that
    # makes it ready instead of going through the work queue (services.progress, ADR 0008)
    inline: bool = False


class Registry:
    def __init__(self) -> None:
        self._specs: dict[tuple[str, str], TaskSpec] = {}

    def register(self, app: str, name: str, impl: TaskImpl | None, inline: bool = False) -> None:
        self._specs[(app, name)] = TaskSpec(app, name, impl, inline and impl is not None)

    def get(self, app: str, name: str) -> TaskSpec | None:
        return self._specs.get((app, name))

    def known(self) -> frozenset[tuple[str, str]]:
        return frozenset(self._specs)

    def specs(self) -> list[TaskSpec]:
        return list(self._specs.values())


def load_plugins(registry: Registry) -> list[str]:
    """Register the tasks of every `opsmgr.tasks` entry point; returns the names of the plugins loaded."""
    loaded = []
    for entry in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        staged = Registry()
        try:
            entry.load()(staged)
        except Exception:
            log.exception("task plugin %r (%s) failed to load; skipped", entry.name, entry.value)
            continue
        known = registry.known()
        taken = sorted(f"{app}.{name}" for app, name in staged.known() & known)
        if taken:
            log.warning("task plugin %r may not replace registered tasks: %s; those are ignored",
                        entry.name, ", ".join(taken))
        for spec in staged.specs():
            if (spec.app, spec.name) not in known:
                registry.register(spec.app, spec.name, spec.impl)
        loaded.append(entry.name)
    return loaded


def default_registry() -> Registry:
    """The built-in WorkFlowEngine tasks, then those of installed plugins (`opsmgr.tasks` entry points)."""
    from opsmgr.engine import builtins

    registry = Registry()
    builtins.register(registry)
    load_plugins(registry)
    return registry
