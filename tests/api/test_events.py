"""Events (ops-manager-api §5.3, issue #3 scope 7): the definitions, the outbox written with each job and
task state change, and the server-sent event stream (order, resume, GBAC)."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from opsmgr.services import auth, events
from opsmgr.store.database import Database
from tests.api.manual_support import ADMIN, assign, claim, envelope, finish_by_id, release, waiting_job
from tests.helpers import (
    World,
    approval_workflow,
    create_workflow,
    start_job,
    task,
    wait_for_job,
    waiting_task,
    workflow,
)

SOURCE = "@itential/app-operations_manager"
ENCODED = "%40itential%2Fapp-operations_manager"
SSE = {"Accept": "text/event-stream"}


def outbox(db: Database) -> list[dict[str, Any]]:
    return events.events_after(db, auth.system_principal(db), 0, 10_000)


def topics(db: Database) -> list[str]:
    return [e["topic"] for e in outbox(db)]


def read_stream(client: TestClient, who: tuple[str, str], count: int, **kwargs: Any) -> list[dict[str, Any]]:
    """Open the stream as an EventSource would, read `count` events, then close it (disconnect)."""
    got: list[dict[str, Any]] = []
    headers = {**SSE, **kwargs.pop("headers", {})}
    with client.stream("GET", "/operations-manager/events/stream", auth=who, headers=headers, **kwargs) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in r.iter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(": ")
                fields[name] = value
                continue
            if fields:
                data = json.loads(fields["data"])
                assert data["id"] == int(fields["id"]) and data["topic"] == fields["event"]
                got.append(data)
                fields = {}
                if len(got) == count:
                    break
    return got


def test_event_definitions(client: TestClient, world: World) -> None:
    r = client.get("/operations-manager/events", auth=world.auth("dave"))
    body = envelope(r)
    assert r.status_code == 200
    found = {d["topic"] for d in body["data"]}
    assert {"jobStarted", "jobComplete", "jobError", "jobCanceled", "jobPaused", "jobResumed", "taskClaimed",
            "taskReleased", "taskAssigned", "taskFinished"} <= found
    assert all(d["source"] == SOURCE and d["definition"]["type"] == "object" for d in body["data"])
    r = client.get(f"/operations-manager/events/{ENCODED}/taskClaimed", auth=world.auth("carol"))
    assert r.status_code == 200, r.text
    one = r.json()
    assert set(one) == {"source", "topic", "definition"} and one["topic"] == "taskClaimed"
    assert client.get(f"/operations-manager/events/{ENCODED}/noSuch", auth=ADMIN).status_code == 404
    assert client.get("/operations-manager/events/other/jobStarted", auth=ADMIN).status_code == 404
    assert client.get("/operations-manager/events", auth=world.auth("erin")).status_code == 403


def test_each_state_change_writes_exactly_one_event(client: TestClient, db: Database, world: World) -> None:
    job, task = waiting_job(client, job_groups=[world.netops])
    assert topics(db) == ["jobStarted"]
    assert claim(client, task["_id"], world.auth("alice")).status_code == 200
    assert topics(db)[-1] == "taskClaimed"
    assert claim(client, task["_id"], world.auth("bob")).status_code == 409  # rolled back: no event
    assert claim(client, task["_id"], world.auth("alice")).status_code == 200  # already hers: no change
    assert topics(db) == ["jobStarted", "taskClaimed"]
    assert release(client, task["_id"], world.auth("alice")).status_code == 200
    assert assign(client, task["_id"], world.ids["bob"], ADMIN).status_code == 200
    assert finish_by_id(client, task["_id"], world.auth("bob"), variables={"secret": "s3cr3t"}).status_code == 200
    # the manual a1, then the automatic b2 (newVariable) it leads to: both kinds finish with taskFinished
    assert topics(db) == ["jobStarted", "taskClaimed", "taskReleased", "taskAssigned", "taskFinished", "taskFinished",
                          "jobComplete"]
    rows = outbox(db)
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
    assert rows[3]["payload"]["owner"] == world.ids["bob"] and rows[3]["payload"]["by"] == world.ids["admin"]
    assert rows[3]["payload"]["task"] == {"_id": task["_id"], "key": "a1", "name": task["name"], "type": "manual",
                                          "finishState": None}
    assert rows[4]["payload"]["task"]["finishState"] == "success" and rows[4]["payload"]["by"] == world.ids["bob"]
    assert rows[5]["payload"]["task"]["key"] == "b2" and rows[5]["payload"]["task"]["type"] == "operation"
    assert rows[5]["payload"]["task"]["finishState"] == "success"
    assert rows[-1]["payload"]["job"] == {"_id": job["_id"], "name": job["name"], "status": "complete",
                                          "trigger": None, "parent": None}
    assert rows[-1]["payload"]["from"] == "running"
    assert "s3cr3t" not in json.dumps(rows)  # never variable values


def test_job_controls_write_events(client: TestClient, db: Database, world: World) -> None:
    job, _ = waiting_job(client)
    for action in ("pause", "resume", "cancel"):
        r = client.post(f"/operations-manager/jobs/{action}", json={"jobIds": [job["_id"]]}, auth=ADMIN)
        assert r.status_code == 200, r.text
    assert topics(db) == ["jobStarted", "jobPaused", "jobResumed", "jobCanceled"]


def test_stream_delivers_in_order_and_resumes_after_last_event_id(client: TestClient, world: World) -> None:
    _, task = waiting_job(client)
    claim(client, task["_id"], world.auth("dave"))
    release(client, task["_id"], world.auth("dave"))
    first = read_stream(client, ADMIN, 2, params={"after": "0"})
    assert [e["topic"] for e in first] == ["jobStarted", "taskClaimed"]
    rest = read_stream(client, ADMIN, 1, headers={"Last-Event-ID": str(first[-1]["id"])})
    assert [e["topic"] for e in rest] == ["taskReleased"] and rest[0]["id"] > first[-1]["id"]
    assert rest[0]["source"] == SOURCE and rest[0]["payload"]["owner"] is None


def test_stream_sees_changes_made_while_it_is_open(client: TestClient, db: Database, world: World) -> None:
    _, task = waiting_job(client)
    start = outbox(db)[-1]["id"]
    claim(client, task["_id"], world.auth("dave"))
    got = read_stream(client, world.auth("dave"), 1, params={"after": str(start)})
    assert [e["topic"] for e in got] == ["taskClaimed"]


def test_stream_is_filtered_by_job_groups(client: TestClient, world: World) -> None:
    create_workflow(client, approval_workflow("p"))
    private = start_job(client, "p", groups=[world.netops])
    public = start_job(client, "p")
    claim(client, waiting_task(client, private["_id"], "a1")["_id"], world.auth("alice"))
    claim(client, waiting_task(client, public["_id"], "a1")["_id"], world.auth("dave"))
    # without Accept: text/event-stream the stream answers what there is now, then ends
    def seen(who: tuple[str, str]) -> list[tuple[str, str]]:
        r = client.get("/operations-manager/events/stream", params={"after": "0"}, auth=who)
        assert r.status_code == 200
        out = []
        for block in r.text.split("\n\n"):
            data = [line[6:] for line in block.splitlines() if line.startswith("data: ")]
            if data:
                e = json.loads(data[0])
                out.append((e["topic"], e["payload"]["job"]["_id"]))
        return out

    everything = [("jobStarted", private["_id"]), ("jobStarted", public["_id"]),
                  ("taskClaimed", private["_id"]), ("taskClaimed", public["_id"])]
    assert seen(world.auth("alice")) == everything
    assert seen(ADMIN) == everything
    assert seen(world.auth("dave")) == [e for e in everything if e[1] == public["_id"]]


def test_stream_rejects_a_bad_last_event_id(client: TestClient) -> None:
    r = client.get("/operations-manager/events/stream", headers={"Last-Event-ID": "x"}, auth=ADMIN)
    assert r.status_code == 400


def test_cursor_waits_for_a_gap_then_skips_it() -> None:
    cursor = events.Cursor(0)
    row = {"source": SOURCE, "topic": "jobStarted", "at": 1, "payload": {}, "visible": True}
    assert [e["id"] for e in cursor.advance([{**row, "id": 1}, {**row, "id": 3}], now=100.0)] == [1]
    assert cursor.advance([{**row, "id": 3}], now=100.5) == []  # id 2 may still commit
    assert [e["id"] for e in cursor.advance([{**row, "id": 2}, {**row, "id": 3}], now=100.6)] == [2, 3]
    assert cursor.advance([{**row, "id": 5}], now=200.0) == []
    assert [e["id"] for e in cursor.advance([{**row, "id": 5}], now=201.5)] == [5]  # 4 rolled back
    assert cursor.advance([{**row, "id": 6, "visible": False}], now=202.0) == [] and cursor.last == 6


def test_automatic_tasks_and_child_jobs_write_events(client: TestClient, db: Database, world: World) -> None:
    """issue #3 scope 7 ("every job and task state change"): automatic tasks end in taskFinished or
    taskError, and a child job's jobStarted names its parent (ADR 0010)."""
    kid = task("stub", type="error", response="boom")
    create_workflow(client, workflow("kid", {"a1": kid}, {"workflow_start": {"a1": "success"},
                                                          "a1": {"workflow_end": "success"}}))
    c1 = task("childJob", task="", workflow="kid", variables={}, loopType="", data_array=[])
    create_workflow(client, workflow("mom", {"c1": c1}, {"workflow_start": {"c1": "success"},
                                                         "c1": {"workflow_end": "success"}}))
    mom = wait_for_job(client, start_job(client, "mom")["_id"])
    rows = outbox(db)
    by_topic = [(r["topic"], r["payload"]["job"]["name"]) for r in rows]
    assert ("jobStarted", "kid") in by_topic and ("taskError", "kid") in by_topic
    child = next(r["payload"] for r in rows if r["topic"] == "jobStarted" and r["payload"]["job"]["name"] == "kid")
    assert child["job"]["parent"] == {"_id": mom["_id"], "task": "c1"}
    error = next(r["payload"] for r in rows if r["topic"] == "taskError")
    assert error["task"]["key"] == "a1" and error["task"]["finishState"] == "error" and error["by"] is None
    assert "boom" not in json.dumps(rows)  # the task's error value is not in any payload
    # the childJob task of the parent finished too (in error: its child ended in error)
    assert any(r["topic"] == "taskError" and r["payload"]["task"]["key"] == "c1" for r in rows)
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
