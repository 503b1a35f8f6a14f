"""Operations Manager triggers (ops-manager-api §3.4, §4.7, §5.5): CRUD, import/export and the manual and
endpoint runs that start a job recording which automation and trigger started it."""

from __future__ import annotations

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
from tests.helpers import get_job

URL = f"{OM}/triggers"


def errors_of(r) -> list[str]:
    return [e["path"] for e in r.json()["metadata"]["errors"]]


def test_create_each_variant_with_defaults(client, world):
    auto = make_automation(client)
    endpoint = make_trigger(client, name="e", type="endpoint", routeName="go", actionId=auto["_id"],
                            who=world.auth("dave"))
    assert endpoint["enabled"] is True and endpoint["verb"] == "POST" and endpoint["schema"] is None
    assert endpoint["actionType"] == "automations" and endpoint["lastExecuted"] is None
    manual = make_trigger(client, name="m", type="manual", actionId=auto["_id"])
    assert manual["legacyWrapper"] is True and manual["formData"] == {}
    sched = make_trigger(client, name="s", type="schedule", actionId=auto["_id"], firstRunAt=1000,
                         repeatUnit="hour", repeatFrequency=2)
    assert sched["repeatInterval"] == 7_200_000 and sched["processMissedRuns"] == "none"
    assert sched["nextRunAt"] > 1000 and (sched["nextRunAt"] - 1000) % 7_200_000 == 0
    event = make_trigger(client, name="v", type="eventSystem", actionId=auto["_id"], source="@itential/x", topic="t")
    r = client.get(f"{URL}/{event['_id']}", auth=world.auth("carol"))
    assert r.status_code == 200 and r.json()["data"] == event


def test_create_validation_names_the_field(client, world):
    auto = make_automation(client)
    aid = auto["_id"]
    for body, field in (
        ({"name": "x", "actionId": aid}, "type"),
        ({"name": "x", "type": "cron", "actionId": aid}, "type"),
        ({"name": "x", "type": "endpoint", "actionId": aid}, "routeName"),
        ({"name": "x", "type": "endpoint", "actionId": aid, "routeName": "a/b"}, "routeName"),
        ({"name": "x", "type": "endpoint", "actionId": aid, "routeName": "r", "formData": {}}, "formData"),
        ({"name": "x", "type": "endpoint", "actionId": aid, "routeName": "r", "schema": {"type": "thing"}}, "schema"),
        ({"name": "x", "type": "manual", "actionId": aid, "legacyWrapper": "yes"}, "legacyWrapper"),
        ({"name": "x", "type": "schedule", "actionId": aid}, "firstRunAt"),
        ({"name": "x", "type": "schedule", "actionId": aid, "firstRunAt": 1, "processMissedRuns": "all"},
         "processMissedRuns"),
        ({"name": "x", "type": "eventSystem", "actionId": aid, "source": "s"}, "topic"),
        ({"name": "x", "type": "manual", "actionId": MISSING}, "actionId"),
        ({"type": "manual", "actionId": aid}, "name"),
    ):
        r = client.post(URL, json=body, auth=ADMIN)
        assert r.status_code == 400, (body, r.text)
        assert field in errors_of(r), (body, r.json())


def test_create_role_gbac_and_route_conflict(client, world, db):
    viewers = add_viewers(db)
    auto = restricted(client, world, viewers)
    body = {"name": "e", "type": "endpoint", "routeName": "go", "actionId": auto["_id"]}
    assert client.post(URL, json=body, auth=world.auth("carol")).status_code == 403  # apiread: no write role
    assert client.post(URL, json=body, auth=world.auth("frank")).status_code == 403  # read group only
    assert client.post(URL, json=body, auth=world.auth("dave")).status_code == 400  # cannot see: no such actionId
    assert client.post(URL, json=body, auth=world.auth("alice")).status_code == 200  # write group
    r = client.post(URL, json={**body, "name": "e2"}, auth=ADMIN)
    assert r.status_code == 409 and "go" in r.json()["message"]
    assert client.post(URL, json={**body, "name": "e3", "enabled": False}, auth=ADMIN).status_code == 200


def test_get_update_delete(client, world, db):
    auto = make_automation(client)
    trig = make_trigger(client, name="e", type="endpoint", routeName="go", actionId=auto["_id"])
    url = f"{URL}/{trig['_id']}"
    r = client.patch(url, json={"enabled": False}, auth=world.auth("dave"))
    assert r.status_code == 200 and r.json()["data"]["enabled"] is False
    other = make_trigger(client, name="e2", type="endpoint", routeName="go", actionId=auto["_id"])
    assert client.patch(url, json={"enabled": True}, auth=ADMIN).status_code == 409  # e2 owns "go" now
    r = client.patch(url, json={"type": "manual"}, auth=ADMIN)
    assert r.status_code == 400 and errors_of(r) == ["type"]
    r = client.patch(url, json={"routeName": ""}, auth=ADMIN)
    assert r.status_code == 400 and errors_of(r) == ["routeName"]
    assert client.patch(url, json={"enabled": True}, auth=world.auth("carol")).status_code == 403
    assert client.patch(f"{URL}/{MISSING}", json={}, auth=ADMIN).status_code == 404
    assert client.get(f"{URL}/{MISSING}", auth=ADMIN).status_code == 404
    assert client.get(f"{URL}/bad", auth=ADMIN).status_code == 400
    r = client.get(f"{url}/export", auth=world.auth("carol"))
    assert r.status_code == 200 and "lastExecuted" not in r.json()["data"]
    assert client.delete(url, auth=world.auth("carol")).status_code == 403
    assert client.delete(url, auth=ADMIN).status_code == 200
    assert client.get(url, auth=ADMIN).status_code == 404
    assert client.delete(url, auth=ADMIN).status_code == 404
    r = client.delete(f"{URL}/action/{auto['_id']}", auth=world.auth("alice"))
    assert r.status_code == 200 and r.json()["data"] == {"deleted": 1}
    assert client.get(f"{URL}/{other['_id']}", auth=ADMIN).status_code == 404
    assert client.delete(f"{URL}/action/{MISSING}", auth=ADMIN).status_code == 404
    viewers = add_viewers(db)
    hidden = restricted(client, world, viewers)
    t = make_trigger(client, name="h", type="manual", actionId=hidden["_id"])
    assert client.get(f"{URL}/{t['_id']}", auth=world.auth("dave")).status_code == 404
    assert client.get(f"{URL}/{t['_id']}", auth=world.auth("frank")).status_code == 200
    assert client.patch(f"{URL}/{t['_id']}", json={"enabled": False}, auth=world.auth("frank")).status_code == 403
    assert client.delete(f"{URL}/action/{hidden['_id']}", auth=world.auth("dave")).status_code == 404


def test_search_filters_and_visibility(client, world, db):
    a = make_automation(client, name="a")
    b = make_automation(client, name="b")
    make_trigger(client, name="one", type="manual", actionId=a["_id"])
    make_trigger(client, name="two", type="manual", actionId=b["_id"], enabled=False)
    viewers = add_viewers(db)
    hidden = restricted(client, world, viewers)
    make_trigger(client, name="three", type="manual", actionId=hidden["_id"])

    def names(who=ADMIN, **params):
        r = client.get(URL, params=params, auth=who)
        assert r.status_code == 200, r.text
        return [d["name"] for d in r.json()["data"]]

    assert names() == ["one", "three", "two"]
    assert names(who=world.auth("carol")) == ["one", "two"]
    assert names(enabled="true") == ["one", "three"]
    assert names(actionId=b["_id"]) == ["two"]
    assert names(greaterThan="2000-01-01T00:00:00Z", greaterThanField="created") == ["one", "three", "two"]
    assert names(lessThan="2000-01-01", lessThanField="created") == []
    assert names(equals="one", equalsField="name") == ["one"]
    for params, field in (({"enabled": "maybe"}, "enabled"), ({"greaterThan": "x", "greaterThanField": "created"},
                          "greaterThan"), ({"greaterThan": "1", "greaterThanField": "name"}, "greaterThanField"),
                          ({"contains[name]": "x"}, "contains[name]"), ({"actionId": "x"}, "actionId")):
        r = client.get(URL, params=params, auth=ADMIN)
        assert r.status_code == 400 and field in r.json()["message"], (params, r.json())


def test_import_triggers(client, world):
    auto = make_automation(client)
    good = {"_id": "a" * 24, "name": "api", "enabled": True, "actionType": "automations", "actionId": auto["_id"],
            "type": "endpoint", "verb": "POST", "routeName": "go", "schema": None}
    r = client.put(URL, json={"triggers": [good, {**good, "_id": "b" * 24}, {"name": "x"}]}, auth=world.auth("dave"))
    assert r.status_code == 200, r.text
    results = r.json()["data"]
    assert [x["success"] for x in results] == [True, False, False]
    assert results[0]["data"]["_id"] == "a" * 24
    assert "go" in results[1]["message"] and "type" in [e["path"] for e in results[2]["errors"]]
    assert client.put(URL, json={"triggers": {}}, auth=ADMIN).status_code == 400
    assert client.put(URL, json={"triggers": []}, auth=world.auth("carol")).status_code == 403


# runs --------------------------------------------------------------------------------------------------------


def test_manual_run_starts_a_job_that_records_the_trigger(client, world):
    auto = with_workflow(client, "wf")
    wrapped = make_trigger(client, name="m", type="manual", actionId=auto["_id"], formData={"a": 1, "b": 2})
    flat = make_trigger(client, name="f", type="manual", actionId=auto["_id"], legacyWrapper=False)
    r = client.post(f"{URL}/manual/{wrapped['_id']}/run", json={"formData": {"b": 3}, "runtimeOptions": {}},
                    auth=world.auth("alice"))
    assert r.status_code == 200, r.text
    job = r.json()["data"]
    assert job["name"] == "wf" and job["variables"]["formData"] == {"a": 1, "b": 3}
    assert job["trigger"] == {"automationId": auto["_id"], "triggerId": wrapped["_id"], "type": "manual",
                              "triggeredBy": "alice"}
    assert get_job(client, job["_id"])["trigger"] == job["trigger"]
    assert client.get(f"{URL}/{wrapped['_id']}", auth=ADMIN).json()["data"]["lastExecuted"] is not None
    r = client.post(f"{URL}/manual/{flat['_id']}/run", json={"formData": {"x": 1}}, auth=ADMIN)
    assert r.status_code == 200 and r.json()["data"]["variables"]["x"] == 1
    assert "formData" not in r.json()["data"]["variables"]


def test_manual_run_errors(client, world, db):
    auto = with_workflow(client, "wf")
    trig = make_trigger(client, name="m", type="manual", actionId=auto["_id"], enabled=False)
    run = f"{URL}/manual/{trig['_id']}/run"
    assert client.post(run, json={}, auth=ADMIN).status_code == 409  # disabled
    assert client.post(run, json={}, auth=world.auth("carol")).status_code == 403
    r = client.post(run, json={"formData": []}, auth=ADMIN)
    assert r.status_code == 400 and errors_of(r) == ["formData"]
    assert client.post(f"{URL}/manual/{MISSING}/run", json={}, auth=ADMIN).status_code == 404
    viewers = add_viewers(db)
    hidden = restricted(client, world, viewers)
    t = make_trigger(client, name="h", type="manual", actionId=hidden["_id"])
    assert client.post(f"{URL}/manual/{t['_id']}/run", json={}, auth=world.auth("dave")).status_code == 404


def test_endpoint_run_validates_the_body_against_the_schema(client, world):
    auto = with_workflow(client, "wf")
    schema = {"type": "object", "required": ["device"], "additionalProperties": False,
              "properties": {"device": {"type": "string", "minLength": 2}, "count": {"type": "integer"}}}
    trig = make_trigger(client, name="e", type="endpoint", routeName="go", actionId=auto["_id"], schema=schema)
    r = client.post(f"{URL}/endpoint/go", json={"device": "r1", "count": 2}, auth=world.auth("dave"))
    assert r.status_code == 200, r.text
    job = r.json()["data"]
    assert job["variables"]["device"] == "r1" and job["trigger"]["type"] == "endpoint"
    assert job["trigger"]["triggerId"] == trig["_id"]
    r = client.post(f"{URL}/endpoint/go", json={"device": "r", "count": "2", "extra": 1}, auth=ADMIN)
    assert r.status_code == 400
    assert sorted(errors_of(r)) == ["count", "device", "extra"]
    assert client.post(f"{URL}/endpoint/nowhere", json={}, auth=ADMIN).status_code == 404
    assert client.post(f"{URL}/endpoint/go", json={"device": "r1"}, auth=world.auth("carol")).status_code == 403
    client.patch(f"{URL}/{trig['_id']}", json={"enabled": False}, auth=ADMIN)
    assert client.post(f"{URL}/endpoint/go", json={"device": "r1"}, auth=ADMIN).status_code == 409
