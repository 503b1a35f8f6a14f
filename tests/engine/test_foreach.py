"""The forEach task (workflow-semantics §1.4, §3.6): the loop body runs once per item with `current_item`,
then the forEach succeeds and its own transitions proceed."""

from __future__ import annotations

from typing import Any

from tests.engine.test_execution import new_variable, run, stub, task_docs
from tests.helpers import create_workflow, manual, start_job, task, wait_for_job, waiting_task, workflow

ADMIN = ("admin", "admin")


def for_each(data_array: Any, outgoing: dict | None = None) -> dict:
    entry = task("forEach", data_array=data_array)
    entry["variables"]["outgoing"] = outgoing or {"current_item": None}
    return entry


def push(value: Any) -> dict:
    return task("push", job_variable="seen", item_to_push=value)


def loop_workflow(body: dict, data_array: Any, first: str = "b1") -> tuple[dict, dict]:
    """start → f1 forEach → loop: body (first → …, last has no transition); f1 success → d1 → end."""
    tasks = {"f1": for_each(data_array), "d1": new_variable("after", True), **body}
    transitions: dict[str, dict] = {"workflow_start": {"f1": "success"}, "f1": {first: "loop", "d1": "success"},
                                    "d1": {"workflow_end": "success"}}
    return tasks, transitions


def test_the_body_runs_once_per_item_with_current_item(client):
    tasks, transitions = loop_workflow(
        {"b1": new_variable("item", "$var.f1.current_item"), "b2": push("$var.b1.value")}, [1, "two", {"n": 3}])
    transitions["b1"] = {"b2": "success"}
    job = run(client, tasks, transitions, variables={"seen": []})
    assert job["status"] == "complete" and job["variables"]["after"] is True
    assert job["variables"]["seen"] == [1, "two", {"n": 3}]
    assert len(job["tasks"]["b1"]["iterations"]) == 3 and len(job["tasks"]["b2"]["iterations"]) == 3
    assert len(job["tasks"]["f1"]["iterations"]) == 1
    (loop,) = task_docs(client, job["_id"], "f1")
    assert loop["status"] == "complete" and loop["metrics"]["finish_state"] == "success"
    items = [d["variables"]["incoming"]["value"] for d in task_docs(client, job["_id"], "b1")]
    assert sorted(items, key=str) == sorted([1, "two", {"n": 3}], key=str)


def test_current_item_can_be_bound_to_a_job_variable(client):
    tasks, transitions = loop_workflow({"b1": push("$var.job.item")}, ["a", "b"])
    tasks["f1"] = for_each(["a", "b"], {"current_item": "$var.job.item"})
    job = run(client, tasks, transitions, variables={"seen": []})
    assert job["status"] == "complete" and job["variables"]["seen"] == ["a", "b"]


def test_an_empty_array_skips_the_body(client):
    tasks, transitions = loop_workflow({"b1": new_variable("never", True)}, [])
    job = run(client, tasks, transitions)
    assert job["status"] == "complete" and job["variables"]["after"] is True and "never" not in job["variables"]
    assert job["tasks"]["b1"]["iterations"] == []


def test_data_array_from_a_job_variable_and_a_waiting_body(client):
    tasks, transitions = loop_workflow({"b1": stub(delay=0.05, response="x"), "b2": push("$var.f1.current_item")},
                                       "$var.job.items")
    transitions["b1"] = {"b2": "success"}
    job = run(client, tasks, transitions, variables={"items": [3, 4], "seen": []})
    assert job["status"] == "complete" and job["variables"]["seen"] == [3, 4]


def test_a_manual_task_in_the_body_waits_each_pass(client):
    tasks, transitions = loop_workflow({"b1": manual(), "b2": push("$var.f1.current_item")}, ["p", "q"])
    transitions["b1"] = {"b2": "success"}
    create_workflow(client, workflow("wf", tasks, transitions))
    job = start_job(client, "wf", {"seen": []})
    for _ in range(2):
        waiting = waiting_task(client, job["_id"], "b1")
        r = client.post(f"/operations-manager/tasks/{waiting['_id']}/claim", auth=ADMIN)
        assert r.status_code == 200, r.text
        r = client.post(f"/operations-manager/tasks/{waiting['_id']}/finish",
                        json={"taskData": {"finish_state": "success", "variables": {}}}, auth=ADMIN)
        assert r.status_code == 200, r.text
    done = wait_for_job(client, job["_id"])
    assert done["status"] == "complete" and done["variables"]["seen"] == ["p", "q"]


def test_data_array_that_is_not_an_array_errors(client):
    tasks, transitions = loop_workflow({"b1": new_variable("never", True)}, "nope")
    transitions["f1"]["e1"] = "error"
    tasks["e1"] = new_variable("failed", True)
    transitions["e1"] = {"workflow_end": "success"}
    job = run(client, tasks, transitions)
    assert job["variables"].get("failed") is True
    (loop,) = task_docs(client, job["_id"], "f1")
    assert "data_array must be an array" in loop["variables"]["error"]["message"]


def test_an_error_in_the_body_stops_the_job(client):
    tasks, transitions = loop_workflow({"b1": stub("error", response="bad")}, [1, 2])
    job = run(client, tasks, transitions)
    assert job["status"] == "error" and len(job["tasks"]["b1"]["iterations"]) == 1
    assert "after" not in job["variables"]
