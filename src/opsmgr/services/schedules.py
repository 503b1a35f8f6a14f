"""The scheduler (ops-manager-api §3.4 schedule triggers): start the jobs of due schedule triggers.

`fire_due(db, now)` takes the time explicitly, so tests drive it with a controllable clock; the
engine's scheduler loop calls it with the real time. Each due trigger is handled in its own
transaction that first claims the due time with ONE conditional UPDATE

    UPDATE trigger SET next_run_at = :next WHERE id = :id AND next_run_at = :due AND enabled

so when several processes poll the same database exactly one of them wins each due time (the others
update no row and move on), then starts the job(s) in that same transaction and records
`lastExecuted`. A job that cannot start (the workflow is gone or broken) is logged and skipped: the due
time stays claimed so a broken schedule does not retry at every poll.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from opsmgr.domain import schedules as rules
from opsmgr.domain import triggers as trigger_rules
from opsmgr.domain.access import Principal
from opsmgr.errors import Conflict, Invalid, NotFound
from opsmgr.services import automations, jobs, progress
from opsmgr.store import accounts as account_store
from opsmgr.store import automations as store
from opsmgr.store.database import Connection, Database, InTransaction

log = logging.getLogger("opsmgr.scheduler")


def fire_due(db: Database, now: int, known_tasks: Collection[tuple[str, str]] = (),
             grace_ms: int = rules.GRACE_MS) -> list[dict[str, Any]]:
    """Fire every schedule trigger due at `now`; returns the jobs this call started."""
    started: list[dict[str, Any]] = []
    try:
        with db.read() as conn:
            due = store.due_schedules(conn, now)
        for candidate in due:
            _fire_one(db, candidate, now, known_tasks, grace_ms, started)
    finally:
        if started:  # start_job's own wake-up came before our COMMIT: wake the workers again
            progress.notify_work_queued()
    return started


def _fire_one(db: Database, candidate: dict[str, Any], now: int, known_tasks: Collection[tuple[str, str]],
              grace_ms: int, started: list[dict[str, Any]]) -> None:
    fired: list[dict[str, Any]] = []
    with db.write() as conn:
        row = store.get_trigger(conn, candidate["id"])
        if row is None or row["next_run_at"] != candidate["next_run_at"] or not row["enabled"]:
            return
        doc = trigger_rules.stored(row)
        plan = rules.plan(doc, row["next_run_at"], now, grace_ms)
        if not store.claim_schedule(conn, row["id"], row["next_run_at"], plan.next):
            return  # another process fired this due time
        if plan.missed:
            log.info("schedule trigger %s skipped %d missed run(s)", row["id"], plan.missed)
        for due in plan.fire:
            job = _start(db, conn, row, doc, due, known_tasks)
            if job is not None:
                fired.append(job)
        if plan.fire:
            store.update_trigger(conn, row["id"], {"last_executed": now})
    started.extend(fired)


def _start(db: Database, conn: Connection, row: dict[str, Any], doc: dict[str, Any], due: int,
           known_tasks: Collection[tuple[str, str]]) -> dict[str, Any] | None:
    automation = store.get_automation(conn, row["action_id"])
    if automation is None or not automation["component_name"]:
        log.warning("schedule trigger %s (due %d): its automation has no workflow to run", row["id"], due)
        return None
    gbac = automations.gbac_from(store.gbac_of(conn, [automation["id"]])[automation["id"]])
    origin = {"automationId": automation["id"], "triggerId": row["id"], "type": "schedule",
              "triggeredBy": "schedule"}
    data = dict(doc.get("formData") or {})
    variables = trigger_rules.job_variables(data, bool(doc.get("legacyWrapper", True)))
    groups = list(dict.fromkeys([*gbac.read, *gbac.write]))
    try:
        with conn.begin_nested():
            return jobs.start_job(InTransaction(db, conn), trigger_owner(conn, row), automation["component_name"],
                                  automation["description"] or None, "automation", variables, groups,
                                  known_tasks, trigger=origin)
    except (Invalid, Conflict, NotFound) as exc:
        log.warning("schedule trigger %s (due %d) could not start a job: %s", row["id"], due, exc.message)
        return None


def trigger_owner(conn: Connection, row: dict[str, Any]) -> Principal:
    """Scheduled jobs are created by the trigger's last editor (its creator when none); initiator is
    that account's username ("schedule" when the account is gone)."""
    account_id = row["last_updated_by"] or row["created_by"] or ""
    names = account_store.usernames(conn, [account_id]) if account_id else {}
    return Principal(account_id=account_id, username=names.get(account_id, "schedule"), roles=frozenset(),
                     groups=frozenset())
