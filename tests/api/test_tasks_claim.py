"""API tests of claiming a manual task (decisions §5 claim), the envelope and error table (§2), the
authentication and role checks on the route (§3–4) and group-based access to jobs and tasks (§4 GBAC)."""

from __future__ import annotations

import base64
import logging
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from opsmgr.api.app import create_app
from opsmgr.errors import StoreBusy
from tests.api.manual_support import (
    ADMIN,
    UNKNOWN_JOB,
    UNKNOWN_TASK,
    claim,
    envelope,
    error,
    finish_by_key,
    get_task,
    history,
    success,
    waiting_job,
)
from tests.helpers import approval_workflow, create_workflow, start_job, task, wait_until, workflow

# --- request validation ---------------------------------------------------------------------------


def test_claim_extra_property_is_400_naming_it(client, world):
    """decisions §5 claim: the body is `{}`; any property → 400, and message and metadata name it."""
    _, t = waiting_job(client, [world.netops])
    body = error(claim(client, t["_id"], world.auth("alice"), {"comment": "mine"}), 400)
    assert "comment" in body["message"]
    assert {"path": "comment", "message": "unexpected property"} in body["metadata"]["errors"]
    assert get_task(client, t["_id"])["metrics"]["owner"] == ""


def test_claim_body_that_is_not_an_object_is_400(client, world):
    """decisions §2: a body that fails validation → 400 with the envelope."""
    _, t = waiting_job(client, [world.netops])
    error(claim(client, t["_id"], world.auth("alice"), ["x"]), 400)
    r = client.post(
        f"/operations-manager/tasks/{t['_id']}/claim", content=b"{not json",
        headers={"content-type": "application/json"}, auth=world.auth("alice"),
    )
    body = error(r, 400)
    assert "not valid JSON" in body["message"]
    assert body["metadata"]["errors"][0]["path"] == ""  # the whole body, not a character offset


def test_claim_without_body_is_accepted(client, world):
    """decisions §5 claim: an absent body means `{}`."""
    _, t = waiting_job(client, [world.netops])
    r = client.post(f"/operations-manager/tasks/{t['_id']}/claim", auth=world.auth("alice"))
    assert success(r)["metrics"]["owner"] == world.ids["alice"]


def test_claim_malformed_task_id_is_400_naming_the_parameter(client, world):
    """decisions §1/§2: a malformed id in a path → 400 naming the parameter, never 404 or 500."""
    for bad in ("nope", "0123456789abcdef01234567", UNKNOWN_TASK[:-1], "1" * 40):
        body = error(claim(client, bad, world.auth("alice")), 400)
        assert "taskId" in body["message"]
        assert body["metadata"]["parameter"] == "taskId"


def test_claim_unknown_task_is_404(client, world):
    """decisions §2: a well-formed id that names nothing → 404."""
    error(claim(client, UNKNOWN_TASK, world.auth("alice")), 404)


# --- authentication and roles ---------------------------------------------------------------------


def test_claim_without_credentials_is_401(client, world):
    """decisions §2/§3: no credentials → 401 with the envelope."""
    _, t = waiting_job(client, [world.netops])
    error(client.post(f"/operations-manager/tasks/{t['_id']}/claim", json={}), 401)


def test_claim_with_bad_credentials_is_401(client, world):
    """decisions §2/§3: a wrong password, an unknown token or malformed Basic → 401."""
    _, t = waiting_job(client, [world.netops])
    url = f"/operations-manager/tasks/{t['_id']}/claim"
    error(client.post(url, json={}, auth=("alice", "wrong")), 401)
    error(client.post(url, json={}, auth=("nobody", "pw")), 401)
    error(client.post(url, json={}, headers={"Authorization": "Bearer not-a-token"}), 401)
    error(client.post(url, json={}, headers={"Authorization": "Basic !!!"}), 401)
    no_colon = base64.b64encode(b"alice").decode()
    error(client.post(url, json={}, headers={"Authorization": f"Basic {no_colon}"}), 401)
    error(client.post(url, json={}, params={"token": "not-a-token"}), 401)
    assert get_task(client, t["_id"])["metrics"]["owner"] == ""


def test_claim_without_a_write_role_is_403(client, world):
    """decisions §4: carol (apiread only) lacks a role for claimTask → 403."""
    _, t = waiting_job(client)
    body = error(claim(client, t["_id"], world.auth("carol")), 403)
    assert "claimTask" in body["message"]


def test_claim_by_someone_outside_the_task_groups_is_403(client, world):
    """decisions §4: dave (operations, not in NetOps) sees the job (no job groups) but may not work a
    NetOps task → 403."""
    _, t = waiting_job(client, task_groups=[world.netops])
    body = error(claim(client, t["_id"], world.auth("dave")), 403)
    assert "dave" in body["message"]
    assert get_task(client, t["_id"])["metrics"]["owner"] == ""


# --- the claim itself -----------------------------------------------------------------------------


def test_claim_makes_the_caller_owner_and_sets_claim_time(client, world):
    """decisions §5 claim: the winner gets 200 with the task, metrics.owner = caller id, claim_time set."""
    _, t = waiting_job(client, [world.netops])
    data = success(claim(client, t["_id"], world.auth("alice")))
    assert data["_id"] == t["_id"]
    assert data["metrics"]["owner"] == world.ids["alice"]
    assert data["metrics"]["claim_time"]
    assert data["status"] == "running" and data["type"] == "manual"
    assert get_task(client, t["_id"])["metrics"]["owner"] == world.ids["alice"]


def test_claim_by_current_owner_is_idempotent(client, world):
    """decisions §5 claim: a claim by the current owner is idempotent (200, claim_time unchanged)."""
    _, t = waiting_job(client, [world.netops])
    first = success(claim(client, t["_id"], world.auth("alice")))
    again = success(claim(client, t["_id"], world.auth("alice")))
    assert again["metrics"]["owner"] == world.ids["alice"]
    assert again["metrics"]["claim_time"] == first["metrics"]["claim_time"]
    assert [h["action"] for h in history(client, t["_id"])] == ["claim"]


def test_claim_held_by_another_is_409_naming_the_owner(client, world):
    """decisions §2/§5 claim: anyone else gets 409; message and metadata name the current holder."""
    _, t = waiting_job(client, [world.netops])
    success(claim(client, t["_id"], world.auth("alice")))
    body = error(claim(client, t["_id"], world.auth("bob")), 409)
    assert "alice" in body["message"]
    assert body["metadata"]["owner"] == {"_id": world.ids["alice"], "username": "alice"}
    admin_try = error(claim(client, t["_id"], ADMIN), 409)
    assert "alice" in admin_try["message"]
    assert get_task(client, t["_id"])["metrics"]["owner"] == world.ids["alice"]


def test_concurrent_claims_have_exactly_one_winner(client, world):
    """decisions §5 claim: exactly one of any number of concurrent claimers wins; the others get 409
    naming the winner."""
    _, t = waiting_job(client, [world.netops])
    claimers = ["alice", "bob", "admin"] * 4

    def attempt(name: str):
        return name, claim(client, t["_id"], world.auth(name))

    with ThreadPoolExecutor(max_workers=len(claimers)) as pool:
        results = list(pool.map(attempt, claimers))
    winners = {name for name, r in results if r.status_code == 200}
    assert len(winners) == 1, [(n, r.status_code) for n, r in results]
    [winner] = winners
    for name, r in results:
        if name != winner:
            body = error(r, 409)
            assert body["metadata"]["owner"]["_id"] == world.ids[winner]
    assert get_task(client, t["_id"])["metrics"]["owner"] == world.ids[winner]
    assert [h["action"] for h in history(client, t["_id"])] == ["claim"]


def test_claim_of_a_finished_task_is_409(client, world):
    """decisions §5: only a manual task waiting for a person can be claimed; finished → 409."""
    job, t = waiting_job(client, [world.netops])
    success(finish_by_key(client, job["_id"], "a1", world.auth("alice")))
    body = error(claim(client, t["_id"], world.auth("bob")), 409)
    assert body["metadata"]["status"] == "complete"


def test_claim_of_a_canceled_task_is_409(client, world):
    """decisions §5: a canceled manual task is not waiting for a person → 409 (decisions §6: canceling
    a job cancels its waiting manual tasks)."""
    job, t = waiting_job(client, [world.netops])
    r = client.post("/operations-manager/jobs/cancel", json={"jobIds": [job["_id"]]}, auth=ADMIN)
    assert r.status_code == 200 and r.json()["data"][0]["success"] is True
    body = error(claim(client, t["_id"], world.auth("alice")), 409)
    assert body["metadata"]["status"] == "canceled"


def test_claim_of_an_automatic_task_is_409(client, world):
    """decisions §5: a task that is not manual cannot be claimed → 409."""
    create_workflow(client, workflow("wait", {"d1": task("delay", time=60)},
                                     {"workflow_start": {"d1": "success"}, "d1": {"workflow_end": "success"}}))
    job = start_job(client, "wait")

    def iteration():
        r = client.get("/operations-manager/tasks", params={"equals[job._id]": job["_id"], "equals[job.task]": "d1"},
                       auth=ADMIN)
        return success(r)

    [d1] = wait_until(iteration)
    body = error(claim(client, d1["_id"], world.auth("alice")), 409)
    assert body["metadata"]["type"] == d1["type"] != "manual"


# --- group-based access (decisions §4) ------------------------------------------------------------


def _make_group(client: TestClient, name: str, members: list[str]) -> str:
    r = client.post("/authorization/groups", auth=ADMIN, json={
        "group": {"name": name, "description": "", "assignedRoles": [{"roleId": "operations"}], "members": members}})
    assert r.status_code == 200, r.text
    return r.json()["data"]["_id"]  # type: ignore[no-any-return]


def test_job_with_groups_is_invisible_to_non_members(client, world):
    """decisions §4 GBAC: a job with groups is invisible (404, not 403) to a reader outside them; so are
    its tasks and their history."""
    job, t = waiting_job(client, [world.netops], job_groups=[world.netops])
    for who in ("carol", "dave"):
        error(client.get(f"/operations-manager/jobs/{job['_id']}", auth=world.auth(who)), 404)
        error(client.get(f"/operations-manager/tasks/{t['_id']}", auth=world.auth(who)), 404)
        error(client.get(f"/operations-manager/tasks/{t['_id']}/history", auth=world.auth(who)), 404)
    # dave holds a write role: claiming an invisible task is 404 too, not 403 (do not leak existence)
    error(claim(client, t["_id"], world.auth("dave")), 404)


def test_job_with_groups_is_visible_to_members_and_admin(client, world):
    """decisions §4 GBAC: members of one of the job's groups and admin see the job and its tasks."""
    job, t = waiting_job(client, [world.netops], job_groups=[world.netops])
    for who in ("alice", "bob", "admin"):
        assert success(client.get(f"/operations-manager/jobs/{job['_id']}", auth=world.auth(who)))["_id"] == job["_id"]
        assert get_task(client, t["_id"], world.auth(who))["_id"] == t["_id"]


def test_job_without_groups_is_visible_to_every_reader(client, world):
    """decisions §4 GBAC: a job with `groups: []` is visible to every caller with a read role."""
    job, t = waiting_job(client, [world.netops])
    for who in ("carol", "dave", "alice"):
        assert success(client.get(f"/operations-manager/jobs/{job['_id']}", auth=world.auth(who)))["_id"] == job["_id"]
        assert get_task(client, t["_id"], world.auth(who))["_id"] == t["_id"]


def test_searches_filter_invisible_jobs_and_count_only_visible_rows(client, world):
    """decisions §4 GBAC: searches filter (no 403) and `total` counts only the rows the caller may see."""
    create_workflow(client, approval_workflow("open"))
    open_job = start_job(client, "open")
    closed_job, _ = waiting_job(client, job_groups=[world.netops])
    wait_until(lambda: len(success(client.get("/operations-manager/tasks", params={"equals[type]": "manual",
                                                                              "equals[status]": "running"},
                                              auth=ADMIN))) == 2)
    expectations = {"carol": {open_job["_id"]}, "dave": {open_job["_id"]},
                    "alice": {open_job["_id"], closed_job["_id"]}, "admin": {open_job["_id"], closed_job["_id"]}}
    for who, expected in expectations.items():
        r = client.get("/operations-manager/jobs", auth=world.auth(who))
        body = envelope(r)
        assert r.status_code == 200
        assert {j["_id"] for j in body["data"]} == expected, who
        assert body["metadata"]["total"] == len(expected), who
        r = client.get("/operations-manager/tasks", params={"equals[type]": "manual"}, auth=world.auth(who))
        body = envelope(r)
        assert {x["job"]["_id"] for x in body["data"]} == expected, who
        assert body["metadata"]["total"] == len(expected), who


def test_task_groups_override_job_groups_for_who_may_work_it(client, world):
    """decisions §4: who may work a manual task is decided by its own groups when it has any, not by
    the job's groups (alice sees the job through NetOps but may not claim an Ops2 task)."""
    ops2 = _make_group(client, "Ops2", ["dave"])
    _job, t = waiting_job(client, task_groups=[ops2], job_groups=[world.netops, ops2])
    error(claim(client, t["_id"], world.auth("alice")), 403)
    assert success(claim(client, t["_id"], world.auth("dave")))["metrics"]["owner"] == world.ids["dave"]


def test_job_groups_decide_when_the_task_has_none(client, world):
    """decisions §4: a manual task without groups may be worked by members of its job's groups."""
    ops2 = _make_group(client, "Ops2", ["dave"])
    _, t = waiting_job(client, task_groups=[], job_groups=[world.netops, ops2])
    assert success(claim(client, t["_id"], world.auth("dave")))["metrics"]["owner"] == world.ids["dave"]
    _, t2 = waiting_job(client, task_groups=[], job_groups=[ops2], name="approve2")
    error(claim(client, t2["_id"], world.auth("erin")), 404)  # erin cannot even see the Ops2-only job


def test_task_and_job_without_groups_are_workable_by_any_write_role(client, world):
    """decisions §4: no task groups and no job groups → anyone with a write role may work the task."""
    _, t = waiting_job(client)
    assert success(claim(client, t["_id"], world.auth("erin")))["metrics"]["owner"] == world.ids["erin"]
    _, t2 = waiting_job(client, name="approve2")
    assert success(claim(client, t2["_id"], world.auth("dave")))["metrics"]["owner"] == world.ids["dave"]


def test_admin_may_always_work_a_task(client, world):
    """decisions §4: admin may always work a task, whatever its groups."""
    _, t = waiting_job(client, [world.netops], job_groups=[world.netops])
    assert success(claim(client, t["_id"], ADMIN))["metrics"]["owner"] == world.ids["admin"]


# --- the envelope and the error table (decisions §2) ----------------------------------------------


def test_every_operations_manager_answer_is_an_envelope(client, world):
    """decisions §2: every /operations-manager/* answer, success or error, has exactly message, data,
    metadata; errors have data null."""
    job, t = waiting_job(client, [world.netops])
    answers = [
        client.get("/operations-manager/tasks", auth=ADMIN),
        client.get(f"/operations-manager/tasks/{t['_id']}", auth=ADMIN),
        client.get(f"/operations-manager/tasks/{t['_id']}/history", auth=ADMIN),
        client.get(f"/operations-manager/jobs/{job['_id']}", auth=ADMIN),
        client.get("/operations-manager/jobs", auth=ADMIN),
        claim(client, t["_id"], world.auth("alice")),
        client.get("/operations-manager/tasks", params={"bogus[x]": "1"}, auth=ADMIN),
        client.get(f"/operations-manager/jobs/{UNKNOWN_JOB}", auth=ADMIN),
        client.get("/operations-manager/jobs/xyz", auth=ADMIN),
        client.get("/operations-manager/no-such-route", auth=ADMIN),
        client.put(f"/operations-manager/tasks/{t['_id']}/claim", json={}, auth=ADMIN),
        client.get("/operations-manager/jobs"),
        claim(client, t["_id"], world.auth("carol")),
        claim(client, t["_id"], world.auth("bob")),
    ]
    for r in answers:
        body = envelope(r)
        if r.status_code >= 400:
            assert body["data"] is None, r.text
    assert sorted({r.status_code for r in answers}) == [200, 400, 401, 403, 404, 405, 409]


def test_store_busy_is_503_with_retry_after(settings, db):
    """decisions §2: store busy after its retry budget → 503 with Retry-After, in the envelope."""
    app = create_app(settings, db, run_engine=False)

    async def busy() -> None:
        raise StoreBusy("the database is busy; try again")

    app.add_api_route("/operations-manager/busy-probe", busy)
    with TestClient(app) as c:
        r = c.get("/operations-manager/busy-probe")
    body = error(r, 503)
    assert r.headers["retry-after"]
    assert "busy" in body["message"]


def test_unexpected_error_is_500_with_request_id_and_no_stack_trace(settings, db, caplog):
    """decisions §2: anything else → 500, generic message, a request id that is also in the server log,
    never a stack trace."""
    app = create_app(settings, db, run_engine=False)

    async def boom() -> None:
        raise RuntimeError("secret internals at /srv/opsmgr")

    app.add_api_route("/operations-manager/boom-probe", boom)
    with caplog.at_level(logging.ERROR, logger="opsmgr.api"), TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/operations-manager/boom-probe")
    body = error(r, 500)
    request_id = body["metadata"]["requestId"]
    assert request_id and request_id != "-"
    assert request_id in body["message"]
    assert "secret internals" not in r.text and "Traceback" not in r.text
    assert any(request_id in rec.getMessage() for rec in caplog.records)
