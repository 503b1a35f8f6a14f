"""Job controls (ops-manager-api §1 rows 4–15, 20–23, §3.5, §5.1; decisions §2, §4, §6): cancel, pause,
resume, watch, groups, delete, manual-task controller. Retry, continue and revert are in
test_job_recovery.py."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from opsmgr.api.app import create_app
from opsmgr.services import engine as engine_service
from opsmgr.store import jobs as job_store
from opsmgr.store import tasks as task_store
from tests.api.job_controls_support import (
    ADMIN,
    CAROL,
    OM,
    UNKNOWN_JOB,
    insert_child,
    iterations,
    post,
    quick,
)
from tests.api.manual_support import error, finish_by_key, success, waiting_job
from tests.helpers import create_workflow, get_job, start_job, task, wait_for_job, workflow

BULK = ("cancel", "pause", "resume")


def results_of(r) -> dict[str, dict]:
    data = success(r)
    assert isinstance(data, list)
    for item in data:
        assert set(item) == {"_id", "success", "message"} and isinstance(item["message"], str)
    return {item["_id"]: item for item in data}


def complete_job(client) -> str:
    create_workflow(client, quick())
    return wait_for_job(client, start_job(client, "quick")["_id"])["_id"]


# body, role and id checks shared by the bulk routes ------------------------------------------------------


@pytest.mark.parametrize("action", [*BULK, "watch", "unwatch", "delete", "bulk-delete"])
def test_bulk_routes_answer_per_job_and_validate_the_body(client, world, action):
    job, _ = waiting_job(client)
    r = post(client, f"/jobs/{action}", {"jobIds": ["nope"]})
    body = error(r, 400)
    assert "jobIds.0" in [p["path"] for p in body["metadata"]["errors"]]
    assert error(post(client, f"/jobs/{action}", {"jobIds": [job["_id"]], "x": 1}), 400)
    if action not in ("watch", "unwatch"):  # jobIds is optional for watch/unwatch, as in Itential's schema
        error(post(client, f"/jobs/{action}", {}), 400)
    error(post(client, f"/jobs/{action}", {"jobIds": [job["_id"]]}, CAROL), 403)
    r = post(client, f"/jobs/{action}", {"jobIds": [UNKNOWN_JOB]})
    data = success(r) if action != "bulk-delete" else success(r)["results"]
    assert data == [{"_id": UNKNOWN_JOB, "success": False, "message": f"job {UNKNOWN_JOB} not found"}]


@pytest.mark.parametrize("action", BULK)
def test_a_job_the_caller_may_not_see_is_not_found(client, world, action):
    job, _ = waiting_job(client, job_groups=[world.netops])
    res = results_of(post(client, f"/jobs/{action}", {"jobIds": [job["_id"]]}, world.auth("dave")))
    assert res[job["_id"]] == {"_id": job["_id"], "success": False, "message": f"job {job['_id']} not found"}
    assert get_job(client, job["_id"])["status"] == "running"


# cancel ----------------------------------------------------------------------------------------------


def test_cancel_cancels_the_job_and_its_waiting_tasks(client, world):
    job, waiting = waiting_job(client)
    res = results_of(post(client, "/jobs/cancel", {"jobIds": [job["_id"]]}, world.auth("erin")))
    assert res[job["_id"]]["success"] is True
    after = get_job(client, job["_id"])
    assert after["status"] == "canceled" and "end_time" in after["metrics"]
    assert after["tasks"]["a1"]["status"] == "canceled"
    task_doc = success(client.get(f"{OM}/tasks/{waiting['_id']}", auth=ADMIN))
    assert task_doc["status"] == "canceled"
    # the canceled task can no longer be worked
    error(finish_by_key(client, job["_id"], "a1", ADMIN), 409)


def test_cancel_in_the_wrong_state_is_a_per_job_failure(client, world):
    done = complete_job(client)
    job, _ = waiting_job(client)
    post(client, "/jobs/cancel", {"jobIds": [job["_id"]]})
    res = results_of(post(client, "/jobs/cancel", {"jobIds": [done, job["_id"], UNKNOWN_JOB]}))
    assert list(res) == [done, job["_id"], UNKNOWN_JOB]  # the request's order
    assert not any(r["success"] for r in res.values())
    assert "complete" in res[done]["message"] and "canceled" in res[job["_id"]]["message"]
    assert get_job(client, done)["status"] == "complete"


def test_cancel_cascades_to_child_jobs_at_any_depth(client, db, world):
    root, _ = waiting_job(client)
    child = insert_child(db, root["_id"])
    grandchild = insert_child(db, child)
    other, _ = waiting_job(client, name="other")  # an unrelated job is untouched
    res = results_of(post(client, "/jobs/cancel", {"jobIds": [root["_id"]]}))
    assert res[root["_id"]]["success"] and "2 child job" in res[root["_id"]]["message"]
    for job_id in (root["_id"], child, grandchild):
        assert get_job(client, job_id)["status"] == "canceled"
        assert {t["status"] for t in iterations(db, job_id)} == {"canceled"}
    assert get_job(client, other["_id"])["status"] == "running"


def test_cancel_of_a_child_leaves_its_parent_running(client, db, world):
    root, _ = waiting_job(client)
    child = insert_child(db, root["_id"])
    assert results_of(post(client, "/jobs/cancel", {"jobIds": [child]}))[child]["success"]
    assert get_job(client, child)["status"] == "canceled"
    assert get_job(client, root["_id"])["status"] == "running"


# pause / resume ----------------------------------------------------------------------------------------


def test_pause_keeps_manual_tasks_workable_and_resume_settles_their_outcome(client, world):
    job, _ = waiting_job(client)
    assert results_of(post(client, "/jobs/pause", {"jobIds": [job["_id"]]}))[job["_id"]]["success"]
    assert get_job(client, job["_id"])["status"] == "paused"
    success(finish_by_key(client, job["_id"], "a1", world.auth("alice")))
    paused = get_job(client, job["_id"])
    assert paused["status"] == "paused" and paused["tasks"]["a1"]["status"] == "complete"
    assert paused["tasks"]["b2"]["iterations"] == []  # nothing new starts while paused
    assert results_of(post(client, "/jobs/resume", {"jobIds": [job["_id"]]}))[job["_id"]]["success"]
    done = wait_for_job(client, job["_id"])
    assert done["status"] == "complete" and done["variables"]["approved"] is True


def test_pause_and_resume_in_the_wrong_state(client, world):
    job, _ = waiting_job(client)
    done = complete_job(client)
    res = results_of(post(client, "/jobs/resume", {"jobIds": [job["_id"], done]}))
    assert not res[job["_id"]]["success"] and "only a paused job" in res[job["_id"]]["message"]
    post(client, "/jobs/pause", {"jobIds": [job["_id"]]})
    res = results_of(post(client, "/jobs/pause", {"jobIds": [job["_id"], done]}))
    assert not res[job["_id"]]["success"] and "paused" in res[job["_id"]]["message"]
    assert not res[done]["success"]
    post(client, "/jobs/cancel", {"jobIds": [job["_id"]]})
    assert not results_of(post(client, "/jobs/resume", {"jobIds": [job["_id"]]}))[job["_id"]]["success"]


def test_pause_does_not_cascade_to_child_jobs(client, db, world):
    root, _ = waiting_job(client)
    child = insert_child(db, root["_id"])
    post(client, "/jobs/pause", {"jobIds": [root["_id"]]})
    assert get_job(client, child)["status"] == "running"


def test_a_paused_job_starts_no_queued_task_and_resume_releases_it(db, settings):
    """decisions §6: automatic tasks queued but not started are not leased while the job is paused; a task
    that already started (back from a wait, or a lost lease) is, so running tasks finish."""
    with TestClient(create_app(settings, db, run_engine=False)) as client:
        create_workflow(client, quick())
        job_id = start_job(client, "quick")["_id"]
        post(client, "/jobs/pause", {"jobIds": [job_id]})
        assert engine_service.lease_work(db, "test", 30, 8) == []
        (row,) = iterations(db, job_id)
        assert row["status"] == "scheduled" and row["queue_state"] == "ready"
        post(client, "/jobs/resume", {"jobIds": [job_id]})
        (item,) = engine_service.lease_work(db, "test", 30, 8)
        assert item.task_id == row["id"]
        # a task that already started is taken again even while its job is paused
        post(client, "/jobs/pause", {"jobIds": [job_id]})
        with db.write() as conn:
            task_store.update_task(conn, row["id"], {"queue_state": "ready", "due_at": 0, "lease_until": None})
        assert [i.task_id for i in engine_service.lease_work(db, "test", 30, 8)] == [row["id"]]


def test_cancel_takes_queued_automatic_tasks_off_the_queue(db, settings):
    with TestClient(create_app(settings, db, run_engine=False)) as client:
        create_workflow(client, quick())
        job_id = start_job(client, "quick")["_id"]
        post(client, "/jobs/cancel", {"jobIds": [job_id]})
        assert engine_service.lease_work(db, "test", 30, 8) == []
        (row,) = iterations(db, job_id)
        assert row["status"] == "canceled" and row["queue_state"] is None


# watch ----------------------------------------------------------------------------------------------------


def test_watch_and_unwatch_many_jobs(client, world):
    job, _ = waiting_job(client)
    done = complete_job(client)
    alice = world.auth("alice")
    res = results_of(post(client, "/jobs/watch", {"jobIds": [job["_id"], done]}, alice))
    assert all(r["success"] for r in res.values())  # any state may be watched
    assert get_job(client, job["_id"])["watchers"] == [world.ids["alice"]]
    assert get_job(client, done)["watchers"] == [world.ids["alice"]]
    post(client, "/jobs/watch", {"jobIds": [job["_id"]]}, alice)  # idempotent
    post(client, "/jobs/watch", {"jobIds": [job["_id"]]}, world.auth("bob"))
    assert get_job(client, job["_id"])["watchers"] == [world.ids["alice"], world.ids["bob"]]
    post(client, "/jobs/unwatch", {"jobIds": [job["_id"]]}, alice)
    assert get_job(client, job["_id"])["watchers"] == [world.ids["bob"]]
    assert success(post(client, "/jobs/watch", {})) == []


def test_watch_and_unwatch_one_job(client, world):
    job, _ = waiting_job(client)
    data = success(post(client, f"/jobs/{job['_id']}/watch", None, world.auth("erin")))
    assert data == {"_id": job["_id"], "watchers": [world.ids["erin"]]}
    data = success(post(client, f"/jobs/{job['_id']}/unwatch", None, world.auth("erin")))
    assert data == {"_id": job["_id"], "watchers": []}
    assert get_job(client, job["_id"])["watchers"] == []


@pytest.mark.parametrize("action", ["watch", "unwatch"])
def test_watch_one_job_errors(client, world, action):
    job, _ = waiting_job(client, job_groups=[world.netops])
    error(post(client, f"/jobs/{UNKNOWN_JOB}/{action}"), 404)
    error(post(client, f"/jobs/{job['_id']}/{action}", None, world.auth("dave")), 404)  # invisible
    body = error(post(client, f"/jobs/not-an-id/{action}"), 400)
    assert "jobId" in body["message"]
    error(post(client, f"/jobs/{job['_id']}/{action}", None, CAROL), 403)


def test_add_watchers(client, world):
    job, _ = waiting_job(client)
    users = [world.ids["bob"], world.ids["carol"], world.ids["bob"]]
    data = success(post(client, f"/jobs/{job['_id']}/add-watchers", {"userIds": users}))
    assert data["watchers"] == [world.ids["bob"], world.ids["carol"]]
    assert get_job(client, job["_id"])["watchers"] == [world.ids["bob"], world.ids["carol"]]


def test_add_watchers_errors(client, world):
    job, _ = waiting_job(client)
    body = error(post(client, f"/jobs/{job['_id']}/add-watchers", {"userIds": [UNKNOWN_JOB]}), 400)
    assert UNKNOWN_JOB in body["message"] and body["metadata"]["errors"][0]["path"] == "userIds"
    error(post(client, f"/jobs/{job['_id']}/add-watchers", {"userIds": ["bob"]}), 400)
    error(post(client, f"/jobs/{job['_id']}/add-watchers", {}), 400)
    error(post(client, f"/jobs/{UNKNOWN_JOB}/add-watchers", {"userIds": [world.ids["bob"]]}), 404)
    assert "jobId" in error(post(client, "/jobs/xyz/add-watchers", {"userIds": [world.ids["bob"]]}), 400)["message"]
    error(post(client, f"/jobs/{job['_id']}/add-watchers", {"userIds": [world.ids["bob"]]}, CAROL), 403)
    assert get_job(client, job["_id"])["watchers"] == []


# groups (GBAC) --------------------------------------------------------------------------------------------


def make_group(client, name: str) -> str:
    r = client.post("/authorization/groups", json={"group": {"name": name, "description": ""}}, auth=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()["data"]["_id"]  # type: ignore[no-any-return]


def test_add_replace_and_remove_job_groups(client, world):
    job, _ = waiting_job(client)
    jid = job["_id"]
    assert success(post(client, f"/jobs/{jid}/groups", {"groupId": world.netops})) == {
        "_id": jid, "groups": [world.netops]}
    assert success(post(client, f"/jobs/{jid}/groups", {"groupId": world.netops}))["groups"] == [world.netops]
    # the groups now decide who sees the job (decisions §4)
    assert client.get(f"{OM}/jobs/{jid}", auth=world.auth("dave")).status_code == 404
    assert client.get(f"{OM}/jobs/{jid}", auth=world.auth("alice")).status_code == 200
    other = make_group(client, "Other")
    r = client.put(f"{OM}/jobs/{jid}/groups", json={"groups": [other, world.netops]}, auth=ADMIN)
    assert success(r)["groups"] == [other, world.netops]
    assert get_job(client, jid)["groups"] == [other, world.netops]
    assert success(client.delete(f"{OM}/jobs/{jid}/groups/{other}", auth=ADMIN))["groups"] == [world.netops]
    assert success(client.delete(f"{OM}/jobs/{jid}/groups", auth=ADMIN))["groups"] == []
    assert client.get(f"{OM}/jobs/{jid}", auth=world.auth("dave")).status_code == 200


def test_job_group_errors(client, world):
    job, _ = waiting_job(client, job_groups=[world.netops])
    jid = job["_id"]
    body = error(post(client, f"/jobs/{jid}/groups", {"groupId": UNKNOWN_JOB}), 400)
    assert UNKNOWN_JOB in body["message"]
    error(post(client, f"/jobs/{jid}/groups", {"groupId": "netops"}), 400)
    error(client.put(f"{OM}/jobs/{jid}/groups", json={"groups": [world.netops, UNKNOWN_JOB]}, auth=ADMIN), 400)
    error(client.put(f"{OM}/jobs/{jid}/groups", json={}, auth=ADMIN), 400)
    assert get_job(client, jid)["groups"] == [world.netops]
    error(client.delete(f"{OM}/jobs/{jid}/groups/{UNKNOWN_JOB}", auth=ADMIN), 404)  # not a group of the job
    assert "groupId" in error(client.delete(f"{OM}/jobs/{jid}/groups/xyz", auth=ADMIN), 400)["message"]
    error(client.delete(f"{OM}/jobs/{UNKNOWN_JOB}/groups", auth=ADMIN), 404)
    assert "jobId" in error(client.delete(f"{OM}/jobs/xyz/groups", auth=ADMIN), 400)["message"]
    # dave (operations) may not see the job: 404, not 403, and nothing changes
    error(client.delete(f"{OM}/jobs/{jid}/groups", auth=world.auth("dave")), 404)
    error(client.delete(f"{OM}/jobs/{jid}/groups", auth=CAROL), 403)
    error(post(client, f"/jobs/{jid}/groups", {"groupId": world.netops}, CAROL), 403)
    assert get_job(client, jid)["groups"] == [world.netops]


# delete -------------------------------------------------------------------------------------------------


def test_delete_a_complete_root_job(client, db, world):
    job_id = complete_job(client)
    task_id = iterations(db, job_id)[0]["id"]
    with db.write() as conn:
        task_store.append_history(conn, task_id, "claim", world.ids["alice"], None, world.ids["alice"], 1)
    data = success(client.delete(f"{OM}/jobs/{job_id}", auth=world.auth("erin")))
    assert data == [{"collection": "jobs", "deletedCount": 1}, {"collection": "tasks", "deletedCount": 1},
                    {"collection": "jobHistory", "deletedCount": 1}, {"collection": "jobData", "deletedCount": 0},
                    {"collection": "jobDataLargeFiles", "deletedCount": 0}]
    error(client.get(f"{OM}/jobs/{job_id}", auth=ADMIN), 404)
    assert iterations(db, job_id) == []


def test_delete_a_canceled_root_job_deletes_its_children(client, db, world):
    root, _ = waiting_job(client)
    child = insert_child(db, root["_id"])
    post(client, "/jobs/cancel", {"jobIds": [root["_id"]]})
    data = success(client.delete(f"{OM}/jobs/{root['_id']}", auth=ADMIN))
    assert data[0] == {"collection": "jobs", "deletedCount": 2} and data[1] == {"collection": "tasks",
                                                                               "deletedCount": 2}
    for job_id in (root["_id"], child):
        error(client.get(f"{OM}/jobs/{job_id}", auth=ADMIN), 404)


def test_delete_errors(client, db, world):
    running, _ = waiting_job(client)
    body = error(client.delete(f"{OM}/jobs/{running['_id']}", auth=ADMIN), 409)
    assert "running" in body["message"]
    post(client, "/jobs/cancel", {"jobIds": [running["_id"]]})
    child = insert_child(db, running["_id"], waiting=False)
    with db.write() as conn:
        job_store.update_job(conn, child, {"status": "canceled"})
    assert "child job" in error(client.delete(f"{OM}/jobs/{child}", auth=ADMIN), 409)["message"]
    error(client.delete(f"{OM}/jobs/{UNKNOWN_JOB}", auth=ADMIN), 404)
    assert "jobId" in error(client.delete(f"{OM}/jobs/nope", auth=ADMIN), 400)["message"]
    error(client.delete(f"{OM}/jobs/{running['_id']}", auth=CAROL), 403)
    hidden, _ = waiting_job(client, job_groups=[world.netops], name="hidden")
    post(client, "/jobs/cancel", {"jobIds": [hidden["_id"]]})
    error(client.delete(f"{OM}/jobs/{hidden['_id']}", auth=world.auth("dave")), 404)
    assert get_job(client, running["_id"])["status"] == "canceled"


def test_bulk_delete_skips_jobs_that_do_not_qualify(client, db, world):
    done = complete_job(client)
    running, _ = waiting_job(client)
    root, _ = waiting_job(client, name="root")
    insert_child(db, root["_id"])
    post(client, "/jobs/cancel", {"jobIds": [root["_id"]]})
    data = success(post(client, "/jobs/bulk-delete", {"jobIds": [done, running["_id"], root["_id"], UNKNOWN_JOB]}))
    assert {k: v for k, v in data.items() if k != "results"} == {
        "jobsDeleted": 3, "tasksDeleted": 3, "jobHistoryDeleted": 0, "jobDataDeleted": 0,
        "jobDataLargeFilesDeleted": 0}
    ok = {r["_id"]: r["success"] for r in data["results"]}
    assert ok == {done: True, running["_id"]: False, root["_id"]: True, UNKNOWN_JOB: False}
    assert get_job(client, running["_id"])["status"] == "running"


def test_deprecated_delete_jobs_answers_per_job_results(client, world):
    done = complete_job(client)
    running, _ = waiting_job(client)
    res = results_of(post(client, "/jobs/delete", {"jobIds": [done, running["_id"]]}))
    assert res[done]["success"] and not res[running["_id"]]["success"]
    error(client.get(f"{OM}/jobs/{done}", auth=ADMIN), 404)


# manual task controller -----------------------------------------------------------------------------------


def controller(client, job_id: str, key: str, who=ADMIN):
    return client.get(f"{OM}/jobs/{job_id}/tasks/{key}/manual-controller", auth=who)


def test_manual_controller_of_a_waiting_and_a_finished_task(client, world):
    job, waiting = waiting_job(client)
    data = success(controller(client, job["_id"], "a1", CAROL))  # a read route: apiread may call it
    assert set(data) == {"variables", "finish_state", "TaskController"}
    assert data["variables"] == {"incoming": waiting["variables"]["incoming"], "outgoing": {}, "error": "",
                                 "decorators": []}
    assert data["finish_state"] is None and data["TaskController"] == "ViewDataController"
    success(finish_by_key(client, job["_id"], "a1", ADMIN, variables={"ok": 1}))
    data = success(controller(client, job["_id"], "a1"))
    assert data["finish_state"] == "success" and data["variables"]["outgoing"] == {"ok": 1}


def test_manual_controller_errors(client, world):
    job, _ = waiting_job(client, job_groups=[world.netops])
    assert "not a manual task" in error(controller(client, job["_id"], "b2"), 409)["message"]
    error(controller(client, job["_id"], "ffff"), 404)
    assert "taskId" in error(controller(client, job["_id"], "XYZ!"), 400)["message"]
    error(controller(client, UNKNOWN_JOB, "a1"), 404)
    assert "jobId" in error(controller(client, "nope", "a1"), 400)["message"]
    error(controller(client, job["_id"], "a1", world.auth("dave")), 404)  # invisible
    error(controller(client, job["_id"], "a1", world.auth("erin")), 403)  # apiwrite has no read role


def test_manual_controller_of_a_task_not_reached_yet(db, settings):
    with TestClient(create_app(settings, db, run_engine=False)) as client:
        m = task("ViewData", type_="manual")
        m["view"] = "/workflow_engine/task/ViewData"
        create_workflow(client, workflow("later", {"c0": task("stub"), "d1": m},
                                         {"workflow_start": {"c0": "success"}, "c0": {"d1": "success"},
                                          "d1": {"workflow_end": "success"}}))
        job_id = start_job(client, "later")["_id"]
        assert "not been reached" in error(controller(client, job_id, "d1"), 409)["message"]
