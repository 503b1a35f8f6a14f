"""Operations Manager automations (ops-manager-api §3.3, §4.7, §5.4; decisions §4 roles and GBAC)."""

from __future__ import annotations

import re

from tests.api.automation_support import (
    ADMIN,
    MISSING,
    OM,
    add_viewers,
    make_automation,
    make_trigger,
    restricted,
    with_workflow,
)

URL = f"{OM}/automations"


def errors_of(r) -> list[str]:
    return [e["path"] for e in r.json()["metadata"]["errors"]]


# create ------------------------------------------------------------------------------------------------------


def test_create_returns_the_automation_with_its_component_name(client, world):
    doc = with_workflow(client, "wf-one", description="d", gbac={"read": [], "write": [world.netops]})
    assert re.fullmatch(r"[0-9a-f]{24}", doc["_id"])
    assert doc["componentType"] == "workflows" and doc["componentName"] == "wf-one"
    assert doc["gbac"] == {"read": [], "write": [world.netops]}
    assert doc["createdBy"] == world.ids["admin"] and doc["created"].endswith("Z")
    r = client.get(f"{URL}/{doc['_id']}", auth=ADMIN)
    assert r.status_code == 200 and r.json()["data"] == doc
    assert set(r.json()) == {"message", "data", "metadata"}


def test_create_validation_names_the_field(client, world):
    for body, field in (
        ({}, "name"),
        ({"name": 3}, "name"),
        ({"name": "x", "componentType": "jst"}, "componentType"),
        ({"name": "x", "componentId": "nope"}, "componentId"),
        ({"name": "x", "componentId": MISSING}, "componentId"),
        ({"name": "x", "gbac": {"read": []}}, "gbac.write"),
        ({"name": "x", "gbac": {"read": ["bad"], "write": []}}, "gbac.read.0"),
        ({"name": "x", "gbac": {"read": [MISSING], "write": []}}, "gbac.read"),
        ({"name": "x", "colour": "red"}, "colour"),
    ):
        r = client.post(URL, json=body, auth=ADMIN)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["data"] is None and field in errors_of(r), (body, r.json())


def test_create_needs_a_design_write_role(client, world):
    for who in ("alice", "carol", "dave"):  # operations, apiread, operations
        r = client.post(URL, json={"name": "x"}, auth=world.auth(who))
        assert r.status_code == 403, who
    assert client.post(URL, json={"name": "x"}, auth=world.auth("erin")).status_code == 200  # apiwrite


def test_create_with_a_taken_name_is_a_conflict(client, world):
    make_automation(client, name="same")
    r = client.post(URL, json={"name": "same"}, auth=ADMIN)
    assert r.status_code == 409 and "same" in r.json()["message"]


# read and GBAC -----------------------------------------------------------------------------------------------


def test_get_unknown_or_malformed_id(client, world):
    assert client.get(f"{URL}/{MISSING}", auth=ADMIN).status_code == 404
    r = client.get(f"{URL}/nope", auth=ADMIN)
    assert r.status_code == 400 and "id" in r.json()["message"]


def test_gbac_read_limits_who_sees_it(client, world, db):
    viewers = add_viewers(db)
    doc = restricted(client, world, viewers)
    open_doc = make_automation(client, name="open")
    assert client.get(f"{URL}/{doc['_id']}", auth=world.auth("frank")).status_code == 200  # read group
    assert client.get(f"{URL}/{doc['_id']}", auth=world.auth("alice")).status_code == 200  # write group
    assert client.get(f"{URL}/{doc['_id']}", auth=world.auth("carol")).status_code == 404  # neither
    assert client.get(f"{URL}/{open_doc['_id']}", auth=world.auth("carol")).status_code == 200
    r = client.get(URL, auth=world.auth("carol"))
    assert [d["name"] for d in r.json()["data"]] == ["open"] and r.json()["metadata"]["total"] == 1
    assert client.get(URL, auth=ADMIN).json()["metadata"]["total"] == 2


def test_gbac_write_limits_who_edits_it(client, world, db):
    viewers = add_viewers(db)
    doc = restricted(client, world, viewers)
    url = f"{URL}/{doc['_id']}"
    r = client.patch(url, json={"description": "x"}, auth=world.auth("frank"))  # sees, may not edit
    assert r.status_code == 403
    assert client.patch(url, json={"description": "x"}, auth=world.auth("erin")).status_code == 404  # invisible
    assert client.delete(url, auth=world.auth("frank")).status_code == 403
    assert client.get(f"{url}/export", auth=world.auth("carol")).status_code == 404


# search (§4.7) ----------------------------------------------------------------------------------------------


def test_search_field_pairs_paging_and_sorting(client, world):
    for name in ("alpha", "beta", "alphabet", "gamma"):
        make_automation(client, name=name, description=f"about {name}")

    def names(**params):
        r = client.get(URL, params=params, auth=ADMIN)
        assert r.status_code == 200, r.text
        return [d["name"] for d in r.json()["data"]], r.json()["metadata"]

    assert names(equals="beta", equalsField="name")[0] == ["beta"]
    assert names(startsWith="alpha", startsWithField="name")[0] == ["alpha", "alphabet"]
    assert names(contains="bet", containsField="description")[0] == ["alphabet", "beta"]
    found, meta = names(limit=2, skip=1, sort="name", order=-1)
    assert found == ["beta", "alphabet"]
    assert meta == {"skip": 1, "limit": 2, "total": 4, "nextPageSkip": 3, "previousPageSkip": 0,
                    "currentPageSize": 2}


def test_search_rejects_brackets_and_half_pairs(client, world):
    for params, name in (
        ({"equals[name]": "x"}, "equals[name]"),
        ({"equals": "x"}, "equalsField"),
        ({"equalsField": "name"}, "equals"),
        ({"equals": "x", "equalsField": "colour"}, "equalsField"),
        ({"limit": "-1"}, "limit"),
        ({"order": "2"}, "order"),
        ({"frobnicate": "1"}, "frobnicate"),
    ):
        r = client.get(URL, params=params, auth=ADMIN)
        assert r.status_code == 400, params
        assert errors_of(r) == [name], (params, r.json())


# update -----------------------------------------------------------------------------------------------------


def test_patch_changes_only_the_given_fields(client, world):
    doc = with_workflow(client, "wf", description="old")
    r = client.patch(f"{URL}/{doc['_id']}", json={"name": "renamed", "gbac": {"read": [world.netops], "write": []}},
                     auth=world.auth("erin"))
    assert r.status_code == 200, r.text
    new = r.json()["data"]
    assert new["name"] == "renamed" and new["description"] == "old" and new["componentName"] == "wf"
    assert new["gbac"] == {"read": [world.netops], "write": []} and new["lastUpdatedBy"] == world.ids["erin"]


def test_patch_errors(client, world):
    doc = make_automation(client, name="a")
    make_automation(client, name="b")
    url = f"{URL}/{doc['_id']}"
    r = client.patch(url, json={"gbac": {"write": []}}, auth=ADMIN)
    assert r.status_code == 400 and "gbac.read" in errors_of(r)
    assert client.patch(url, json={"name": "b"}, auth=ADMIN).status_code == 409
    assert client.patch(f"{URL}/{MISSING}", json={"name": "c"}, auth=ADMIN).status_code == 404
    assert client.patch(url, json={"name": "c"}, auth=world.auth("dave")).status_code == 403


# delete -----------------------------------------------------------------------------------------------------


def test_delete_removes_the_automation_and_its_triggers(client, world):
    doc = make_automation(client)
    trig = make_trigger(client, name="t", type="manual", actionId=doc["_id"])
    r = client.delete(f"{URL}/{doc['_id']}", auth=ADMIN)
    assert r.status_code == 200 and r.json()["metadata"] == {"deletedTriggers": 1}
    assert client.get(f"{URL}/{doc['_id']}", auth=ADMIN).status_code == 404
    assert client.get(f"{OM}/triggers/{trig['_id']}", auth=ADMIN).status_code == 404
    assert client.delete(f"{URL}/{doc['_id']}", auth=ADMIN).status_code == 404
    assert client.delete(f"{URL}/{doc['_id']}", auth=world.auth("carol")).status_code == 403


# export / import ------------------------------------------------------------------------------------------


def test_export_is_portable_and_import_restores_it(client, world):
    doc = with_workflow(client, "wf", gbac={"read": [world.netops], "write": [world.netops]})
    make_trigger(client, name="api", type="endpoint", routeName="go", actionId=doc["_id"])
    r = client.get(f"{URL}/{doc['_id']}/export", auth=world.auth("carol"))  # apiread may export...
    assert r.status_code == 404  # ...but carol is not in NetOps
    r = client.get(f"{URL}/{doc['_id']}/export", auth=ADMIN)
    assert r.status_code == 200, r.text
    exported = r.json()["data"]
    assert "componentId" not in exported and exported["componentName"] == "wf"
    assert exported["gbac"]["read"][0]["name"] == "NetOps" and "provenance" in exported["gbac"]["read"][0]
    assert [t["routeName"] for t in exported["triggers"]] == ["go"]
    assert "createdBy" not in exported["triggers"][0]
    assert client.get(f"{URL}/{doc['_id']}/export", auth=world.auth("dave")).status_code == 403  # no role

    client.delete(f"{URL}/{doc['_id']}", auth=ADMIN)
    taken = make_automation(client, name="taken")
    r = client.put(URL, json={"automations": [exported, {"name": "taken"}, {"colour": 1}], "options": {}},
                   auth=world.auth("erin"))
    assert r.status_code == 200, r.text
    results = r.json()["data"]
    assert [x["success"] for x in results] == [True, False, False]
    back = results[0]["data"]
    assert back["_id"] == doc["_id"] and back["componentId"] == doc["componentId"]
    assert back["gbac"] == {"read": [world.netops], "write": [world.netops]}
    assert "taken" in results[1]["message"] and taken["_id"]
    assert "name" in [e["path"] for e in results[2]["errors"]]
    trig = client.get(f"{OM}/triggers", params={"actionId": back["_id"]}, auth=ADMIN).json()["data"]
    assert [t["routeName"] for t in trig] == ["go"]


def test_import_errors(client, world):
    assert client.put(URL, json={"automations": "x"}, auth=ADMIN).status_code == 400
    assert client.put(URL, json={"automations": []}, auth=world.auth("carol")).status_code == 403
    r = client.put(URL, json={"automations": [{"name": "n", "componentName": "nowhere", "triggers": []}]},
                   auth=ADMIN)
    assert r.json()["data"][0]["success"] is False and "nowhere" in r.json()["data"][0]["message"]


# clone ------------------------------------------------------------------------------------------------------


def test_clone_copies_triggers_and_disables_api_triggers(client, world):
    doc = with_workflow(client, "wf", name="orig")
    make_trigger(client, name="api", type="endpoint", routeName="go", actionId=doc["_id"])
    make_trigger(client, name="form", type="manual", actionId=doc["_id"])
    r = client.post(f"{URL}/clone", json={"id": doc["_id"]}, auth=world.auth("erin"))
    assert r.status_code == 200, r.text
    clone, meta = r.json()["data"], r.json()["metadata"]
    assert clone["name"] == "orig (copy)" and clone["_id"] != doc["_id"] and clone["componentName"] == "wf"
    assert len(meta["triggerCloneResults"]) == 2 and all(x["success"] for x in meta["triggerCloneResults"])
    assert any("go-copy" in c for c in meta["automaticChanges"])
    assert any("disabled" in c for c in meta["automaticChanges"])
    copies = client.get(f"{OM}/triggers", params={"actionId": clone["_id"]}, auth=ADMIN).json()["data"]
    api = next(t for t in copies if t["type"] == "endpoint")
    assert api["enabled"] is False and api["routeName"] == "go-copy"
    assert next(t for t in copies if t["type"] == "manual")["enabled"] is True


def test_clone_errors(client, world, db):
    doc = make_automation(client, name="orig")
    assert client.post(f"{URL}/clone", json={"id": doc["_id"], "name": "orig"}, auth=ADMIN).status_code == 409
    assert client.post(f"{URL}/clone", json={"id": MISSING}, auth=ADMIN).status_code == 404
    r = client.post(f"{URL}/clone", json={}, auth=ADMIN)
    assert r.status_code == 400 and errors_of(r) == ["id"]
    assert client.post(f"{URL}/clone", json={"id": doc["_id"]}, auth=world.auth("alice")).status_code == 403
    viewers = add_viewers(db)
    hidden = restricted(client, world, viewers)
    assert client.post(f"{URL}/clone", json={"id": hidden["_id"]}, auth=world.auth("erin")).status_code == 404
