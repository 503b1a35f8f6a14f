"""Library tasks inside real jobs, through the API with the engine running (workflow-semantics §3.6)."""

from __future__ import annotations

from typing import Any

from tests.helpers import create_workflow, start_job, task, wait_for_job, workflow


def with_outgoing(entry: dict[str, Any], **outgoing: Any) -> dict[str, Any]:
    entry["variables"]["outgoing"] = outgoing
    return entry


def run(client, tasks: dict, transitions: dict, variables: dict | None = None, name: str = "wf") -> dict:
    create_workflow(client, workflow(name, tasks, transitions))
    return wait_for_job(client, start_job(client, name, variables)["_id"])


def test_query_result_drives_an_evaluation_branch(client):
    tasks = {
        "a1": with_outgoing(task("query", pass_on_null=False, query="interfaces[name=eth1].status",
                                 obj="$var.job.device"), return_data="$var.job.status"),
        "b2": task("evaluation", all_true_flag=True, evaluation_groups=[{"all_true_flag": True, "evaluations": [
            {"operand_1": {"task": "a1", "variable": "return_data"}, "operator": "==",
             "operand_2": {"task": "static", "variable": "up"}}]}]),
        "c3": task("newVariable", name="path", value="up"),
        "d4": task("newVariable", name="path", value="down"),
        "e5": task("newVariable", name="path", value="no such interface"),
    }
    transitions = {"workflow_start": {"a1": "success"}, "a1": {"b2": "success", "e5": "failure"},
                   "b2": {"c3": "success", "d4": "failure"}, "c3": {"workflow_end": "success"},
                   "d4": {"workflow_end": "success"}, "e5": {"workflow_end": "success"}}
    device = {"interfaces": [{"name": "eth0", "status": "up"}, {"name": "eth1", "status": "down"}]}
    job = run(client, tasks, transitions, {"device": device})
    assert job["status"] == "complete" and job["variables"]["path"] == "down" and job["variables"]["status"] == "down"

    device["interfaces"].pop()
    job = run(client, tasks, transitions, {"device": device}, name="wf2")
    assert job["status"] == "complete" and job["variables"]["path"] == "no such interface"
    assert job["tasks"]["a1"]["finish_state"] == "failure"


def test_push_on_a_job_variable_then_array_length(client):
    tasks = {
        "a1": with_outgoing(task("push", job_variable="devices", item_to_push="r3"), job_variable_value=None),
        "b2": with_outgoing(task("push", job_variable="devices", item_to_push="$var.job.extra"),
                            job_variable_value=None),
        "c3": with_outgoing(task("arrayLength", type_="automatic", arr="$var.job.devices"), length="$var.job.count"),
    }
    transitions = {"workflow_start": {"a1": "success"}, "a1": {"b2": "success"}, "b2": {"c3": "success"},
                   "c3": {"workflow_end": "success"}}
    job = run(client, tasks, transitions, {"devices": ["r1", "r2"], "extra": {"name": "r4"}})
    assert job["status"] == "complete"
    assert job["variables"]["devices"] == ["r1", "r2", "r3", {"name": "r4"}] and job["variables"]["count"] == 4


def test_push_on_a_missing_job_variable_errors_the_job(client):
    tasks = {"a1": task("push", job_variable="nope", item_to_push=1)}
    job = run(client, tasks, {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}})
    assert job["status"] == "error" and "nope" in str(job["error"])


def test_update_job_description_changes_the_job(client):
    tasks = {
        "a1": with_outgoing(task("makeData", type_="automatic", input="Provision <!host!> (<!n!> ports)",
                                 outputType="string", variables="$var.job.info"), output=None),
        "b2": with_outgoing(task("updateJobDescription", description="$var.a1.output"), description=None),
    }
    transitions = {"workflow_start": {"a1": "success"}, "a1": {"b2": "success"}, "b2": {"workflow_end": "success"}}
    job = run(client, tasks, transitions, {"info": {"host": "r1", "n": 48}})
    assert job["status"] == "complete"
    assert job["description"] == "Provision r1 (48 ports)"
