"""API tests of releasing and assigning a manual task (decisions §5 release, assign), with the checks of
§2–4 on both routes, and the task history (§5 history)."""

from __future__ import annotations

from tests.api.manual_support import (
    ADMIN,
    UNKNOWN_JOB,
    UNKNOWN_TASK,
    assign,
    claim,
    error,
    finish_by_key,
    get_task,
    history,
    release,
    success,
    waiting_job,
)

# --- release --------------------------------------------------------------------------------------


def test_release_by_owner_clears_the_owner(client, world):
    """decisions §5 release: by the owner → 200, owner cleared."""
    _, t = waiting_job(client, [world.netops])
    success(claim(client, t["_id"], world.auth("alice")))
    data = success(release(client, t["_id"], world.auth("alice")))
    assert data["metrics"]["owner"] == ""
    assert "claim_time" not in data["metrics"] or data["metrics"]["claim_time"] is None
    assert get_task(client, t["_id"])["metrics"]["owner"] == ""
    # released, the task is free for someone else
    assert success(claim(client, t["_id"], world.auth("bob")))["metrics"]["owner"] == world.ids["bob"]


def test_release_by_admin_clears_someone_elses_claim(client, world):
    """decisions §5 release: admin may release a task claimed by another → 200, owner cleared."""
    _, t = waiting_job(client, [world.netops])
    success(claim(client, t["_id"], world.auth("alice")))
    assert success(release(client, t["_id"], ADMIN))["metrics"]["owner"] == ""
    [_, entry] = history(client, t["_id"])
    assert entry["action"] == "release"
    assert entry["by"] == world.ids["admin"] and entry["from"] == world.ids["alice"] and entry["to"] is None


def test_release_of_an_unassigned_task_changes_nothing(client, world):
    """decisions §5 release: unassigned → 200, no change (and nothing added to the history)."""
    _, t = waiting_job(client, [world.netops])
    before = get_task(client, t["_id"])
    data = success(release(client, t["_id"], world.auth("bob")))
    assert data["metrics"]["owner"] == ""
    assert get_task(client, t["_id"]) == before
    assert history(client, t["_id"]) == []


def test_release_by_someone_else_is_403(client, world):
    """decisions §5 release: someone other than the owner or admin → 403; the claim stands."""
    _, t = waiting_job(client, [world.netops])
    success(claim(client, t["_id"], world.auth("alice")))
    body = error(release(client, t["_id"], world.auth("bob")), 403)
    assert "alice" in body["message"]
    assert get_task(client, t["_id"])["metrics"]["owner"] == world.ids["alice"]


def test_release_validation_and_auth_errors(client, world):
    """decisions §2–4 on release: extra property 400 (named), malformed id 400 (named), unknown 404,
    no or bad credentials 401, no write role 403."""
    _, t = waiting_job(client, [world.netops])
    body = error(release(client, t["_id"], world.auth("alice"), {"why": "x"}), 400)
    assert "why" in body["message"] and body["metadata"]["errors"][0]["path"] == "why"
    body = error(release(client, "not-a-uuid", world.auth("alice")), 400)
    assert body["metadata"]["parameter"] == "taskId" and "taskId" in body["message"]
    error(release(client, UNKNOWN_TASK, world.auth("alice")), 404)
    error(client.post(f"/operations-manager/tasks/{t['_id']}/release", json={}), 401)
    error(release(client, t["_id"], ("alice", "nope")), 401)
    error(release(client, t["_id"], world.auth("carol")), 403)


def test_release_of_a_finished_task_is_409(client, world):
    """decisions §5: only a task waiting for a person can be released; finished → 409."""
    job, t = waiting_job(client, [world.netops])
    success(finish_by_key(client, job["_id"], "a1", world.auth("alice")))
    error(release(client, t["_id"], world.auth("alice")), 409)


# --- assign ---------------------------------------------------------------------------------------


def test_assign_to_an_eligible_user(client, world):
    """decisions §5 assign: an eligible target becomes the owner → 200."""
    _, t = waiting_job(client, [world.netops])
    data = success(assign(client, t["_id"], world.ids["bob"], world.auth("alice")))
    assert data["metrics"]["owner"] == world.ids["bob"]
    assert get_task(client, t["_id"])["metrics"]["owner"] == world.ids["bob"]


def test_assign_replaces_the_current_owner(client, world):
    """decisions §5 assign: assign replaces any current owner → 200, and the history says from whom."""
    _, t = waiting_job(client, [world.netops])
    success(claim(client, t["_id"], world.auth("alice")))
    data = success(assign(client, t["_id"], world.ids["bob"], ADMIN))
    assert data["metrics"]["owner"] == world.ids["bob"]
    last = history(client, t["_id"])[-1]
    assert (last["action"], last["by"], last["from"], last["to"]) == (
        "assign", world.ids["admin"], world.ids["alice"], world.ids["bob"])
    # the new owner is really the owner: alice's claim now conflicts with bob
    body = error(claim(client, t["_id"], world.auth("alice")), 409)
    assert body["metadata"]["owner"]["_id"] == world.ids["bob"]


def test_assign_to_a_non_existent_user_is_400(client, world):
    """decisions §5 assign: the target must exist, else 400 naming userId."""
    _, t = waiting_job(client, [world.netops])
    body = error(assign(client, t["_id"], UNKNOWN_JOB, world.auth("alice")), 400)
    assert UNKNOWN_JOB in body["message"]
    assert body["metadata"]["errors"][0]["path"] == "userId"
    assert get_task(client, t["_id"])["metrics"]["owner"] == ""


def test_assign_to_an_inactive_user_is_400(client, world):
    """decisions §5 assign: an inactive account cannot be assigned (it cannot work anything) → 400."""
    _, t = waiting_job(client, [world.netops])
    r = client.patch(f"/authorization/accounts/{world.ids['bob']}", json={"inactive": True}, auth=ADMIN)
    assert r.status_code == 200, r.text
    error(assign(client, t["_id"], world.ids["bob"], world.auth("alice")), 400)


def test_assign_with_a_bad_body_is_400(client, world):
    """decisions §2: a missing or malformed userId, or an extra property → 400 naming the field."""
    _, t = waiting_job(client, [world.netops])
    url = f"/operations-manager/tasks/{t['_id']}/assign"
    for body in ({}, {"userId": "bob"}, {"userId": world.ids["bob"], "note": "x"}):
        problem = error(client.post(url, json=body, auth=world.auth("alice")), 400)
        paths = [p["path"] for p in problem["metadata"]["errors"]]
        assert ("note" if "note" in body else "userId") in paths, problem


def test_assign_to_an_ineligible_user_is_400_naming_the_reason(client, world):
    """decisions §5 assign: a target not allowed to work the task → 400 naming the reason (dave: not in
    the task's group; carol: no write role)."""
    _, t = waiting_job(client, [world.netops])
    body = error(assign(client, t["_id"], world.ids["dave"], world.auth("alice")), 400)
    assert "dave" in body["message"] and "group" in body["message"]
    assert body["metadata"]["errors"] == [{"path": "userId", "message": body["metadata"]["errors"][0]["message"]}]
    assert "group" in body["metadata"]["errors"][0]["message"]
    _, open_task = waiting_job(client, name="approve2")
    body = error(assign(client, open_task["_id"], world.ids["carol"], world.auth("alice")), 400)
    assert "carol" in body["message"] and "role" in body["message"]
    assert get_task(client, t["_id"])["metrics"]["owner"] == ""


def test_assign_by_a_caller_who_cannot_see_the_job_is_404(client, world):
    """decisions §4: dave (write role, not in the job's group) cannot see the job → 404, not 403."""
    _, t = waiting_job(client, [world.netops], job_groups=[world.netops])
    error(assign(client, t["_id"], world.ids["alice"], world.auth("dave")), 404)
    assert get_task(client, t["_id"])["metrics"]["owner"] == ""


def test_assign_auth_and_id_errors(client, world):
    """decisions §2–4 on assign: malformed id 400, unknown 404, no credentials 401, no write role 403."""
    _, t = waiting_job(client, [world.netops])
    body = error(assign(client, "x" * 36, world.ids["bob"], world.auth("alice")), 400)
    assert body["metadata"]["parameter"] == "taskId"
    error(assign(client, UNKNOWN_TASK, world.ids["bob"], world.auth("alice")), 404)
    error(client.post(f"/operations-manager/tasks/{t['_id']}/assign", json={"userId": world.ids["bob"]}), 401)
    error(assign(client, t["_id"], world.ids["bob"], world.auth("carol")), 403)


def test_assign_of_a_finished_task_is_409(client, world):
    """decisions §5: only a task waiting for a person can be assigned; finished → 409."""
    job, t = waiting_job(client, [world.netops])
    success(finish_by_key(client, job["_id"], "a1", world.auth("alice")))
    error(assign(client, t["_id"], world.ids["bob"], world.auth("alice")), 409)


# --- history --------------------------------------------------------------------------------------


def test_history_records_every_action_append_only(client, world):
    """decisions §5 history: claim, release, assign and finish each append {action, by, from, to, at};
    earlier entries never change."""
    job, t = waiting_job(client, [world.netops])
    ids = world.ids
    success(claim(client, t["_id"], world.auth("alice")))
    first = history(client, t["_id"])
    success(release(client, t["_id"], world.auth("alice")))
    success(assign(client, t["_id"], ids["bob"], world.auth("alice")))
    success(finish_by_key(client, job["_id"], "a1", world.auth("bob")))
    entries = history(client, t["_id"], world.auth("carol"))
    assert entries[: len(first)] == first
    assert [(e["action"], e["by"], e["from"], e["to"]) for e in entries] == [
        ("claim", ids["alice"], None, ids["alice"]),
        ("release", ids["alice"], ids["alice"], None),
        ("assign", ids["alice"], None, ids["bob"]),
        ("finish", ids["bob"], ids["bob"], ids["bob"]),
    ]
    for e in entries:
        assert {"action", "by", "from", "to", "at"} <= set(e)
        assert isinstance(e["at"], str) and e["at"]
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)


def test_history_rejects_writes(client, world):
    """decisions §5 history: the history is append-only; there is no route to change or delete it."""
    _, t = waiting_job(client, [world.netops])
    success(claim(client, t["_id"], world.auth("alice")))
    url = f"/operations-manager/tasks/{t['_id']}/history"
    for r in (client.post(url, json={}, auth=ADMIN), client.put(url, json={}, auth=ADMIN),
              client.delete(url, auth=ADMIN)):
        assert r.status_code == 405, r.text
    assert len(history(client, t["_id"])) == 1


def test_history_errors(client, world):
    """decisions §2: history of a malformed id → 400 naming it; unknown → 404; no credentials → 401."""
    body = error(client.get("/operations-manager/tasks/zzz/history", auth=ADMIN), 400)
    assert body["metadata"]["parameter"] == "taskId"
    error(client.get(f"/operations-manager/tasks/{UNKNOWN_TASK}/history", auth=ADMIN), 404)
    error(client.get(f"/operations-manager/tasks/{UNKNOWN_TASK}/history"), 401)
