"""The childJob task (workflow-semantics §2.7, §3.6): one child, parallel and sequential loops, how the
child's end decides the task, and the parent/ancestors links."""

from __future__ import annotations

from typing import Any

from opsmgr.store import jobs as job_store
from tests.engine.test_execution import new_variable, ran, stub, task_docs
from tests.helpers import (
    create_workflow,
    get_job,
    manual,
    start_job,
    task,
    wait_for_job,
    wait_until,
    workflow,
)

ADMIN = ("admin", "admin")


def child_job(name: str, variables: dict | None = None, loop_type: str = "", data_array: Any = None) -> dict:
    entry = task("childJob", task="", workflow=name, variables=variables or {}, loopType=loop_type,
                 data_array=data_array if data_array is not None else [])
    entry["actor"] = "job"
    entry["variables"]["outgoing"] = {"job_details": "$var.job.details"}
    return entry


def parent_workflow(child_task: dict, name: str = "parent") -> dict:
    """start → c1 (childJob) → success: ok; error: bad; both → end. `path` says which ran."""
    return workflow(
        name,
        {"c1": child_task, "a0": new_variable("path", "success"), "b0": new_variable("path", "error")},
        {"workflow_start": {"c1": "success"}, "c1": {"a0": "success", "b0": "error"},
         "a0": {"workflow_end": "success"}, "b0": {"workflow_end": "success"}},
    )


def child_workflow(name: str = "child", state: str = "success", delay: float | None = 0.2) -> dict:
    """A child that waits `delay` (so its parent really waits), copies `x` into `seen`, and ends."""
    first = stub(state, response="child says no" if state == "error" else "ok", delay=delay)
    return workflow(
        name,
        {"a1": first, "b1": new_variable("seen", "$var.job.x")},
        {"workflow_start": {"a1": "success"}, "a1": {"b1": "success"}, "b1": {"workflow_end": "success"}},
    )


def children_of(db, job_id: str) -> list[dict]:
    with db.read() as conn:
        return job_store.descendants(conn, job_id)


def outgoing(client, job_id: str, key: str) -> dict:
    (doc,) = task_docs(client, job_id, key)
    return doc["variables"]["outgoing"]  # type: ignore[no-any-return]


def test_a_child_job_runs_and_its_variables_come_back_in_job_details(client, db, world):
    create_workflow(client, child_workflow())
    create_workflow(client, parent_workflow(child_job("child", {
        "x": {"task": "job", "value": "px"}, "y": {"task": "static", "value": 7}})))
    job = start_job(client, "parent", {"px": "from-parent"}, groups=[world.netops])
    (child,) = wait_until(lambda: children_of(db, job["_id"]))
    (doc,) = task_docs(client, job["_id"], "c1")
    assert doc["status"] == "running"  # waiting for its child, holding no worker
    done = wait_for_job(client, job["_id"])
    assert done["status"] == "complete" and done["variables"]["path"] == "success"
    details = outgoing(client, job["_id"], "c1")["job_details"]
    assert details["_id"] == child["id"] and details["status"] == "complete"
    assert details["variables"]["x"] == "from-parent" and details["variables"]["y"] == 7
    assert details["variables"]["seen"] == "from-parent"
    assert done["variables"]["details"] == details  # promoted through the outgoing `$var.job.job_details`
    shown = get_job(client, child["id"])
    assert shown["ancestors"] == [job["_id"], child["id"]]
    assert shown["parent"] == {"job": job["_id"], "task": "c1", "iteration": 0, "element": None}
    assert shown["groups"] == [world.netops] and shown["variables"]["initiator"] == "admin"
    assert shown["status"] == "complete"


def test_a_child_that_runs_entirely_inline_finishes_the_task_at_once(client, db):
    create_workflow(client, workflow("quick", {"b1": new_variable("seen", 1)},
                                     {"workflow_start": {"b1": "success"}, "b1": {"workflow_end": "success"}}))
    create_workflow(client, parent_workflow(child_job("quick")))
    job = start_job(client, "parent")
    assert job["status"] == "complete"
    assert outgoing(client, job["_id"], "c1")["job_details"]["variables"]["seen"] == 1


def test_a_child_in_error_makes_the_task_follow_its_error_transition(client, db):
    create_workflow(client, child_workflow(state="error"))
    create_workflow(client, parent_workflow(child_job("child")))
    job = wait_for_job(client, start_job(client, "parent")["_id"])
    assert job["status"] == "complete" and job["variables"]["path"] == "error"
    assert job["tasks"]["c1"]["finish_state"] == "error"
    (child,) = children_of(db, job["_id"])
    assert child["status"] == "error"
    (doc,) = task_docs(client, job["_id"], "c1")
    assert "ended in error" in doc["variables"]["error"]["message"]
    assert doc["variables"]["outgoing"]["job_details"]["status"] == "error"


def test_a_canceled_child_makes_the_task_end_in_error(client, db):
    create_workflow(client, workflow("waits", {"d1": manual()},
                                     {"workflow_start": {"d1": "success"}, "d1": {"workflow_end": "success"}}))
    create_workflow(client, parent_workflow(child_job("waits")))
    job = start_job(client, "parent")
    (child,) = children_of(db, job["_id"])
    r = client.post("/operations-manager/jobs/cancel", json={"jobIds": [child["id"]]}, auth=ADMIN)
    assert r.status_code == 200, r.text
    done = wait_for_job(client, job["_id"])
    assert done["status"] == "complete" and done["variables"]["path"] == "error"
    (doc,) = task_docs(client, job["_id"], "c1")
    assert "was canceled" in doc["variables"]["error"]["message"]


def test_canceling_the_parent_cancels_the_waiting_child(client, db):
    create_workflow(client, workflow("waits", {"d1": manual()},
                                     {"workflow_start": {"d1": "success"}, "d1": {"workflow_end": "success"}}))
    create_workflow(client, parent_workflow(child_job("waits")))
    job = start_job(client, "parent")
    (child,) = children_of(db, job["_id"])
    r = client.post("/operations-manager/jobs/cancel", json={"jobIds": [job["_id"]]}, auth=ADMIN)
    assert r.status_code == 200, r.text
    assert get_job(client, job["_id"])["status"] == "canceled"
    assert get_job(client, child["id"])["status"] == "canceled"
    (doc,) = task_docs(client, job["_id"], "c1")
    assert doc["status"] == "canceled"


def test_an_unknown_workflow_makes_the_task_error_naming_it(client):
    create_workflow(client, parent_workflow(child_job("nowhere")))
    job = wait_for_job(client, start_job(client, "parent")["_id"])
    assert job["variables"]["path"] == "error"
    (doc,) = task_docs(client, job["_id"], "c1")
    assert "nowhere" in doc["variables"]["error"]["message"]


def test_a_parallel_loop_starts_one_child_per_element_at_once(client, db):
    create_workflow(client, child_workflow(delay=0.3))
    create_workflow(client, parent_workflow(child_job(
        "child", {"y": {"task": "static", "value": "base"}}, "parallel", [{"x": 1}, {"x": 2}, {"x": 3}])))
    job = start_job(client, "parent")
    children = children_of(db, job["_id"])
    assert len(children) == 3 and all(c["status"] == "running" for c in children)
    assert sorted(c["parent"]["element"] for c in children) == [0, 1, 2]
    done = wait_for_job(client, job["_id"])
    assert done["status"] == "complete" and done["variables"]["path"] == "success"
    loop = outgoing(client, job["_id"], "c1")["job_details"]["loop"]
    assert [e["childJobLoopIndex"] for e in loop] == [0, 1, 2]
    assert [(e["x"], e["seen"], e["y"], e["status"]) for e in loop] == [
        (1, 1, "base", "complete"), (2, 2, "base", "complete"), (3, 3, "base", "complete")]


def test_a_sequential_loop_starts_each_child_after_the_previous_one_ended(client, db):
    create_workflow(client, child_workflow(delay=0.1))
    create_workflow(client, parent_workflow(child_job("child", {}, "sequential", [{"x": "a"}, {"x": "b"}])))
    job = start_job(client, "parent")
    assert len(children_of(db, job["_id"])) == 1
    done = wait_for_job(client, job["_id"])
    assert done["status"] == "complete"
    first, second = sorted(children_of(db, job["_id"]), key=lambda c: c["parent"]["element"])
    assert second["start_time"] >= first["end_time"]
    loop = outgoing(client, job["_id"], "c1")["job_details"]["loop"]
    assert [(e["childJobLoopIndex"], e["seen"]) for e in loop] == [(0, "a"), (1, "b")]


def test_a_loop_with_a_child_in_error_ends_in_error(client, db):
    create_workflow(client, workflow("picky", {"e1": stub("error", response="no")},
                                     {"workflow_start": {"e1": "success"}, "e1": {"workflow_end": "success"}}))
    create_workflow(client, parent_workflow(child_job("picky", {}, "parallel", [{"x": 1}, {"x": 2}])))
    job = wait_for_job(client, start_job(client, "parent")["_id"])
    assert job["variables"]["path"] == "error" and ran(job) == {"c1", "b0"}
    (doc,) = task_docs(client, job["_id"], "c1")
    assert [e["status"] for e in doc["variables"]["outgoing"]["job_details"]["loop"]] == ["error", "error"]


def test_an_empty_loop_succeeds_with_no_children(client, db):
    create_workflow(client, child_workflow())
    create_workflow(client, parent_workflow(child_job("child", {}, "parallel", [])))
    job = wait_for_job(client, start_job(client, "parent")["_id"])
    assert job["variables"]["path"] == "success" and children_of(db, job["_id"]) == []
    assert outgoing(client, job["_id"], "c1")["job_details"] == {"loop": []}


def test_grandchildren_report_up_the_chain(client, db):
    create_workflow(client, child_workflow())
    middle = workflow("middle", {"c2": child_job("child", {"x": {"task": "static", "value": "deep"}})},
                      {"workflow_start": {"c2": "success"}, "c2": {"workflow_end": "success"}})
    create_workflow(client, middle)
    create_workflow(client, parent_workflow(child_job("middle")))
    job = wait_for_job(client, start_job(client, "parent")["_id"])
    assert job["status"] == "complete" and job["variables"]["path"] == "success"
    family = children_of(db, job["_id"])
    assert len(family) == 2
    grandchild = next(c for c in family if len(c["ancestors"]) == 3)
    assert grandchild["ancestors"][0] == job["_id"] and grandchild["variables"]["seen"] == "deep"


def test_retrying_a_childjob_task_starts_new_children(client, db):
    create_workflow(client, child_workflow(state="error", delay=None))
    create_workflow(client, workflow("strict", {"c1": child_job("child")},
                                     {"workflow_start": {"c1": "success"}, "c1": {"workflow_end": "success"}}))
    job = wait_for_job(client, start_job(client, "strict")["_id"])
    assert job["status"] == "error" and len(children_of(db, job["_id"])) == 1
    r = client.post(f"/operations-manager/jobs/{job['_id']}/tasks/c1/retry", json={}, auth=ADMIN)
    assert r.status_code == 200, r.text
    job = wait_for_job(client, job["_id"], ("error",))
    assert len(job["tasks"]["c1"]["iterations"]) == 2
    children = children_of(db, job["_id"])
    assert sorted(c["parent"]["iteration"] for c in children) == [0, 1]


def test_children_of_a_childjob_left_waiting_when_the_parent_completes_are_canceled(client, db):
    create_workflow(client, workflow("waits", {"d1": manual()},
                                     {"workflow_start": {"d1": "success"}, "d1": {"workflow_end": "success"}}))
    create_workflow(client, workflow("racer", {"c1": child_job("waits"), "b0": stub(), "a0": stub(delay=0.2)},
                                     {"workflow_start": {"c1": "success", "a0": "success"},
                                      "c1": {"b0": "success"}, "a0": {"workflow_end": "success"}}))
    job = start_job(client, "racer")
    (child,) = children_of(db, job["_id"])
    done = wait_for_job(client, job["_id"])
    assert done["status"] == "complete"
    assert get_job(client, child["id"])["status"] == "canceled"
    (doc,) = task_docs(client, job["_id"], "c1")
    assert doc["status"] == "canceled"
