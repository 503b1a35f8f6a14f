"""API tests of the aggregate metrics (workflow-semantics §6): `GET /workflow_engine/jobs/metrics` and
`GET /workflow_engine/tasks/metrics`: counts and run times, GBAC (decisions §4), paging, filters, and
the 400/403 answers (decisions §2)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opsmgr.api.app import create_app
from opsmgr.config import Settings
from opsmgr.domain.ids import new_object_id
from opsmgr.services.metrics import stable_id
from opsmgr.store import jobs as job_store
from opsmgr.store import tasks as task_store
from opsmgr.store.database import Database
from tests.api.manual_support import claim, error, finish_by_key, success, waiting_job
from tests.helpers import World, get_job, make_world, wait_for_job

ADMIN = ("admin", "admin")
JOBS = "/workflow_engine/jobs/metrics"
TASKS = "/workflow_engine/tasks/metrics"
T0 = 1_700_000_000_000  # a fixed start time (epoch ms)


@pytest.fixture
def quiet(db: Database, settings: Settings) -> Iterator[TestClient]:
    """An app without engine workers: the rows inserted below stay exactly as written."""
    with TestClient(create_app(settings, db, run_engine=False)) as test_client:
        yield test_client


@pytest.fixture
def cast(db: Database, quiet: TestClient) -> World:
    return make_world(db)


def add_job(
    db: Database,
    name: str,
    status: str,
    start: int,
    run_time: int | None = None,
    groups: list[str] | None = None,
    tasks: list[dict[str, Any]] | None = None,
) -> str:
    """Insert a job row (and its task iterations) with exact times; `run_time` None = not ended.

    Each task is `{key, name, app, type, status, finish_state, start, run_time}` (times relative to the job)."""
    job_id = new_object_id()
    row = {
        "id": job_id, "name": name, "description": None, "type": "automation", "status": status,
        "workflow": {"name": name, "tasks": {}, "transitions": {}}, "variables": {}, "progress": {}, "error": None,
        "watchers": [], "ancestors": [job_id], "parent": None, "created": start, "created_by": None,
        "last_updated": start, "last_updated_by": None, "start_time": start,
        "end_time": None if run_time is None else start + run_time, "initiator": "admin",
    }
    iterations = []
    for t in tasks or []:
        t_start = start + t.get("start", 0)
        iterations.append({
            "id": str(uuid.uuid4()), "job_id": job_id, "task_key": t["key"], "name": t.get("name", "ViewData"),
            "app": t.get("app", "WorkFlowEngine"), "type": t.get("type", "manual"), "status": t["status"],
            "location": "Application", "view": None, "owner": None, "groups": [], "variables": {}, "metrics": {},
            "start_time": t_start, "claim_time": None,
            "end_time": None if t.get("run_time") is None else t_start + t["run_time"],
            "finish_state": t.get("finish_state"), "last_updated": t_start, "queue_state": None, "due_at": None,
            "lease_until": None, "runtime": None,
        })
    with db.write() as conn:
        job_store.insert_job(conn, row, groups or [])
        task_store.insert_tasks(conn, iterations)
    return job_id


def get(client: TestClient, path: str, who: tuple[str, str] = ADMIN, **params: Any) -> dict[str, Any]:
    r = client.get(path, params=params, auth=who)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"results", "skip", "limit", "total"}, body
    return body  # type: ignore[no-any-return]


def by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["workflow"]["name"]: r for r in body["results"]}


def task_results(body: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["workflow"]["name"], r["taskId"]): r for r in body["results"]}


def seed(db: Database) -> None:
    """alpha: complete 1000 ms and 3000 ms, error 500 ms, running; beta: canceled 200 ms, paused."""
    manual_ok = {"key": "a1", "status": "complete", "finish_state": "success"}
    add_job(db, "alpha", "complete", T0, 1000, tasks=[
        {**manual_ok, "run_time": 100},
        {"key": "b2", "name": "newVariable", "type": "automatic", "status": "complete", "finish_state": "success",
         "start": 100, "run_time": 10},
    ])
    add_job(db, "alpha", "complete", T0 + 10_000, 3000, tasks=[{**manual_ok, "run_time": 300}])
    add_job(db, "alpha", "error", T0 + 20_000, 500, tasks=[
        {"key": "a1", "status": "complete", "finish_state": "failure", "run_time": 50},
        {"key": "b2", "name": "newVariable", "type": "automatic", "status": "error", "finish_state": "error",
         "start": 50, "run_time": 20},
    ])
    add_job(db, "alpha", "running", T0 + 30_000, tasks=[{"key": "a1", "status": "running"}])
    add_job(db, "beta", "canceled", T0 + 40_000, 200, tasks=[{"key": "a1", "status": "canceled", "run_time": 200}])
    add_job(db, "beta", "paused", T0 + 50_000)


# counts and run times -------------------------------------------------------------------------------------


def test_job_metrics_count_complete_jobs_and_sum_their_run_times(db, quiet):
    """§6.1: one result per workflow; jobsComplete and totalRunTime (end − start) over complete jobs only;
    ours: averageRunTime, jobsByStatus and per-status metrics documents."""
    seed(db)
    body = get(quiet, JOBS)
    assert (body["skip"], body["limit"], body["total"]) == (0, 25, 2)
    assert [r["workflow"]["name"] for r in body["results"]] == ["alpha", "beta"]
    alpha, beta = body["results"]
    assert alpha == {
        "_id": stable_id("alpha"),
        "workflow": {"name": "alpha"},
        "jobsComplete": 2,
        "totalRunTime": 4000,
        "averageRunTime": 2000,
        "jobsByStatus": {"running": 1, "complete": 2, "error": 1, "canceled": 0, "paused": 0},
        "metrics": [
            {"status": "running", "count": 1, "totalRunTime": None, "averageRunTime": None},
            {"status": "complete", "count": 2, "totalRunTime": 4000, "averageRunTime": 2000},
            {"status": "error", "count": 1, "totalRunTime": 500, "averageRunTime": 500},
        ],
    }
    assert re.fullmatch(r"[0-9a-f]{24}", alpha["_id"])
    assert beta["jobsComplete"] == 0 and beta["totalRunTime"] == 0 and beta["averageRunTime"] is None
    assert beta["jobsByStatus"] == {"running": 0, "complete": 0, "error": 0, "canceled": 1, "paused": 1}
    assert beta["metrics"] == [
        {"status": "canceled", "count": 1, "totalRunTime": 200, "averageRunTime": 200},
        {"status": "paused", "count": 1, "totalRunTime": None, "averageRunTime": None},
    ]
    assert get(quiet, JOBS)["results"][0]["_id"] == alpha["_id"]  # stable


def test_task_metrics_count_runs_and_run_times_per_finish_state(db, quiet):
    """§6.2: one result per (workflow, task key) with taskId, taskType, name, app, workflow, and count and
    run times per finish state; iterations without a finish state count in runs and tasksByStatus only."""
    seed(db)
    body = get(quiet, TASKS)
    assert body["total"] == 3
    assert [(r["workflow"]["name"], r["taskId"]) for r in body["results"]] == [
        ("alpha", "a1"), ("alpha", "b2"), ("beta", "a1")
    ]
    a1, b2, beta_a1 = body["results"]
    assert a1 == {
        "_id": stable_id("alpha", "a1", "WorkFlowEngine", "ViewData", "manual"),
        "taskId": "a1",
        "taskType": "manual",
        "name": "ViewData",
        "app": "WorkFlowEngine",
        "workflow": {"name": "alpha"},
        "runs": 4,
        "tasksByStatus": {"incomplete": 0, "scheduled": 0, "running": 1, "paused": 0, "complete": 3, "error": 0,
                          "failure": 0, "canceled": 0},
        "metrics": [
            {"finish_state": "success", "count": 2, "totalRunTime": 400, "averageRunTime": 200},
            {"finish_state": "failure", "count": 1, "totalRunTime": 50, "averageRunTime": 50},
        ],
    }
    assert (b2["taskType"], b2["name"], b2["runs"]) == ("automatic", "newVariable", 2)
    assert b2["metrics"] == [
        {"finish_state": "success", "count": 1, "totalRunTime": 10, "averageRunTime": 10},
        {"finish_state": "error", "count": 1, "totalRunTime": 20, "averageRunTime": 20},
    ]
    assert beta_a1["runs"] == 1 and beta_a1["tasksByStatus"]["canceled"] == 1 and beta_a1["metrics"] == []


def test_metrics_of_a_real_job(client, world):
    """A job run by the engine: its run time is the document's metrics.end_time − metrics.start_time."""
    job, t = waiting_job(client)
    success(claim(client, t["_id"], ADMIN))
    success(finish_by_key(client, job["_id"], "a1", ADMIN))
    done = wait_for_job(client, job["_id"])
    assert done["status"] == "complete"
    doc = get_job(client, job["_id"])
    [result] = get(client, JOBS)["results"]
    assert result["workflow"] == {"name": "approve"} and result["jobsComplete"] == 1
    assert result["totalRunTime"] == doc["metrics"]["end_time"] - doc["metrics"]["start_time"]
    tasks = task_results(get(client, TASKS))
    assert {k for k in tasks} >= {("approve", "a1"), ("approve", "b2")}
    assert [m["finish_state"] for m in tasks[("approve", "a1")]["metrics"]] == ["success"]
    assert tasks[("approve", "b2")]["metrics"][0]["count"] == 1


# GBAC -------------------------------------------------------------------------------------------------------


def test_only_visible_jobs_count(db, quiet, cast):
    """decisions §4: a job with groups counts only for members and admin; a workflow whose jobs are all
    hidden does not appear; tasks follow their job."""
    add_job(db, "shared", "complete", T0, 100, tasks=[{"key": "a1", "status": "complete", "finish_state": "success",
                                                      "run_time": 10}])
    add_job(db, "shared", "complete", T0, 900, groups=[cast.netops],
            tasks=[{"key": "a1", "status": "complete", "finish_state": "success", "run_time": 90}])
    add_job(db, "secret", "complete", T0, 50, groups=[cast.netops])
    for who in (ADMIN, cast.auth("alice")):
        jobs = by_name(get(quiet, JOBS, who))
        assert set(jobs) == {"secret", "shared"}
        assert (jobs["shared"]["jobsComplete"], jobs["shared"]["totalRunTime"]) == (2, 1000)
        assert task_results(get(quiet, TASKS, who))[("shared", "a1")]["metrics"][0]["totalRunTime"] == 100
    for name in ("dave", "carol"):
        body = get(quiet, JOBS, cast.auth(name))
        assert body["total"] == 1
        assert (body["results"][0]["workflow"]["name"], body["results"][0]["totalRunTime"]) == ("shared", 100)
        tasks = get(quiet, TASKS, cast.auth(name))
        assert tasks["total"] == 1 and tasks["results"][0]["metrics"][0]["totalRunTime"] == 10


def test_a_role_without_read_gets_403(db, quiet, cast):
    """decisions §4: apiwrite alone may not read metrics; no credentials is 401."""
    for path, method in ((JOBS, "getJobMetrics"), (TASKS, "getTaskMetrics")):
        assert method in error(quiet.get(path, auth=cast.auth("erin")), 403)["message"]
        error(quiet.get(path), 401)


# paging and sorting -----------------------------------------------------------------------------------------


def test_paging_and_sorting(db, quiet):
    """§6.1: skip/limit page the workflows (total counts them all); order ±1; sort on a metric."""
    for i, name in enumerate(("w1", "w2", "w3", "w4", "w5")):
        for _ in range(i % 3 + 1):
            add_job(db, name, "complete", T0, 100 * (5 - i))
    body = get(quiet, JOBS, limit=2, skip=2)
    assert ([r["workflow"]["name"] for r in body["results"]], body["total"]) == (["w3", "w4"], 5)
    assert (body["skip"], body["limit"]) == (2, 2)
    assert get(quiet, JOBS, skip=5)["results"] == []
    assert [r["workflow"]["name"] for r in get(quiet, JOBS, order=-1, limit=3)["results"]] == ["w5", "w4", "w3"]
    # jobsComplete: w1 1, w2 2, w3 3, w4 1, w5 2; ties break by name
    ranked = get(quiet, JOBS, sort="jobsComplete", order=-1)["results"]
    assert [r["workflow"]["name"] for r in ranked] == ["w3", "w2", "w5", "w1", "w4"]
    # averageRunTime: w1 500, w2 400, w3 300, w4 200, w5 100
    fastest = get(quiet, JOBS, sort="averageRunTime")["results"]
    assert [r["averageRunTime"] for r in fastest] == [100, 200, 300, 400, 500]
    totals = get(quiet, JOBS, sort="totalRunTime", order=-1)["results"]
    # totalRunTime: w1 500, w2 800, w3 900, w4 200, w5 200
    assert [(r["workflow"]["name"], r["totalRunTime"]) for r in totals] == [
        ("w3", 900), ("w2", 800), ("w1", 500), ("w4", 200), ("w5", 200)
    ]


def test_task_paging_and_sorting(db, quiet):
    add_job(db, "wf", "complete", T0, 10, tasks=[
        {"key": k, "name": n, "app": a, "status": "complete", "finish_state": "success", "run_time": 1}
        for k, n, a in (("a1", "zeta", "AppB"), ("b2", "eta", "AppA"), ("c3", "beta", "AppC"))
    ])
    assert [r["taskId"] for r in get(quiet, TASKS, limit=2)["results"]] == ["a1", "b2"]
    page = get(quiet, TASKS, limit=2, skip=2)
    assert ([r["taskId"] for r in page["results"]], page["total"]) == (["c3"], 3)
    assert [r["name"] for r in get(quiet, TASKS, sort="name")["results"]] == ["beta", "eta", "zeta"]
    assert [r["app"] for r in get(quiet, TASKS, sort="app", order=-1)["results"]] == ["AppC", "AppB", "AppA"]


# filters ----------------------------------------------------------------------------------------------------


def test_filters(db, quiet):
    """§6.1-6.2: greaterThanEquals on metrics.startDate (epoch ms or ISO), contains and equals on
    workflow.name, and for tasks equals on app and name."""
    seed(db)
    later = get(quiet, JOBS, greaterThanEquals=T0 + 10_000, greaterThanEqualsField="metrics.startDate")
    assert by_name(later)["alpha"]["jobsComplete"] == 1 and by_name(later)["alpha"]["totalRunTime"] == 3000
    assert get(quiet, JOBS, greaterThanEquals=T0 + 40_000)["total"] == 1  # the field defaults to metrics.startDate
    assert get(quiet, JOBS, greaterThanEquals="2100-01-01T00:00:00Z")["total"] == 0
    assert [r["workflow"]["name"] for r in get(quiet, JOBS, contains="et", containsField="workflow.name")[
        "results"]] == ["beta"]
    assert get(quiet, JOBS, contains="%")["total"] == 0  # no LIKE wildcards
    assert get(quiet, JOBS, equals="alph", equalsField="workflow.name")["total"] == 0
    assert get(quiet, JOBS, equals="alpha")["total"] == 1
    tasks = get(quiet, TASKS, equals="newVariable", equalsField="name")
    assert [(r["workflow"]["name"], r["taskId"]) for r in tasks["results"]] == [("alpha", "b2")]
    assert get(quiet, TASKS, equals="WorkFlowEngine", equalsField="app")["total"] == 3
    assert get(quiet, TASKS, equals="Other", equalsField="app")["total"] == 0
    assert get(quiet, TASKS, equals="beta", equalsField="workflow.name")["total"] == 1
    # the date filter counts task iterations that started at or after it
    recent = task_results(get(quiet, TASKS, greaterThanEquals=T0 + 20_000))
    assert recent[("alpha", "a1")]["runs"] == 2 and recent[("alpha", "b2")]["runs"] == 1


# bad parameters ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        (JOBS, {"limit": "0"}, "limit"),
        (JOBS, {"limit": "101"}, "limit"),
        (JOBS, {"limit": "ten"}, "limit"),
        (JOBS, {"skip": "-1"}, "skip"),
        (JOBS, {"order": "2"}, "order"),
        (JOBS, {"sort": "name"}, "sort"),
        (TASKS, {"sort": "jobsComplete"}, "sort"),
        (JOBS, {"greaterThanEquals": "yesterday"}, "greaterThanEquals"),
        (JOBS, {"greaterThanEquals": "1", "greaterThanEqualsField": "metrics.endDate"}, "greaterThanEqualsField"),
        (JOBS, {"greaterThanEqualsField": "metrics.startDate"}, "greaterThanEquals"),
        (JOBS, {"contains": "a", "containsField": "app"}, "containsField"),
        (JOBS, {"equalsField": "workflow.name"}, "equals"),
        (TASKS, {"equals": "a", "equalsField": "status"}, "equalsField"),
        (TASKS, {"equals": "a\x00b"}, "equals"),
        (TASKS, {"foo": "1"}, "foo"),
        (JOBS, {"equals[name]": "x"}, "equals[name]"),
    ],
)
def test_bad_parameter_is_400_naming_it(db, quiet, path, params, named):
    """decisions §2: a bad query parameter is 400, and the answer names it."""
    body = error(quiet.get(path, params=params, auth=ADMIN), 400)
    assert body["message"].startswith(f"{named}:"), body
    assert body["metadata"]["errors"][0]["path"] == named


def test_a_parameter_given_twice_is_400(db, quiet):
    body = error(quiet.get(JOBS + "?limit=5&limit=6", auth=ADMIN), 400)
    assert body["metadata"]["errors"] == [{"path": "limit", "message": "given more than once"}]
