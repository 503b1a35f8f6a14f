"""Workflow validation (workflow-semantics §1, issue #2 item 4): every problem at once, as {path, message}."""

from __future__ import annotations

import copy

import pytest

from opsmgr.domain.workflow import Graph, validate
from opsmgr.engine.registry import default_registry
from tests.helpers import manual, task, workflow

KNOWN = default_registry().known()


def good() -> dict:
    return workflow(
        "wf",
        {"a1": task("stub", type="success"), "b2": manual()},
        {"workflow_start": {"a1": "success"}, "a1": {"b2": "success"}, "b2": {"workflow_end": "success"}},
    )


def paths(problems: list[dict[str, str]]) -> set[str]:
    return {p["path"] for p in problems}


def test_a_valid_workflow_has_no_problems():
    assert validate(good(), KNOWN) == []


def test_every_problem_has_a_path_and_a_message():
    doc = good()
    doc["tasks"]["a1"]["app"] = "Nope"
    for problem in validate(doc, KNOWN):
        assert set(problem) == {"path", "message"}
        assert isinstance(problem["path"], str) and problem["message"]


@pytest.mark.parametrize("key", ["xyz", "12345", "ABCD", "a-1", "", "g"])
def test_task_ids_must_be_one_to_four_lowercase_hex(key):
    doc = good()
    doc["tasks"][key] = doc["tasks"].pop("a1")
    doc["transitions"][key] = doc["transitions"].pop("a1")
    doc["transitions"]["workflow_start"] = {key: {"type": "standard", "state": "success"}}
    problems = validate(doc, KNOWN)
    assert f"tasks.{key}" in paths(problems)
    assert any("hex" in p["message"] for p in problems)


@pytest.mark.parametrize("key", ["0", "ab", "f00", "beef"])
def test_hex_ids_of_one_to_four_characters_are_fine(key):
    doc = good()
    doc["tasks"][key] = doc["tasks"].pop("a1")
    doc["transitions"][key] = doc["transitions"].pop("a1")
    doc["transitions"]["workflow_start"] = {key: {"type": "standard", "state": "success"}}
    assert validate(doc, KNOWN) == []


def test_a_task_without_a_transitions_key_is_a_problem():
    doc = good()
    del doc["transitions"]["b2"]
    doc["transitions"]["a1"]["workflow_end"] = {"type": "standard", "state": "error"}
    problems = validate(doc, KNOWN)
    assert "transitions.b2" in paths(problems)


def test_workflow_end_also_needs_a_transitions_key():
    doc = good()
    del doc["transitions"]["workflow_end"]
    assert "transitions.workflow_end" in paths(validate(doc, KNOWN))


def test_a_transition_to_an_unknown_task_is_a_problem():
    doc = good()
    doc["transitions"]["a1"]["ffff"] = {"type": "standard", "state": "error"}
    problems = validate(doc, KNOWN)
    assert "transitions.a1.ffff" in paths(problems)
    assert any("unknown task ffff" in p["message"] for p in problems)


def test_a_task_unreachable_from_workflow_start_is_a_problem():
    doc = good()
    doc["tasks"]["c3"] = task("stub")
    doc["transitions"]["c3"] = {"workflow_end": {"type": "standard", "state": "success"}}
    problems = validate(doc, KNOWN)
    assert paths(problems) == {"tasks.c3"}
    assert "unreachable" in problems[0]["message"]


def test_a_manual_task_needs_a_view():
    doc = good()
    del doc["tasks"]["b2"]["view"]
    problems = validate(doc, KNOWN)
    assert paths(problems) == {"tasks.b2.view"}


@pytest.mark.parametrize("app,name", [("WorkFlowEngine", "noSuchTask"), ("NoSuchApp", "stub"), ("MOP", "ViewData")])
def test_unknown_app_and_name_pairs_are_a_problem(app, name):
    doc = good()
    doc["tasks"]["a1"]["app"], doc["tasks"]["a1"]["name"] = app, name
    problems = validate(doc, KNOWN)
    assert paths(problems) == {"tasks.a1"}
    assert f"{app}.{name}" in problems[0]["message"]


def test_missing_terminators_and_name_are_problems():
    doc = good()
    del doc["tasks"]["workflow_end"]
    doc["name"] = "  "
    problems = paths(validate(doc, KNOWN))
    assert {"name", "tasks.workflow_end"} <= problems


@pytest.mark.parametrize("doc", [None, [], "text", 3])
def test_a_non_object_is_rejected(doc):
    assert validate(doc, KNOWN)[0]["path"] == ""


def test_bad_transition_type_and_state():
    doc = good()
    doc["transitions"]["a1"]["b2"] = {"type": "sideways", "state": "maybe"}
    assert {"transitions.a1.b2.type", "transitions.a1.b2.state"} <= paths(validate(doc, KNOWN))


def test_a_standard_cycle_is_a_problem():
    doc = good()
    doc["transitions"]["b2"]["a1"] = {"type": "standard", "state": "failure"}
    problems = validate(doc, KNOWN)
    assert any("cycle" in p["message"] for p in problems)


def test_a_revert_loop_back_is_not_a_cycle():
    doc = good()
    doc["transitions"]["b2"]["a1"] = {"type": "revert", "state": "failure"}
    assert validate(doc, KNOWN) == []


def test_several_problems_are_listed_all_at_once():
    doc = good()
    # bad id, missing transitions key, unknown target, manual without view, unknown app: and an unreachable task
    doc["tasks"]["zz"] = task("stub")
    doc["transitions"]["zz"] = {}
    del doc["transitions"]["b2"]
    doc["transitions"]["a1"]["dead"] = {"type": "standard", "state": "error"}
    del doc["tasks"]["b2"]["view"]
    doc["tasks"]["a1"]["app"] = "Unknown"
    doc["tasks"]["c3"] = task("stub")
    doc["transitions"]["c3"] = {"workflow_end": {"type": "standard", "state": "success"}}
    found = paths(validate(doc, KNOWN))
    assert {
        "tasks.zz",  # not hex
        "transitions.b2",  # no transitions entry
        "transitions.a1.dead",  # unknown target
        "tasks.b2.view",  # manual without view
        "tasks.a1",  # unknown app
        "tasks.c3",  # unreachable
    } <= found


def test_validate_does_not_change_the_document():
    doc = good()
    doc["transitions"]["a1"]["ffff"] = {"type": "standard", "state": "error"}
    before = copy.deepcopy(doc)
    validate(doc, KNOWN)
    assert doc == before


def test_graph_queries():
    doc = workflow(
        "g",
        {"a": task("stub"), "b": task("stub"), "c": task("stub")},
        {"workflow_start": {"a": "success", "b": "success"}, "a": {"c": "success", "b": ("failure", "revert")},
         "b": {"c": "success"}, "c": {"workflow_end": "success"}},
    )
    graph = Graph.of(doc)
    assert sorted(graph.standard_out("workflow_start", "success")) == ["a", "b"]
    assert graph.standard_out("a", "failure") == []  # only a revert leaves a on failure
    assert sorted(e.source for e in graph.standard_in("c")) == ["a", "b"]
    order = graph.topological()
    assert order.index("workflow_start") < order.index("a") < order.index("c") < order.index("workflow_end")
    assert order.index("b") < order.index("c")
    assert graph.reachable_from("workflow_start") == set(doc["tasks"])


def test_a_missing_workflow_start_is_reported_without_crashing():
    doc = good()
    del doc["tasks"]["workflow_start"]
    assert "tasks.workflow_start" in paths(validate(doc, KNOWN))


def test_junk_shapes_are_reported_without_crashing():
    doc = good()
    doc["tasks"]["c3"] = "not an object"
    doc["transitions"]["c3"] = []
    doc["transitions"]["a1"]["b2"] = "success"
    doc["tasks"]["a1"]["variables"] = {"incoming": []}
    found = paths(validate(doc, KNOWN))
    assert {"tasks.c3", "transitions.c3", "transitions.a1.b2", "tasks.a1.variables"} <= found


def test_values_no_database_can_store_are_problems():
    doc = good()
    doc["tasks"]["a1"]["variables"]["incoming"]["response"] = "a\x00b"
    doc["tasks"]["a1"]["variables"]["incoming"]["n"] = float("nan")
    doc["tasks"]["a1"]["variables"]["incoming"]["k\x00"] = 1
    found = paths(validate(doc, KNOWN))
    prefix = "tasks.a1.variables.incoming"
    assert {f"{prefix}.response", f"{prefix}.n", f"{prefix}.k\x00"} <= found


def test_a_name_longer_than_500_characters_is_a_problem():
    doc = good()
    doc["name"] = "x" * 501
    assert paths(validate(doc, KNOWN)) == {"name"}
    doc["name"] = "x" * 500
    assert validate(doc, KNOWN) == []
