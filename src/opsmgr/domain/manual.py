"""Rules for people working manual tasks: claim, release, assign, finish (decisions §5).

These functions look at a snapshot of the task and decide; the store then makes the decision stick
with one conditional write, and a lost race is decided again on a fresh snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from opsmgr.domain.access import Principal, work_denial
from opsmgr.domain.states import FinishState, TaskStatus
from opsmgr.errors import Conflict, Forbidden, Invalid


@dataclass(frozen=True)
class ManualTaskSnapshot:
    """What the rules need to know about one task iteration."""

    task_id: str
    type: str
    status: str
    owner: str | None
    owner_name: str | None
    groups: tuple[str, ...]
    job_groups: tuple[str, ...]


class ClaimDecision(StrEnum):
    CLAIM = "claim"  # write the caller as owner, if still unowned
    ALREADY_OWNER = "already_owner"  # idempotent: nothing to write


class FinishDecision(StrEnum):
    FINISH = "finish"  # caller owns it (or admin): finish
    CLAIM_AND_FINISH = "claim_and_finish"  # unassigned: claim and finish in one step


def require_waiting(task: ManualTaskSnapshot) -> None:
    """Only a manual task that waits for a person can be claimed, released, assigned or finished."""
    if task.type != "manual" or task.status != TaskStatus.RUNNING:
        raise Conflict(
            f"task {task.task_id} is not waiting for a person (type {task.type}, status {task.status})",
            {"status": task.status, "type": task.type},
        )


def _held_by_other(task: ManualTaskSnapshot) -> Conflict:
    who = task.owner_name or task.owner
    return Conflict(
        f"task {task.task_id} is already claimed by {who}",
        {"owner": {"_id": task.owner, "username": task.owner_name}},
    )


def decide_claim(task: ManualTaskSnapshot, caller: Principal) -> ClaimDecision:
    require_waiting(task)
    reason = work_denial(caller, task.groups, task.job_groups)
    if reason:
        raise Forbidden(f"{caller.username} may not work task {task.task_id}: {reason}")
    if task.owner is None:
        return ClaimDecision.CLAIM
    if task.owner == caller.account_id:
        return ClaimDecision.ALREADY_OWNER
    raise _held_by_other(task)


def decide_release(task: ManualTaskSnapshot, caller: Principal) -> bool:
    """True when there is an owner to clear; raises if the caller may not release it."""
    require_waiting(task)
    if task.owner is None:
        return False
    if task.owner == caller.account_id or caller.is_admin:
        return True
    raise Forbidden(
        f"task {task.task_id} is claimed by {task.owner_name or task.owner}; only they or an admin may release it"
    )


def check_assignee(task: ManualTaskSnapshot, target: Principal) -> None:
    """The target of an assign must be allowed to work the task (400 naming the reason)."""
    require_waiting(task)
    reason = work_denial(target, task.groups, task.job_groups)
    if reason:
        raise Invalid.problems(
            f"user {target.username} cannot be assigned task {task.task_id}: {reason}",
            [{"path": "userId", "message": reason}],
        )


def decide_finish(task: ManualTaskSnapshot, caller: Principal) -> FinishDecision:
    require_waiting(task)
    if task.owner is None:
        reason = work_denial(caller, task.groups, task.job_groups)
        if reason:
            raise Forbidden(f"{caller.username} may not work task {task.task_id}: {reason}")
        return FinishDecision.CLAIM_AND_FINISH
    if task.owner == caller.account_id or caller.is_admin:
        return FinishDecision.FINISH
    raise _held_by_other(task)


def parse_finish_state(value: object) -> FinishState:
    try:
        return FinishState(str(value))
    except ValueError:
        raise Invalid.problems(
            f"finish_state must be one of success, failure, error; got {value!r}",
            [{"path": "taskData.finish_state", "message": "must be success, failure or error"}],
        ) from None
