"""Automation Studio workflow routes (ops-manager-api Appendix A) and import validation (issue #2 item 4)."""

from __future__ import annotations

import copy
import re

from tests.helpers import (
    approval_workflow,
    create_workflow,
    get_job,
    start_job,
    task,
    wait_for_job,
    waiting_task,
    workflow,
)

ADMIN = ("admin", "admin")
MISSING_ID = "0" * 24  # well-formed (decisions §1: workflow ids are 24-hex) but unknown


def simple(name: str = "simple") -> dict:
    return workflow(name, {"a1": task("stub", type="success")},
                    {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}})


def broken(name: str = "broken") -> dict:
    """One document with every kind of problem the import must report."""
    doc = simple(name)
    doc["tasks"]["zz"] = task("stub")  # not hex (and unreachable)
    doc["transitions"]["zz"] = {}
    doc["tasks"]["b2"] = task("ViewData", type_="manual")  # manual without a view
    doc["transitions"]["a1"]["b2"] = {"type": "standard", "state": "error"}
    doc["transitions"]["a1"]["dead"] = {"type": "standard", "state": "failure"}  # unknown target
    doc["tasks"]["c3"] = task("frobnicate", app="Nowhere")  # unknown app/name, unreachable, no transitions
    return doc


def search(client, **params) -> dict:
    r = client.get("/automation-studio/workflows", params=params, auth=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()


def total(client) -> int:
    return search(client)["total"]


def test_create_returns_the_stored_workflow_and_an_edit_link(client):
    r = client.post("/automation-studio/automations", json={"automation": simple()}, auth=ADMIN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"created", "edit"}
    created = body["created"]
    assert created["name"] == "simple" and created["tasks"] == simple()["tasks"]
    assert re.fullmatch(r"[0-9a-f]{24}", created["_id"])  # decisions §1
    assert created["_id"] in body["edit"]
    for key in ("created", "created_by", "last_updated", "last_updated_by", "encodingVersion"):
        assert key in created


def test_create_rejects_with_every_problem_and_stores_nothing(client):
    r = client.post("/automation-studio/automations", json={"automation": broken()}, auth=ADMIN)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["data"] is None
    problems = body["metadata"]["errors"]
    assert all(set(p) == {"path", "message"} for p in problems)
    paths = {p["path"] for p in problems}
    assert {
        "automation.tasks.zz",
        "automation.tasks.b2.view",
        "automation.transitions.a1.dead",
        "automation.tasks.c3",
        "automation.transitions.c3",
    } <= paths
    messages = " ".join(p["message"] for p in problems)
    assert "hex" in messages and "unreachable" in messages and "Nowhere.frobnicate" in messages
    assert total(client) == 0


def test_a_workflow_that_is_not_an_object_or_a_bad_body_is_a_400(client):
    assert client.post("/automation-studio/automations", json={"automation": "x"}, auth=ADMIN).status_code == 400
    assert client.post("/automation-studio/automations", json={"workflow": simple()}, auth=ADMIN).status_code == 400
    assert client.post("/automation-studio/automations", content=b"{", auth=ADMIN,
                       headers={"content-type": "application/json"}).status_code == 400


def test_duplicate_name_is_a_conflict(client):
    create_workflow(client, simple())
    r = client.post("/automation-studio/automations", json={"automation": simple()}, auth=ADMIN)
    assert r.status_code == 409, r.text
    assert total(client) == 1


def test_search_by_name_in_automation_studio_shape(client):
    for name in ("alpha", "beta", "gamma"):
        create_workflow(client, simple(name))
    page = search(client, **{"equals[name]": "beta"})
    assert {"items", "total", "skip", "limit"} <= set(page)
    assert page["total"] == 1 and [w["name"] for w in page["items"]] == ["beta"]
    everything = search(client)
    assert everything["total"] == 3 and everything["skip"] == 0
    assert [w["name"] for w in everything["items"]] == ["alpha", "beta", "gamma"]
    paged = search(client, limit=2, skip=1)
    assert paged["total"] == 3 and paged["limit"] == 2 and [w["name"] for w in paged["items"]] == ["beta", "gamma"]
    by_id = search(client, **{"equals[_id]": page["items"][0]["_id"]})
    assert by_id["total"] == 1


def test_search_rejects_unknown_operators_and_fields(client):
    for params in ({"nope[name]": "x"}, {"equals[color]": "x"}, {"limit": "0"}, {"skip": "-1"}):
        r = client.get("/automation-studio/workflows", params=params, auth=ADMIN)
        assert r.status_code == 400, (params, r.text)


def test_detailed_by_name(client):
    created = create_workflow(client, simple("My Workflow"))
    r = client.get("/automation-studio/workflows/detailed/My Workflow", auth=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["_id"] == created["_id"] and r.json()["tasks"] == simple()["tasks"]
    assert client.get("/automation-studio/workflows/detailed/nope", auth=ADMIN).status_code == 404


def test_update_replaces_the_document(client):
    created = create_workflow(client, simple())
    changed = simple("renamed")
    changed["tasks"]["a1"]["variables"]["incoming"]["response"] = 42
    r = client.put(f"/automation-studio/automations/{created['_id']}", json={"update": changed}, auth=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["_id"] == created["_id"] and r.json()["name"] == "renamed"
    detailed = client.get("/automation-studio/workflows/detailed/renamed", auth=ADMIN).json()
    assert detailed["tasks"]["a1"]["variables"]["incoming"]["response"] == 42
    assert client.get("/automation-studio/workflows/detailed/simple", auth=ADMIN).status_code == 404


def test_update_errors(client):
    created = create_workflow(client, simple())
    create_workflow(client, simple("other"))
    url = f"/automation-studio/automations/{created['_id']}"
    r = client.put(url, json={"update": broken("simple")}, auth=ADMIN)
    assert r.status_code == 400 and len(r.json()["metadata"]["errors"]) >= 5
    assert client.put(url, json={"update": simple("other")}, auth=ADMIN).status_code == 409
    assert client.put(url, json={"automation": simple()}, auth=ADMIN).status_code == 400
    r = client.put(f"/automation-studio/automations/{MISSING_ID}", json={"update": simple()}, auth=ADMIN)
    assert r.status_code == 404
    r = client.put("/automation-studio/automations/not-an-id", json={"update": simple()}, auth=ADMIN)
    assert r.status_code == 400 and "id" in r.json()["message"]
    # nothing changed
    assert client.get("/automation-studio/workflows/detailed/simple", auth=ADMIN).json()["tasks"] == simple()["tasks"]


def test_delete(client):
    created = create_workflow(client, simple())
    assert client.delete("/automation-studio/automations/not-an-id", auth=ADMIN).status_code == 400
    assert client.delete(f"/automation-studio/automations/{MISSING_ID}", auth=ADMIN).status_code == 404
    r = client.delete(f"/automation-studio/automations/{created['_id']}", auth=ADMIN)
    assert r.status_code == 200, r.text
    assert total(client) == 0
    assert client.delete(f"/automation-studio/automations/{created['_id']}", auth=ADMIN).status_code == 404


def test_import_several(client):
    first = simple("one")
    first["_id"] = MISSING_ID  # a given _id is replaced
    r = client.post("/automation-studio/automations/import", json={"automations": [first, simple("two")]}, auth=ADMIN)
    assert r.status_code == 200, r.text
    imported = r.json()["imported"]
    assert len(imported) == 2
    ids = [item["data"]["_id"] for item in imported]
    assert MISSING_ID not in ids and len(set(ids)) == 2
    assert sorted(w["name"] for w in search(client)["items"]) == ["one", "two"]


def test_import_is_all_or_nothing_and_lists_every_problem(client):
    docs = [simple("good"), broken("bad"), "not a workflow"]
    r = client.post("/automation-studio/automations/import", json={"automations": docs}, auth=ADMIN)
    assert r.status_code == 400, r.text
    paths = {p["path"] for p in r.json()["metadata"]["errors"]}
    assert {"automations.1.tasks.zz", "automations.1.tasks.b2.view", "automations.1.transitions.a1.dead",
            "automations.1.tasks.c3", "automations.2"} <= paths
    assert total(client) == 0


def test_import_with_a_name_repeated_in_the_batch_stores_nothing(client):
    r = client.post("/automation-studio/automations/import", json={"automations": [simple("x"), simple("x")]},
                    auth=ADMIN)
    assert r.status_code == 400, r.text
    assert total(client) == 0


def test_import_clashing_with_an_existing_name_stores_nothing(client):
    create_workflow(client, simple("taken"))
    r = client.post("/automation-studio/automations/import",
                    json={"automations": [simple("fresh"), simple("taken")]}, auth=ADMIN)
    assert r.status_code == 409, r.text
    assert [w["name"] for w in search(client)["items"]] == ["taken"]


def test_import_body_is_validated(client):
    for body in ({"automations": "x"}, {}, {"automations": [], "extra": 1}):
        assert client.post("/automation-studio/automations/import", json=body, auth=ADMIN).status_code == 400


def test_workflow_routes_check_roles(client, world):
    assert client.get("/automation-studio/workflows", auth=world.auth("carol")).status_code == 200
    r = client.post("/automation-studio/automations", json={"automation": simple()}, auth=world.auth("carol"))
    assert r.status_code == 403
    assert client.get("/automation-studio/workflows").status_code == 401


def test_editing_a_workflow_does_not_change_a_running_job(client, world):
    created = create_workflow(client, approval_workflow())
    job = start_job(client, "approve")
    waiting_task(client, job["_id"], "a1")
    before = get_job(client, job["_id"])

    changed = copy.deepcopy(approval_workflow())
    changed["tasks"]["b2"]["variables"]["incoming"]["value"] = "edited"
    r = client.put(f"/automation-studio/automations/{created['_id']}", json={"update": changed}, auth=ADMIN)
    assert r.status_code == 200, r.text
    # deleting it does not matter either
    assert client.delete(f"/automation-studio/automations/{created['_id']}", auth=ADMIN).status_code == 200

    after = get_job(client, job["_id"])
    assert after["tasks"]["b2"]["variables"] == before["tasks"]["b2"]["variables"]
    r = client.post(f"/operations-manager/jobs/{job['_id']}/tasks/a1/finish",
                    json={"taskData": {"finish_state": "success", "variables": {}}}, auth=ADMIN)
    assert r.status_code == 200, r.text
    done = wait_for_job(client, job["_id"])
    assert done["status"] == "complete"
    assert done["variables"]["approved"] is True  # the snapshot's value, not "edited"


def test_unstorable_values_are_a_400_not_a_500(client):
    doc = simple("a\u0000b")
    doc["tasks"]["a1"]["variables"]["incoming"]["response"] = "x\u0000"
    r = client.post("/automation-studio/automations", json={"automation": doc}, auth=ADMIN)
    assert r.status_code == 400, r.text
    assert {"automation.name", "automation.tasks.a1.variables.incoming.response"} <= {
        p["path"] for p in r.json()["metadata"]["errors"]}
    r = client.post("/automation-studio/automations", auth=ADMIN, headers={"content-type": "application/json"},
                    content=b'{"automation": {"name": "n", "tasks": {}, "transitions": {}, "x": NaN}}')
    assert r.status_code == 400 and "automation.x" in {p["path"] for p in r.json()["metadata"]["errors"]}
    r = client.post("/automation-studio/automations", json={"automation": simple("x" * 501)}, auth=ADMIN)
    assert r.status_code == 400
    assert total(client) == 0
    assert client.get("/automation-studio/workflows", params={"equals[name]": "a\u0000"}, auth=ADMIN).status_code == 400
    assert client.get("/automation-studio/workflows/detailed/a%00b", auth=ADMIN).status_code == 404
