"""The task and job state machines over every (from, to) pair (architecture: domain tests; decisions §5–6,
workflow-semantics §2.2 and §3.1). No database."""

from __future__ import annotations

import itertools

import pytest

from opsmgr.domain.states import JobStatus, TaskStatus, job_transition, task_transition
from opsmgr.errors import Conflict

T = TaskStatus
J = JobStatus

# Written out here, independently of the table in the code, so a change to either is noticed.
TASK_ALLOWED = {
    (T.INCOMPLETE, T.SCHEDULED), (T.INCOMPLETE, T.RUNNING), (T.INCOMPLETE, T.CANCELED),
    (T.SCHEDULED, T.RUNNING), (T.SCHEDULED, T.CANCELED),
    (T.RUNNING, T.COMPLETE), (T.RUNNING, T.ERROR), (T.RUNNING, T.CANCELED),
    (T.RUNNING, T.SCHEDULED),  # a waiting automatic task (delay, lost lease) goes back to the queue
    (T.RUNNING, T.PAUSED),
    (T.PAUSED, T.RUNNING), (T.PAUSED, T.CANCELED),
}
# complete, canceled, error and failure end an iteration: a retry or revert makes a new iteration
TASK_TERMINAL = {T.COMPLETE, T.CANCELED, T.ERROR, T.FAILURE}

JOB_ALLOWED = {
    (J.RUNNING, J.COMPLETE), (J.RUNNING, J.ERROR), (J.RUNNING, J.CANCELED), (J.RUNNING, J.PAUSED),
    (J.PAUSED, J.RUNNING), (J.PAUSED, J.CANCELED),
    (J.ERROR, J.RUNNING),  # retry, revert, continue (decisions §6): error is not terminal
    (J.ERROR, J.CANCELED),
}
JOB_TERMINAL = {J.COMPLETE, J.CANCELED}


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(TaskStatus, TaskStatus)),
                         ids=lambda s: s.value)
def test_task_transition(src, dst):
    """Every (from, to) task status pair: allowed pairs return the new status, others raise Conflict
    (409) naming the current status."""
    if (src, dst) in TASK_ALLOWED:
        assert task_transition(src.value, dst.value) is dst
    else:
        with pytest.raises(Conflict) as exc:
            task_transition(src.value, dst.value)
        assert exc.value.details == {"status": src.value}
        assert src.value in exc.value.message and dst.value in exc.value.message


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(JobStatus, JobStatus)), ids=lambda s: s.value)
def test_job_transition(src, dst):
    """Every (from, to) job status pair: allowed pairs return the new status, others raise Conflict."""
    if (src, dst) in JOB_ALLOWED:
        assert job_transition(src.value, dst.value) is dst
    else:
        with pytest.raises(Conflict) as exc:
            job_transition(src.value, dst.value)
        assert exc.value.details == {"status": src.value}


def test_terminal_states_have_no_way_out():
    """Finished iterations and finished jobs never change status again."""
    assert not {src for src, _ in TASK_ALLOWED} & TASK_TERMINAL
    assert not {src for src, _ in JOB_ALLOWED} & JOB_TERMINAL


def test_no_status_moves_to_itself():
    """A status change to the same status is not a change: it is refused, so a double write is noticed."""
    for status in TaskStatus:
        with pytest.raises(Conflict):
            task_transition(status, status)
    for job_status in JobStatus:
        with pytest.raises(Conflict):
            job_transition(job_status, job_status)


def test_every_status_is_reachable_from_the_start():
    """Every task status but `failure` is reachable from `incomplete`; every job status from `running`.
    (`failure` is in Itential's enum, but a failed manual or automatic task ends `complete` with
    finish_state failure: workflow-semantics §3.1.)"""
    def reachable(start, allowed):
        seen, todo = {start}, [start]
        while todo:
            here = todo.pop()
            for src, dst in allowed:
                if src == here and dst not in seen:
                    seen.add(dst)
                    todo.append(dst)
        return seen

    assert reachable(T.INCOMPLETE, TASK_ALLOWED) == set(TaskStatus) - {T.FAILURE}
    assert reachable(J.RUNNING, JOB_ALLOWED) == set(JobStatus)


def test_enum_values_are_itentials():
    """The status enums are Itential's (ops-manager-api §6): lowercase values."""
    assert {s.value for s in TaskStatus} == {
        "incomplete", "scheduled", "running", "complete", "canceled", "error", "failure", "paused"}
    assert {s.value for s in JobStatus} == {"running", "complete", "error", "canceled", "paused"}
