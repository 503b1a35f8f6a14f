"""Search features by example (issue #4; decisions §4, §7, §9; ops-manager-api §4, Appendix A): the workable
and retryable task views, `dereference`, `contains[description]` text search, JSON paths over encrypted
variables, workflow search, and `getTasks` with `queryParameters`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opsmgr.api.app import create_app
from opsmgr.config import Settings
from opsmgr.services import secrets
from opsmgr.store.database import Database
from tests.engine.test_child_jobs import child_job, child_workflow, parent_workflow
from tests.engine.test_execution import stub
from tests.helpers import (
    approval_workflow,
    create_workflow,
    manual,
    start_job,
    task,
    wait_for_job,
    waiting_task,
    workflow,
)

ADMIN = ("admin", "admin")


def search(client: TestClient, path: str, params: Any = None, who: tuple[str, str] = ADMIN) -> dict[str, Any]:
    r = client.get(path, params=params or {}, auth=who)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def ids(body: dict[str, Any]) -> list[str]:
    return [d["_id"] for d in body["data"]]


# workable / retryable ---------------------------------------------------------------------------------------


def _manual_job(client: TestClient, name: str, task_groups: list[str] | None = None,
                job_groups: list[str] | None = None) -> tuple[str, str]:
    doc = workflow(name, {"a1": manual(task_groups)}, {"workflow_start": {"a1": "success"},
                                                       "a1": {"workflow_end": "success"}})
    create_workflow(client, doc)
    job_id = start_job(client, name, groups=job_groups)["_id"]
    return job_id, waiting_task(client, job_id, "a1")["_id"]


def test_workable_lists_what_the_caller_may_work_unassigned_or_own(client, world):
    """decisions §4 "who may work a manual task": task groups, else job groups, else a write role."""
    _, open_task = _manual_job(client, "open")
    _, netops_task = _manual_job(client, "netops-task", task_groups=[world.netops])
    _, netops_job = _manual_job(client, "netops-job", job_groups=[world.netops])
    _, bobs = _manual_job(client, "bobs")
    assert client.post(f"/operations-manager/tasks/{bobs}/claim", json={}, auth=world.auth("bob")).status_code == 200
    url = "/operations-manager/tasks/workable"

    def inbox(who: str, **params: str) -> set[str]:
        return set(ids(search(client, url, {"limit": "100", **params}, world.auth(who))))

    assert inbox("alice") == {open_task, netops_task, netops_job}
    assert inbox("bob") == {open_task, netops_task, netops_job, bobs}
    assert inbox("dave") == {open_task}  # operations, in no group: only the task without any groups
    assert inbox("carol") == set()  # apiread may read but not work
    assert inbox("admin") == {open_task, netops_task, netops_job}  # bob's task is not unassigned
    assert inbox("alice", **{"starts-with[name]": "View"}) == inbox("alice")
    assert inbox("alice", **{"equals[job._id]": "0" * 24}) == set()
    body = search(client, url, {"sort": "metrics.start_time", "order": "-1", "limit": "1"}, world.auth("alice"))
    assert body["metadata"]["total"] == 3 and len(body["data"]) == 1


def test_retryable_lists_errored_tasks_of_visible_jobs(client, world):
    doc = workflow("fails", {"a1": stub("error", response="boom")},
                   {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}})
    create_workflow(client, doc)
    mine = wait_for_job(client, start_job(client, "fails", groups=[world.netops])["_id"])
    theirs = wait_for_job(client, start_job(client, "fails")["_id"])
    url = "/operations-manager/tasks/retryable"
    body = search(client, url, {"include": "_id,status,job"}, world.auth("alice"))
    assert {d["job"]["_id"] for d in body["data"]} == {mine["_id"], theirs["_id"]}
    assert all(d["status"] == "error" for d in body["data"])
    assert {d["job"]["_id"] for d in search(client, url, {}, world.auth("dave"))["data"]} == {theirs["_id"]}
    assert search(client, url, {"equals[job._id]": theirs["_id"]}, world.auth("alice"))["metadata"]["total"] == 1


def test_view_routes_are_not_taken_for_a_task_id(client, world):
    for view in ("workable", "retryable"):
        r = client.get(f"/operations-manager/tasks/{view}", params={"limit": "0"}, auth=ADMIN)
        assert r.status_code == 400 and r.json()["metadata"]["errors"][0]["path"] == "limit"


# dereference ---------------------------------------------------------------------------------------------


def test_task_dereference_job_and_owner(client, world):
    create_workflow(client, approval_workflow())
    job_id = start_job(client, "approve", groups=[world.netops])["_id"]
    task_id = waiting_task(client, job_id, "a1")["_id"]
    client.post(f"/operations-manager/tasks/{task_id}/claim", json={}, auth=world.auth("alice"))
    body = search(client, "/operations-manager/tasks",
                  {"equals[_id]": task_id, "dereference": "job,accounts.metrics.owner"}, world.auth("bob"))
    (doc,) = body["data"]
    assert doc["job"]["_id"] == job_id and doc["job"]["groups"] == [world.netops] and "tasks" in doc["job"]
    assert doc["metrics"]["owner"]["username"] == "alice" and doc["metrics"]["owner"]["_id"] == world.ids["alice"]
    assert "secret_hash" not in doc["metrics"]["owner"]
    one = search(client, f"/operations-manager/tasks/{task_id}", {"dereference": "job"}, world.auth("bob"))
    assert one["data"]["job"]["_id"] == job_id
    r = client.get("/operations-manager/tasks", params={"dereference": "jobs"}, auth=ADMIN)
    assert r.status_code == 400 and "'jobs'" in r.text


def test_job_dereference_tasks_and_created_by(client, world):
    create_workflow(client, approval_workflow())
    job_id = start_job(client, "approve", who=world.auth("alice"))["_id"]
    waiting_task(client, job_id, "a1")
    (doc,) = search(client, "/operations-manager/jobs",
                    {"equals[_id]": job_id, "dereference": "tasks,accounts.createdBy"})["data"]
    assert doc["created_by"]["username"] == "alice"
    (iteration,) = doc["tasks"]["a1"]["iterations"]
    assert iteration["status"] == "running" and iteration["job"]["_id"] == job_id
    one = search(client, f"/operations-manager/jobs/{job_id}", {"dereference": "accounts.createdBy"})["data"]
    assert one["created_by"]["_id"] == world.ids["alice"]


def test_child_job_output_dereference(client, db, world):
    create_workflow(client, child_workflow(delay=None))
    create_workflow(client, parent_workflow(child_job("child", {"x": {"task": "static", "value": "hi"}})))
    job = wait_for_job(client, start_job(client, "parent")["_id"])
    (doc,) = search(client, "/operations-manager/tasks", {"equals[job._id]": job["_id"], "equals[job.task]": "c1",
                                                          "dereference": "child-job-output"})["data"]
    details = doc["variables"]["outgoing"]["job_details"]
    assert details["output"]["seen"] == "hi" and details["status"] == "complete"


# text search on description -----------------------------------------------------------------------------


@pytest.fixture
def described(client) -> dict[str, str]:
    doc = workflow("d", {"a1": task("stub")}, {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}})
    create_workflow(client, doc)
    out = {}
    for text in ("Upgrade core Router at site A", "router lab test", "Dry run of the upgrade", "50%_off ÉTÉ"):
        r = client.post("/operations-manager/jobs/start", json={"workflow": "d", "options": {"description": text}},
                        auth=ADMIN)
        out[text] = r.json()["data"]["_id"]
    return out


@pytest.mark.parametrize("query, expected", [
    ("router", {"Upgrade core Router at site A", "router lab test"}),
    ("ROUTER dry", {"Upgrade core Router at site A", "router lab test", "Dry run of the upgrade"}),
    ('"site a"', {"Upgrade core Router at site A"}),
    ('"core router" "at site"', {"Upgrade core Router at site A"}),
    ('"core router" lab', set()),
    ("router -lab", {"Upgrade core Router at site A"}),
    ('upgrade -"dry run"', {"Upgrade core Router at site A"}),
    ("%_", {"50%_off ÉTÉ"}),
    ("été", set()),  # only A-Z fold: the same on SQLite and PostgreSQL
    ("ÉTÉ", {"50%_off ÉTÉ"}),
])
def test_contains_description_is_a_word_and_phrase_search(client, described, query, expected):
    """ops-manager-api §4.3: on /jobs, contains[description] uses text search (words, phrases, negation)."""
    body = search(client, "/operations-manager/jobs", {"contains[description]": query, "limit": "100"})
    assert {d["description"] for d in body["data"]} == expected


# JSON paths and encrypted values --------------------------------------------------------------------------


@pytest.fixture
def keyed_client(db: Database, settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    keyed = settings.model_copy(update={"key_file": str(tmp_path / "test.key")})
    secrets.ensure_key(keyed)
    with TestClient(create_app(keyed, db)) as test_client:
        yield test_client


def test_encrypted_variables_cannot_be_matched_by_plaintext(keyed_client):
    """decisions §7: the value is stored sealed; a search by its plaintext (or inside the sealed object)
    finds nothing, while the path still exists."""
    client = keyed_client
    doc = workflow("s", {"a1": task("stub")}, {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}})
    doc["decorators"] = [{"type": "encryption", "pointer": "/variables/password"}]
    create_workflow(client, doc)
    job_id = wait_for_job(client, start_job(client, "s", {"password": "hunter2", "user": "bob",
                                                          "n": {"deep": 3}})["_id"])["_id"]
    url = "/operations-manager/jobs"
    for params in ({"equals[variables.password]": "hunter2"}, {"contains[variables.password]": "hunter"},
                   {"equals[variables.password]": "****"}, {"exists[variables.password.data]": "true"},
                   {"exists[variables.password.nonce]": "true"}, {"gt[variables.password]": ""}):
        assert search(client, url, params)["metadata"]["total"] == 0, params
    for params in ({"exists[variables.password]": "true"}, {"equals[variables.user]": "bob"},
                   {"equals[variables.n.deep]": "3"}, {"gte[variables.n.deep]": "2.5"},
                   {"in[variables.n.deep]": "x,3.0"}, {"not-in[variables.user]": "alice"}):
        assert ids(search(client, url, params)) == [job_id], params


def test_json_path_typing_rule(client):
    """docs/api.md "JSON paths": text equals strings; a number also equals numbers; true/false booleans."""
    doc = workflow("v", {"a1": task("stub")}, {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}})
    create_workflow(client, doc)
    values = {"str5": "5", "num5": 5, "float": 5.0, "yes": True, "text": "true", "nul": None, "obj": {"5": 5}}
    made = {k: wait_for_job(client, start_job(client, "v", {"v": v})["_id"])["_id"] for k, v in values.items()}
    url = "/operations-manager/jobs"

    def found(**params: str) -> set[str]:
        body = search(client, url, {**params, "limit": "100"})
        return {k for k, i in made.items() if i in ids(body)}

    assert found(**{"equals[variables.v]": "5"}) == {"str5", "num5", "float"}
    assert found(**{"equals[variables.v]": "5.0"}) == {"num5", "float"}
    assert found(**{"equals[variables.v]": "true"}) == {"yes", "text"}
    assert found(**{"gt[variables.v]": "4"}) == {"num5", "float"}
    assert found(**{"gt[variables.v]": "4x"}) == {"str5", "text"}  # strings by code point
    assert found(**{"exists[variables.v]": "true"}) == set(values)
    assert found(**{"exists[variables.v.5]": "true"}) == {"obj"}
    assert found(**{"not-in[variables.v]": "5,true"}) == {"nul", "obj"}
    assert found(**{"exists[variables.w]": "false"}) == set(values)


# workflows and getTasks -------------------------------------------------------------------------------


def test_workflow_search_takes_the_bracket_syntax(client):
    """ops-manager-api Appendix A: GET /automation-studio/workflows with equals[name], fields of the document."""
    create_workflow(client, approval_workflow("first"))
    doc = workflow("second", {"a1": task("stub")}, {"workflow_start": {"a1": "success"},
                                                     "a1": {"workflow_end": "success"}})
    doc["description"] = "the second one"
    create_workflow(client, doc)
    r = client.get("/automation-studio/workflows", params={"contains[description]": "second"}, auth=ADMIN)
    assert r.status_code == 200 and [w["name"] for w in r.json()["items"]] == ["second"]
    r = client.get("/automation-studio/workflows", params={"equals[tasks.a1.name]": "ViewData",
                                                           "include": "name"}, auth=ADMIN)
    assert r.json()["items"] == [{"_id": r.json()["items"][0]["_id"], "name": "first"}]
    r = client.get("/automation-studio/workflows", params={"sort": "last_updated", "order": "-1"}, auth=ADMIN)
    assert [w["name"] for w in r.json()["items"]] == ["second", "first"]
    r = client.get("/automation-studio/workflows", params={"sort": "description"}, auth=ADMIN)
    assert r.status_code == 400


def test_get_tasks_workflow_task_with_query_parameters(client, world):
    """workflow-semantics §3 (getTasks): the same operators as a queryParameters object."""
    create_workflow(client, approval_workflow())
    job_id = start_job(client, "approve")["_id"]
    waiting_task(client, job_id, "a1")
    query = {"equals": {"type": "manual", "job": {"_id": job_id}}, "in": {"status": ["running", "paused"]},
             "exists": {"metrics": {"server_id": True}}, "sort": "metrics.start_time", "order": -1, "limit": 5,
             "include": "name,status"}
    doc = workflow("asker", {"b1": task("getTasks", app="OperationsManager", queryParameters=query)},
                   {"workflow_start": {"b1": "success"}, "b1": {"workflow_end": "success"}})
    doc["tasks"]["b1"]["variables"]["outgoing"] = {"response": "$var.job.found"}
    create_workflow(client, doc)
    done = wait_for_job(client, start_job(client, "asker")["_id"])
    assert done["status"] == "complete", done["error"]
    found = done["variables"]["found"]
    assert found["metadata"]["total"] == 1 and found["data"][0]["name"] == "ViewData"

    bad = {"equals": {"variables": {"a b": 1}}}
    doc = workflow("bad-asker", {"b1": task("getTasks", app="OperationsManager", queryParameters=bad)},
                   {"workflow_start": {"b1": "success"}, "b1": {"workflow_end": "success"}})
    create_workflow(client, doc)
    failed = wait_for_job(client, start_job(client, "bad-asker")["_id"])
    assert failed["status"] == "error"
    assert "equals[variables.a b]" in str(failed["error"])


def test_lists_of_ids_groups_watchers(client, world):
    """Jobs' `groups` (job_group rows) and `watchers` (a JSON list): equals/in/not-in/exists (docs/api.md)."""
    doc = workflow("g", {"a1": task("stub")}, {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}})
    create_workflow(client, doc)
    grouped = start_job(client, "g", groups=[world.netops])["_id"]
    plain = start_job(client, "g")["_id"]
    client.post(f"/operations-manager/jobs/{plain}/watch", json={}, auth=world.auth("alice"))
    url = "/operations-manager/jobs"
    assert ids(search(client, url, {"equals[groups]": world.netops})) == [grouped]
    assert ids(search(client, url, {"not-in[groups]": f"{world.netops},{'0' * 24}"})) == [plain]
    assert ids(search(client, url, {"exists[groups]": "false"})) == [plain]
    assert ids(search(client, url, {"equals[watchers]": world.ids["alice"]})) == [plain]
    assert ids(search(client, url, {"in[ancestors]": grouped})) == [grouped]
    r = client.get(url, params={"contains[groups]": "a"}, auth=ADMIN)
    assert r.status_code == 400 and r.json()["metadata"]["errors"][0]["path"] == "contains[groups]"
    assert client.get(url, params={"sort": "groups"}, auth=ADMIN).status_code == 400


def test_query_parameters_name_what_is_malformed():
    """getJobs/getTasks: a malformed queryParameters names the operator and field (never a crash)."""
    from opsmgr.engine.library.opsmgr_search import QueryError, query_pairs
    assert query_pairs({"equals": {"variables": {"a": {"b": 1}}}, "dereference": "job"}) == [
        ("equals[variables.a.b]", "1"), ("dereference", "job")]
    with pytest.raises(QueryError, match=r"equals: name needs a value"):
        query_pairs({"equals": {"name": {}}})
