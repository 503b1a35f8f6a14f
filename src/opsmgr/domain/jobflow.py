"""How a job moves through its workflow graph (workflow-semantics §2.6, decisions §6).

`JobFlow` holds the per-task progress of one job (`phase` and `finish_state` per task key) and decides,
given a task outcome, which tasks start next, whether the job is complete, and whether it is stuck.

Join rule: a task runs once every standard predecessor has finished or can no longer run, and at least
one finished predecessor took a transition into it. A task none of whose predecessors led to it can
never run ("skipped"), and that propagates. When nothing is running and `workflow_end` was not reached,
the job is stuck and ends in error naming the tasks whose outcome had nowhere to go.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from opsmgr.domain.workflow import END, START, Graph


class Phase(StrEnum):
    PENDING = "pending"  # not reached yet
    ACTIVE = "active"  # started: queued, running, or waiting for a person
    DONE = "done"  # finished with a finish_state
    SKIPPED = "skipped"  # can never run in this job


@dataclass
class Step:
    """What the engine must do after an outcome: tasks to start and how the job ends, if it does."""

    start: list[str] = field(default_factory=list)
    complete: bool = False
    error: str | None = None  # job-level error message when the job can go no further
    dead_ends: list[str] = field(default_factory=list)


@dataclass
class JobFlow:
    graph: Graph
    phases: dict[str, Phase]
    finish_states: dict[str, str | None]

    @classmethod
    def new(cls, graph: Graph) -> JobFlow:
        return cls(graph, {k: Phase.PENDING for k in graph.tasks}, {k: None for k in graph.tasks})

    @classmethod
    def restore(cls, graph: Graph, progress: Mapping[str, Mapping[str, Any]]) -> JobFlow:
        flow = cls.new(graph)
        for key, entry in progress.items():
            if key in flow.phases:
                flow.phases[key] = Phase(entry["phase"])
                flow.finish_states[key] = entry.get("finish_state")
        return flow

    def start(self) -> Step:
        """Begin the job: workflow_start finishes with success at once."""
        return self.finished(START, "success")

    def mark_active(self, key: str) -> None:
        self.phases[key] = Phase.ACTIVE

    def finished(self, key: str, finish_state: str) -> Step:
        """Record that `key` finished with `finish_state` and settle what follows."""
        self.phases[key] = Phase.DONE
        self.finish_states[key] = finish_state
        return self.settle()

    def failed(self, key: str) -> None:
        """Record an error with no error transition: the job stops here, nothing new starts."""
        self.phases[key] = Phase.DONE
        self.finish_states[key] = "error"

    def settle(self) -> Step:
        step = Step()
        for key in self.graph.topological():
            if self.phases[key] != Phase.PENDING or key == START:
                continue
            preds = self.graph.standard_in(key)
            if any(self.phases[e.source] in (Phase.PENDING, Phase.ACTIVE) for e in preds):
                continue
            led_here = any(
                self.phases[e.source] == Phase.DONE and self.finish_states[e.source] == e.state for e in preds
            )
            if led_here:
                if key == END:
                    self.phases[END] = Phase.DONE
                    self.finish_states[END] = "success"
                    step.complete = True
                else:
                    self.phases[key] = Phase.ACTIVE
                    step.start.append(key)
            else:
                self.phases[key] = Phase.SKIPPED
        if step.complete:
            step.start = []
        elif not step.start and not any(p == Phase.ACTIVE for p in self.phases.values()):
            step.dead_ends = self.dead_ends()
            names = ", ".join(step.dead_ends) or "no task"
            step.error = (
                f"Job has no available transitions. {names} could have led to the workflow end task, "
                "but did not. These tasks performed in a way that the end of the workflow could not be reached."
            )
        return step

    def dead_ends(self) -> list[str]:
        """Finished tasks whose outcome had no transition to follow."""
        return sorted(
            key
            for key, phase in self.phases.items()
            if phase == Phase.DONE
            and key != END
            and not self.graph.standard_out(key, self.finish_states[key] or "")
        )

    def has_error_path(self, key: str) -> bool:
        return bool(self.graph.standard_out(key, "error"))

    def progress(self) -> float:
        """Share of the job's tasks that are decided (finished or skipped), 0..1."""
        decided = sum(1 for p in self.phases.values() if p in (Phase.DONE, Phase.SKIPPED))
        return round(decided / max(1, len(self.phases)), 4)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {k: {"phase": self.phases[k].value, "finish_state": self.finish_states[k]} for k in self.phases}
