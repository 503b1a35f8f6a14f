"""Events (issue #3 scope 7): the outbox rows written inside the transaction of each job or task state
change, the catalog of their definitions, and the reads behind `GET /operations-manager/events/stream`.

`record` is called by the use cases at the point of the change, in their own transaction, so an event
exists exactly when its change was committed. Payloads hold identities and states, never variables.
Inside `batch` (the engine's apply_step) events are collected and inserted with one statement.

`Consumer` is the durable, leased cursor of a reader inside the server (eventSystem triggers, each
webhook; ADR 0010); `Cursor` the in-memory one of a stream.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opsmgr.domain import events as catalog
from opsmgr.domain.access import Principal
from opsmgr.domain.documents import now_ms
from opsmgr.errors import Invalid, NotFound
from opsmgr.store import events as event_store
from opsmgr.store.database import Connection, Database

PAGE = 200  # events read per poll of the outbox


def _job(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The job part of a payload: identity, status, the trigger that started it (so a subscriber can tell
    which automation's job it is) and, for a child job, its parent."""
    parent = summary.get("parent")
    return {
        "_id": summary["id"], "name": summary["name"], "status": summary["status"],
        "trigger": summary.get("trigger"),
        "parent": {"_id": parent["job"], "task": parent["task"]} if parent else None,
    }


def _event(topic: str, job: Mapping[str, Any], task: Mapping[str, Any] | None, by: str | None,
           extra: Mapping[str, Any] | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"job": _job(job), "by": by, **(extra or {})}
    if task is not None:
        payload["task"] = {"_id": task["id"], "key": task["task_key"], "name": task["name"],
                           "type": task.get("type"), "finishState": task.get("finish_state")}
        payload["owner"] = task["owner"]
    return {"source": catalog.SOURCE, "topic": topic, "job_id": job["id"],
            "task_id": task["id"] if task is not None else None, "payload": payload, "at": now_ms()}


_batch = threading.local()  # the events of the innermost `batch` of this thread, or None


@contextmanager
def batch(conn: Connection) -> Iterator[None]:
    """Collect the events recorded inside and insert them, in order, with ONE statement at the end (the
    engine's inline path records one per task: ten inserts per job cost more than one). Nested: the
    outermost flushes. On an exception nothing is inserted (the transaction fails anyway)."""
    if getattr(_batch, "rows", None) is not None:
        yield
        return
    _batch.rows = []
    try:
        yield
        rows = _batch.rows
    finally:
        _batch.rows = None
    if rows:
        event_store.insert_events(conn, rows)


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    pending = getattr(_batch, "rows", None)
    if pending is not None:
        pending.extend(rows)
    else:
        event_store.insert_events(conn, rows)


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
    _insert(conn, [_event(topic, summary, task, by, extra)])


def task_topic(finish_state: str | None) -> str:
    return "taskError" if finish_state == "error" else "taskFinished"


def tasks_finished(conn: Connection, job: Mapping[str, Any], rows: Sequence[Mapping[str, Any]],
                   by: str | None = None) -> None:
    """One `taskFinished`/`taskError` event per finished row of `rows` (tasks of `job` that were run
    inline, or ended at once), written with ONE insert: this is on the engine's hot path."""
    done = [r for r in rows if r["finish_state"] is not None]
    if done:
        _insert(conn, [_event(task_topic(r["finish_state"]), job, r, by, None) for r in done])


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

    def __init__(self, last: int, gap_since: float | None = None) -> None:
        self.last = last
        self.gap_since = gap_since  # when delivery first stopped before the gap after `last`

    def advance(self, rows: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
        """The rows (as from `events_after(self.last)`) that may be delivered now, visible ones only."""
        out = []
        for row in rows:
            if row["id"] != self.last + 1 and self.last >= 0:
                if self.gap_since is None:
                    self.gap_since = now
                if now - self.gap_since < self.GAP_WAIT:
                    break
            self.gap_since = None
            self.last = row["id"]
            if row["visible"]:
                out.append({k: row[k] for k in ("id", "source", "topic", "at", "payload")})
        return out


# durable consumers (eventSystem triggers, webhooks) ----------------------------------------------------------


class Consumer:
    """A durable reader of the outbox: its cursor (`event_consumer` row `name`) survives restarts, and one
    process at a time holds its lease (taken and renewed with a conditional UPDATE at every poll; a dead
    holder's lease expires after `lease_ms`). Each move of the cursor is fenced: it happens only if the
    cursor still stands where this process read it, under its lease, in the transaction that acts on the
    events. The gap rule of `Cursor` applies: delivery stops before an id gap until it fills or is old."""

    def __init__(self, name: str, owner: str, lease_ms: int) -> None:
        self.name = name
        self.owner = owner
        self.lease_ms = lease_ms
        self._at = -1  # where the cursor stood when a gap after it was first seen, and since when
        self._gap_since: float | None = None
        self.more = False  # the last poll read a full page: more is waiting, poll again at once

    def _lease(self, db: Database) -> dict[str, Any] | None:
        """The consumer row if this process holds its lease. A lease with more than half its time left
        is used as it is (a read); otherwise it is taken or renewed with the conditional UPDATE. So an
        idle consumer writes once per half lease, not at every poll (each SQLite commit is an fsync)."""
        now = now_ms()
        with db.read() as conn:
            row = event_store.get_consumer(conn, self.name)
        if row is None:
            return None
        if row["lease_owner"] == self.owner and (row["lease_until"] or 0) - now > self.lease_ms // 2:
            return row
        with db.write() as conn:
            if not event_store.lease_consumer(conn, self.name, self.owner, now, now + self.lease_ms):
                return None
            return event_store.get_consumer(conn, self.name)

    def poll(self, db: Database) -> tuple[dict[str, Any], list[dict[str, Any]], int] | None:
        """Lease the cursor and read what follows it: (the consumer row, the events deliverable now in id
        order, where the cursor may move once all of them are handled). None when another process holds
        the lease (or the cursor does not exist)."""
        row = self._lease(db)
        if row is None:
            self.more = False
            return None
        last = row["last_event_id"]
        with db.read() as conn:
            rows = event_store.events_after(conn, last, None, PAGE)
        cursor = Cursor(last, self._gap_since if self._at == last else None)
        batch = cursor.advance(rows, time.monotonic())
        self._at, self._gap_since = last, cursor.gap_since  # a gap's age counts across polls
        self.more = len(rows) == PAGE and cursor.last == rows[-1]["id"]  # not when held before a gap
        return row, batch, cursor.last

    def skip_all(self, db: Database) -> None:
        """Move the cursor to the newest event (nothing wants the events before it)."""
        self.more = False
        row = self._lease(db)
        if row is None:
            return
        with db.read() as conn:
            latest = event_store.latest_id(conn)
        if latest > row["last_event_id"]:
            with db.write() as conn:
                move(conn, self, row["last_event_id"], latest)


def ensure_consumer(conn: Connection, name: str) -> None:
    """Create the cursor `name` at the newest event, if absent: a new consumer starts with what comes next."""
    event_store.ensure_consumer(conn, name, event_store.latest_id(conn))


def move(conn: Connection, consumer: Consumer, last: int, to: int, **values: Any) -> bool:
    """Move `consumer`'s cursor from `last` to `to` in the caller's transaction; False if it no longer
    stands at `last` under our lease (then the caller must roll back what it did)."""
    return event_store.move_consumer(conn, consumer.name, consumer.owner, last,
                                     {"last_event_id": to, "attempts": 0, "retry_at": None, **values})


def drop_consumer(conn: Connection, name: str) -> None:
    event_store.delete_consumer(conn, name)
