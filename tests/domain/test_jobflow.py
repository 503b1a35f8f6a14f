"""The join rule, dead branches and stuck detection (workflow-semantics §2.6, decisions §6), without a database."""

from __future__ import annotations

from opsmgr.domain.jobflow import JobFlow, Phase
from opsmgr.domain.workflow import Graph
from tests.helpers import task, workflow


def flow_of(tasks: list[str], transitions: dict) -> JobFlow:
    return JobFlow.new(Graph.of(workflow("f", {k: task("stub") for k in tasks}, transitions)))


def test_start_runs_the_successors_of_workflow_start():
    flow = flow_of(["a"], {"workflow_start": {"a": "success"}, "a": {"workflow_end": "success"}})
    step = flow.start()
    assert step.start == ["a"] and not step.complete and step.error is None
    assert flow.phases["workflow_start"] == Phase.DONE
    assert flow.phases["a"] == Phase.ACTIVE


def test_linear_success_completes():
    flow = flow_of(["a"], {"workflow_start": {"a": "success"}, "a": {"workflow_end": "success"}})
    flow.start()
    step = flow.finished("a", "success")
    assert step.complete and step.start == [] and step.error is None
    assert flow.phases["workflow_end"] == Phase.DONE
    assert flow.progress() == 1.0


def test_transitions_follow_the_finish_state():
    transitions = {
        "workflow_start": {"a": "success"},
        "a": {"b": "success", "c": "error", "d": "failure"},
        "b": {"workflow_end": "success"},
        "c": {"workflow_end": "success"},
        "d": {"workflow_end": "success"},
    }
    for state, chosen in (("success", "b"), ("error", "c"), ("failure", "d")):
        flow = flow_of(["a", "b", "c", "d"], transitions)
        flow.start()
        step = flow.finished("a", state)
        assert step.start == [chosen], state
        others = {"b", "c", "d"} - {chosen}
        assert all(flow.phases[k] == Phase.SKIPPED for k in others)


def parallel() -> JobFlow:
    return flow_of(
        ["a", "b", "j"],
        {"workflow_start": {"a": "success", "b": "success"}, "a": {"j": "success"}, "b": {"j": "success"},
         "j": {"workflow_end": "success"}},
    )


def test_parallel_branches_join_once_after_both():
    flow = parallel()
    assert sorted(flow.start().start) == ["a", "b"]
    step = flow.finished("a", "success")
    assert step.start == [] and flow.phases["j"] == Phase.PENDING
    step = flow.finished("b", "success")
    assert step.start == ["j"]
    # j is active now: a later settle never starts it again
    assert flow.settle().start == []
    assert flow.finished("j", "success").complete


def test_join_runs_when_one_predecessor_branch_died():
    flow = parallel()
    flow.start()
    flow.finished("a", "failure")  # no failure transition: the branch through a ends
    step = flow.finished("b", "success")
    assert step.start == ["j"]
    assert flow.finished("j", "success").complete


def test_a_task_none_of_whose_predecessors_led_to_it_is_skipped_and_that_propagates():
    flow = flow_of(
        ["a", "b", "j", "k", "e"],
        {"workflow_start": {"a": "success", "b": "success"}, "a": {"j": "success", "e": "error"},
         "b": {"j": "success"}, "j": {"k": "success"}, "k": {"workflow_end": "success"},
         "e": {"workflow_end": "success"}},
    )
    flow.start()
    assert flow.finished("a", "error").start == ["e"]  # a goes to e, not to j
    step = flow.finished("b", "failure")  # b leads nowhere
    assert step.start == [] and step.error is None  # e is still running
    assert flow.phases["j"] == Phase.SKIPPED
    assert flow.phases["k"] == Phase.SKIPPED  # propagated
    assert flow.finished("e", "success").complete


def test_a_dead_branch_ends_while_the_other_continues():
    flow = flow_of(
        ["a", "b", "c"],
        {"workflow_start": {"a": "success", "b": "success"}, "a": {"c": "success"},
         "b": {"workflow_end": "success"}, "c": {"workflow_end": "success"}},
    )
    flow.start()
    step = flow.finished("a", "failure")  # dead end; b still running
    assert step.error is None and step.start == [] and not step.complete
    assert flow.phases["c"] == Phase.SKIPPED
    step = flow.finished("b", "success")
    assert step.complete


def test_all_branches_dead_ends_the_job_in_error_naming_the_tasks():
    flow = flow_of(
        ["a", "b"],
        {"workflow_start": {"a": "success", "b": "success"}, "a": {"workflow_end": "success"},
         "b": {"workflow_end": "success"}},
    )
    flow.start()
    assert flow.finished("a", "failure").error is None  # b may still lead to the end
    step = flow.finished("b", "failure")
    assert step.error is not None and not step.complete
    assert step.dead_ends == ["a", "b"]
    assert "a" in step.error and "b" in step.error
    assert "no available transitions" in step.error


def test_workflow_end_is_not_reached_when_its_only_predecessor_took_another_path():
    flow = flow_of(["a", "b"], {"workflow_start": {"a": "success"}, "a": {"workflow_end": "success", "b": "failure"},
                                "b": {}})
    flow.start()
    step = flow.finished("a", "failure")
    assert step.start == ["b"]
    step = flow.finished("b", "success")  # b has no transitions at all
    assert step.error is not None and step.dead_ends == ["b"]


def test_failed_marks_done_without_starting_anything():
    flow = flow_of(["a", "b"], {"workflow_start": {"a": "success"}, "a": {"b": "success"},
                                "b": {"workflow_end": "success"}})
    flow.start()
    assert not flow.has_error_path("a")
    flow.failed("a")
    assert flow.phases["a"] == Phase.DONE and flow.finish_states["a"] == "error"
    assert flow.phases["b"] == Phase.PENDING


def test_has_error_path():
    flow = flow_of(["a", "e"], {"workflow_start": {"a": "success"}, "a": {"workflow_end": "success", "e": "error"},
                                "e": {"workflow_end": "success"}})
    assert flow.has_error_path("a") and not flow.has_error_path("e")


def test_snapshot_and_restore_round_trip():
    flow = parallel()
    flow.start()
    flow.finished("a", "success")
    again = JobFlow.restore(flow.graph, flow.snapshot())
    assert again.phases == flow.phases and again.finish_states == flow.finish_states
    assert again.finished("b", "success").start == ["j"]


def test_progress_counts_decided_tasks():
    flow = parallel()
    assert flow.progress() == 0
    flow.start()
    assert flow.progress() == round(1 / 5, 4)
