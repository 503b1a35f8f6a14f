"""forEach loop bookkeeping in JobFlow (workflow-semantics §1.4, §3.6), without a database."""

from __future__ import annotations

from opsmgr.domain.jobflow import JobFlow, Phase, loop_bodies
from opsmgr.domain.workflow import Graph
from tests.helpers import task, workflow

# start → f (forEach) → loop: b → c (body ends: c has no transition); f success → d → end
TRANSITIONS = {
    "workflow_start": {"f": "success"},
    "f": {"b": "loop", "d": "success"},
    "b": {"c": "success"},
    "d": {"workflow_end": "success"},
}


def flow_of(transitions: dict = TRANSITIONS, keys: tuple[str, ...] = ("f", "b", "c", "d")) -> JobFlow:
    tasks = {k: task("forEach" if k.startswith("f") else "stub") for k in keys}
    return JobFlow.new(Graph.of(workflow("w", tasks, transitions)))


def test_loop_body_is_the_loop_target_and_what_follows_it():
    assert loop_bodies(flow_of().graph) == {"f": {"b", "c"}}


def test_the_body_waits_for_the_foreach_and_is_not_skipped():
    flow = flow_of()
    step = flow.start()
    assert step.start == ["f"]
    assert flow.phases["b"] == Phase.PENDING and flow.phases["c"] == Phase.PENDING


def test_each_item_runs_one_pass_then_the_foreach_succeeds():
    flow = flow_of()
    flow.start()
    step = flow.begin_loop("f", 2)
    assert step.start == ["b"] and step.passes == [("f", 0)]
    assert flow.phases["f"] == Phase.ACTIVE
    step = flow.finished("b", "success")
    assert step.start == ["c"] and not step.passes
    step = flow.finished("c", "success")  # end of pass 0: the body runs again
    assert step.start == ["b"] and step.passes == [("f", 1)]
    assert flow.phases["c"] == Phase.PENDING and flow.loops["f"] == {"index": 1, "count": 2}
    flow.finished("b", "success")
    step = flow.finished("c", "success")
    assert step.loops_done == ["f"] and step.start == ["d"]
    assert flow.phases["f"] == Phase.DONE and flow.finish_states["f"] == "success"
    assert flow.finished("d", "success").complete


def test_a_pass_ends_when_the_rest_of_the_body_is_skipped():
    flow = flow_of()
    flow.start()
    flow.begin_loop("f", 2)
    step = flow.finished("b", "failure")  # b has no failure transition: c is skipped, the pass is over
    assert step.passes == [("f", 1)] and step.start == ["b"]


def test_an_empty_array_finishes_the_foreach_at_once():
    flow = flow_of()
    flow.start()
    step = flow.begin_loop("f", 0)
    assert step.loops_done == ["f"] and step.start == ["d"] and not step.passes


def test_a_skipped_foreach_skips_its_body():
    transitions = {"workflow_start": {"a": "success"}, "a": {"workflow_end": "success", "f": "failure"},
                   "f": {"b": "loop", "workflow_end": "success"}, "b": {}}
    flow = flow_of(transitions, ("a", "f", "b"))
    flow.start()
    step = flow.finished("a", "success")
    assert step.complete
    assert flow.phases["f"] == Phase.SKIPPED and flow.phases["b"] == Phase.SKIPPED


def test_an_error_in_the_body_stops_the_loop():
    flow = flow_of()
    flow.start()
    flow.begin_loop("f", 3)
    flow.failed("b")
    step = flow.settle()
    assert not step.passes and flow.phases["f"] == Phase.ACTIVE


def test_loop_state_survives_snapshot_and_restore():
    flow = flow_of()
    flow.start()
    flow.begin_loop("f", 3)
    flow.finished("b", "success")
    flow.finished("c", "success")
    again = JobFlow.restore(flow.graph, flow.snapshot())
    assert again.loops == {"f": {"index": 1, "count": 3}}
    again.finished("b", "success")
    step = again.finished("c", "success")
    assert step.passes == [("f", 2)]


def test_a_nested_foreach_loops_afresh_in_each_outer_pass():
    transitions = {"workflow_start": {"f": "success"}, "f": {"f2": "loop", "workflow_end": "success"},
                   "f2": {"b": "loop"}, "b": {}}
    flow = flow_of(transitions, ("f", "f2", "b"))
    flow.start()
    assert loop_bodies(flow.graph) == {"f": {"f2"}, "f2": {"b"}}
    assert flow.begin_loop("f", 2).start == ["f2"]
    assert flow.begin_loop("f2", 1).start == ["b"]
    step = flow.finished("b", "success")  # inner loop done, so the outer pass is over
    assert step.loops_done == ["f2"] and step.passes == [("f", 1)] and step.start == ["f2"]
    assert "f2" not in flow.loops
    assert flow.begin_loop("f2", 1).start == ["b"]
    step = flow.finished("b", "success")
    assert step.loops_done == ["f2", "f"] and step.complete


def problems_of(transitions: dict, keys: tuple[str, ...] = ("f", "b", "c", "d")) -> list[str]:
    from opsmgr.domain.workflow import validate

    tasks = {k: task("forEach" if k.startswith("f") else "stub") for k in keys}
    known = {("WorkFlowEngine", "forEach"), ("WorkFlowEngine", "stub")}
    return [p["message"] for p in validate(workflow("w", tasks, transitions), known)]


def test_a_well_formed_loop_validates():
    assert problems_of(TRANSITIONS) == []


def test_loop_transitions_only_leave_a_foreach():
    transitions = {**TRANSITIONS, "d": {"workflow_end": "success", "c": "loop"}}
    assert any("only leave a forEach" in p for p in problems_of(transitions))


def test_a_loop_body_must_not_reach_workflow_end_or_be_entered_from_outside():
    assert any("reaches workflow_end" in p for p in problems_of({**TRANSITIONS, "c": {"workflow_end": "success"}}))
    entered = {**TRANSITIONS, "workflow_start": {"f": "success", "c": "success"}}
    assert any("cannot be reached from outside" in p for p in problems_of(entered))
