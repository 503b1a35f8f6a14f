"""String tasks (engine/library/text.py): stringConcat, split, parse, numberToString, stringLength, substring."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from opsmgr.engine.library import text
from opsmgr.engine.registry import Outcome, TaskContext


def run(impl, incoming: dict[str, Any]) -> Outcome:
    ctx = TaskContext(job_id="a" * 24, task_id="t", task_key="a1", incoming=incoming, job_variables={},
                      task_outputs={}, runtime={}, now_ms=0)
    return asyncio.run(impl(ctx))


@pytest.mark.parametrize(("impl", "incoming", "outputs"), [
    (text.string_concat, {"str": "Hello", "stringN": " World"}, {"combinedStrings": "Hello World"}),
    (text.string_concat, {"str": "a", "stringN": ["b", "c", 1, True]}, {"combinedStrings": "abc1true"}),
    (text.split, {"str": "a,b,,c", "separator": ","}, {"splitArray": ["a", "b", "", "c"]}),
    (text.split, {"str": "Hello World", "separator": "o", "limit": 2}, {"splitArray": ["Hell", " W"]}),
    (text.split, {"str": "abc", "separator": ""}, {"splitArray": ["a", "b", "c"]}),
    (text.split, {"str": "abc"}, {"splitArray": ["abc"]}),
    (text.parse, {"text": '{"a": [1, null]}'}, {"textObject": {"a": [1, None]}}),
    (text.parse, {"text": "3"}, {"textObject": 3}),
    (text.number_to_string, {"num": 254, "radix": 16}, {"numToString": "fe"}),
    (text.number_to_string, {"num": -10, "radix": 2}, {"numToString": "-1010"}),
    (text.number_to_string, {"num": 17.5}, {"numToString": "17.5"}),
    (text.number_to_string, {"num": 3.0}, {"numToString": "3"}),
    (text.string_length, {"str": "12 Dollars And 43 Cents"}, {"length": 23}),
    (text.string_length, {"str": "😀"}, {"length": 2}),
    (text.string_length, {"str": ""}, {"length": 0}),
    (text.substring, {"str": "800-555-1212", "indexStart": 0, "indexEnd": 3}, {"response": "800"}),
    (text.substring, {"str": "800-555-1212", "indexStart": 4}, {"response": "555-1212"}),
    (text.substring, {"str": "800-555-1212", "indexStart": 7, "indexEnd": 4}, {"response": "555"}),
    (text.substring, {"str": "abc", "indexStart": -5, "indexEnd": 99}, {"response": "abc"}),
])
def test_string_tasks(impl, incoming, outputs):
    out = run(impl, incoming)
    assert out.finish_state == "success" and out.outputs == outputs and out.error is None


@pytest.mark.parametrize(("impl", "incoming", "named"), [
    (text.string_concat, {"str": 5, "stringN": "x"}, "stringConcat: str"),
    (text.string_concat, {"str": "a", "stringN": ["b", {"c": 1}]}, "stringN[1]"),
    (text.string_concat, {"str": "a"}, "stringN"),
    (text.split, {"str": None, "separator": ","}, "split: str"),
    (text.split, {"str": "a", "separator": 1}, "separator"),
    (text.split, {"str": "a", "separator": ",", "limit": -1}, "limit"),
    (text.parse, {"text": "{not json"}, "parse: text is not valid JSON"),
    (text.parse, {"text": {"a": 1}}, "parse: text"),
    (text.number_to_string, {"num": "12"}, "numberToString: num"),
    (text.number_to_string, {"num": True}, "numberToString: num"),
    (text.number_to_string, {"num": 5, "radix": 37}, "radix"),
    (text.number_to_string, {"num": 1.5, "radix": 2}, "whole number"),
    (text.string_length, {"str": 12}, "stringLength: str"),
    (text.substring, {"str": ["a"], "indexStart": 0}, "substring: str"),
    (text.substring, {"str": "abc"}, "indexStart"),
    (text.substring, {"str": "abc", "indexStart": 0, "indexEnd": "x"}, "indexEnd"),
])
def test_bad_input_is_an_error_naming_it(impl, incoming, named):
    out = run(impl, incoming)
    assert out.finish_state == "error" and named in out.error["message"] and out.outputs == {}
