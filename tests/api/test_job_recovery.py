"""Bringing a stopped job back (ops-manager-api §1 rows 16–18, §5.1–5.2; workflow-semantics §1.4, §2.8;
decisions §6): retry a task, continue from a task, revert to an earlier task; and outcomes that arrive
while a job is paused or in error."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.job_controls_support import ADMIN, CAROL, OM, UNKNOWN_JOB, iterations, post, quick, stub
from tests.api.manual_support import error, finish_by_key, success
from tests.helpers import create_workflow, get_job, manual, start_job, wait_for_job, wait_until, workflow


def errored(client, name: str = "quick") -> dict[str, Any]:
    """A job whose only task c0 ended in error (no error transition): the job is in error."""
    create_workflow(client, quick(name, state="error"))
    job = wait_for_job(client, start_job(client, name)["_id"])
    assert job["status"] == "error" and job["tasks"]["c0"]["status"] == "error"
    return job


def approve_then_stub(client, delay: float | None = None) -> str:
    """workflow_start → a1 (manual) → c0 (stub whose finish state is a1's output `mode`) → workflow_end."""
    create_workflow(client, workflow(
        "approve-then-stub", {"a1": manual(), "c0": stub("$var.a1.mode", delay=delay)},
        {"workflow_start": {"a1": "success"}, "a1": {"c0": "success"}, "c0": {"workflow_end": "success"}}))
    return start_job(client, "approve-then-stub")["_id"]  # type: ignore[no-any-return]


def errored_after_approval(client) -> str:
    job_id = approve_then_stub(client)
    wait_until(lambda: get_job(client, job_id)["tasks"]["a1"]["status"] == "running")
    success(finish_by_key(client, job_id, "a1", ADMIN, variables={"mode": "error"}))
    assert wait_for_job(client, job_id)["status"] == "error"
    return job_id


def retry(client, job_id: str, key: str, body: Any = None, who=ADMIN):
    return post(client, f"/jobs/{job_id}/tasks/{key}/retry", body, who)


# retry --------------------------------------------------------------------------------------------------


def test_retry_with_variables_runs_the_task_again_and_the_job_completes(client, db):
    job = errored(client)
    data = success(retry(client, job["_id"], "c0", {"variables": {"type": "success"}}))
    assert data["status"] == "running" and len(data["tasks"]["c0"]["iterations"]) == 2
    done = wait_for_job(client, job["_id"])
    assert done["status"] == "complete" and done["tasks"]["c0"]["status"] == "complete"
    assert len(done["error"]) == 1  # the history of errors is kept
    first, second = iterations(db, job["_id"], "c0")
    assert first["status"] == "error" and second["status"] == "complete"
    assert second["variables"]["incoming"]["type"] == "success" and second["metrics"]["retrying"] is True
    assert first["variables"]["incoming"]["type"] == "error"


def test_retry_without_variables_errors_again(client):
    job = errored(client)
    success(retry(client, job["_id"], "c0"))
    again = wait_for_job(client, job["_id"], ("error",))
    wait_until(lambda: len(get_job(client, job["_id"])["error"]) == 2)
    assert len(again["tasks"]["c0"]["iterations"]) == 2


def test_retry_in_the_wrong_state(client, world):
    job_id = errored_after_approval(client)
    assert "did not end in error" in error(retry(client, job_id, "a1"), 409)["message"]  # a1 succeeded
    error(retry(client, job_id, "workflow_start"), 409)
    post(client, "/jobs/cancel", {"jobIds": [job_id]})
    assert "canceled" in error(retry(client, job_id, "c0"), 409)["message"]
    create_workflow(client, quick("fine"))
    done = wait_for_job(client, start_job(client, "fine")["_id"])
    error(retry(client, done["_id"], "c0"), 409)


def test_retry_errors(client, world):
    job = errored(client)
    jid = job["_id"]
    error(retry(client, jid, "ffff"), 404)
    assert "taskId" in error(retry(client, jid, "XYZ"), 400)["message"]
    error(retry(client, UNKNOWN_JOB, "c0"), 404)
    assert "jobId" in error(retry(client, "nope", "c0"), 400)["message"]
    error(retry(client, jid, "c0", {"variables": []}), 400)
    error(retry(client, jid, "c0", {"vars": {}}), 400)
    error(retry(client, jid, "c0", None, CAROL), 403)
    assert get_job(client, jid)["status"] == "error"


# continue -----------------------------------------------------------------------------------------------


def cont(client, job_id: str, body: Any, who=ADMIN):
    return post(client, f"/jobs/{job_id}/continue", body, who)


def test_continue_from_a_branch_that_finished_while_the_job_was_in_error(client):
    """e errors (no error transition): the job is in error; the parallel manual task is still worked, its
    outcome is recorded but starts nothing; continue from it follows its success transition to the end."""
    create_workflow(client, workflow(
        "par", {"e0": stub("error"), "a1": manual()},
        {"workflow_start": {"e0": "success", "a1": "success"}, "e0": {"workflow_end": "success"},
         "a1": {"workflow_end": "success"}}))
    job_id = start_job(client, "par")["_id"]
    assert wait_for_job(client, job_id)["status"] == "error"
    success(finish_by_key(client, job_id, "a1", ADMIN))
    job = get_job(client, job_id)
    assert job["status"] == "error" and job["tasks"]["a1"]["status"] == "complete"
    assert "no error transition" in error(cont(client, job_id, {"fromTask": "e0"}), 409)["message"]
    data = success(cont(client, job_id, {"fromTask": "a1"}))
    assert data["status"] == "complete"


def test_continue_runs_the_following_tasks_again(client, db):
    job_id = errored_after_approval(client)
    data = success(cont(client, job_id, {"fromTask": "a1"}))
    # c0 runs again: a new iteration (a pure task may already have finished inside the continue, ADR 0008)
    assert len(data["tasks"]["c0"]["iterations"]) == 2
    job = wait_for_job(client, job_id, ("error",))
    wait_until(lambda: len(iterations(db, job_id, "c0")) == 2 and get_job(client, job_id)["status"] == "error")
    assert len(job["tasks"]["a1"]["iterations"]) == 1  # a1 itself does not run again


def test_continue_errors(client, world):
    job_id = approve_then_stub(client)
    wait_until(lambda: get_job(client, job_id)["tasks"]["a1"]["status"] == "running")
    assert "running" in error(cont(client, job_id, {"fromTask": "a1"}), 409)["message"]
    error(cont(client, job_id, {"fromTask": "a1"}, CAROL), 403)
    error(cont(client, job_id, {}), 400)
    error(cont(client, job_id, {"fromTask": "nope"}), 400)
    error(cont(client, job_id, {"fromTask": "ffff"}), 404)
    error(cont(client, UNKNOWN_JOB, {"fromTask": "a1"}), 404)
    assert "jobId" in error(cont(client, "nope", {"fromTask": "a1"}), 400)["message"]
    other = errored(client)
    error(cont(client, other["_id"], {"fromTask": "workflow_end"}), 409)


# revert -------------------------------------------------------------------------------------------------


def revert(client, job_id: str, from_task: str, to_task: str, who=ADMIN):
    return post(client, f"/jobs/{job_id}/revert", {"fromTask": from_task, "toTask": to_task}, who)


def test_revert_an_errored_job_to_an_earlier_manual_task(client, db):
    job_id = errored_after_approval(client)
    data = success(revert(client, job_id, "c0", "a1"))
    assert data["status"] == "running"
    assert data["tasks"]["a1"]["status"] == "running" and len(data["tasks"]["a1"]["iterations"]) == 2
    assert data["tasks"]["c0"]["status"] == "incomplete"
    success(finish_by_key(client, job_id, "a1", ADMIN, variables={"mode": "success"}))
    done = wait_for_job(client, job_id)
    assert done["status"] == "complete" and len(done["tasks"]["c0"]["iterations"]) == 2
    assert [t["status"] for t in iterations(db, job_id, "c0")] == ["error", "complete"]


def test_revert_errors(client, world):
    job_id = errored_after_approval(client)
    assert "not before" in error(revert(client, job_id, "a1", "c0"), 400)["message"]
    assert "did not end in error" in error(revert(client, job_id, "a1", "workflow_start"), 409)["message"]
    error(revert(client, job_id, "ffff", "a1"), 404)
    error(client.post(f"{OM}/jobs/{job_id}/revert", json={"fromTask": "c0"}, auth=ADMIN), 400)
    error(revert(client, job_id, "c0", "zz-top"), 400)
    error(revert(client, UNKNOWN_JOB, "c0", "a1"), 404)
    assert "jobId" in error(revert(client, "nope", "c0", "a1"), 400)["message"]
    error(revert(client, job_id, "c0", "a1", CAROL), 403)
    success(revert(client, job_id, "c0", "a1"))
    assert "running" in error(revert(client, job_id, "c0", "a1"), 409)["message"]


# outcomes that arrive while a job is paused ----------------------------------------------------------------


@pytest.fixture
def errored_while_paused(client, db) -> str:
    """c0 (a stub that waits 1 s, then errors) started before the pause and errors while paused."""
    job_id = approve_then_stub(client, delay=1.0)
    wait_until(lambda: get_job(client, job_id)["tasks"]["a1"]["status"] == "running")
    success(finish_by_key(client, job_id, "a1", ADMIN, variables={"mode": "error"}))
    wait_until(lambda: [t["status"] for t in iterations(db, job_id, "c0")] == ["running"])  # leased, waiting
    post(client, "/jobs/pause", {"jobIds": [job_id]})
    job = wait_until(lambda: (j := get_job(client, job_id))["tasks"]["c0"]["status"] == "error" and j)
    assert job["status"] == "paused" and [e["task"] for e in job["error"]] == ["c0"]
    return job_id


def test_an_error_while_paused_stops_the_job_on_resume(client, errored_while_paused):
    job_id = errored_while_paused
    res = success(post(client, "/jobs/resume", {"jobIds": [job_id]}))
    assert res[0]["success"] and "c0" in res[0]["message"]
    job = get_job(client, job_id)
    assert job["status"] == "error" and len(job["error"]) == 1
    success(retry(client, job_id, "c0", {"variables": {"type": "success"}}))
    assert wait_for_job(client, job_id)["status"] == "complete"


def test_revert_a_paused_job(client, errored_while_paused):
    job_id = errored_while_paused
    data = success(revert(client, job_id, "c0", "a1"))
    assert data["status"] == "running" and data["tasks"]["a1"]["status"] == "running"
    success(finish_by_key(client, job_id, "a1", ADMIN, variables={"mode": "success"}))
    assert wait_for_job(client, job_id)["status"] == "complete"
