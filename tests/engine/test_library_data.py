"""Object and job tasks (engine/library/data.py) and the library's registration."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from opsmgr.engine.library import data
from opsmgr.engine.registry import Outcome, TaskContext, default_registry


def run(impl, incoming: dict[str, Any], job: dict[str, Any] | None = None,
        tasks: dict[str, dict[str, Any]] | None = None) -> Outcome:
    ctx = TaskContext(job_id="a" * 24, task_id="t", task_key="a1", incoming=incoming, job_variables=job or {},
                      task_outputs=tasks or {}, runtime={}, now_ms=0)
    return asyncio.run(impl(ctx))


LIBRARY = ("updateJobDescription", "query", "deepmerge", "decision", "makeData", "modify", "push", "pop", "shift",
           "setObjectKey", "arrayPush", "arrayLength", "arrayIncludes", "stringConcat", "split", "join", "parse",
           "getTime", "calculateTimeDiff", "numberToString", "stringLength", "substring", "arrayIndexOf")


def test_registry_knows_the_library_and_the_manual_tasks():
    registry = default_registry()
    for name in LIBRARY:
        spec = registry.get("WorkFlowEngine", name)
        assert spec is not None and spec.impl is not None, name
    for name in ("ViewData", "ViewDiff", "ErrorHandling"):
        spec = registry.get("WorkFlowEngine", name)
        assert spec is not None and spec.impl is None, name


# updateJobDescription --------------------------------------------------------------------------------


def test_update_job_description():
    out = run(data.update_job_description, {"description": "Provisioning r1"})
    assert out.finish_state == "success" and out.outputs == {"description": "Provisioning r1"}
    assert out.job_description == "Provisioning r1"


@pytest.mark.parametrize("value", [None, 5, {"a": 1}])
def test_update_job_description_needs_a_string(value):
    out = run(data.update_job_description, {"description": value})
    assert out.finish_state == "error" and "description" in out.error["message"] and out.job_description is None


# deepmerge -------------------------------------------------------------------------------------------


def item(task: str, variable: Any) -> dict[str, Any]:
    return {"key": "ignored", "value": {"task": task, "variable": variable}}


def test_deepmerge_merges_at_any_depth_last_wins():
    out = run(data.deepmerge, {"data_to_merge": [
        item("job", "base"), item("b2", "response"), item("static", {"a": {"y": 3}, "tags": ["z"], "n": 2}),
    ]}, job={"base": {"a": {"x": 1, "y": 1}, "tags": ["x"], "n": 1}}, tasks={"b2": {"response": {"a": {"z": 9}}}})
    assert out.finish_state == "success"
    assert out.outputs == {"merged_object": {"a": {"x": 1, "y": 3, "z": 9}, "tags": ["x", "z"], "n": 2}}


def test_deepmerge_ignores_non_objects():
    out = run(data.deepmerge, {"data_to_merge": [item("static", {"a": 1}), item("static", 5), item("static", [1]),
                                                 item("static", "s"), item("job", "missing")]})
    assert out.outputs == {"merged_object": {"a": 1}}


@pytest.mark.parametrize(("items", "named"), [
    ("x", "data_to_merge must be a list"), ([{"key": "a"}], "data_to_merge[0]"), ([5], "data_to_merge[0]"),
])
def test_deepmerge_bad_input(items, named):
    out = run(data.deepmerge, {"data_to_merge": items})
    assert out.finish_state == "error" and named in out.error["message"]


# decision --------------------------------------------------------------------------------------------


def branch(left: Any, op: str, right: Any, next_task: str) -> dict[str, Any]:
    return {"evaluations": [{"operand_1": {"task": "job", "variable": left}, "operator": op,
                             "operand_2": {"task": "static", "variable": right}}], "nextTask": next_task}


def test_decision_picks_the_first_branch_that_holds():
    branches = [branch("size", ">", 10, "b1"), branch("size", ">", 1, "c2"), {"nextTask": "d3"}]
    assert run(data.decision, {"decisionArray": branches}, job={"size": 5}).outputs == {"return_value": "c2"}
    assert run(data.decision, {"decisionArray": branches}, job={"size": 50}).outputs == {"return_value": "b1"}
    assert run(data.decision, {"decisionArray": branches}, job={"size": 0}).outputs == {"return_value": "d3"}


def test_decision_without_a_match_is_failure():
    out = run(data.decision, {"decisionArray": [branch("size", "==", 1, "b1")]}, job={"size": 2})
    assert out.finish_state == "failure" and out.outputs == {"return_value": None}


@pytest.mark.parametrize(("branches", "named"), [
    (None, "decisionArray must be a list"), ([5], "decisionArray[0]"),
    ([{"evaluations": "x"}], "decisionArray[0].evaluations"),
    ([{"evaluations": [{"operand_1": 1, "operator": "~", "operand_2": 1}]}], "bad evaluation"),
])
def test_decision_bad_input(branches, named):
    out = run(data.decision, {"decisionArray": branches})
    assert out.finish_state == "error" and named in out.error["message"]


# makeData --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("incoming", "output"), [
    ({"input": "Hello <!name!>, <!n!> ports", "variables": {"name": "r1", "n": 4}, "outputType": "string"},
     "Hello r1, 4 ports"),
    ({"input": '{"host": "<!h!>", "vlans": <!v!>}', "variables": {"h": "r1", "v": [10, 20]}, "outputType": "json"},
     {"host": "r1", "vlans": [10, 20]}),
    ({"input": "<!a!><!b!>", "variables": {"a": "4", "b": 2}, "outputType": "number"}, 42),
    ({"input": "<!a!>.5", "variables": {"a": 1}, "outputType": "number"}, 1.5),
    ({"input": " <!flag!> ", "variables": {"flag": "TRUE"}, "outputType": "boolean"}, True),
    ({"input": "plain"}, "plain"),
])
def test_make_data(incoming, output):
    out = run(data.make_data, incoming)
    assert out.finish_state == "success" and out.outputs == {"output": output}


@pytest.mark.parametrize(("incoming", "named"), [
    ({"input": 5}, "makeData: input must be a string"),
    ({"input": "x", "variables": [1]}, "variables must be an object"),
    ({"input": "x", "outputType": "xml"}, "outputType"),
    ({"input": "<!a!> <!b!>", "variables": {"a": 1}}, "no value for <!b!>"),
    ({"input": "{bad", "outputType": "json"}, "valid JSON"),
    ({"input": "12abc", "outputType": "number"}, "does not make a number"),
    ({"input": "nan", "outputType": "number"}, "finite"),
    ({"input": "yes", "outputType": "boolean"}, "boolean"),
])
def test_make_data_bad_input(incoming, named):
    out = run(data.make_data, incoming)
    assert out.finish_state == "error" and named in out.error["message"]


# modify ----------------------------------------------------------------------------------------------


def test_modify_replaces_a_field_in_a_copy():
    original = {"device": {"name": "r1", "mtu": 1500}, "tags": [1]}
    out = run(data.modify, {"object_to_update": original, "query": "device.mtu", "new_value": 9000})
    assert out.outputs == {"updated_object": {"device": {"name": "r1", "mtu": 9000}, "tags": [1]}}
    assert original["device"]["mtu"] == 1500


def test_modify_creates_missing_keys_and_handles_get():
    out = run(data.modify, {"object_to_update": {}, "query": "a:get(b.c)", "new_value": True})
    assert out.outputs == {"updated_object": {"a": {"b.c": True}}}


@pytest.mark.parametrize(("target", "query"), [({"a": 1}, ""), ({"a": 1}, None), (5, "a.b"), ("text", "x")])
def test_modify_without_a_query_or_object_returns_the_new_value(target, query):
    out = run(data.modify, {"object_to_update": target, "query": query, "new_value": {"n": 1}})
    assert out.finish_state == "success" and out.outputs == {"updated_object": {"n": 1}}


@pytest.mark.parametrize(("incoming", "named"), [
    ({"object_to_update": {"a": [1]}, "query": "a[0]", "new_value": 2}, "does not change arrays"),
    ({"object_to_update": {"a": 1}, "query": "a.b", "new_value": 2}, "not an object"),
    ({"object_to_update": {"a": 1}, "query": 7, "new_value": 2}, "modify: query"),
    ({"object_to_update": {"a": 1}, "query": "a[", "new_value": 2}, "unclosed"),
])
def test_modify_bad_input(incoming, named):
    out = run(data.modify, incoming)
    assert out.finish_state == "error" and named in out.error["message"]


# setObjectKey ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "expected"), [
    (["user", "location"], {"user": {"name": "J", "location": "USA"}}),
    ("user.location", {"user": {"name": "J", "location": "USA"}}),
    (["a", 1, "b"], {"user": {"name": "J"}, "a": [None, {"b": "USA"}]}),
    (["user"], {"user": "USA"}),
])
def test_set_object_key(path, expected):
    original = {"user": {"name": "J"}}
    out = run(data.set_object_key, {"obj": original, "path": path, "value": "USA"})
    assert out.finish_state == "success" and out.outputs == {"updatedObject": expected}
    assert original == {"user": {"name": "J"}}


@pytest.mark.parametrize(("incoming", "named"), [
    ({"obj": [1], "path": ["a"], "value": 1}, "setObjectKey: obj"),
    ({"obj": {}, "path": [], "value": 1}, "path"),
    ({"obj": {}, "path": [True], "value": 1}, "path"),
    ({"obj": {"a": [1]}, "path": ["a", "x"], "value": 1}, "cannot index an array"),
])
def test_set_object_key_bad_input(incoming, named):
    out = run(data.set_object_key, incoming)
    assert out.finish_state == "error" and named in out.error["message"]
