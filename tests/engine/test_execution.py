"""How jobs run, through the API with the embedded engine (workflow-semantics §2.2–2.6, §3.6; decisions §6)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from opsmgr.api.app import create_app
from opsmgr.config import Settings
from tests.helpers import create_workflow, get_job, start_job, task, wait_for_job, wait_until, workflow

ADMIN = ("admin", "admin")
TASK_FIELDS = {"_id", "location", "view", "status", "app", "name", "variables", "last_updated", "encodingVersion",
               "job", "incomingRefs", "groups", "type", "metrics"}
TASK_METRICS = {"start_time", "end_time", "server_id", "finish_state", "run_time", "retrying", "user", "owner"}
JOB_FIELDS = {"_id", "uuid", "font_size", "type", "created", "last_updated", "createdVersion", "lastUpdatedVersion",
              "canvasVersion", "encodingVersion", "migrationVersion", "name", "description", "preAutomationTime",
              "sla", "decorators", "status", "tags", "error", "tasks", "transitions", "variables", "groups",
              "watchers", "ancestors", "parent", "created_by", "last_updated_by", "errorHandler", "metrics"}


def stub(state: str = "success", response: Any = None, delay: float | None = None, **outgoing: Any) -> dict:
    incoming: dict[str, Any] = {"type": state, "response": response}
    if delay is not None:
        incoming["delay"] = delay
    entry = task("stub", **incoming)
    entry["variables"]["outgoing"] = outgoing or {"response": None}
    return entry


def new_variable(name: str, value: Any) -> dict:
    entry = task("newVariable", name=name, value=value)
    entry["variables"]["outgoing"] = {"value": None}
    return entry


def evaluation(left: Any, op: str, right: Any) -> dict:
    return task("evaluation", all_true_flag=True, evaluation_groups=[{"all_true_flag": True, "evaluations": [
        {"operand_1": {"task": "static", "variable": left}, "operator": op,
         "operand_2": {"task": "static", "variable": right}}]}])


def run(client, tasks: dict, transitions: dict, variables: dict | None = None, name: str = "wf") -> dict:
    """Create the workflow, start a job, and return the job once it has ended."""
    create_workflow(client, workflow(name, tasks, transitions))
    job = start_job(client, name, variables)
    return wait_for_job(client, job["_id"])


def ran(job: dict) -> set[str]:
    """Keys of the tasks that executed at least once (terminators excluded)."""
    return {k for k, t in job["tasks"].items() if t["iterations"]}


def task_docs(client, job_id: str, key: str | None = None) -> list[dict]:
    params = {"equals[job._id]": job_id, "limit": "500"}
    if key:
        params["equals[job.task]"] = key
    r = client.get("/operations-manager/tasks", params=params, auth=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


# transitions --------------------------------------------------------------------------------------


def branching(first: dict) -> tuple[dict, dict]:
    tasks = {"a1": first, "b": new_variable("path", "success"), "c": new_variable("path", "error"),
             "d": new_variable("path", "failure")}
    transitions = {"workflow_start": {"a1": "success"}, "a1": {"b": "success", "c": "error", "d": "failure"},
                   "b": {"workflow_end": "success"}, "c": {"workflow_end": "success"},
                   "d": {"workflow_end": "success"}}
    return tasks, transitions


def test_success_transition(client):
    job = run(client, *branching(stub("success")))
    assert job["status"] == "complete"
    assert job["variables"]["path"] == "success" and ran(job) == {"a1", "b"}
    assert job["tasks"]["a1"]["finish_state"] == "success" and job["tasks"]["a1"]["status"] == "complete"
    assert job["tasks"]["workflow_end"]["status"] == "complete"
    assert job["metrics"]["progress"] == 1 and "end_time" in job["metrics"]


def test_error_transition(client):
    job = run(client, *branching(stub("error", response="broken")))
    assert job["status"] == "complete"
    assert job["variables"]["path"] == "error" and ran(job) == {"a1", "c"}
    assert job["tasks"]["a1"]["finish_state"] == "error"
    assert job["error"] is None


def test_failure_transition(client):
    job = run(client, *branching(evaluation(1, "==", 2)))
    assert job["status"] == "complete"
    assert job["variables"]["path"] == "failure" and ran(job) == {"a1", "d"}
    assert job["tasks"]["a1"]["finish_state"] == "failure"


# parallel branches and the join rule --------------------------------------------------------------


def test_parallel_branches_join_once_after_both(client):
    tasks = {"a": stub(delay=0.3, response="a"), "b": stub(response="b"), "f0": new_variable("joined", True)}
    transitions = {"workflow_start": {"a": "success", "b": "success"}, "a": {"f0": "success"},
                   "b": {"f0": "success"}, "f0": {"workflow_end": "success"}}
    job = run(client, tasks, transitions)
    assert job["status"] == "complete" and job["variables"]["joined"] is True
    assert len(job["tasks"]["f0"]["iterations"]) == 1
    (join,) = task_docs(client, job["_id"], "f0")
    (a,) = task_docs(client, job["_id"], "a")
    (b,) = task_docs(client, job["_id"], "b")
    assert join["metrics"]["start_time"] >= a["metrics"]["end_time"]
    assert join["metrics"]["start_time"] >= b["metrics"]["end_time"]


def test_a_dead_branch_ends_while_the_other_continues(client):
    tasks = {"e": evaluation(1, "==", 2), "f5": new_variable("never", True),
             "b": stub(delay=0.2), "c": new_variable("other", "done")}
    transitions = {"workflow_start": {"e": "success", "b": "success"}, "e": {"f5": "success"},
                   "f5": {"workflow_end": "success"}, "b": {"c": "success"}, "c": {"workflow_end": "success"}}
    job = run(client, tasks, transitions)
    assert job["status"] == "complete", job["error"]
    assert job["variables"]["other"] == "done" and "never" not in job["variables"]
    assert ran(job) == {"e", "b", "c"}
    assert job["tasks"]["f5"]["status"] == "incomplete"


def test_join_still_runs_when_one_predecessor_branch_died(client):
    tasks = {"a": evaluation(1, "==", 2), "b": stub(delay=0.1), "f0": new_variable("joined", True)}
    transitions = {"workflow_start": {"a": "success", "b": "success"}, "a": {"f0": "success"},
                   "b": {"f0": "success"}, "f0": {"workflow_end": "success"}}
    job = run(client, tasks, transitions)
    assert job["status"] == "complete", job["error"]
    assert job["variables"]["joined"] is True and len(job["tasks"]["f0"]["iterations"]) == 1


def test_a_task_no_predecessor_led_to_is_skipped_and_that_propagates(client):
    tasks = {"a": stub("error"), "b": evaluation(1, "==", 2), "f0": new_variable("joined", True),
             "f1": new_variable("after", True), "e": new_variable("handled", True)}
    transitions = {"workflow_start": {"a": "success", "b": "success"}, "a": {"f0": "success", "e": "error"},
                   "b": {"f0": "success"}, "f0": {"f1": "success"}, "f1": {"workflow_end": "success"},
                   "e": {"workflow_end": "success"}}
    job = run(client, tasks, transitions)
    assert job["status"] == "complete", job["error"]
    assert ran(job) == {"a", "b", "e"}
    assert "joined" not in job["variables"] and "after" not in job["variables"]
    assert job["tasks"]["f0"]["status"] == "incomplete" and job["tasks"]["f1"]["status"] == "incomplete"
    assert task_docs(client, job["_id"], "f0") == [] and task_docs(client, job["_id"], "f1") == []


# jobs that cannot go on -----------------------------------------------------------------------------


def test_an_error_without_an_error_transition_errors_the_job_and_starts_nothing_new(client):
    # `a` fails only after a short wait, so the slow branch's f3 has been taken by a worker by then
    tasks = {"a": stub("error", response={"why": "down"}, delay=0.1), "f2": new_variable("next", True),
             "f3": stub(delay=0.5), "f4": new_variable("after_slow", True)}
    transitions = {"workflow_start": {"a": "success", "f3": "success"}, "a": {"f2": "success"},
                   "f2": {"workflow_end": "success"}, "f3": {"f4": "success"}, "f4": {"workflow_end": "success"}}
    create_workflow(client, workflow("wf", tasks, transitions))
    job_id = start_job(client, "wf")["_id"]
    job = wait_for_job(client, job_id)
    assert job["status"] == "error"
    (entry,) = job["error"]
    assert set(entry) == {"task", "message", "timestamp"}
    assert entry["task"] == "a" and entry["message"] == {"why": "down"} and isinstance(entry["timestamp"], int)
    assert job["tasks"]["a"]["status"] == "error"
    assert "end_time" not in job["metrics"]
    # the slow branch finishes its running task, then starts nothing new
    wait_until(lambda: [d for d in task_docs(client, job_id, "f3") if d["status"] == "complete"])
    final = get_job(client, job_id)
    assert final["status"] == "error"
    assert final["tasks"]["f2"]["iterations"] == [] and final["tasks"]["f4"]["iterations"] == []
    assert "next" not in final["variables"] and "after_slow" not in final["variables"]
    assert len(final["error"]) == 1


def test_a_job_whose_branches_all_dead_end_errors_naming_the_tasks(client):
    tasks = {"a": evaluation(1, "==", 2), "b": evaluation("x", "contains", "y")}
    transitions = {"workflow_start": {"a": "success", "b": "success"}, "a": {"workflow_end": "success"},
                   "b": {"workflow_end": "success"}}
    job = run(client, tasks, transitions)
    assert job["status"] == "error"
    (entry,) = job["error"]
    assert entry["task"] == "job" and isinstance(entry["timestamp"], int)
    assert "a" in entry["message"].split() or "a," in entry["message"]
    assert "b could have led" in entry["message"]


def test_a_task_with_no_transitions_at_all_ends_the_job_in_error(client):
    tasks = {"a": stub(), "b": stub()}
    transitions = {"workflow_start": {"a": "success"}, "a": {"b": "success", "workflow_end": "failure"}}
    job = run(client, tasks, transitions)
    assert job["status"] == "error"
    assert "b could have led" in job["error"][0]["message"]


# variables -------------------------------------------------------------------------------------------


def test_var_references_to_job_and_task_values(client):
    tasks = {
        "a1": stub(response="$var.job.device"),
        "b2": new_variable("copied", "$var.a1.response"),
        "c3": stub(response={"literal": "$var.job.device"}),
        "d4": new_variable("fromC", "$var.c3.response"),
    }
    transitions = {"workflow_start": {"a1": "success"}, "a1": {"b2": "success"}, "b2": {"c3": "success"},
                   "c3": {"d4": "success"}, "d4": {"workflow_end": "success"}}
    job = run(client, tasks, transitions, {"device": "r1"})
    assert job["status"] == "complete", job["error"]
    assert job["variables"]["copied"] == "r1"
    assert job["variables"]["fromC"] == {"literal": "$var.job.device"}  # nested $var stays literal
    (b2,) = task_docs(client, job["_id"], "b2")
    assert b2["variables"]["incoming"] == {"name": "copied", "value": "r1"}


def test_outgoing_variables_are_promoted_to_job_variables(client):
    tasks = {"a1": stub(response={"id": 7}, response_="ignored")}
    tasks["a1"]["variables"]["outgoing"] = {"response": "$var.job.result"}
    tasks["a1"]["variables"]["error"] = "$var.job.problem"
    tasks["b2"] = stub("error", response="bad")
    tasks["b2"]["variables"]["error"] = "$var.job.problem"
    tasks["c3"] = new_variable("seen", "$var.b2.error")
    transitions = {"workflow_start": {"a1": "success"}, "a1": {"b2": "success"}, "b2": {"c3": "error"},
                   "c3": {"workflow_end": "success"}}
    job = run(client, tasks, transitions)
    assert job["status"] == "complete", job["error"]
    assert job["variables"]["result"] == {"id": 7}
    assert job["variables"]["problem"] == "bad" and job["variables"]["seen"] == "bad"


def test_id_and_initiator_job_variables(client, world):
    create_workflow(client, workflow("wf", {"a1": new_variable("me", "$var.job.initiator")},
                                     {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}}))
    job = start_job(client, "wf", {"x": 1}, who=world.auth("alice"))
    assert job["variables"]["_id"] == job["_id"] and job["variables"]["initiator"] == "alice"
    done = wait_for_job(client, job["_id"])
    assert done["variables"] == {"x": 1, "_id": job["_id"], "initiator": "alice", "me": "alice"}


# documents -------------------------------------------------------------------------------------------


def test_one_task_document_per_execution_with_every_task_field(client):
    tasks = {"a1": stub(response=1), "b2": evaluation(1, "<", 2)}
    transitions = {"workflow_start": {"a1": "success"}, "a1": {"b2": "success"}, "b2": {"workflow_end": "success"}}
    job = run(client, tasks, transitions)
    docs = task_docs(client, job["_id"])
    assert sorted(d["job"]["task"] for d in docs) == ["a1", "b2"]
    for doc in docs:
        assert set(doc) == TASK_FIELDS
        assert set(doc["metrics"]) >= TASK_METRICS
        assert set(doc["job"]) == {"_id", "task", "name", "description", "ancestors"}
        assert doc["job"]["_id"] == job["_id"] and doc["job"]["name"] == "wf"
        assert set(doc["variables"]) >= {"incoming", "outgoing", "decorators"}
        assert doc["status"] == "complete" and doc["encodingVersion"] == 1
        assert doc["metrics"]["finish_state"] == "success" and doc["metrics"]["server_id"]
        assert doc["metrics"]["run_time"] >= 0
        assert job["tasks"][doc["job"]["task"]]["iterations"] == [doc["_id"]]
        r = client.get(f"/operations-manager/tasks/{doc['_id']}", auth=ADMIN)
        assert r.status_code == 200 and set(r.json()["data"]) == TASK_FIELDS


def test_the_job_document_has_every_field(client):
    job = run(client, {"a1": stub()}, {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}})
    assert set(job) == JOB_FIELDS
    assert set(job["metrics"]) == {"start_time", "end_time", "user", "progress"}
    assert job["ancestors"] == [job["_id"]] and job["parent"] is None
    assert job["encodingVersion"] == 1 and job["type"] == "automation"
    assert len(job["uuid"]) == 36
    started = client.post("/operations-manager/jobs/start", json={"workflow": "wf"}, auth=ADMIN).json()["data"]
    assert set(started) == JOB_FIELDS


# built-ins through the engine --------------------------------------------------------------------------


def test_stub_response_and_error_through_the_engine(client):
    tasks = {"a1": stub(response={"f1": [1]}), "b2": stub("error", response="nope"),
             "c3": new_variable("done", True)}
    transitions = {"workflow_start": {"a1": "success"}, "a1": {"b2": "success"}, "b2": {"c3": "error"},
                   "c3": {"workflow_end": "success"}}
    job = run(client, tasks, transitions)
    (a1,) = task_docs(client, job["_id"], "a1")
    (b2,) = task_docs(client, job["_id"], "b2")
    assert a1["variables"]["outgoing"] == {"response": {"f1": [1]}}
    assert b2["status"] == "error" and b2["metrics"]["finish_state"] == "error"
    assert b2["variables"]["error"] == "nope"


def test_evaluation_and_merge_through_the_engine(client):
    merge = task("merge", data_to_merge=[
        {"key": "device", "value": {"task": "job", "variable": "device"}},
        {"key": "site", "value": {"task": "static", "variable": "lab"}},
        {"key": "resp", "value": {"task": "a1", "variable": "response"}},
        {"key": "resp", "value": {"task": "static", "variable": "again"}},
    ])
    merge["variables"]["outgoing"] = {"merged_object": "$var.job.merged"}
    check = task("evaluation", all_true_flag=False, evaluation_groups=[
        {"all_true_flag": True, "evaluations": [
            {"operand_1": {"task": "job", "variable": "count"}, "operator": ">=", "operand_2": {"task": "static",
                                                                                                 "variable": 3}},
            {"operand_1": {"task": "a1", "variable": "response"}, "operator": "contains",
             "operand_2": {"task": "static", "variable": "ok"}}]},
        {"all_true_flag": True, "evaluations": [
            {"operand_1": {"task": "static", "variable": 1}, "operator": "==",
             "operand_2": {"task": "static", "variable": 2}}]},
    ])
    tasks = {"a1": stub(response="all ok"), "b2": check, "c3": merge}
    transitions = {"workflow_start": {"a1": "success"}, "a1": {"b2": "success"}, "b2": {"c3": "success"},
                   "c3": {"workflow_end": "success"}}
    job = run(client, tasks, transitions, {"device": "r1", "count": "5"})
    assert job["status"] == "complete", job["error"]
    assert job["variables"]["merged"] == {"device": "r1", "site": "lab", "resp": ["all ok", "again"]}
    (b2,) = task_docs(client, job["_id"], "b2")
    assert b2["variables"]["outgoing"] == {"return_value": True}


def test_a_delay_holds_no_worker(db):
    settings = Settings(database_url=db.url, engine_workers=1, engine_poll_seconds=0.05)
    with TestClient(create_app(settings, db)) as client:
        slow = task("delay", time=2)
        slow["variables"]["outgoing"] = {"time_in_milliseconds": "$var.job.waited"}
        create_workflow(client, workflow("slow", {"a1": slow},
                                         {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}}))
        create_workflow(client, workflow("fast", {"a1": stub(), "b2": new_variable("x", 1), "c3": stub()},
                                         {"workflow_start": {"a1": "success"}, "a1": {"b2": "success"},
                                          "b2": {"c3": "success"}, "c3": {"workflow_end": "success"}}))
        slow_job = start_job(client, "slow")
        wait_until(lambda: [d for d in task_docs(client, slow_job["_id"], "a1") if d["status"] == "running"])
        fast_job = start_job(client, "fast")
        fast = wait_for_job(client, fast_job["_id"])
        assert fast["status"] == "complete"
        assert get_job(client, slow_job["_id"])["status"] == "running"  # still waiting: it freed the worker
        done = wait_for_job(client, slow_job["_id"])
        assert done["status"] == "complete" and done["variables"]["waited"] == 2000


def test_a_wide_fan_out_joins_exactly_once(client):
    branches = [f"{i:x}0" for i in range(1, 11)]
    tasks = {key: stub(response=key) for key in branches}
    tasks["ff"] = new_variable("joined", True)
    transitions = {"workflow_start": {key: "success" for key in branches},
                   **{key: {"ff": "success"} for key in branches}, "ff": {"workflow_end": "success"}}
    job = run(client, tasks, transitions)
    assert job["status"] == "complete", job["error"]
    assert len(job["tasks"]["ff"]["iterations"]) == 1 and len(task_docs(client, job["_id"], "ff")) == 1
    assert ran(job) == {*branches, "ff"}
    assert job["metrics"]["progress"] == 1
