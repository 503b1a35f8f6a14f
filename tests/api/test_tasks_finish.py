"""API tests of finishing a manual task (decisions §5 finish) through both routes,
`POST /operations-manager/jobs/:jobId/tasks/:taskKey/finish` and `POST /operations-manager/tasks/:taskId/finish`,
with the checks of §2–4 on them."""

from __future__ import annotations

import pytest

from tests.api.manual_support import (
    ADMIN,
    UNKNOWN_JOB,
    UNKNOWN_TASK,
    claim,
    error,
    finish_by_id,
    finish_by_key,
    get_task,
    history,
    success,
    waiting_job,
)
from tests.helpers import approval_workflow, create_workflow, get_job, start_job, wait_for_job, waiting_task

ROUTES = ("by_key", "by_id")


def finish(client, route, job, t, who, state="success", variables=None):
    """Finish the a1 task of `job` through the named route."""
    if route == "by_key":
        return finish_by_key(client, job["_id"], "a1", who, state, variables)
    return finish_by_id(client, t["_id"], who, state, variables)


@pytest.mark.parametrize("route", ROUTES)
def test_finish_by_owner_completes_the_job(client, world, route):
    """decisions §5 finish: the owner may finish; variables become the task's outgoing variables and the
    job continues along the `success` transition."""
    job, t = waiting_job(client, [world.netops])
    success(claim(client, t["_id"], world.auth("alice")))
    data = success(finish(client, route, job, t, world.auth("alice"), variables={"note": "fine"}))
    assert data["_id"] == t["_id"]
    assert data["status"] == "complete"
    assert data["metrics"]["finish_state"] == "success"
    assert data["variables"]["outgoing"] == {"note": "fine"}
    done = wait_for_job(client, job["_id"])
    assert done["status"] == "complete"
    assert done["variables"]["approved"] is True  # b2 ran: the success path was taken
    assert get_task(client, t["_id"])["variables"]["outgoing"] == {"note": "fine"}


@pytest.mark.parametrize("route", ROUTES)
def test_finish_unassigned_claims_and_finishes_in_one_step(client, world, route):
    """decisions §5 finish: an eligible caller may finish an unassigned task; it is claimed and finished
    in one step (history: claim then finish, both by the caller)."""
    job, t = waiting_job(client, [world.netops])
    data = success(finish(client, route, job, t, world.auth("bob")))
    assert data["metrics"]["owner"] == world.ids["bob"]
    assert data["metrics"]["claim_time"]
    entries = history(client, t["_id"])
    assert [(e["action"], e["by"], e["to"]) for e in entries] == [
        ("claim", world.ids["bob"], world.ids["bob"]), ("finish", world.ids["bob"], world.ids["bob"])]
    assert wait_for_job(client, job["_id"])["status"] == "complete"


@pytest.mark.parametrize("route", ROUTES)
def test_finish_of_a_task_owned_by_another_is_409(client, world, route):
    """decisions §5 finish: a task owned by someone else → 409 naming the owner; nothing changes."""
    job, t = waiting_job(client, [world.netops])
    success(claim(client, t["_id"], world.auth("alice")))
    body = error(finish(client, route, job, t, world.auth("bob")), 409)
    assert "alice" in body["message"]
    assert body["metadata"]["owner"]["_id"] == world.ids["alice"]
    after = get_task(client, t["_id"])
    assert after["status"] == "running" and after["metrics"]["owner"] == world.ids["alice"]
    assert [e["action"] for e in history(client, t["_id"])] == ["claim"]


@pytest.mark.parametrize("route", ROUTES)
def test_admin_may_finish_a_task_owned_by_another(client, world, route):
    """decisions §5 finish: admin may finish a task owned by someone else → 200."""
    job, t = waiting_job(client, [world.netops])
    success(claim(client, t["_id"], world.auth("alice")))
    data = success(finish(client, route, job, t, ADMIN))
    assert data["status"] == "complete"
    last = history(client, t["_id"])[-1]
    assert (last["action"], last["by"], last["from"]) == ("finish", world.ids["admin"], world.ids["alice"])
    assert wait_for_job(client, job["_id"])["status"] == "complete"


@pytest.mark.parametrize("route", ROUTES)
def test_finish_with_failure_follows_the_failure_transition(client, world, route):
    """decisions §5 finish: the job continues along the transition for `finish_state` (failure: a1 →
    workflow_end, so b2 never runs)."""
    job, t = waiting_job(client, [world.netops])
    data = success(finish(client, route, job, t, world.auth("alice"), state="failure"))
    assert data["metrics"]["finish_state"] == "failure"
    done = wait_for_job(client, job["_id"])
    assert done["status"] == "complete"
    assert "approved" not in done["variables"]
    assert done["tasks"]["a1"]["finish_state"] == "failure"
    assert done["tasks"]["b2"]["status"] != "complete"


def test_finish_with_error_and_no_error_transition_errors_the_job(client, world):
    """decisions §5–6: finish_state `error` with no error transition: the task ends in error and so does
    the job, with an entry in job.error naming the task."""
    job, _t = waiting_job(client, [world.netops])
    data = success(finish_by_key(client, job["_id"], "a1", world.auth("alice"), state="error"))
    assert data["status"] == "error" and data["metrics"]["finish_state"] == "error"
    done = wait_for_job(client, job["_id"])
    assert done["status"] == "error"
    assert any(e["task"] == "a1" for e in done["error"])


def test_finish_variables_follow_outgoing_promotions(client, world):
    """decisions §5 finish: `variables` follow the workflow's `outgoing` promotions into job variables."""
    doc = approval_workflow("promote", groups=[world.netops])
    doc["tasks"]["a1"]["variables"]["outgoing"] = {"note": "$var.job.approvalNote", "extra": None}
    create_workflow(client, doc)
    job = start_job(client, "promote")
    waiting_task(client, job["_id"], "a1")
    success(finish_by_key(client, job["_id"], "a1", world.auth("alice"),
                          variables={"note": "ship it", "extra": 1}))
    done = wait_for_job(client, job["_id"])
    assert done["variables"]["approvalNote"] == "ship it"
    assert "extra" not in done["variables"]


@pytest.mark.parametrize("route", ROUTES)
def test_finish_with_a_bad_finish_state_is_400(client, world, route):
    """decisions §5 finish: finish_state must be success, failure or error; else 400 naming the field."""
    job, t = waiting_job(client, [world.netops])
    for state in ("done", "", "SUCCESS"):
        body = error(finish(client, route, job, t, world.auth("alice"), state=state), 400)
        assert "finish_state" in body["message"]
        assert body["metadata"]["errors"][0]["path"] == "taskData.finish_state"
    assert get_task(client, t["_id"])["status"] == "running"


@pytest.mark.parametrize("route", ROUTES)
def test_finish_with_a_bad_body_is_400_naming_the_field(client, world, route):
    """decisions §2: an extra property or a non-object `variables` → 400 naming the field."""
    job, t = waiting_job(client, [world.netops])
    url = (f"/operations-manager/jobs/{job['_id']}/tasks/a1/finish" if route == "by_key"
           else f"/operations-manager/tasks/{t['_id']}/finish")
    cases = {
        "taskData.comment": {"taskData": {"finish_state": "success", "comment": "x"}},
        "extra": {"taskData": {"finish_state": "success"}, "extra": 1},
        "taskData.variables": {"taskData": {"finish_state": "success", "variables": [1, 2]}},
    }
    for path, body in cases.items():
        problem = error(client.post(url, json=body, auth=world.auth("alice")), 400)
        assert path in [p["path"] for p in problem["metadata"]["errors"]], problem
        assert path in problem["message"]
    assert get_task(client, t["_id"])["status"] == "running"


def test_finish_by_key_with_malformed_ids_is_400_naming_the_parameter(client, world):
    """decisions §1/§2: malformed jobId or task key on the finish route → 400 naming the parameter."""
    body = error(finish_by_key(client, "not-a-job", "a1", world.auth("alice")), 400)
    assert body["metadata"]["parameter"] == "jobId" and "jobId" in body["message"]
    body = error(finish_by_key(client, UNKNOWN_JOB, "xyz12", world.auth("alice")), 400)
    assert body["metadata"]["parameter"] == "taskId" and "taskId" in body["message"]
    body = error(finish_by_id(client, "a1", world.auth("alice")), 400)
    assert body["metadata"]["parameter"] == "taskId"


def test_finish_unknown_ids_are_404(client, world):
    """decisions §2: well-formed ids that name nothing → 404 (unknown job, unknown key, unknown task)."""
    job, _ = waiting_job(client, [world.netops])
    error(finish_by_key(client, UNKNOWN_JOB, "a1", world.auth("alice")), 404)
    error(finish_by_key(client, job["_id"], "ffff", world.auth("alice")), 404)
    error(finish_by_id(client, UNKNOWN_TASK, world.auth("alice")), 404)


def test_finish_of_a_task_not_reached_or_already_finished_is_409(client, world):
    """decisions §5: only a manual task waiting for a person can be finished: not reached yet (b2 of a
    waiting job) → 409; finished → 409; an automatic task or a terminator → 409 saying so."""
    job, t = waiting_job(client, [world.netops])
    error(finish_by_key(client, job["_id"], "b2", world.auth("alice")), 409)
    success(finish_by_key(client, job["_id"], "a1", world.auth("alice")))
    error(finish_by_key(client, job["_id"], "a1", world.auth("alice")), 409)
    error(finish_by_id(client, t["_id"], ADMIN), 409)
    for terminator in ("workflow_start", "workflow_end"):
        body = error(finish_by_key(client, job["_id"], terminator, world.auth("alice")), 409)
        assert "not a manual task" in body["message"]
    done = wait_for_job(client, job["_id"])
    b2_id = done["tasks"]["b2"]["iterations"][-1]
    body = error(finish_by_id(client, b2_id, ADMIN), 409)
    assert body["metadata"]["type"] != "manual"


@pytest.mark.parametrize("route", ROUTES)
def test_finish_auth_errors(client, world, route):
    """decisions §2–4 on finish: no or bad credentials 401; no write role (carol) 403; outside the
    task's groups (dave) 403; all leave the task waiting."""
    job, t = waiting_job(client, [world.netops])
    error(finish(client, route, job, t, None), 401)
    error(finish(client, route, job, t, ("alice", "bad")), 401)
    error(finish(client, route, job, t, world.auth("carol")), 403)
    body = error(finish(client, route, job, t, world.auth("dave")), 403)
    assert "dave" in body["message"]
    assert get_task(client, t["_id"])["status"] == "running"


@pytest.mark.parametrize("route", ROUTES)
def test_finish_on_an_invisible_job_is_404(client, world, route):
    """decisions §4: a caller outside the job's groups cannot see it: finish → 404, not 403."""
    job, t = waiting_job(client, [world.netops], job_groups=[world.netops])
    error(finish(client, route, job, t, world.auth("dave")), 404)
    assert get_job(client, job["_id"])["status"] == "running"


def test_unstorable_text_in_finish_variables_is_a_400_not_a_500(client, world):
    """decisions §2: bad input is a 400 naming the problem; a NUL character cannot be stored in
    PostgreSQL text and SQLite must agree."""
    from tests.helpers import approval_workflow, create_workflow, start_job, waiting_task

    create_workflow(client, approval_workflow(name="nul", groups=[world.netops]))
    job = start_job(client, "nul")
    waiting_task(client, job["_id"], "a1")
    r = client.post(
        f"/operations-manager/jobs/{job['_id']}/tasks/a1/finish",
        json={"taskData": {"finish_state": "success", "variables": {"x": "a\u0000b"}}},
        auth=world.auth("alice"),
    )
    assert r.status_code == 400, r.text
    assert r.json()["data"] is None
    # nothing was half-written: the task still waits and can be finished properly
    t = waiting_task(client, job["_id"], "a1")
    assert t["status"] == "running"
