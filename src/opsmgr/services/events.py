"""Events (issue #3 scope 7): the outbox rows written inside the transaction of each job or task state
change, the catalog of their definitions, and the reads behind `GET /operations-manager/events/stream`.

`record` is called by the use cases at the point of the change, in their own transaction, so an event
exists exactly when its change was committed. Payloads hold identities and states, never variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsmgr.domain import events as catalog
from opsmgr.domain.access import Principal
from opsmgr.domain.documents import now_ms
from opsmgr.errors import Invalid, NotFound
from opsmgr.store import events as event_store
from opsmgr.store.database import Connection, Database

PAGE = 200  # events read per poll of the outbox


def record(
    conn: Connection,
    topic: str,
    job: Mapping[str, Any] | str,
    task: Mapping[str, Any] | None = None,
    by: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Append one event for `job` (a job row, or its id: then its name and status are read) and, for a
    task topic, the task iteration row `task` as it is after the change."""
    summary = event_store.job_summary(conn, job) if isinstance(job, str) else job
    if summary is None:
        return
    payload: dict[str, Any] = {
        "job": {"_id": summary["id"], "name": summary["name"], "status": summary["status"]}, "by": by, **(extra or {}),
    }
    if task is not None:
        payload["task"] = {"_id": task["id"], "key": task["task_key"], "name": task["name"]}
        payload["owner"] = task["owner"]
    event_store.insert_event(conn, {
        "source": catalog.SOURCE, "topic": topic, "job_id": summary["id"],
        "task_id": task["id"] if task is not None else None, "payload": payload, "at": now_ms(),
    })


def job_saved(conn: Connection, job: Mapping[str, Any], by: str | None) -> None:
    """Called just before a job row is written: one event when its status changes (complete, error,
    canceled, paused, running again)."""
    before = event_store.stored_status(conn, job["id"])
    if before is not None and before != job["status"] and job["status"] in catalog.STATUS_TOPICS:
        record(conn, catalog.STATUS_TOPICS[job["status"]], job, by=by, extra={"from": before})


def definitions() -> list[dict[str, Any]]:
    return catalog.catalog()


def definition(source: str, topic: str) -> dict[str, Any]:
    found = catalog.find(source, topic)
    if found is None:
        raise NotFound(f"no event {topic!r} from source {source!r}")
    return found


def parse_after(last_event_id: str | None, after: str | None) -> int:
    """Where a stream resumes: the `Last-Event-ID` header wins over `?after=`; none means from now."""
    raw = last_event_id if last_event_id not in (None, "") else after
    if raw in (None, ""):
        return -1
    assert raw is not None
    if not raw.isdigit():
        raise Invalid.problems("Last-Event-ID / after must be an event id (a non-negative integer)",
                               [{"path": "after", "message": "not an event id"}])
    return int(raw)


def latest_id(db: Database) -> int:
    with db.read() as conn:
        return event_store.latest_id(conn)


def events_after(db: Database, caller: Principal, after: int, limit: int = PAGE) -> list[dict[str, Any]]:
    """Every event after id `after` in id order, as `{id, source, topic, at, payload, visible}`; `visible`
    says whether the caller may see it (GBAC of its job). See `Cursor` for why invisible ones come too."""
    with db.read() as conn:
        return event_store.events_after(conn, after, None if caller.is_admin else caller.groups, limit)


class Cursor:
    """Where a stream is in the outbox, and which events to deliver next, in id order.

    Ids come from the database as each insert happens, not as each transaction commits: on PostgreSQL a
    reader may see event 11 while the transaction of event 10 is still open. So a gap in the ids is not
    skipped at once: delivery stops before it until it fills, or until it has been open GAP_WAIT seconds
    (a rolled-back transaction never fills its gap). That is what makes delivery in order and complete."""

    GAP_WAIT = 1.0

    def __init__(self, last: int) -> None:
        self.last = last
        self._gap_since: float | None = None

    def advance(self, rows: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
        """The rows (as from `events_after(self.last)`) that may be delivered now, visible ones only."""
        out = []
        for row in rows:
            if row["id"] != self.last + 1 and self.last >= 0:
                if self._gap_since is None:
                    self._gap_since = now
                if now - self._gap_since < self.GAP_WAIT:
                    break
            self._gap_since = None
            self.last = row["id"]
            if row["visible"]:
                out.append({k: row[k] for k in ("id", "source", "topic", "at", "payload")})
        return out
