"""Shared by the job-control API tests: small workflows, posting helpers, and child jobs made through the
store (the childJob task comes later)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from opsmgr.domain.documents import now_ms
from opsmgr.domain.ids import new_object_id
from opsmgr.services import progress
from opsmgr.store import jobs as job_store
from opsmgr.store import tasks as task_store
from opsmgr.store.database import Database
from tests.helpers import task, workflow

ADMIN = ("admin", "admin")
CAROL = ("carol", "pw")  # apiread only
UNKNOWN_JOB = "0123456789abcdef01234567"
OM = "/operations-manager"


def post(client: TestClient, path: str, body: Any = None, who: tuple[str, str] = ADMIN) -> Response:
    return client.post(OM + path, json=body, auth=who)


def stub(state: str = "success", response: Any = None, delay: float | None = None) -> dict[str, Any]:
    """A WorkFlowEngine stub task; `state` may be a `$var` reference."""
    incoming: dict[str, Any] = {"type": state, "response": response}
    if delay is not None:
        incoming["delay"] = delay
    entry = task("stub", **incoming)
    entry["variables"]["outgoing"] = {"response": None}
    return entry


def quick(name: str = "quick", state: str = "success") -> dict[str, Any]:
    """workflow_start → c0 (stub) → workflow_end."""
    return workflow(name, {"c0": stub(state, response={"why": "down"})},
                    {"workflow_start": {"c0": "success"}, "c0": {"workflow_end": "success"}})


def insert_child(db: Database, parent_id: str, waiting: bool = True) -> str:
    """A child job of `parent_id` (ancestors = parent's + its own id), running, with a waiting manual
    iteration of `a1` when `waiting`."""
    now = now_ms()
    with db.write() as conn:
        parent = job_store.get_job(conn, parent_id)
        assert parent is not None
        child_id = new_object_id()
        child = {**parent, "id": child_id, "ancestors": [*parent["ancestors"], child_id], "status": "running",
                 "parent": {"job": parent_id, "task": "a1", "iteration": 0, "element": 0}, "progress": {},
                 "watchers": [], "end_time": None}
        job_store.insert_job(conn, child, [])
        if waiting:
            row = progress.new_iteration(child, "a1", now)
            task_store.insert_tasks(conn, [row])
            child["progress"] = {"a1": {"phase": "active", "status": "running", "iterations": [row["id"]]}}
            job_store.update_job(conn, child_id, {"progress": child["progress"]})
    return child_id


def iterations(db: Database, job_id: str, key: str | None = None) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = task_store.tasks_of_job(conn, job_id)
    return [r for r in rows if key is None or r["task_key"] == key]
