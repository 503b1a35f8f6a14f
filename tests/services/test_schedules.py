"""The scheduler with a controllable clock: `fire_due(db, now)` is called with explicit times, so no
test sleeps. Covers the first run, repeats, disable/enable, and missed runs `none` vs `last`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from opsmgr.domain.documents import now_ms
from opsmgr.engine.registry import default_registry
from opsmgr.services import auth, automations, schedules, triggers, workflows
from opsmgr.store import automations as store
from opsmgr.store.database import Database
from opsmgr.store.schema import job
from tests.api.automation_support import simple

KNOWN = default_registry().known()
MIN = 60_000


def setup(db: Database, missed: str = "none", interval: int | None = MIN) -> tuple[Any, dict, int]:
    admin = auth.system_principal(db)
    wf = workflows.create_workflow(db, admin, simple("sched"), KNOWN)
    auto = automations.create_automation(db, admin, {"name": "nightly", "componentType": "workflows",
                                                     "componentId": wf["_id"]})
    t0 = (now_ms() // 1000 + 3600) * 1000  # an hour ahead of the real clock: only our explicit times matter
    trig = triggers.create_trigger(db, admin, {
        "name": "every minute", "type": "schedule", "actionId": auto["_id"], "firstRunAt": t0,
        "repeatInterval": interval, "processMissedRuns": missed, "formData": {"x": 1}})
    return admin, trig, t0


def jobs_of(db: Database, trigger_id: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(select(job.c.id, job.c.trigger, job.c.variables, job.c.initiator)).mappings()
        return [dict(r) for r in rows if r["trigger"] and r["trigger"]["triggerId"] == trigger_id]


def fire(db: Database, now: int) -> int:
    return len(schedules.fire_due(db, now, KNOWN))


def test_first_run_and_repeats(db):
    admin, trig, t0 = setup(db)
    assert trig["nextRunAt"] == t0
    assert fire(db, t0 - 1) == 0
    assert fire(db, t0 + 200) == 1
    assert fire(db, t0 + 900) == 0  # the same due time never fires twice
    doc = triggers.get_trigger(db, admin, trig["_id"])
    assert doc["nextRunAt"] == t0 + MIN and doc["lastExecuted"] == t0 + 200
    assert fire(db, t0 + MIN) == 1
    assert fire(db, t0 + 2 * MIN + 10) == 1
    found = jobs_of(db, trig["_id"])
    assert len(found) == 3
    assert found[0]["trigger"] == {"automationId": trig["actionId"], "triggerId": trig["_id"],
                                   "type": "schedule", "triggeredBy": "schedule"}
    assert found[0]["variables"]["formData"] == {"x": 1} and found[0]["initiator"] == "admin"


def test_one_shot_fires_once(db):
    admin, trig, t0 = setup(db, interval=None)
    assert fire(db, t0) == 1
    assert fire(db, t0 + 10 * MIN) == 0
    assert triggers.get_trigger(db, admin, trig["_id"])["nextRunAt"] is None


def test_disable_and_enable(db):
    admin, trig, t0 = setup(db)
    triggers.update_trigger(db, admin, trig["_id"], {"enabled": False})
    assert triggers.get_trigger(db, admin, trig["_id"])["nextRunAt"] is None
    assert fire(db, t0 + 10) == 0
    assert fire(db, t0 + 5 * MIN) == 0
    triggers.update_trigger(db, admin, trig["_id"], {"enabled": True})  # due from the real now on: t0
    assert triggers.get_trigger(db, admin, trig["_id"])["nextRunAt"] == t0
    assert fire(db, t0 + 10) == 1
    assert len(jobs_of(db, trig["_id"])) == 1


def test_rescheduling_moves_the_due_time(db):
    admin, trig, t0 = setup(db)
    triggers.update_trigger(db, admin, trig["_id"], {"firstRunAt": t0 + 30 * MIN})
    assert fire(db, t0 + 10) == 0
    assert fire(db, t0 + 30 * MIN) == 1


def test_missed_runs_none_skips_to_the_next_due_time(db):
    admin, trig, t0 = setup(db, "none")
    assert fire(db, t0 + 10 * MIN + 30_000) == 0  # the scheduler was down for ten minutes
    assert triggers.get_trigger(db, admin, trig["_id"])["nextRunAt"] == t0 + 11 * MIN
    assert fire(db, t0 + 11 * MIN + 100) == 1
    assert len(jobs_of(db, trig["_id"])) == 1


def test_missed_runs_last_fires_the_most_recent_once(db):
    admin, trig, t0 = setup(db, "last")
    assert fire(db, t0 + 10 * MIN + 30_000) == 1
    assert fire(db, t0 + 10 * MIN + 40_000) == 0
    assert triggers.get_trigger(db, admin, trig["_id"])["nextRunAt"] == t0 + 11 * MIN
    assert len(jobs_of(db, trig["_id"])) == 1


def test_a_lost_claim_fires_nothing(db):
    _, trig, t0 = setup(db)
    with db.write() as conn:  # another process claimed t0 first
        assert store.claim_schedule(conn, trig["_id"], t0, t0 + MIN)
    with db.write() as conn:
        assert not store.claim_schedule(conn, trig["_id"], t0, t0 + MIN)
    assert fire(db, t0 + 10) == 0
    assert jobs_of(db, trig["_id"]) == []


def test_a_broken_automation_keeps_the_schedule_moving(db):
    admin, trig, t0 = setup(db)
    automations.update_automation(db, admin, trig["actionId"], {"componentId": None, "componentType": None})
    assert fire(db, t0 + 10) == 0
    assert triggers.get_trigger(db, admin, trig["_id"])["nextRunAt"] == t0 + MIN
