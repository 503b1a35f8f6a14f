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

from opsmgr.domain.workflow import END, START, Graph, loop_bodies
from opsmgr.errors import Conflict, Invalid

__all__ = ["JobFlow", "Phase", "Step", "loop_bodies"]


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
    # forEach passes that begin with this step: (forEach key, index of the item); its body's first tasks
    # are in `start`. The engine sets the forEach task's `current_item` before starting them.
    passes: list[tuple[str, int]] = field(default_factory=list)
    loops_done: list[str] = field(default_factory=list)  # forEach tasks that finished their last pass
    # tasks a revert transition cleared: their unfinished iterations are canceled and their outputs no longer
    # used, before the tasks in `start` run again
    cleared: list[str] = field(default_factory=list)


@dataclass
class JobFlow:
    graph: Graph
    phases: dict[str, Phase]
    finish_states: dict[str, str | None]
    # forEach key -> {"index": item being run, "count": items}; present while (and after) it loops
    loops: dict[str, dict[str, int]] = field(default_factory=dict)
    bodies: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def new(cls, graph: Graph) -> JobFlow:
        return cls(graph, {k: Phase.PENDING for k in graph.tasks}, {k: None for k in graph.tasks},
                   {}, loop_bodies(graph))

    @classmethod
    def restore(cls, graph: Graph, progress: Mapping[str, Mapping[str, Any]]) -> JobFlow:
        flow = cls.new(graph)
        for key, entry in progress.items():
            if key in flow.phases:
                flow.phases[key] = Phase(entry["phase"])
                flow.finish_states[key] = entry.get("finish_state")
                if isinstance(entry.get("loop"), Mapping):
                    flow.loops[key] = {"index": int(entry["loop"]["index"]), "count": int(entry["loop"]["count"])}
        return flow

    # forEach (workflow-semantics §1.4, §3.6) ---------------------------------------------------------

    def loop_starts(self, key: str) -> list[str]:
        """The first tasks of `key`'s loop body (targets of its `loop` transitions), sorted."""
        return sorted(e.target for e in self.graph.outgoing[key] if e.state == "loop")

    def is_loop(self, key: str) -> bool:
        return key in self.bodies

    def begin_loop(self, key: str, count: int) -> Step:
        """The forEach task `key` (active) got `count` items: run the first pass, or finish at once when
        there is nothing to loop over (or no body)."""
        if count <= 0 or not self.bodies.get(key):
            self.loops[key] = {"index": 0, "count": max(0, count)}
            step = self.finished(key, "success")
            step.loops_done.insert(0, key)
            return step
        self.loops[key] = {"index": -1, "count": count}
        step = Step()
        self._next_pass(key, step)
        return self._conclude(step)

    def _next_pass(self, key: str, step: Step) -> None:
        """Start the next pass of forEach `key`, or finish it after the last one."""
        loop = self.loops[key]
        loop["index"] += 1
        if loop["index"] >= loop["count"]:
            loop["index"] = loop["count"] - 1
            self.phases[key], self.finish_states[key] = Phase.DONE, "success"
            step.loops_done.append(key)
            return
        for body_key in self.bodies[key]:
            self.phases[body_key], self.finish_states[body_key] = Phase.PENDING, None
            self.loops.pop(body_key, None)  # a forEach inside the body loops afresh in each pass
        for first in self.loop_starts(key):
            self.phases[first] = Phase.ACTIVE
            step.start.append(first)
        step.passes.append((key, loop["index"]))

    def _advance_loops(self, step: Step) -> bool:
        """Move on every forEach whose current pass is over (all body tasks decided). True if any moved."""
        moved = False
        for key, loop in list(self.loops.items()):
            if self.loops.get(key) is not loop or self.phases[key] != Phase.ACTIVE or loop["index"] < 0:
                continue
            if all(self.phases[b] in (Phase.DONE, Phase.SKIPPED) for b in self.bodies.get(key, ())):
                # a body task that stopped on an error stops the loop too: the job is in error then
                if any(self.stopped_by_error(b) for b in self.bodies.get(key, ())):
                    continue
                self._next_pass(key, step)
                moved = True
        return moved

    def _loop_source(self, key: str) -> str | None:
        for edge in self.graph.incoming[key]:
            if edge.state == "loop":
                return edge.source
        return None

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
        self._follow_reverts(step)
        self._join(step)
        while self._advance_loops(step):
            self._join(step)
        return self._conclude(step)

    def _follow_reverts(self, step: Step) -> None:
        """A finished task whose finish state has revert transitions goes back (workflow-semantics §1.4):
        every task from each target forward, the target and the task itself included, is cleared to
        pending, and the targets run again."""
        for key in sorted(k for k, p in self.phases.items() if p == Phase.DONE):
            if self.phases[key] != Phase.DONE:
                continue  # cleared by an earlier revert in this pass
            state = self.finish_states[key]
            targets = sorted(e.target for e in self.graph.outgoing[key] if e.type == "revert" and e.state == state)
            if not targets:
                continue
            reached = {t: self.downstream(t) for t in targets}
            region = set().union(*reached.values()) | (set(targets) - {START}) | {key}
            self.reopen(region)
            step.cleared.extend(sorted(region - set(step.cleared)))
            for target in targets:
                # a target that another target leads to runs again through the join rule, not twice
                if target != START and not any(target in reached[o] for o in targets if o != target):
                    self.phases[target] = Phase.ACTIVE
                    step.start.append(target)

    def _join(self, step: Step) -> None:
        for key in self.graph.topological():
            if self.phases[key] != Phase.PENDING or key == START:
                continue
            source = self._loop_source(key)
            if source is not None:
                # a loop body starts only through its forEach; it never runs if the forEach never does
                if self.phases[source] == Phase.SKIPPED:
                    self.phases[key] = Phase.SKIPPED
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
        # a loop body whose forEach was skipped after the body was visited: decide it in another pass
        again = any(
            self.phases[first] == Phase.PENDING
            for key, _ in self.bodies.items() if self.phases[key] == Phase.SKIPPED
            for first in self.loop_starts(key)
        )
        if again:
            self._join(step)

    def _conclude(self, step: Step) -> Step:
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
        in_body = set().union(*self.bodies.values()) if self.bodies else set()
        return sorted(
            key
            for key, phase in self.phases.items()
            if phase == Phase.DONE
            and key != END
            and key not in in_body
            and not self.graph.standard_out(key, self.finish_states[key] or "")
        )

    def has_error_path(self, key: str) -> bool:
        """True when an error outcome of `key` has a transition to follow, standard or revert."""
        return any(e.state == "error" for e in self.graph.outgoing[key])

    # job controls (issue #3): retry, continue, revert ------------------------------------------------

    def downstream(self, key: str) -> set[str]:
        """Task keys reachable from `key` along standard transitions (any state), `key` excluded."""
        seen: set[str] = set()
        todo = [key]
        while todo:
            for edge in self.graph.outgoing[todo.pop()]:
                if edge.type == "standard" and edge.target not in seen and edge.target != key:
                    seen.add(edge.target)
                    todo.append(edge.target)
        return seen

    def reopen(self, keys: set[str]) -> list[str]:
        """Put `keys` back to pending (no finish state); returns those that were active, sorted."""
        active = sorted(k for k in keys if self.phases[k] == Phase.ACTIVE)
        for key in keys:
            self.phases[key] = Phase.PENDING
            self.finish_states[key] = None
            self.loops.pop(key, None)
        return active

    def stopped_by_error(self, key: str) -> bool:
        """True when `key` finished in error and has no error transition: its branch stopped there."""
        return (
            self.phases[key] == Phase.DONE
            and self.finish_states[key] == "error"
            and not self.has_error_path(key)
        )

    def retry(self, key: str) -> set[str]:
        """Run `key` again after it stopped the job with an error (no error transition followed).

        `key` becomes active; tasks after it that were skipped become pending again, so the join rule
        decides them afresh once the new iteration finishes (tasks that already ran stay done).
        Returns the keys put back to pending. Conflict when `key` did not stop on an error.
        """
        if key in (START, END):
            raise Conflict(f"{key} cannot be retried", {"task": key})
        if not self.stopped_by_error(key):
            if self.phases[key] == Phase.DONE and self.finish_states[key] == "error":
                raise Conflict(f"task {key} ended in error but its error transition was followed", {"task": key})
            raise Conflict(
                f"task {key} did not end in error (it is {self._describe(key)})",
                {"task": key, "phase": self.phases[key].value, "finish_state": self.finish_states[key]},
            )
        reopened = {k for k in self.downstream(key) if self.phases[k] == Phase.SKIPPED}
        self.reopen(reopened)
        self.phases[key] = Phase.ACTIVE
        self.finish_states[key] = None
        return reopened

    def continue_from(self, key: str) -> tuple[set[str], list[str]]:
        """Follow `key`'s transitions again with the finish state of its last iteration.

        Every task after `key` goes back to pending (so the successors chosen by that finish state run
        again, and the join rule decides the rest); `key` itself stays done. Returns (the keys put back
        to pending, those of them that were active and whose waiting iterations must be canceled).
        Conflict when `key` has not finished, or its finish state has no transition to follow.
        """
        if key == END:
            raise Conflict("a job cannot continue from workflow_end", {"task": key})
        state = self.finish_states[key]
        if self.phases[key] != Phase.DONE or state is None:
            raise Conflict(
                f"task {key} has not finished (it is {self._describe(key)}); a job continues from a finished task",
                {"task": key, "phase": self.phases[key].value},
            )
        if not self.graph.standard_out(key, state):
            raise Conflict(
                f"task {key} last finished with {state!r} and has no {state} transition to follow",
                {"task": key, "finish_state": state},
            )
        region = self.downstream(key)
        return region, self.reopen(region)

    def revert(self, from_key: str, to_key: str) -> tuple[set[str], list[str]]:
        """Go back from the errored task `from_key` to the earlier completed task `to_key`.

        As Workflow Builder describes revert transitions: every task from `to_key` forward (`to_key`
        included) is cleared back to pending, and `to_key` becomes active to run again (for
        `workflow_start`, its successors are settled instead). Returns (the cleared keys, those of them
        that were active). Invalid (400) when `to_key` is not upstream of `from_key`; Conflict (409)
        when `from_key` did not end in error or `to_key` did not complete.
        """
        if from_key in (START, END):
            raise Invalid.problems(
                f"fromTask cannot be {from_key}", [{"path": "fromTask", "message": "not an errored task"}]
            )
        if to_key == END:
            raise Invalid.problems("toTask cannot be workflow_end", [{"path": "toTask", "message": "not earlier"}])
        if from_key not in self.downstream(to_key):
            raise Invalid.problems(
                f"toTask {to_key} is not before fromTask {from_key} in the workflow",
                [{"path": "toTask", "message": f"{from_key} cannot be reached from {to_key}"}],
            )
        if not (self.phases[from_key] == Phase.DONE and self.finish_states[from_key] == "error"):
            raise Conflict(
                f"fromTask {from_key} did not end in error (it is {self._describe(from_key)})",
                {"task": from_key, "phase": self.phases[from_key].value},
            )
        if not (self.phases[to_key] == Phase.DONE and self.finish_states[to_key] in ("success", "failure")):
            raise Conflict(
                f"toTask {to_key} has not completed (it is {self._describe(to_key)})",
                {"task": to_key, "phase": self.phases[to_key].value},
            )
        region = self.downstream(to_key)
        if to_key != START:
            region.add(to_key)
        active = self.reopen(region)
        if to_key != START:
            self.phases[to_key] = Phase.ACTIVE
        return region, active

    def _describe(self, key: str) -> str:
        state = self.finish_states[key]
        return f"{self.phases[key].value}" + (f", {state}" if state else "")

    def progress(self) -> float:
        """Share of the job's tasks that are decided (finished or skipped), 0..1."""
        decided = sum(1 for p in self.phases.values() if p in (Phase.DONE, Phase.SKIPPED))
        return round(decided / max(1, len(self.phases)), 4)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        snap: dict[str, dict[str, Any]] = {
            k: {"phase": self.phases[k].value, "finish_state": self.finish_states[k]} for k in self.phases
        }
        for key, loop in self.loops.items():
            snap[key]["loop"] = dict(loop)
        return snap
