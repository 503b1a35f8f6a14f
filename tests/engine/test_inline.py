"""Pure tasks run inline in the transaction that makes them ready (ADR 0008), and only pure tasks do."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from opsmgr.api.app import create_app
from opsmgr.config import Settings
from opsmgr.engine.registry import Outcome, TaskContext, default_registry
from opsmgr.services import progress, secrets
from opsmgr.store.database import Database
from tests.helpers import create_workflow, get_job, start_job, task, wait_for_job, workflow

ADMIN = ("admin", "admin")


def chain(name: str, n: int, **extra: object) -> dict:
    """workflow_start → n newVariable tasks → workflow_end."""
    keys = [f"{i:x}a" for i in range(n)]
    tasks = {}
    for i, key in enumerate(keys):
        t = task("newVariable", name=f"v{i}", value=i)
        t.update(extra)
        tasks[key] = t
    order = ["workflow_start", *keys, "workflow_end"]
    return workflow(name, tasks, {a: {b: "success"} for a, b in itertools.pairwise(order)})


def iterations(client: TestClient, job_id: str) -> list[dict]:
    r = client.get("/operations-manager/tasks", params={"equals[job._id]": job_id, "limit": 500}, auth=ADMIN)
    return r.json()["data"]  # type: ignore[no-any-return]


def test_a_chain_of_pure_tasks_completes_inside_the_start_and_every_iteration_is_recorded(client):
    create_workflow(client, chain("pure", 10))
    job = start_job(client, "pure")
    assert job["status"] == "complete"  # no queue round trip was needed
    assert job["variables"]["v9"] == 9
    docs = iterations(client, job["_id"])
    assert len(docs) == 10
    assert all(d["status"] == "complete" and d["metrics"]["server_id"] for d in docs)
    assert all(job["tasks"][d["job"]["task"]]["iterations"] == [d["_id"]] for d in docs)


def test_without_an_engine_in_the_process_tasks_take_the_queue(db, settings):
    with TestClient(create_app(settings.model_copy(update={"engine_workers": 0}), db)) as client:
        create_workflow(client, chain("queued", 3))
        job = start_job(client, "queued")
        assert job["status"] == "running"
        [doc] = iterations(client, job["_id"])
        assert doc["status"] == "scheduled"


def test_the_inline_budget_hands_the_rest_of_a_long_chain_to_the_queue(client, monkeypatch):
    monkeypatch.setattr(progress, "INLINE_BUDGET", 3)
    create_workflow(client, chain("long", 8))
    job = start_job(client, "long")
    assert job["status"] == "running"
    # the start answer is the job as its transaction committed it (reading the iterations afterwards races
    # with the engine worker, which already runs the rest of the chain)
    done = [key for key, entry in job["tasks"].items() if entry.get("status") == "complete" and key != "workflow_start"]
    assert len(done) == 3, job["tasks"]
    assert wait_for_job(client, job["_id"])["status"] == "complete"


def test_tasks_that_retry_by_themselves_are_not_inlined(client):
    retrying = chain("retrying", 1, retrySettings={"autoRetry": True, "limit": 1, "delay": 0, "state": ["error"]})
    create_workflow(client, retrying)
    job = start_job(client, "retrying")
    assert job["status"] == "running"
    assert wait_for_job(client, job["_id"])["status"] == "complete"


def test_jobs_with_encrypted_variables_are_not_inlined(db, settings, tmp_path):
    keyed = settings.model_copy(update={"key_file": str(tmp_path / "test.key")})
    secrets.ensure_key(keyed)
    with TestClient(create_app(keyed, db)) as client:
        secret = chain("secret", 1)
        secret["decorators"] = [{"type": "encryption", "pointer": "/variables/password"}]
        create_workflow(client, secret)
        job = start_job(client, "secret", {"password": "hunter2"})
        assert job["status"] == "running"
        assert wait_for_job(client, job["_id"])["status"] == "complete"


def test_restcall_is_never_inline():
    registry = default_registry()
    spec = registry.get("WorkFlowEngine", "restCall")
    assert spec is not None and spec.inline is False
    assert registry.get("WorkFlowEngine", "newVariable").inline is True  # type: ignore[union-attr]


@pytest.fixture
def awaiting_client(db: Database, settings: Settings) -> Iterator[TestClient]:
    """An app whose `Test.sleepy` task claims to be inline but awaits: the runner must refuse it."""

    async def sleepy(ctx: TaskContext) -> Outcome:
        await asyncio.sleep(0)
        return Outcome(outputs={"slept": True})

    registry = default_registry()
    registry.register("Test", "sleepy", sleepy, inline=True)
    with TestClient(create_app(settings, db, registry)) as client:
        yield client


def test_an_implementation_that_awaits_falls_back_to_the_queue(awaiting_client):
    client = awaiting_client
    t = task("sleepy", app="Test")
    t["variables"]["outgoing"] = {"slept": "$var.job.slept"}
    create_workflow(client, workflow("sleepy", {"a": t}, {"workflow_start": {"a": "success"},
                                                          "a": {"workflow_end": "success"}}))
    job = start_job(client, "sleepy")
    assert job["status"] == "running"
    done = wait_for_job(client, job["_id"])
    assert done["status"] == "complete" and done["variables"]["slept"] is True
    assert get_job(client, job["_id"])["tasks"]["a"]["status"] == "complete"
