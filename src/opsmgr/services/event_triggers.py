"""eventSystem triggers (ops-manager-api §3.4, issue #5): start an automation's workflow when an event of the
outbox matches one of its enabled eventSystem triggers.

One durable consumer, CONSUMER, reads the outbox in id order (services.events.Consumer: leased by one
process at a time, so several nodes on one PostgreSQL fire each event once). For each event, the
triggers whose `source` and `topic` equal the event's and whose optional `schema` (JSON Schema,
domain.jsonschema_lite) accepts its payload each start one job, in ONE transaction that also moves the
cursor past the event (fenced: only if the cursor still stands where it was read, under our lease). A
crash before the commit leaves both undone, so the event is handled again: at least once, never twice.
Events no trigger wants are passed over in one cursor move.

The job gets the payload as its variables (legacyWrapper true: all of it in the variable `formData`;
false: each top-level field is a variable) and records `trigger: {automationId, triggerId, type:
"eventSystem", triggeredBy: {type: "event", eventId, source, topic, jobId, depth}}`; it is created by the
trigger's last editor, as scheduled jobs are.

Loop guard: a trigger never fires on an event of a job its own automation started (its jobComplete
would start it again, forever), and a chain of event-started jobs (X starts Y starts Z ...) stops at
MAX_DEPTH: `depth` is 1 for a job started by an event of a job no event started, and one more at each
link. Events of child jobs carry no trigger (their depth counts as 0).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any

from opsmgr.domain import jsonschema_lite
from opsmgr.domain import triggers as trigger_rules
from opsmgr.domain.documents import now_ms
from opsmgr.errors import Conflict, Invalid, NotFound
from opsmgr.services import automations, events, jobs, progress, schedules
from opsmgr.store import automations as store
from opsmgr.store import events as event_store
from opsmgr.store.database import Connection, Database, InTransaction

log = logging.getLogger("opsmgr.events")

CONSUMER = "eventSystem-triggers"
MAX_DEPTH = 5


def ensure(db: Database) -> None:
    """Create the cursor (at the newest event) if this database has none yet."""
    with db.write() as conn:
        events.ensure_consumer(conn, CONSUMER)


def depth(payload: Mapping[str, Any]) -> int:
    """How many event-started jobs lead to the job of this event (0: not started by an event)."""
    origin = (payload.get("job") or {}).get("trigger") or {}
    by = origin.get("triggeredBy") if origin.get("type") == "eventSystem" else None
    return int(by.get("depth") or 0) if isinstance(by, dict) else 0


def wants(row: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Does trigger `row` fire on `event`? Source, topic, schema filter, and the loop guard."""
    doc = row["document"] or {}
    if doc.get("source") != event["source"] or doc.get("topic") != event["topic"]:
        return False
    payload = event["payload"]
    origin = (payload.get("job") or {}).get("trigger") or {}
    if origin.get("automationId") == row["action_id"]:
        return False  # its own automation's job: firing would loop
    if depth(payload) >= MAX_DEPTH:
        log.warning("eventSystem trigger %s: event %s ends a chain of %d event-started jobs; not fired",
                    row["id"], event["id"], MAX_DEPTH)
        return False
    schema = doc.get("schema")
    return schema is None or not jsonschema_lite.validate(payload, schema)


def fire(db: Database, consumer: events.Consumer, known_tasks: Collection[tuple[str, str]] = ()
         ) -> list[dict[str, Any]]:
    """Handle what the outbox holds after the cursor (one page: `consumer.more` says whether more waits);
    returns the jobs started."""
    with db.read() as conn:
        triggers = event_store.event_triggers(conn)
    if not triggers:  # the common case: no eventSystem trigger, so no event needs reading
        consumer.skip_all(db)
        return []
    polled = consumer.poll(db)
    if polled is None:
        return []
    row, batch, end = polled
    last = row["last_event_id"]
    started: list[dict[str, Any]] = []
    try:
        for event in batch:
            matching = [t for t in triggers if wants(t, event)]
            if not matching:
                continue
            with db.write() as conn:
                if not events.move(conn, consumer, last, event["id"]):
                    return started  # the lease went elsewhere: that process handles it
                for trigger in matching:
                    job = _start(db, conn, trigger["id"], event, known_tasks)
                    if job is not None:
                        started.append(job)
            last = event["id"]
        if end > last:
            with db.write() as conn:
                events.move(conn, consumer, last, end)
    finally:
        if started:  # start_job's own wake-up came before our COMMIT: wake the workers again
            progress.notify_work_queued()
    return started


def _start(db: Database, conn: Connection, trigger_id: str, event: Mapping[str, Any],
           known_tasks: Collection[tuple[str, str]]) -> dict[str, Any] | None:
    """Start the job of one trigger for one event inside the open transaction; None if it cannot start
    (logged: a broken automation must not stop the events behind it)."""
    row = store.get_trigger(conn, trigger_id)
    if row is None or not row["enabled"]:
        return None  # disabled or deleted since it was read
    automation = store.get_automation(conn, row["action_id"])
    if automation is None or not automation["component_name"]:
        log.warning("eventSystem trigger %s (event %s): its automation has no workflow to run", row["id"],
                    event["id"])
        return None
    doc = trigger_rules.stored(row)
    payload = event["payload"]
    origin = {"automationId": automation["id"], "triggerId": row["id"], "type": "eventSystem",
              "triggeredBy": {"type": "event", "eventId": event["id"], "source": event["source"],
                              "topic": event["topic"], "jobId": (payload.get("job") or {}).get("_id"),
                              "depth": depth(payload) + 1}}
    variables = trigger_rules.job_variables(payload, bool(doc.get("legacyWrapper", True)))
    gbac = automations.gbac_from(store.gbac_of(conn, [automation["id"]])[automation["id"]])
    groups = list(dict.fromkeys([*gbac.read, *gbac.write]))
    try:
        with conn.begin_nested():
            job = jobs.start_job(InTransaction(db, conn), schedules.trigger_owner(conn, row),
                                 automation["component_name"], automation["description"] or None, "automation",
                                 variables, groups, known_tasks, trigger=origin)
    except (Invalid, Conflict, NotFound) as exc:
        log.warning("eventSystem trigger %s (event %s) could not start a job: %s", row["id"], event["id"],
                    exc.message)
        return None
    store.update_trigger(conn, row["id"], {"last_executed": now_ms()})
    return job
