"""Unit tests of the rules for working manual tasks (decisions §5), `opsmgr.domain.manual`. No database."""

from __future__ import annotations

from dataclasses import replace

import pytest

from opsmgr.domain.access import Principal
from opsmgr.domain.manual import (
    ClaimDecision,
    FinishDecision,
    ManualTaskSnapshot,
    check_assignee,
    decide_claim,
    decide_finish,
    decide_release,
    parse_finish_state,
    require_waiting,
)
from opsmgr.domain.states import FinishState, TaskStatus
from opsmgr.errors import Conflict, Forbidden, Invalid

NETOPS = "a" * 24
OTHER = "b" * 24


def person(name: str, *roles: str, groups: tuple[str, ...] = ()) -> Principal:
    return Principal(name[0] * 24, name, frozenset(roles), frozenset(groups))


ALICE = person("alice", "operations", groups=(NETOPS,))
BOB = person("bob", "operations", groups=(NETOPS,))
DAVE = person("dave", "operations")
CAROL = person("carol", "apiread")
ADMIN = person("0admin", "admin")

WAITING = ManualTaskSnapshot(
    task_id="t-1", type="manual", status="running", owner=None, owner_name=None, groups=(NETOPS,), job_groups=())


def owned_by(p: Principal) -> ManualTaskSnapshot:
    return replace(WAITING, owner=p.account_id, owner_name=p.username)


NOT_WAITING = [replace(WAITING, status=s.value) for s in TaskStatus if s != TaskStatus.RUNNING] + [
    replace(WAITING, type=t) for t in ("automatic", "operation")]


# --- waiting for a person -------------------------------------------------------------------------


@pytest.mark.parametrize("task", NOT_WAITING, ids=lambda t: f"{t.type}-{t.status}")
def test_only_a_running_manual_task_can_be_worked(task):
    """decisions §5: only a manual task that waits for a person (type manual, status running) can be
    claimed, released, assigned or finished; anything else → Conflict (409) naming status and type."""
    for decide in (decide_claim, decide_release, decide_finish):
        with pytest.raises(Conflict) as exc:
            decide(task, ADMIN)
        assert exc.value.details == {"status": task.status, "type": task.type}
    with pytest.raises(Conflict):
        check_assignee(task, ALICE)
    with pytest.raises(Conflict):
        require_waiting(replace(task, owner=ALICE.account_id))


def test_a_running_manual_task_is_waiting():
    """decisions §5: type manual and status running is a task waiting for a person."""
    require_waiting(WAITING)


# --- claim ----------------------------------------------------------------------------------------


def test_claim_unowned_by_an_eligible_caller():
    """decisions §5 claim: an eligible caller claims an unowned task."""
    assert decide_claim(WAITING, ALICE) is ClaimDecision.CLAIM
    assert decide_claim(WAITING, ADMIN) is ClaimDecision.CLAIM


def test_claim_by_the_owner_is_idempotent():
    """decisions §5 claim: a claim by the current owner changes nothing."""
    assert decide_claim(owned_by(ALICE), ALICE) is ClaimDecision.ALREADY_OWNER


def test_claim_held_by_another_names_the_owner():
    """decisions §5 claim: anyone else (admin included) gets Conflict naming the owner."""
    for caller in (BOB, ADMIN):
        with pytest.raises(Conflict) as exc:
            decide_claim(owned_by(ALICE), caller)
        assert "alice" in exc.value.message
        assert exc.value.details == {"owner": {"_id": ALICE.account_id, "username": "alice"}}


def test_claim_by_an_ineligible_caller_is_forbidden():
    """decisions §4: claim needs the right to work the task (dave: not in NetOps) → Forbidden (403),
    even when the task is already held (the caller learns nothing about the holder)."""
    with pytest.raises(Forbidden):
        decide_claim(WAITING, DAVE)
    with pytest.raises(Forbidden):
        decide_claim(owned_by(ALICE), DAVE)
    with pytest.raises(Forbidden):
        decide_claim(replace(WAITING, groups=()), CAROL)


# --- release --------------------------------------------------------------------------------------


def test_release_by_owner_or_admin():
    """decisions §5 release: by the owner or admin → owner cleared."""
    assert decide_release(owned_by(ALICE), ALICE) is True
    assert decide_release(owned_by(ALICE), ADMIN) is True


def test_release_of_an_unassigned_task_changes_nothing():
    """decisions §5 release: unassigned → nothing to clear (whoever asks)."""
    assert decide_release(WAITING, BOB) is False
    assert decide_release(WAITING, DAVE) is False


def test_release_by_someone_else_is_forbidden():
    """decisions §5 release: someone else → Forbidden (403) naming the owner."""
    with pytest.raises(Forbidden) as exc:
        decide_release(owned_by(ALICE), BOB)
    assert "alice" in exc.value.message


# --- assign ---------------------------------------------------------------------------------------


def test_assign_to_an_eligible_target():
    """decisions §5 assign: an eligible target is accepted, replacing any owner."""
    check_assignee(WAITING, BOB)
    check_assignee(owned_by(ALICE), BOB)
    check_assignee(WAITING, ADMIN)


@pytest.mark.parametrize(("task", "target", "word"), [
    (WAITING, DAVE, "group"),
    (replace(WAITING, groups=(), job_groups=(OTHER,)), ALICE, "group"),
    (replace(WAITING, groups=()), CAROL, "role"),
])
def test_assign_to_an_ineligible_target_is_invalid_naming_the_reason(task, target, word):
    """decisions §5 assign: a target not allowed to work the task → Invalid (400) naming the reason,
    with a problem at `userId`."""
    with pytest.raises(Invalid) as exc:
        check_assignee(task, target)
    assert target.username in exc.value.message and word in exc.value.message
    [problem] = exc.value.details["errors"]
    assert problem["path"] == "userId" and word in problem["message"]


# --- finish ---------------------------------------------------------------------------------------


def test_finish_by_owner():
    """decisions §5 finish: the owner may finish."""
    assert decide_finish(owned_by(ALICE), ALICE) is FinishDecision.FINISH


def test_finish_unassigned_claims_and_finishes():
    """decisions §5 finish: an eligible caller finishing an unassigned task claims it in the same step."""
    assert decide_finish(WAITING, BOB) is FinishDecision.CLAIM_AND_FINISH
    assert decide_finish(WAITING, ADMIN) is FinishDecision.CLAIM_AND_FINISH


def test_finish_unassigned_by_an_ineligible_caller_is_forbidden():
    """decisions §4–5: finishing needs the right to work the task."""
    with pytest.raises(Forbidden):
        decide_finish(WAITING, DAVE)


def test_finish_owned_by_another():
    """decisions §5 finish: owned by someone else → Conflict naming the owner, unless the caller is admin."""
    with pytest.raises(Conflict) as exc:
        decide_finish(owned_by(ALICE), BOB)
    assert exc.value.details["owner"]["_id"] == ALICE.account_id
    assert decide_finish(owned_by(ALICE), ADMIN) is FinishDecision.FINISH


@pytest.mark.parametrize("value", ["success", "failure", "error"])
def test_parse_finish_state_accepts_the_three_states(value):
    """decisions §5 finish: finish_state is success, failure or error."""
    assert parse_finish_state(value) is FinishState(value)


@pytest.mark.parametrize("value", ["", "SUCCESS", "done", None, 1, "complete"])
def test_parse_finish_state_rejects_anything_else(value):
    """decisions §5 finish: any other finish_state → Invalid (400) at taskData.finish_state."""
    with pytest.raises(Invalid) as exc:
        parse_finish_state(value)
    assert exc.value.details["errors"][0]["path"] == "taskData.finish_state"
