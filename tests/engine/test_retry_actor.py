"""retrySettings and actor on automatic tasks (workflow-semantics §1.2, §3.5), through the API and the engine."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opsmgr.api.app import create_app
from opsmgr.engine.registry import Outcome, TaskContext, default_registry
from opsmgr.services import auth, engine, jobs, workflows
from tests.api.manual_support import finish_by_key
from tests.helpers import create_workflow, get_job, manual, start_job, task, wait_for_job, wait_until, workflow

ADMIN = ("admin", "admin")
RETRY = {"state": ["error"], "autoRetry": True, "limit": 3, "delay": 100}
runs: Counter[str] = Counter()  # runs of the `flaky` task per job


async def flaky(ctx: TaskContext) -> Outcome:
    """Fails with error until it has run `succeed_on` times in this job (never, when absent)."""
    runs[ctx.job_id] += 1
    succeed_on = ctx.incoming.get("succeed_on")
    if succeed_on is not None and runs[ctx.job_id] >= succeed_on:
        return Outcome(outputs={"runs": runs[ctx.job_id]})
    return Outcome("error", {"runs": runs[ctx.job_id]}, error={"message": f"run {runs[ctx.job_id]} failed"})


async def whoami(ctx: TaskContext) -> Outcome:
    """Records the actor it was run as."""
    actor = ctx.actor
    return Outcome(outputs={"actor": None if actor is None else {"_id": actor.account_id, "username": actor.username}})


@pytest.fixture
def client(db, settings) -> Iterator[TestClient]:
    registry = default_registry()
    registry.register("Testing", "flaky", flaky)
    registry.register("Testing", "whoami", whoami)
    with TestClient(create_app(settings, db, registry)) as test_client:
        yield test_client


def flaky_task(retry: Any = RETRY, succeed_on: int | None = None) -> dict[str, Any]:
    entry = task("flaky", app="Testing", type_="automatic", succeed_on=succeed_on)
    entry["variables"]["outgoing"] = {"runs": "$var.job.runs"}
    entry["retrySettings"] = retry
    entry["actor"] = "Pronghorn"
    return entry


def retry_workflow(entry: dict[str, Any], name: str = "retry") -> dict[str, Any]:
    """a1 → success: workflow_end; error: e2 (records that the error path ran) → workflow_end."""
    return workflow(name, {"a1": entry, "e2": task("newVariable", name="path", value="error")},
                    {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success", "e2": "error"},
                     "e2": {"workflow_end": "success"}})


def iterations(client: TestClient, job_id: str, key: str) -> list[dict[str, Any]]:
    r = client.get("/operations-manager/tasks", params={"equals[job._id]": job_id, "equals[job.task]": key},
                   auth=ADMIN)
    assert r.status_code == 200, r.text
    return sorted(r.json()["data"], key=lambda d: d["metrics"]["start_time"])


def test_a_task_is_retried_as_new_iterations_until_it_succeeds(client) -> None:
    create_workflow(client, retry_workflow(flaky_task(succeed_on=3)))
    job = wait_for_job(client, start_job(client, "retry")["_id"])
    assert job["status"] == "complete" and job["variables"]["runs"] == 3
    assert "path" not in job["variables"]  # the error transition was never followed
    assert len(job["tasks"]["a1"]["iterations"]) == 3
    docs = iterations(client, job["_id"], "a1")
    assert [d["metrics"]["finish_state"] for d in docs] == ["error", "error", "success"]
    assert [d["metrics"]["retrying"] for d in docs] == [False, True, True]
    assert [d["status"] for d in docs] == ["error", "error", "complete"]
    for before, after in itertools.pairwise(docs):
        assert after["metrics"]["end_time"] >= before["metrics"]["end_time"] + RETRY["delay"]


def test_after_the_limit_the_normal_transition_applies(client) -> None:
    create_workflow(client, retry_workflow(flaky_task({**RETRY, "limit": 2, "delay": 0})))
    job = wait_for_job(client, start_job(client, "retry")["_id"])
    assert job["status"] == "complete" and job["variables"]["path"] == "error"
    docs = iterations(client, job["_id"], "a1")
    assert len(docs) == 3  # the first run and two retries
    assert [d["metrics"]["retrying"] for d in docs] == [False, True, True]
    assert job["tasks"]["a1"]["finish_state"] == "error"


@pytest.mark.parametrize("retry", [None, {**RETRY, "autoRetry": False}, {**RETRY, "state": ["failure"]}])
def test_no_retry_without_a_matching_policy(client, retry: Any) -> None:
    create_workflow(client, retry_workflow(flaky_task(retry)))
    job = wait_for_job(client, start_job(client, "retry")["_id"])
    assert job["variables"]["path"] == "error" and len(job["tasks"]["a1"]["iterations"]) == 1


def test_a_retry_waits_in_the_queue_holding_no_worker(db) -> None:
    """The new iteration is queued with a due time `delay` ms ahead; nothing is leased before then."""
    known = default_registry().known() | {("Testing", "flaky")}
    admin = auth.system_principal(db)
    workflows.create_workflow(db, admin, retry_workflow(flaky_task({**RETRY, "delay": 60_000})), known)
    job = jobs.start_job(db, admin, "retry", None, "automation", {}, [], known)
    [first] = engine.lease_work(db, "node-a", lease_seconds=60, limit=8)
    assert engine.record_work(db, first, "error", {"runs": 1}, {"message": "down"}) is True
    assert engine.lease_work(db, "node-a", lease_seconds=60, limit=8) == []  # not due yet
    wait = engine.seconds_until_due(db)
    assert wait is not None and 55 < wait <= 60
    progress = jobs.get_job(db, admin, job["_id"])
    assert progress["status"] == "running" and len(progress["tasks"]["a1"]["iterations"]) == 2
    assert "path" not in progress["variables"]


# actor ------------------------------------------------------------------------------------------------------


def whoami_task(actor: str | None) -> dict[str, Any]:
    entry = task("whoami", app="Testing", type_="automatic")
    entry["variables"]["outgoing"] = {"actor": None}
    if actor is not None:
        entry["actor"] = actor
    return entry


def test_the_actor_is_given_to_the_task_and_recorded_in_metrics_user(client, world) -> None:
    tasks = {"a1": manual(), "b2": whoami_task("a1"), "c3": whoami_task("Pronghorn"), "d4": whoami_task("job"),
             "e5": whoami_task(None)}
    doc = workflow("actors", tasks, {"workflow_start": {"a1": "success"}, "a1": {"b2": "success"},
                                     "b2": {"c3": "success"}, "c3": {"d4": "success"}, "d4": {"e5": "success"},
                                     "e5": {"workflow_end": "success"}})
    create_workflow(client, doc)
    job = start_job(client, "actors", who=world.auth("alice"))
    wait_until(lambda: get_job(client, job["_id"])["tasks"]["a1"]["iterations"])
    assert finish_by_key(client, job["_id"], "a1", world.auth("bob")).status_code == 200
    done = wait_for_job(client, job["_id"])
    assert done["status"] == "complete", done["error"]
    ids = world.ids
    expected = {"b2": ("bob", ids["bob"]), "c3": ("admin", ids["admin"]), "d4": ("alice", ids["alice"]),
                "e5": ("alice", ids["alice"])}
    for key, (username, account_id) in expected.items():
        (doc_,) = iterations(client, job["_id"], key)
        assert doc_["variables"]["outgoing"]["actor"] == {"_id": account_id, "username": username}, key
        assert doc_["metrics"]["user"] == account_id, key


@pytest.mark.parametrize(("actor", "message"), [
    ("ff", "actor 'ff' of task b2 is not Pronghorn, job or the key of a manual task"),
    ("c3", "actor 'c3' of task b2 is not Pronghorn, job or the key of a manual task"),  # c3 is not manual
    ("a1", "actor 'a1' of task b2: manual task a1 has not been worked yet"),
])
def test_an_actor_naming_nobody_is_an_error_outcome(client, actor: str, message: str) -> None:
    tasks = {"a1": manual(), "b2": whoami_task(actor), "c3": task("newVariable", name="x", value=1)}
    # b2 runs first; a1 (manual) waits on another branch and is never worked here
    doc = workflow("bad actor", tasks, {"workflow_start": {"b2": "success", "a1": "success"},
                                        "b2": {"c3": "error"}, "c3": {"workflow_end": "success"},
                                        "a1": {"workflow_end": "success"}})
    create_workflow(client, doc)
    job = start_job(client, "bad actor")
    wait_until(lambda: get_job(client, job["_id"])["tasks"]["c3"]["iterations"])
    (b2,) = iterations(client, job["_id"], "b2")
    assert b2["metrics"]["finish_state"] == "error"
    assert b2["variables"]["error"]["message"].startswith(message)
