"""Task and job state machines (workflow-semantics §2.2, §3.1; decisions §5–6).

Every status change in opsmgr goes through `task_transition` / `job_transition`; a change that is not
in the table raises Conflict, which the API reports as 409.
"""

from __future__ import annotations

from enum import StrEnum

from opsmgr.errors import Conflict


class TaskStatus(StrEnum):
    INCOMPLETE = "incomplete"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    COMPLETE = "complete"
    CANCELED = "canceled"
    ERROR = "error"
    FAILURE = "failure"
    PAUSED = "paused"


class JobStatus(StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    ERROR = "error"
    CANCELED = "canceled"
    PAUSED = "paused"


class FinishState(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.INCOMPLETE: frozenset({TaskStatus.SCHEDULED, TaskStatus.RUNNING, TaskStatus.CANCELED}),
    # scheduled = queued for a worker (or waiting for its time); running = a worker or a person has it
    TaskStatus.SCHEDULED: frozenset({TaskStatus.RUNNING, TaskStatus.CANCELED}),
    TaskStatus.RUNNING: frozenset(
        {TaskStatus.COMPLETE, TaskStatus.ERROR, TaskStatus.CANCELED, TaskStatus.SCHEDULED, TaskStatus.PAUSED}
    ),
    TaskStatus.PAUSED: frozenset({TaskStatus.RUNNING, TaskStatus.CANCELED}),
    TaskStatus.ERROR: frozenset(),
    TaskStatus.FAILURE: frozenset(),
    TaskStatus.COMPLETE: frozenset(),
    TaskStatus.CANCELED: frozenset(),
}

JOB_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.RUNNING: frozenset({JobStatus.COMPLETE, JobStatus.ERROR, JobStatus.CANCELED, JobStatus.PAUSED}),
    JobStatus.PAUSED: frozenset({JobStatus.RUNNING, JobStatus.CANCELED}),
    # an errored job is still active: retry, revert and continue bring it back to running
    JobStatus.ERROR: frozenset({JobStatus.RUNNING, JobStatus.CANCELED}),
    JobStatus.COMPLETE: frozenset(),
    JobStatus.CANCELED: frozenset(),
}


def task_transition(current: str, new: str) -> TaskStatus:
    """Return the new status if the task may move there, else raise Conflict."""
    src, dst = TaskStatus(current), TaskStatus(new)
    if dst not in TASK_TRANSITIONS[src]:
        raise Conflict(f"a task cannot go from {src} to {dst}", {"status": src.value})
    return dst


def job_transition(current: str, new: str) -> JobStatus:
    """Return the new status if the job may move there, else raise Conflict."""
    src, dst = JobStatus(current), JobStatus(new)
    if dst not in JOB_TRANSITIONS[src]:
        raise Conflict(f"a job cannot go from {src} to {dst}", {"status": src.value})
    return dst
