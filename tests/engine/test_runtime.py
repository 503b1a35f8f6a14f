"""The engine loop (engine/runtime.py): tasks leased together run concurrently, not one after another."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opsmgr.api.app import create_app
from opsmgr.config import Settings
from opsmgr.store.database import Database
from tests.helpers import create_workflow, http_server, start_job, task, wait_for_job, workflow

PARTIES = 3


class Rendezvous(BaseHTTPRequestHandler):
    """Answers only once PARTIES requests are in flight at the same time (a barrier); a lone request
    waits 5 s and gets 504. Run one after another, the calls can never all meet."""

    barrier: threading.Barrier

    def do_GET(self) -> None:
        try:
            self.barrier.wait(timeout=5)
            status = 200
        except threading.BrokenBarrierError:
            status = 504
        payload = json.dumps({"met": status == 200}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def rendezvous() -> Iterator[str]:
    handler = type("Handler", (Rendezvous,), {"barrier": threading.Barrier(PARTIES)})
    with http_server(handler) as url:
        yield f"{url}/meet"


@pytest.fixture
def one_worker_client(db: Database, settings: Settings) -> Iterator[TestClient]:
    """A server with a single engine worker, so the parallel tasks are leased in one batch."""
    with TestClient(create_app(settings.model_copy(update={"engine_workers": 1}), db)) as client:
        yield client


def test_tasks_leased_in_one_batch_run_concurrently(one_worker_client: TestClient, rendezvous: str) -> None:
    """Three parallel restCalls (not pure, so they take the work queue) meet at a barrier on the server:
    the job completes only if the worker runs its batch concurrently (issue #3: a slow task must not hold
    the other leased tasks)."""
    keys = [f"c{i}" for i in range(PARTIES)]
    tasks = {key: task("restCall", type_="automatic", uri=rendezvous, verb="GET", responseHeaders=False)
             for key in keys}
    for key in keys:
        tasks[key]["variables"]["outgoing"] = {"response": f"$var.job.{key}"}
    transitions: dict[str, dict[str, Any]] = {"workflow_start": {key: "success" for key in keys}}
    transitions.update({key: {"workflow_end": "success"} for key in keys})
    create_workflow(one_worker_client, workflow("meet", tasks, transitions))
    job = wait_for_job(one_worker_client, start_job(one_worker_client, "meet")["_id"])
    assert job["status"] == "complete", job["error"]
    assert [job["variables"][key]["icode"] for key in keys] == [200] * PARTIES


@pytest.mark.parametrize("pushes", [2, 5])
def test_parallel_pushes_on_the_queue_all_land(one_worker_client: TestClient, pushes: int) -> None:
    """push reads a job variable and writes it back. Parallel pushes that take the work queue (here:
    autoRetry keeps them from running inline, ADR 0008) are leased together with the same snapshot of
    the job variables; recording runs them again under the job's lock, so no push is lost."""
    keys = [f"a{i}" for i in range(pushes)]
    tasks = {}
    for i, key in enumerate(keys):
        tasks[key] = task("push", type_="automatic", job_variable="items", item_to_push=i)
        tasks[key]["retrySettings"] = {"autoRetry": True, "limit": 1, "delay": 0, "state": ["error"]}
    transitions: dict[str, dict[str, Any]] = {"workflow_start": {key: "success" for key in keys}}
    transitions.update({key: {"workflow_end": "success"} for key in keys})
    create_workflow(one_worker_client, workflow("pushes", tasks, transitions))
    job = wait_for_job(one_worker_client, start_job(one_worker_client, "pushes", {"items": []})["_id"])
    assert job["status"] == "complete", job["error"]
    assert sorted(job["variables"]["items"]) == list(range(pushes))
