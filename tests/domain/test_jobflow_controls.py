"""Retry, continue and revert on the job graph (decisions §6, workflow-semantics §1.4, §2.8), without a database."""

from __future__ import annotations

import pytest

from opsmgr.domain.jobflow import JobFlow, Phase
from opsmgr.domain.workflow import Graph
from opsmgr.errors import Conflict, Invalid
from tests.helpers import task, workflow

LINEAR = {"workflow_start": {"a": "success"}, "a": {"b": "success"}, "b": {"c": "success"},
          "c": {"workflow_end": "success"}}


def flow_of(tasks: list[str], transitions: dict) -> JobFlow:
    return JobFlow.new(Graph.of(workflow("f", {k: task("stub") for k in tasks}, transitions)))


def errored_at_b() -> JobFlow:
    """a succeeded, b errored with no error transition (the job stopped there)."""
    flow = flow_of(["a", "b", "c"], LINEAR)
    flow.start()
    flow.finished("a", "success")
    flow.failed("b")
    return flow


def test_downstream_follows_standard_transitions_only():
    transitions = {**LINEAR, "c": {"workflow_end": "success", "a": ("failure", "revert")}}
    flow = flow_of(["a", "b", "c"], transitions)
    assert flow.downstream("a") == {"b", "c", "workflow_end"}
    assert flow.downstream("c") == {"workflow_end"}  # the revert edge back to a is not followed


# retry ---------------------------------------------------------------------------------------------------


def test_retry_makes_the_errored_task_active_and_the_next_one_runs_after_it():
    flow = errored_at_b()
    assert flow.retry("b") == set()
    assert flow.phases["b"] == Phase.ACTIVE and flow.finish_states["b"] is None
    assert flow.settle().start == []  # nothing else starts while b runs again
    step = flow.finished("b", "success")
    assert step.start == ["c"]
    assert flow.finished("c", "success").complete


def test_retry_reopens_tasks_after_it_that_were_skipped():
    flow = errored_at_b()
    flow.settle()  # e.g. another branch settled while the job was in error: c is skipped
    assert flow.phases["c"] == Phase.SKIPPED
    assert flow.retry("b") == {"c", "workflow_end"}
    assert flow.phases["c"] == Phase.PENDING
    assert flow.finished("b", "success").start == ["c"]


def test_retry_of_a_task_that_did_not_error_is_a_conflict():
    flow = errored_at_b()
    for key in ("a", "c", "workflow_start"):
        with pytest.raises(Conflict):
            flow.retry(key)


def test_retry_of_an_error_whose_error_transition_was_followed_is_a_conflict():
    flow = flow_of(["a", "h"], {"workflow_start": {"a": "success"}, "a": {"h": "error"},
                                "h": {"workflow_end": "success"}})
    flow.start()
    assert flow.finished("a", "error").start == ["h"]
    with pytest.raises(Conflict, match="error transition was followed"):
        flow.retry("a")


# continue ------------------------------------------------------------------------------------------------


def test_continue_follows_the_last_finish_state_again_and_clears_what_follows():
    flow = errored_at_b()
    region, active = flow.continue_from("a")
    assert region == {"b", "c", "workflow_end"} and active == []
    assert flow.phases["a"] == Phase.DONE and flow.phases["b"] == Phase.PENDING
    assert flow.settle().start == ["b"]


def test_continue_reports_the_active_tasks_it_clears():
    flow = flow_of(["a", "b", "m"], {"workflow_start": {"a": "success"}, "a": {"b": "success", "m": "success"},
                                     "b": {"workflow_end": "success"}, "m": {"workflow_end": "success"}})
    flow.start()
    flow.finished("a", "success")
    flow.failed("b")  # m still waits for a person
    region, active = flow.continue_from("a")
    assert active == ["m"] and {"b", "m"} <= region
    assert sorted(flow.settle().start) == ["b", "m"]


def test_continue_from_a_task_that_has_not_finished_or_leads_nowhere_is_a_conflict():
    flow = errored_at_b()
    with pytest.raises(Conflict, match="has not finished"):
        flow.continue_from("c")
    with pytest.raises(Conflict, match="no error transition"):
        flow.continue_from("b")
    with pytest.raises(Conflict):
        flow.continue_from("workflow_end")


def test_continue_from_workflow_start_runs_the_job_again():
    flow = errored_at_b()
    region, _ = flow.continue_from("workflow_start")
    assert region == {"a", "b", "c", "workflow_end"}
    assert flow.settle().start == ["a"]


# revert --------------------------------------------------------------------------------------------------


def test_revert_clears_from_the_target_forward_and_makes_the_target_active():
    flow = errored_at_b()
    region, active = flow.revert("b", "a")
    assert region == {"a", "b", "c", "workflow_end"} and active == []
    assert flow.phases["a"] == Phase.ACTIVE
    assert all(flow.phases[k] == Phase.PENDING for k in ("b", "c", "workflow_end"))
    assert flow.finish_states["b"] is None
    assert flow.settle().start == []  # a runs first
    assert flow.finished("a", "success").start == ["b"]


def test_revert_to_workflow_start_settles_its_successors():
    flow = errored_at_b()
    region, _ = flow.revert("b", "workflow_start")
    assert "workflow_start" not in region and flow.phases["workflow_start"] == Phase.DONE
    assert flow.settle().start == ["a"]


def test_revert_checks_the_order_and_the_states():
    flow = errored_at_b()
    with pytest.raises(Invalid, match="not before"):
        flow.revert("b", "c")  # c is after b
    with pytest.raises(Invalid):
        flow.revert("workflow_start", "a")
    with pytest.raises(Conflict, match="did not end in error"):
        flow.revert("a", "workflow_start")  # a succeeded
    flow2 = errored_at_b()
    flow2.phases["a"] = Phase.SKIPPED
    with pytest.raises(Conflict, match="has not completed"):
        flow2.revert("b", "a")


def test_revert_reports_active_tasks_in_the_cleared_part():
    flow = flow_of(["a", "b", "m"], {"workflow_start": {"a": "success"}, "a": {"b": "success", "m": "success"},
                                     "b": {"workflow_end": "success"}, "m": {"workflow_end": "success"}})
    flow.start()
    flow.finished("a", "success")
    flow.failed("b")
    _, active = flow.revert("b", "a")
    assert active == ["m"] and flow.phases["m"] == Phase.PENDING
    assert flow.settle().start == []
    assert sorted(flow.finished("a", "success").start) == ["b", "m"]


# revert transitions in the workflow (workflow-semantics §1.4) -----------------------------------------------

RETRY_LOOP = {"workflow_start": {"a": "success"}, "a": {"c": "success", "m": "error"},
              "m": {"a": ("success", "revert"), "workflow_end": "failure"}, "c": {"workflow_end": "success"}}


def test_a_revert_transition_clears_from_its_target_forward_and_runs_the_target_again():
    """a errors → m (a person: "Retry?") → success is a revert transition back to a."""
    flow = flow_of(["a", "c", "m"], RETRY_LOOP)
    flow.start()
    assert flow.finished("a", "error").start == ["m"]
    step = flow.finished("m", "success")
    assert step.start == ["a"] and not step.complete and step.error is None
    assert flow.phases["a"] == Phase.ACTIVE and flow.finish_states["a"] is None
    assert flow.phases["m"] == flow.phases["c"] == Phase.PENDING and flow.finish_states["m"] is None
    assert flow.finished("a", "error").start == ["m"]  # round two
    assert flow.finished("m", "success").start == ["a"]
    assert flow.finished("a", "success").start == ["c"]
    assert flow.finished("c", "success").complete


def test_a_state_without_a_revert_transition_still_follows_the_standard_one():
    flow = flow_of(["a", "c", "m"], RETRY_LOOP)
    flow.start()
    flow.finished("a", "error")
    assert flow.finished("m", "failure").complete


def test_a_revert_transition_on_error_is_an_error_path_and_is_followed():
    flow = flow_of(["a", "b"], {"workflow_start": {"a": "success"}, "a": {"b": "success"},
                                "b": {"a": ("error", "revert"), "workflow_end": "success"}})
    flow.start()
    flow.finished("a", "success")
    assert flow.has_error_path("b") and not flow.has_error_path("a")
    assert flow.finished("b", "error").start == ["a"] and flow.phases["b"] == Phase.PENDING


def test_an_outcome_recorded_while_paused_follows_its_revert_transition_when_settled():
    """A paused job records outcomes without settling them; resume settles, and the revert is followed."""
    flow = flow_of(["a", "c", "m"], RETRY_LOOP)
    flow.start()
    flow.finished("a", "error")
    flow.phases["m"], flow.finish_states["m"] = Phase.DONE, "success"  # as services.progress does when paused
    assert flow.settle().start == ["a"]
    assert flow.settle().start == []  # followed once


def test_a_revert_transition_to_workflow_start_runs_the_workflow_again():
    flow = flow_of(["a", "m"], {"workflow_start": {"a": "success"}, "a": {"m": "success"},
                                "m": {"workflow_start": ("failure", "revert"), "workflow_end": "success"}})
    flow.start()
    flow.finished("a", "success")
    assert flow.finished("m", "failure").start == ["a"]
    assert flow.phases["workflow_start"] == Phase.DONE and flow.phases["m"] == Phase.PENDING
