"""The built-in WorkFlowEngine tasks called directly with a hand-made TaskContext (workflow-semantics §3.6)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from opsmgr.engine import builtins
from opsmgr.engine.registry import Outcome, TaskContext, default_registry

NOW = 1_700_000_000_000


def ctx(incoming: dict[str, Any], job: dict[str, Any] | None = None, tasks: dict | None = None,
        runtime: dict | None = None, now: int = NOW) -> TaskContext:
    return TaskContext(
        job_id="a" * 24, task_id="00000000-0000-4000-8000-000000000000", task_key="a1", incoming=incoming,
        job_variables=job or {}, task_outputs=tasks or {}, runtime=runtime or {}, now_ms=now,
    )


def run(impl, context: TaskContext) -> Outcome:
    return asyncio.run(impl(context))


def test_registry_knows_the_builtins():
    known = default_registry().known()
    for name in ("stub", "newVariable", "delay", "evaluation", "merge", "ViewData"):
        assert ("WorkFlowEngine", name) in known
    assert default_registry().get("WorkFlowEngine", "ViewData").impl is None  # manual: a person finishes it


# stub -----------------------------------------------------------------------------------------------


def test_stub_success_returns_its_response():
    out = run(builtins.stub, ctx({"type": "success", "response": {"a": 1}}))
    assert out.finish_state == "success" and out.outputs == {"response": {"a": 1}} and out.error is None


def test_stub_defaults_to_success():
    assert run(builtins.stub, ctx({})).finish_state == "success"


def test_stub_error_carries_the_response_as_its_error():
    out = run(builtins.stub, ctx({"type": "error", "response": "bad"}))
    assert out.finish_state == "error" and out.error == "bad" and out.outputs == {"response": "bad"}


def test_stub_unknown_type_is_an_error():
    out = run(builtins.stub, ctx({"type": "maybe"}))
    assert out.finish_state == "error" and "maybe" in out.error["message"]


def test_stub_delay_waits_then_finishes():
    first = run(builtins.stub, ctx({"type": "success", "delay": 2, "response": 1}))
    assert first.wait_until == NOW + 2000 and first.runtime == {"wake_at": NOW + 2000}
    early = run(builtins.stub, ctx({"delay": 2}, runtime=first.runtime, now=NOW + 1000))
    assert early.wait_until == NOW + 2000
    done = run(builtins.stub, ctx({"delay": 2, "response": 1}, runtime=first.runtime, now=NOW + 2000))
    assert done.wait_until is None and done.finish_state == "success" and done.outputs == {"response": 1}


def test_stub_bad_delay_raises():
    with pytest.raises(ValueError, match="delay"):
        run(builtins.stub, ctx({"delay": "soon"}))


# newVariable ----------------------------------------------------------------------------------------


def test_new_variable_sets_a_job_variable():
    out = run(builtins.new_variable, ctx({"name": "status", "value": {"x": [1]}}))
    assert out.finish_state == "success"
    assert out.outputs == {"value": {"x": [1]}} and out.job_variables == {"status": {"x": [1]}}


@pytest.mark.parametrize("name", [None, "", 5])
def test_new_variable_needs_a_name(name):
    out = run(builtins.new_variable, ctx({"name": name, "value": 1}))
    assert out.finish_state == "error" and out.job_variables is None


# delay ----------------------------------------------------------------------------------------------


def test_delay_goes_back_to_the_queue_then_reports_milliseconds():
    first = run(builtins.delay, ctx({"time": 1.5}))
    assert first.wait_until == NOW + 1500 and first.runtime == {"wake_at": NOW + 1500}
    done = run(builtins.delay, ctx({"time": 1.5}, runtime=first.runtime, now=NOW + 1600))
    assert done.wait_until is None and done.finish_state == "success"
    assert done.outputs == {"time_in_milliseconds": 1500}


def test_delay_of_zero_finishes_at_once():
    out = run(builtins.delay, ctx({"time": 0}))
    assert out.wait_until is None and out.outputs == {"time_in_milliseconds": 0}


@pytest.mark.parametrize("time", [-1, "x", [1]])
def test_delay_rejects_bad_times(time):
    with pytest.raises(ValueError, match="time"):
        run(builtins.delay, ctx({"time": time}))


# evaluation -----------------------------------------------------------------------------------------


def ev(left: Any, op: str, right: Any) -> dict[str, Any]:
    return {"operand_1": {"task": "static", "variable": left}, "operator": op,
            "operand_2": {"task": "static", "variable": right}}


def evaluate(groups: list[dict[str, Any]], all_true: bool = True, job=None, tasks=None) -> Outcome:
    return run(builtins.evaluation, ctx({"all_true_flag": all_true, "evaluation_groups": groups}, job, tasks))


@pytest.mark.parametrize(
    "left,op,right,expected",
    [
        ("router-1", "contains", "router", True),
        ("router-1", "contains", "^r.*1$", True),  # a regular expression on strings
        ("router-1", "contains", "switch", False),
        ({"a": 1}, "contains", "a", True),  # key presence on objects
        ({"a": 1}, "contains", "b", False),
        ([1, 2], "contains", 2, True),
        ("router-1", "!contains", "switch", True),
        ("router-1", "!contains", "router", False),
        ({"a": 1}, "!contains", "a", False),
        (1, "<", 2, True),
        (2, "<", 2, False),
        ("1", "<", 2, True),  # type coercion
        (2, "<=", 2, True),
        (3, "<=", 2, False),
        (3, ">", 2, True),
        (2, ">", 2, False),
        (2, ">=", 2, True),
        (1, ">=", 2, False),
        ("b", ">", "a", True),
        (None, ">", 1, False),
        (2, "==", 2, True),
        ("2", "==", 2, True),
        ("x", "==", "x", True),
        ("x", "==", "y", False),
        (True, "==", True, True),
        (2, "!=", 3, True),
        (2, "!=", 2, False),
        ("a", "!=", "b", True),
    ],
)
def test_every_operator(left, op, right, expected):
    assert builtins.compare(left, op, right) is expected
    out = evaluate([{"all_true_flag": True, "evaluations": [ev(left, op, right)]}])
    assert out.finish_state == ("success" if expected else "failure")
    assert out.outputs == {"return_value": expected}


@pytest.mark.parametrize("left,right", [(1, 2), (None, None), ("a", "b")])
def test_an_unknown_operator_is_an_error(left, right):
    with pytest.raises(ValueError, match="operator"):
        builtins.compare(left, "=~", right)
    out = evaluate([{"evaluations": [ev(left, "=~", right)]}])
    assert out.finish_state == "error" and "=~" in out.error["message"]


TRUE, FALSE = ev(1, "==", 1), ev(1, "==", 2)


@pytest.mark.parametrize(
    "group_flag,checks,expected",
    [(True, [TRUE, TRUE], "success"), (True, [TRUE, FALSE], "failure"),
     (False, [TRUE, FALSE], "success"), (False, [FALSE, FALSE], "failure")],
)
def test_all_true_flag_within_a_group(group_flag, checks, expected):
    assert evaluate([{"all_true_flag": group_flag, "evaluations": checks}]).finish_state == expected


@pytest.mark.parametrize(
    "overall,groups,expected",
    [(True, [[TRUE], [TRUE]], "success"), (True, [[TRUE], [FALSE]], "failure"),
     (False, [[TRUE], [FALSE]], "success"), (False, [[FALSE], [FALSE]], "failure")],
)
def test_all_true_flag_over_groups(overall, groups, expected):
    out = evaluate([{"all_true_flag": True, "evaluations": g} for g in groups], all_true=overall)
    assert out.finish_state == expected


def test_evaluation_operands_reference_job_and_task_values():
    check = {"operand_1": {"task": "job", "variable": "device"}, "operator": "==",
             "operand_2": {"task": "a1", "variable": "name"}}
    out = evaluate([{"evaluations": [check]}], job={"device": "r1"}, tasks={"a1": {"name": "r1"}})
    assert out.finish_state == "success"
    out = evaluate([{"evaluations": [check]}], job={"device": "r1"}, tasks={"a1": {"name": "r2"}})
    assert out.finish_state == "failure"


def test_evaluation_with_malformed_groups_is_an_error():
    assert run(builtins.evaluation, ctx({"evaluation_groups": "x"})).finish_state == "error"
    assert run(builtins.evaluation, ctx({"evaluation_groups": ["x"]})).finish_state == "error"


# merge ----------------------------------------------------------------------------------------------


def test_merge_resolves_job_static_and_task_references():
    items = [
        {"key": "device", "value": {"task": "job", "variable": "device"}},
        {"key": "site", "value": {"task": "static", "variable": "lab"}},
        {"key": "resp", "value": {"task": "a1", "variable": "response"}},
    ]
    out = run(builtins.merge, ctx({"data_to_merge": items}, job={"device": "r1"}, tasks={"a1": {"response": 5}}))
    assert out.finish_state == "success"
    assert out.outputs == {"merged_object": {"device": "r1", "site": "lab", "resp": 5}}


def test_merge_collects_repeated_keys():
    items = [{"key": "k", "value": {"task": "static", "variable": v}} for v in (1, 2, 3)]
    out = run(builtins.merge, ctx({"data_to_merge": items}))
    assert out.outputs == {"merged_object": {"k": [1, 2, 3]}}


def test_merge_keeps_list_values_whole_when_collecting():
    items = [{"key": "k", "value": {"task": "static", "variable": [1, 2]}},
             {"key": "k", "value": {"task": "static", "variable": [3]}}]
    out = run(builtins.merge, ctx({"data_to_merge": items}))
    assert out.outputs == {"merged_object": {"k": [[1, 2], [3]]}}


@pytest.mark.parametrize("items", ["x", [{"value": 1}], [5]])
def test_merge_with_malformed_items_is_an_error(items):
    assert run(builtins.merge, ctx({"data_to_merge": items})).finish_state == "error"
