"""Builders shared by tests: the demo cast of users and small workflows in Itential's format."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fastapi.testclient import TestClient

from opsmgr.services import accounts, auth
from opsmgr.store.database import Database

PASSWORD = "pw"


@dataclass
class World:
    netops: str  # group id
    ids: dict[str, str]  # username -> account id

    def auth(self, username: str) -> tuple[str, str]:
        return (username, "admin" if username == "admin" else PASSWORD)


def make_world(db: Database) -> World:
    netops = accounts.create_group(db, "NetOps", "network operations", roles=["operations"])["_id"]
    ids = {"admin": auth.system_principal(db).account_id}
    for name, roles, groups in (
        ("alice", [], ["NetOps"]),
        ("bob", [], ["NetOps"]),
        ("carol", ["apiread"], []),
        ("dave", ["operations"], []),
        ("erin", ["apiwrite"], []),
    ):
        ids[name] = accounts.create_account(db, name, PASSWORD, roles, groups)["_id"]
    return World(netops, ids)


def task(method: str, app: str = "WorkFlowEngine", type_: str = "operation", **variables: Any) -> dict[str, Any]:
    """A workflow task entry running `app`.`method` with the given incoming variables."""
    entry: dict[str, Any] = {
        "name": method,
        "canvasName": method,
        "summary": method,
        "location": "Application",
        "locationType": None,
        "app": app,
        "type": type_,
        "groups": [],
        "variables": {"incoming": variables, "outgoing": {}, "error": "", "decorators": []},
    }
    return entry


def manual(groups: list[str] | None = None, **incoming: Any) -> dict[str, Any]:
    entry = task("ViewData", type_="manual", header="Approve?", message="", body="", variables={},
                 btn_success="OK", btn_failure="No", **incoming)
    entry["view"] = "/workflow_engine/task/ViewData"
    entry["groups"] = groups or []
    return entry


def workflow(name: str, tasks: dict[str, Any], transitions: dict[str, dict[str, tuple[str, ...] | str]]) -> dict:
    """A workflow document. `transitions` maps from → {to: state} (standard) or {to: (state, type)}."""
    all_tasks = {"workflow_start": {"name": "workflow_start", "groups": []},
                 "workflow_end": {"name": "workflow_end", "groups": []}, **tasks}
    trans: dict[str, dict[str, dict[str, str]]] = {key: {} for key in all_tasks}
    for source, targets in transitions.items():
        for target, spec in targets.items():
            state, kind = (spec, "standard") if isinstance(spec, str) else spec
            trans[source][target] = {"type": kind, "state": state}
    return {"name": name, "type": "automation", "canvasVersion": 3, "tasks": all_tasks, "transitions": trans,
            "groups": [], "inputSchema": {"type": "object"}, "outputSchema": {"type": "object"}}


def approval_workflow(name: str = "approve", groups: list[str] | None = None) -> dict[str, Any]:
    """workflow_start → a1 (ViewData) → success: b2 newVariable → workflow_end; failure → workflow_end."""
    b2 = task("newVariable", name="approved", value=True)
    b2["variables"]["outgoing"] = {"value": None}
    return workflow(
        name,
        {"a1": manual(groups), "b2": b2},
        {"workflow_start": {"a1": "success"}, "a1": {"b2": "success", "workflow_end": "failure"},
         "b2": {"workflow_end": "success"}},
    )


def create_workflow(client: TestClient, doc: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/automation-studio/automations", json={"automation": doc}, auth=("admin", "admin"))
    assert r.status_code == 200, r.text
    return r.json()["created"]  # type: ignore[no-any-return]


def start_job(
    client: TestClient, name: str, variables: dict[str, Any] | None = None, groups: list[str] | None = None,
    who: tuple[str, str] = ("admin", "admin"),
) -> dict[str, Any]:
    body = {"workflow": name, "options": {"variables": variables or {}, "groups": groups or []}}
    r = client.post("/operations-manager/jobs/start", json=body, auth=who)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


def get_job(client: TestClient, job_id: str) -> dict[str, Any]:
    r = client.get(f"/operations-manager/jobs/{job_id}", auth=("admin", "admin"))
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def wait_for_job(
    client: TestClient, job_id: str, statuses: tuple[str, ...] = ("complete", "error", "canceled")
) -> dict:
    return wait_until(lambda: (j := get_job(client, job_id))["status"] in statuses and j)  # type: ignore[no-any-return]


def waiting_task(client: TestClient, job_id: str, key: str) -> dict[str, Any]:
    """The manual task iteration of `key` in `job_id` that waits for a person."""
    def find() -> dict[str, Any] | None:
        r = client.get(
            "/operations-manager/tasks",
            params={"equals[job._id]": job_id, "equals[job.task]": key, "equals[status]": "running"},
            auth=("admin", "admin"),
        )
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        return data[0] if data else None

    return wait_until(find)  # type: ignore[no-any-return]


@contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 (a free port) answering with `handler`; yields its base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
