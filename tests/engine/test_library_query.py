"""The `query` task and its json-query subset (workflow-semantics §3.6, engine/library/query.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from opsmgr.engine.library.query import query
from opsmgr.engine.registry import Outcome, TaskContext


def run(incoming: dict[str, Any]) -> Outcome:
    ctx = TaskContext(job_id="a" * 24, task_id="t", task_key="a1", incoming=incoming, job_variables={},
                      task_outputs={}, runtime={}, now_ms=0)
    return asyncio.run(query(ctx))


OBJ = {
    "response": {"results": [{"id": 7, "name": "eth0", "up": True}, {"id": 9, "name": "eth1", "up": False}]},
    "Cisco-IOS-XE-native:native": {"hostname": "r1", "ip.addr": "10.0.0.1"},
    "list": [],
}


@pytest.mark.parametrize(("expression", "expected"), [
    ("response.results[0].id", 7),
    (".response.results[1].name", "eth1"),
    ("response.results[-1].id", 9),
    ("response.results[**].name", ["eth0", "eth1"]),
    ("response.results[name=eth1].id", 9),
    ("response.results[name='eth1'].id", 9),
    ("response.results[up=true].name", "eth0"),
    ("response.results[*up=false]", [{"id": 9, "name": "eth1", "up": False}]),
    (":get(Cisco-IOS-XE-native:native).hostname", "r1"),
    (":get(Cisco-IOS-XE-native:native):get(ip.addr)", "10.0.0.1"),
    ('["Cisco-IOS-XE-native:native"]["ip.addr"]', "10.0.0.1"),
    ("list", []),
    ("", OBJ),
])
def test_query_matches(expression, expected):
    out = run({"obj": OBJ, "query": expression, "pass_on_null": False})
    assert out.finish_state == "success" and out.outputs == {"return_data": expected}


@pytest.mark.parametrize("expression", [
    "response.nothing", "response.results[5]", "response.results[name=eth9]", "response.results[**].missing",
    "response.results[0].id.deeper",
])
def test_no_match_is_failure(expression):
    out = run({"obj": OBJ, "query": expression, "pass_on_null": False})
    assert out.finish_state == "failure" and out.outputs == {"return_data": None} and out.error is None


def test_no_match_with_pass_on_null_is_success():
    out = run({"obj": OBJ, "query": "response.nothing", "pass_on_null": True})
    assert out.finish_state == "success" and out.outputs == {"return_data": None}


def test_pass_on_null_defaults_to_false():
    assert run({"obj": OBJ, "query": "nothing"}).finish_state == "failure"


def test_a_falsy_match_is_still_a_match():
    out = run({"obj": {"a": 0, "b": False, "c": ""}, "query": "b"})
    assert out.finish_state == "success" and out.outputs == {"return_data": False}


@pytest.mark.parametrize(("incoming", "named"), [
    ({"obj": OBJ, "query": 5}, "query must be a string"),
    ({"obj": OBJ, "query": "a[", "pass_on_null": False}, "unclosed"),
    ({"obj": OBJ, "query": "a:select(x)"}, "only :get"),
    ({"obj": OBJ, "query": "a[x>1]"}, "unsupported"),
    ({"obj": OBJ, "query": "a..b"}, "empty key"),
    ({"obj": OBJ, "query": "a", "pass_on_null": "maybe"}, "pass_on_null"),
])
def test_bad_input_is_an_error_naming_it(incoming, named):
    out = run(incoming)
    assert out.finish_state == "error" and named in out.error["message"]
    assert out.error["message"].startswith("query:")
