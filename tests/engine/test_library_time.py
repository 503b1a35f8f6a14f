"""getTime and calculateTimeDiff (engine/library/time.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from opsmgr.engine.library import time as times
from opsmgr.engine.registry import Outcome, TaskContext

NOW = 1_700_000_000_123
FMT = "YYYY-MM-DDTHH:mm:ss.SSSSSSZZ"


def run(impl, incoming: dict[str, Any]) -> Outcome:
    ctx = TaskContext(job_id="a" * 24, task_id="t", task_key="a1", incoming=incoming, job_variables={},
                      task_outputs={}, runtime={}, now_ms=NOW)
    return asyncio.run(impl(ctx))


def test_get_time_reads_the_engine_clock():
    out = run(times.get_time, {})
    assert out.finish_state == "success"
    assert out.outputs == {"time": {"time": "2023-11-14T22:13:20.123Z", "formatString": "YYYY-MM-DDTHH:mm:ss.SSSZ",
                                    "epoch": NOW}}


def test_time_diff_reproduces_the_itential_example():
    out = run(times.calculate_time_diff, {
        "firstTime": {"formatString": FMT, "time": "2023-05-22T15:02:07.254000-1100"},
        "secondTime": {"formatString": FMT, "time": "2023-06-21T15:02:07.254000-1100"},
    })
    assert out.finish_state == "success"
    diff = out.outputs["timeDiff"]
    assert diff["milliseconds"] == -2592000000 and diff["seconds"] == -2592000 and diff["minutes"] == -43200
    assert diff["hours"] == -720 and diff["days"] == -30
    assert diff["months"] == pytest.approx(-0.9856465225158627) and diff["years"] == pytest.approx(-0.08213721020965523)


def test_get_time_feeds_calculate_time_diff():
    now = run(times.get_time, {}).outputs["time"]
    out = run(times.calculate_time_diff, {"firstTime": now, "secondTime": "2023-11-14T22:13:19Z"})
    assert out.outputs["timeDiff"]["milliseconds"] == 1123


@pytest.mark.parametrize(("first", "second", "ms"), [
    ({"time": "14/11/2023 10:00 PM", "formatString": "DD/MM/YYYY hh:mm A"}, "2023-11-14T21:00:00+00:00", 3_600_000),
    ({"time": "1700000000", "formatString": "X"}, NOW, -123),
    ({"time": "2023-11-14T22:13:20Z", "formatString": "YYYY-MM-DD[T]HH:mm:ssZ"}, NOW - 1000, -123 + 1000),
    ("2023-11-14T22:13:20", {"time": NOW}, -123),
])
def test_time_inputs_in_several_forms(first, second, ms):
    out = run(times.calculate_time_diff, {"firstTime": first, "secondTime": second})
    assert out.finish_state == "success", out.error
    assert out.outputs["timeDiff"]["milliseconds"] == ms


@pytest.mark.parametrize(("incoming", "named"), [
    ({"secondTime": NOW}, "firstTime"),
    ({"firstTime": NOW, "secondTime": "yesterday"}, "secondTime"),
    ({"firstTime": {"time": "2023-01-01", "formatString": "DD/MM/YYYY"}, "secondTime": NOW}, "does not match"),
    ({"firstTime": {"time": "2023", "formatString": 3}, "secondTime": NOW}, "formatString must be a string"),
    ({"firstTime": {"formatString": FMT}, "secondTime": NOW}, "time string"),
    ({"firstTime": True, "secondTime": NOW}, "firstTime"),
])
def test_bad_times_are_errors_naming_the_input(incoming, named):
    out = run(times.calculate_time_diff, incoming)
    assert out.finish_state == "error" and named in out.error["message"]
