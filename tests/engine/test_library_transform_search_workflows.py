"""transformation and getJobs inside real jobs, through the API with the engine running."""

from __future__ import annotations

from tests.engine.test_library_transform import JST, RESPONSE
from tests.helpers import create_workflow, start_job, task, wait_for_job, workflow


def test_transformation_between_tasks_promotes_its_outgoing_fields(client):
    f19d = task("transformation", tr_id="", transformation=JST,
                variableMap={"createVpcResponse": "$var.job.created", "vpcName": "$var.job.vpcName"},
                options={"extractOutput": True})
    f19d["variables"]["outgoing"] = {"vpcId": "$var.job.vpcId", "vpcTags": None, "slug": None, "unused": None}
    e803 = task("stub", response="$var.f19d.vpcTags")
    e803["variables"]["outgoing"] = {"response": "$var.job.tags"}
    create_workflow(client, workflow("vpc", {"f19d": f19d, "e803": e803}, {
        "workflow_start": {"f19d": "success"}, "f19d": {"e803": "success"}, "e803": {"workflow_end": "success"}}))
    job = wait_for_job(client, start_job(client, "vpc", {"created": RESPONSE, "vpcName": "Core East"})["_id"])
    assert job["status"] == "complete", job
    assert job["variables"]["vpcId"] == "vpc-0a1b"
    assert job["variables"]["tags"] == {"Name": "Core East", "state": "pending"}


def test_import_of_a_tr_id_transformation_is_a_400_naming_it(client):
    doc = workflow("by id", {"f19d": task("transformation", tr_id="5f08c7a5fd7aaf755869ff34", variableMap={})},
                   {"workflow_start": {"f19d": "success"}, "f19d": {"workflow_end": "success"}})
    r = client.post("/automation-studio/automations", json={"automation": doc}, auth=("admin", "admin"))
    assert r.status_code == 400
    assert "transformation documents by tr_id are not supported yet" in r.text


def test_get_jobs_runs_as_the_job_initiator(client, world):
    create_workflow(client, workflow("secret", {"a1": task("stub")},
                                     {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}}))
    wait_for_job(client, start_job(client, "secret", groups=[world.netops])["_id"])
    a1 = task("getJobs", app="OperationsManager", type_="automatic",
              queryParameters={"equals": {"name": "secret"}, "include": ["name", "status"], "limit": 5})
    a1["variables"]["outgoing"] = {"response": "$var.job.found"}
    create_workflow(client, workflow("finder", {"a1": a1},
                                     {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}}))

    seen = wait_for_job(client, start_job(client, "finder", who=world.auth("alice"))["_id"])
    assert seen["status"] == "complete", seen
    assert [d["name"] for d in seen["variables"]["found"]["data"]] == ["secret"]
    assert seen["variables"]["found"]["metadata"]["total"] == 1
    unseen = wait_for_job(client, start_job(client, "finder", who=world.auth("dave"))["_id"])
    assert unseen["status"] == "complete" and unseen["variables"]["found"]["data"] == []


def test_get_tasks_with_a_bad_query_errors_the_job(client, world):
    a1 = task("getTasks", app="OperationsManager", type_="automatic", queryParameters={"equals": {"nope": 1}})
    create_workflow(client, workflow("bad", {"a1": a1},
                                     {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}}))
    job = wait_for_job(client, start_job(client, "bad")["_id"])
    assert job["status"] == "error" and "unknown field 'nope'" in str(job["error"])
