"""getJobs / getTasks (engine/library/opsmgr_search.py): Ops Manager search from inside a workflow."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from opsmgr.engine.library import opsmgr_search
from opsmgr.engine.library.opsmgr_search import QueryError, query_pairs
from opsmgr.engine.registry import Actor, Outcome, TaskContext, default_registry
from tests.helpers import create_workflow, start_job, task, wait_for_job, workflow


def test_query_parameters_become_the_api_pairs():
    assert query_pairs({"equals": {"status": "running"}, "in": {"status": ["running", "paused"]}, "limit": 10,
                        "skip": 0, "sort": "name", "order": -1, "include": "name,status",
                        "gt": {"metrics": {"start_time": 5}}, "exists": {"error": False}}) == [
        ("equals[status]", "running"), ("in[status]", "running,paused"), ("limit", "10"), ("skip", "0"),
        ("sort", "name"), ("order", "-1"), ("include", "name,status"), ("gt[metrics.start_time]", "5"),
        ("exists[error]", "false")]
    assert query_pairs(None) == [] and query_pairs({}) == []
    assert query_pairs({"include": ["name", "status"]}) == [("include", "name,status")]


@pytest.mark.parametrize("bad", ["status=running", [1], {"equals": "running"}])
def test_malformed_query_parameters(bad):
    with pytest.raises(QueryError):
        query_pairs(bad)


def test_registered_as_queued_tasks_of_operations_manager():
    registry = default_registry()
    for name in ("getJobs", "getTasks"):
        spec = registry.get("OperationsManager", name)
        assert spec is not None and spec.impl is not None and not spec.inline


def run(impl, incoming: dict[str, Any], db=None, actor: Actor | None = None) -> Outcome:
    ctx = TaskContext(job_id="a" * 24, task_id="t", task_key="a1", incoming=incoming, job_variables={},
                      task_outputs={}, runtime={}, now_ms=0, actor=actor, database=db)
    return asyncio.run(impl(ctx))


def test_search_as_the_actor_sees_only_what_that_user_may_see(client, world, db):
    create_workflow(client, workflow("secret", {"a1": task("stub")},
                                     {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}}))
    job = wait_for_job(client, start_job(client, "secret", groups=[world.netops])["_id"])
    query = {"queryParameters": {"equals": {"name": "secret"}, "include": "name,status"}}

    alice = run(opsmgr_search.get_jobs, query, db, Actor(world.ids["alice"], "alice"))
    assert alice.finish_state == "success", alice.error
    assert alice.outputs["response"]["data"] == [{"_id": job["_id"], "name": "secret", "status": "complete"}]
    assert alice.outputs["response"]["metadata"]["total"] == 1
    dave = run(opsmgr_search.get_jobs, query, db, Actor(world.ids["dave"], "dave"))
    assert dave.outputs["response"]["data"] == [] and dave.outputs["response"]["metadata"]["total"] == 0

    tasks_query = {"queryParameters": {"equals": {"job._id": job["_id"]}}}
    alice_tasks = run(opsmgr_search.get_tasks, tasks_query, db, Actor(world.ids["alice"], "alice"))
    assert [t["name"] for t in alice_tasks.outputs["response"]["data"]] == ["stub"]
    dave_tasks = run(opsmgr_search.get_tasks, tasks_query, db, Actor(world.ids["dave"], "dave"))
    assert dave_tasks.outputs["response"]["data"] == []


def test_bad_query_is_an_error_with_the_api_message(world, db):
    out = run(opsmgr_search.get_jobs, {"queryParameters": {"equals": {"nope": 1}}}, db,
              Actor(world.ids["alice"], "alice"))
    assert out.finish_state == "error" and "unknown field 'nope'" in out.error["message"]
    out = run(opsmgr_search.get_tasks, {"queryParameters": {"limit": 0}}, db, Actor(world.ids["alice"], "alice"))
    assert out.finish_state == "error" and "limit" in out.error["message"]
    out = run(opsmgr_search.get_jobs, {"queryParameters": "x"}, db, Actor(world.ids["alice"], "alice"))
    assert out.finish_state == "error" and "queryParameters" in out.error["message"]
    assert run(opsmgr_search.get_jobs, {}, None, None).finish_state == "error"
