"""Shared by the manual-task API tests (claim, release/assign, finish): a job waiting at a manual task,
and the checks of the response envelope (decisions §2)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from tests.helpers import approval_workflow, create_workflow, start_job, waiting_task

ADMIN = ("admin", "admin")
UNKNOWN_TASK = "00000000-0000-4000-8000-000000000000"  # a well-formed UUIDv4 that names nothing
UNKNOWN_JOB = "0123456789abcdef01234567"
ENVELOPE_KEYS = {"message", "data", "metadata"}


def envelope(r: Response) -> dict[str, Any]:
    """decisions §2: the body is exactly {message, data, metadata}; returns it."""
    body = r.json()
    assert isinstance(body, dict) and set(body) == ENVELOPE_KEYS, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["metadata"], dict)
    return body  # type: ignore[no-any-return]


def error(r: Response, status: int) -> dict[str, Any]:
    """An error answer: the status, the envelope, `data: null`; returns the body."""
    assert r.status_code == status, (r.status_code, r.text)
    body = envelope(r)
    assert body["data"] is None
    return body


def success(r: Response) -> dict[str, Any]:
    """A 200 envelope; returns `data`."""
    assert r.status_code == 200, r.text
    return envelope(r)["data"]  # type: ignore[no-any-return]


def waiting_job(
    client: TestClient,
    task_groups: list[str] | None = None,
    job_groups: list[str] | None = None,
    name: str = "approve",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start a job of the approval workflow; returns (job, the waiting a1 task iteration)."""
    create_workflow(client, approval_workflow(name, groups=task_groups))
    job = start_job(client, name, groups=job_groups)
    return job, waiting_task(client, job["_id"], "a1")


def claim(client: TestClient, task_id: str, who: tuple[str, str], body: Any = None) -> Response:
    return client.post(f"/operations-manager/tasks/{task_id}/claim", json={} if body is None else body, auth=who)


def release(client: TestClient, task_id: str, who: tuple[str, str], body: Any = None) -> Response:
    return client.post(f"/operations-manager/tasks/{task_id}/release", json={} if body is None else body, auth=who)


def assign(client: TestClient, task_id: str, user_id: str, who: tuple[str, str]) -> Response:
    return client.post(f"/operations-manager/tasks/{task_id}/assign", json={"userId": user_id}, auth=who)


def finish_by_key(
    client: TestClient, job_id: str, key: str, who: tuple[str, str], state: str = "success", variables: Any = None
) -> Response:
    body = {"taskData": {"finish_state": state, "variables": variables or {}}}
    return client.post(f"/operations-manager/jobs/{job_id}/tasks/{key}/finish", json=body, auth=who)


def finish_by_id(
    client: TestClient, task_id: str, who: tuple[str, str], state: str = "success", variables: Any = None
) -> Response:
    body = {"taskData": {"finish_state": state, "variables": variables or {}}}
    return client.post(f"/operations-manager/tasks/{task_id}/finish", json=body, auth=who)


def get_task(client: TestClient, task_id: str, who: tuple[str, str] = ADMIN) -> dict[str, Any]:
    return success(client.get(f"/operations-manager/tasks/{task_id}", auth=who))


def history(client: TestClient, task_id: str, who: tuple[str, str] = ADMIN) -> list[dict[str, Any]]:
    return success(client.get(f"/operations-manager/tasks/{task_id}/history", auth=who))  # type: ignore[return-value]


def new_uuid() -> str:
    return str(uuid.uuid4())
