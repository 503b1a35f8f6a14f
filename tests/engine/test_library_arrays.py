"""Array tasks (engine/library/arrays.py): push/pop/shift on job variables, arrayPush, arrayLength,
arrayIncludes, arrayIndexOf, join."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from opsmgr.engine.library import arrays
from opsmgr.engine.registry import Outcome, TaskContext


def run(impl, incoming: dict[str, Any], job: dict[str, Any] | None = None) -> Outcome:
    ctx = TaskContext(job_id="a" * 24, task_id="t", task_key="a1", incoming=incoming, job_variables=job or {},
                      task_outputs={}, runtime={}, now_ms=0)
    return asyncio.run(impl(ctx))


def test_push_appends_to_the_named_job_variable():
    job = {"devices": ["r1"]}
    out = run(arrays.push, {"job_variable": "devices", "item_to_push": {"name": "r2"}}, job)
    assert out.finish_state == "success"
    assert out.outputs == {"job_variable_value": ["r1", {"name": "r2"}]}
    assert out.job_variables == {"devices": ["r1", {"name": "r2"}]}
    assert job == {"devices": ["r1"]}  # the context is not changed in place


def test_pop_and_shift_remove_from_either_end():
    job = {"q": [1, 2, 3]}
    popped = run(arrays.pop, {"job_variable": "q"}, job)
    assert popped.outputs == {"job_variable_value": [1, 2], "item": 3} and popped.job_variables == {"q": [1, 2]}
    shifted = run(arrays.shift, {"job_variable": "q"}, job)
    assert shifted.outputs == {"job_variable_value": [2, 3], "item": 1} and shifted.job_variables == {"q": [2, 3]}


@pytest.mark.parametrize("impl", [arrays.pop, arrays.shift])
def test_pop_and_shift_on_an_empty_array(impl):
    out = run(impl, {"job_variable": "q"}, {"q": []})
    assert out.finish_state == "success" and out.outputs == {"job_variable_value": [], "item": None}


@pytest.mark.parametrize("impl", [arrays.push, arrays.pop, arrays.shift])
@pytest.mark.parametrize(("name", "job", "named"), [
    (None, {}, "must be the name"),
    ("", {}, "must be the name"),
    ("$var.job.q", {"q": []}, "not a reference"),
    ("missing", {"q": []}, "not a job variable"),
    ("q", {"q": "text"}, "not an array"),
])
def test_job_variable_errors(impl, name, job, named):
    out = run(impl, {"job_variable": name, "item_to_push": 1}, job)
    assert out.finish_state == "error" and named in out.error["message"] and "job_variable" in out.error["message"]
    assert out.job_variables is None


@pytest.mark.parametrize(("impl", "incoming", "outputs"), [
    (arrays.array_push, {"arr": [1], "elementN": [2]}, {"pushedArray": [1, [2]]}),
    (arrays.array_push, {"arr": [], "elementN": "a"}, {"pushedArray": ["a"]}),
    (arrays.array_length, {"arr": [1, None, 3]}, {"length": 3}),
    (arrays.array_length, {"arr": []}, {"length": 0}),
    (arrays.array_includes, {"arr": ["1", "2", "3"], "searchElement": "2"}, {"result": True}),
    (arrays.array_includes, {"arr": ["1", "2", "3"], "searchElement": 2}, {"result": False}),
    (arrays.array_includes, {"arr": [1, 2, 3], "searchElement": 1, "fromIndex": 1}, {"result": False}),
    (arrays.array_includes, {"arr": [1, 2, 3], "searchElement": 3, "fromIndex": -1}, {"result": True}),
    (arrays.array_includes, {"arr": [{"a": 1}], "searchElement": {"a": 1}}, {"result": True}),
    (arrays.array_includes, {"arr": [1, True], "searchElement": True}, {"result": True}),
    (arrays.array_includes, {"arr": [1], "searchElement": True}, {"result": False}),
    (arrays.array_index_of, {"arr": ["Apple", "Pear", "Banana"], "searchElement": "Banana"}, {"index": 2}),
    (arrays.array_index_of, {"arr": ["a", "b", "a"], "searchElement": "a", "fromIndex": 1}, {"index": 2}),
    (arrays.array_index_of, {"arr": ["a"], "searchElement": "z"}, {"index": -1}),
    (arrays.array_index_of, {"arr": [1.0, 2], "searchElement": 1}, {"index": 0}),
    (arrays.join, {"arr": ["Device1", "Device2"], "separator": ","}, {"joinedElements": "Device1,Device2"}),
    (arrays.join, {"arr": [1, None, True, 2.5]}, {"joinedElements": "1,,true,2.5"}),
    (arrays.join, {"arr": [], "separator": "-"}, {"joinedElements": ""}),
])
def test_array_tasks(impl, incoming, outputs):
    out = run(impl, incoming)
    assert out.finish_state == "success" and out.outputs == outputs and out.error is None


@pytest.mark.parametrize(("impl", "incoming", "named"), [
    (arrays.array_push, {"arr": "abc", "elementN": 1}, "arrayPush: arr"),
    (arrays.array_length, {"arr": {"a": 1}}, "arrayLength: arr"),
    (arrays.array_length, {}, "arrayLength: arr"),
    (arrays.array_includes, {"arr": None, "searchElement": 1}, "arrayIncludes: arr"),
    (arrays.array_includes, {"arr": [1], "searchElement": 1, "fromIndex": "x"}, "fromIndex"),
    (arrays.array_index_of, {"arr": 5, "searchElement": 1}, "arrayIndexOf: arr"),
    (arrays.array_index_of, {"arr": [1], "searchElement": 1, "fromIndex": 1.5}, "fromIndex"),
    (arrays.join, {"arr": "a,b"}, "join: arr"),
    (arrays.join, {"arr": ["a"], "separator": 1}, "separator"),
    (arrays.join, {"arr": ["a", {"b": 1}]}, "arr[1]"),
])
def test_bad_input_is_an_error_naming_it(impl, incoming, named):
    out = run(impl, incoming)
    assert out.finish_state == "error" and named in out.error["message"] and out.outputs == {}
