"""eventSystem triggers driven by hand (ops-manager-api §3.4 eventSystem, issue #5; ADR 0010): no engine runs,
each test calls `event_triggers.fire` itself, so every step is deterministic. Covers the schema filter,
disabled triggers, lastExecuted and the job's trigger record, the durable cursor across a restart and a
second process (lease), a crash between starting the job and moving the cursor, and the loop guard."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import select

from opsmgr.domain import events as catalog
from opsmgr.engine.registry import default_registry
from opsmgr.services import auth, automations, event_triggers, events, jobs, triggers, workflows
from opsmgr.store.database import Database
from opsmgr.store.schema import job
from tests.api.automation_support import simple

KNOWN = default_registry().known()


def consumer(owner: str = "node-a", lease_ms: int = 30_000) -> events.Consumer:
    return events.Consumer(event_triggers.CONSUMER, owner, lease_ms)


def fire(db: Database, who: events.Consumer | None = None) -> list[dict[str, Any]]:
    return event_triggers.fire(db, who or consumer(), KNOWN)


def automation(db: Database, name: str) -> dict[str, Any]:
    admin = auth.system_principal(db)
    wf = workflows.create_workflow(db, admin, simple(f"wf-{name}"), KNOWN)
    return automations.create_automation(db, admin, {"name": name, "componentType": "workflows",
                                                     "componentId": wf["_id"]})


def on_event(db: Database, auto: dict[str, Any], topic: str = "jobStarted", schema: Any = None,
             **more: Any) -> dict[str, Any]:
    body = {"name": f"on {topic}", "type": "eventSystem", "actionId": auto["_id"], "source": catalog.SOURCE,
            "topic": topic, **more}
    if schema is not None:
        body["schema"] = schema
    return triggers.create_trigger(db, auth.system_principal(db), body)


def start(db: Database, wf: str) -> dict[str, Any]:
    return jobs.start_job(db, auth.system_principal(db), wf, None, "automation", {"secret": "s3cr3t"}, [], KNOWN)


def jobs_of(db: Database, trigger_id: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(select(job.c.id, job.c.name, job.c.trigger, job.c.variables).order_by(job.c.created))
        return [dict(r) for r in rows.mappings() if r["trigger"] and r["trigger"]["triggerId"] == trigger_id]


ONLY_X = {"type": "object", "properties": {"job": {"properties": {"name": {"const": "wf-x"}}}}}


@pytest.fixture
def ready(db: Database) -> Database:
    event_triggers.ensure(db)  # as the engine does at start
    return db


def test_schema_filter_trigger_record_and_last_executed(ready: Database) -> None:
    """§3.4 eventSystem: source + topic, and the optional schema filter on the payload; the job records its
    automation, trigger and the event (issue #5: who or what triggered it); lastExecuted updates."""
    db = ready
    automation(db, "x")
    automation(db, "z")
    y = automation(db, "y")
    trig = on_event(db, y, schema=ONLY_X)
    x_job = start(db, "wf-x")
    started = fire(db)
    assert len(started) == 1 and started[0]["name"] == "wf-y"
    origin = started[0]["trigger"]
    assert origin["automationId"] == y["_id"] and origin["triggerId"] == trig["_id"]
    assert origin["type"] == "eventSystem"
    by = origin["triggeredBy"]
    assert by["type"] == "event" and by["topic"] == "jobStarted" and by["source"] == catalog.SOURCE
    assert by["jobId"] == x_job["_id"] and by["depth"] == 1 and isinstance(by["eventId"], int)
    # legacyWrapper (default true): the payload is the variable formData; never the job's variables
    (found,) = jobs_of(db, trig["_id"])
    assert found["variables"]["formData"]["job"]["_id"] == x_job["_id"]
    assert "s3cr3t" not in str(found["variables"])
    assert triggers.get_trigger(db, auth.system_principal(db), trig["_id"])["lastExecuted"] is not None
    start(db, "wf-z")  # the schema does not match: no job
    assert fire(db) == []
    assert len(jobs_of(db, trig["_id"])) == 1


def test_legacy_wrapper_false_spreads_the_payload(ready: Database) -> None:
    db = ready
    automation(db, "x")
    trig = on_event(db, automation(db, "y"), legacyWrapper=False)
    start(db, "wf-x")
    fire(db)
    (found,) = jobs_of(db, trig["_id"])
    assert found["variables"]["job"]["name"] == "wf-x" and "formData" not in found["variables"]


def test_disabled_trigger_does_not_fire_and_events_are_passed_over(ready: Database) -> None:
    db = ready
    automation(db, "x")
    trig = on_event(db, automation(db, "y"))
    triggers.update_trigger(db, auth.system_principal(db), trig["_id"], {"enabled": False})
    start(db, "wf-x")
    assert fire(db) == []
    triggers.update_trigger(db, auth.system_principal(db), trig["_id"], {"enabled": True})
    assert fire(db) == []  # the event was passed over while disabled: enabling does not replay it
    start(db, "wf-x")
    assert len(fire(db)) == 1


def test_restart_resumes_from_the_cursor_and_one_process_holds_the_lease(ready: Database) -> None:
    """ADR 0010: the cursor is durable (a restart neither replays nor skips) and leased (one process at a
    time: decisions on several nodes on one PostgreSQL)."""
    db = ready
    automation(db, "x")
    trig = on_event(db, automation(db, "y"), schema=ONLY_X)
    start(db, "wf-x")
    first = consumer("node-a", lease_ms=200)
    assert len(fire(db, first)) == 1
    start(db, "wf-x")
    other = consumer("node-b")
    assert fire(db, other) == []  # node-a holds the lease: node-b does nothing
    assert len(jobs_of(db, trig["_id"])) == 1
    time.sleep(0.3)  # node-a "died": its lease expires and node-b takes over where node-a stopped
    started = fire(db, other)
    assert len(started) == 1  # the second X job's event, once; the first is not replayed
    assert fire(db, other) == [] and fire(db, consumer("node-b")) == []  # node-b restarted: same cursor
    assert len(jobs_of(db, trig["_id"])) == 2


def test_a_crash_before_the_commit_starts_the_job_exactly_once(ready: Database, monkeypatch) -> None:
    """Starting the job and moving the cursor are one transaction: a failure in between undoes both, and
    the next poll starts the job once."""
    db = ready
    automation(db, "x")
    trig = on_event(db, automation(db, "y"))
    start(db, "wf-x")
    real = event_triggers.store.update_trigger

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("process died")

    monkeypatch.setattr(event_triggers.store, "update_trigger", crash)  # after start_job, before the commit
    with pytest.raises(RuntimeError):
        fire(db)
    assert jobs_of(db, trig["_id"]) == []
    monkeypatch.setattr(event_triggers.store, "update_trigger", real)
    assert len(fire(db)) == 1
    assert fire(db) == []
    assert len(jobs_of(db, trig["_id"])) == 1


def test_loop_guard(ready: Database) -> None:
    """ADR 0010 loop guard: a trigger never fires on its own automation's jobs, and a chain of
    event-started jobs ends at MAX_DEPTH."""
    db = ready
    y = automation(db, "y")
    own = on_event(db, y)  # jobStarted of anything, Y's own jobs included
    start(db, "wf-y")  # not started by a trigger: fires Y once
    assert len(fire(db)) == 1
    assert fire(db) == []  # Y's event-started job does not start Y again
    assert len(jobs_of(db, own["_id"])) == 1
    a, b = automation(db, "a"), automation(db, "b")
    on_event(db, a)
    on_event(db, b)
    triggers.update_trigger(db, auth.system_principal(db), own["_id"], {"enabled": False})
    start(db, "wf-y")
    rounds = 0
    while fire(db):  # A starts on B's jobs and B on A's: bounded by the depth cap
        rounds += 1
        assert rounds < 50
    with db.read() as conn:
        depths = [r["trigger"]["triggeredBy"]["depth"] for r in conn.execute(select(job.c.trigger)).mappings()
                  if r["trigger"] and r["trigger"]["type"] == "eventSystem"]
    assert max(depths) == event_triggers.MAX_DEPTH


def test_a_process_that_lost_its_lease_cannot_move_the_cursor(ready: Database) -> None:
    """ADR 0010 fencing: the cursor moves only from where this process read it, under its own lease."""
    db = ready
    automation(db, "x")
    on_event(db, automation(db, "y"))
    start(db, "wf-x")
    slow = consumer("node-a", lease_ms=1)
    polled = slow.poll(db)
    assert polled is not None and len(polled[1]) == 1
    row, batch, _ = polled
    time.sleep(0.01)  # node-a stalls past its lease; node-b takes over and handles the event
    assert len(fire(db, consumer("node-b"))) == 1
    with db.write() as conn:
        assert not events.move(conn, slow, row["last_event_id"], batch[0]["id"])
    assert slow.poll(db) is None  # and node-b's lease keeps it out


def test_two_processes_racing_for_the_cursor_start_each_job_once(ready: Database) -> None:
    """ADR 0010: with a lease so short that two consumers keep taking it from each other mid-batch, the
    fenced cursor moves still let each event start its job exactly once (both databases)."""
    db = ready
    automation(db, "x")
    trig = on_event(db, automation(db, "y"), schema=ONLY_X)
    for _ in range(6):
        start(db, "wf-x")
    last = events.latest_id(db)
    errors: list[BaseException] = []

    def node(owner: str) -> None:
        me = consumer(owner, lease_ms=1)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                fire(db, me)
                with db.read() as conn:
                    row = event_triggers.event_store.get_consumer(conn, event_triggers.CONSUMER)
                if row is not None and row["last_event_id"] >= last:
                    return
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=node, args=(name,)) for name in ("node-a", "node-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(jobs_of(db, trig["_id"])) == 6
