"""services/progress.py: revert transitions inside a running job (workflow-semantics §1.4, decisions §6).

A revert clears every task from its target forward: iterations still waiting there are canceled (a person
can no longer finish them), the cleared tasks' outputs stop being visible, and the target runs again.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.helpers import create_workflow, manual, start_job, task, wait_for_job, waiting_task, workflow


def _iterations(client: TestClient, job_id: str, key: str) -> list[dict[str, Any]]:
    r = client.get("/operations-manager/tasks", params={"equals[job._id]": job_id, "equals[job.task]": key,
                                                       "limit": "50"}, auth=("admin", "admin"))
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


def _finish(client: TestClient, job_id: str, key: str, state: str, variables: dict[str, Any]) -> None:
    body = {"taskData": {"finish_state": state, "variables": variables}}
    r = client.post(f"/operations-manager/jobs/{job_id}/tasks/{key}/finish", json=body, auth=("admin", "admin"))
    assert r.status_code == 200, r.text


def test_a_revert_transition_cancels_waiting_iterations_and_hides_cleared_outputs(client: TestClient) -> None:
    """a1 prepares, then two manual tasks wait in parallel: a2 (review) and a3 (side check). a2 finishing
    `failure` reverts to a1: a3's waiting iteration is canceled and cannot be finished any more, a2's
    outputs are no longer what `$var.a2.note` sees, and a1, a2, a3 run again."""
    review = manual()
    review["variables"]["outgoing"] = {"note": None}
    side = manual()
    side["variables"]["incoming"]["body"] = "$var.a2.note"  # what a3 sees of a2's last outputs
    doc = workflow("revert-clears", {"a1": task("newVariable", name="prepared", value=True), "a2": review,
                                     "a3": side},
                   {"workflow_start": {"a1": "success"}, "a1": {"a2": "success", "a3": "success"},
                    "a2": {"a1": ("failure", "revert"), "workflow_end": "success"},
                    "a3": {"workflow_end": "success"}})
    create_workflow(client, doc)
    job_id = start_job(client, "revert-clears")["_id"]
    first_side = waiting_task(client, job_id, "a3")
    _finish(client, job_id, "a2", "failure", {"note": "first pass"})

    second_side = waiting_task(client, job_id, "a3")
    assert second_side["_id"] != first_side["_id"]
    by_id = {t["_id"]: t for t in _iterations(client, job_id, "a3")}
    assert by_id[first_side["_id"]]["status"] == "canceled"
    assert second_side["variables"]["incoming"]["body"] is None  # a2 was cleared: not "first pass"
    r = client.post(f"/operations-manager/tasks/{first_side['_id']}/claim", json={}, auth=("admin", "admin"))
    assert r.status_code == 409, r.text
    assert len(_iterations(client, job_id, "a1")) == 2

    _finish(client, job_id, "a3", "success", {})
    _finish(client, job_id, "a2", "success", {"note": "second pass"})
    job = wait_for_job(client, job_id)
    assert job["status"] == "complete", job["error"]
