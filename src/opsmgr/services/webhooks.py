"""Webhooks (issue #3 scope 7): admin-configured subscriptions to the event outbox, and their delivery.

Webhooks are an admin feature: an admin configures them and they get every event (no GBAC filter), so
the payloads carry identities and states only, never variables (domain.events).

Each webhook has its own durable consumer cursor (`webhook:<id>`, services.events.Consumer), created at
the newest event when the webhook is created: it gets the events that come after. Delivery is in id
order and at least once: the event after the cursor is POSTed (domain.webhooks.body, with headers
X-Opsmgr-Event, X-Opsmgr-Delivery = event id, X-Opsmgr-Signature = sha256 HMAC of the raw body when a
secret is set); a 2xx answer moves the cursor past it in the transaction that records the attempt;
anything else (an error status, a refused connection, a timeout) records the attempt and waits
`backoff(attempts)` before trying the SAME event again: a later event is never sent before it. A crash
between the POST and the commit sends it again. Events the filter does not take are passed over.
A disabled webhook keeps its place: enabled again, it delivers what it missed.

The secret is stored encrypted with the key of encrypted variables (services.secrets): HMAC needs it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from opsmgr.config import Settings
from opsmgr.domain import webhooks as rules
from opsmgr.domain.access import Principal
from opsmgr.domain.documents import now_ms
from opsmgr.domain.ids import new_object_id, require_object_id
from opsmgr.errors import Invalid, NotFound
from opsmgr.services import events, secrets
from opsmgr.store import events as event_store
from opsmgr.store import webhooks as store
from opsmgr.store.database import Connection, Database

log = logging.getLogger("opsmgr.webhooks")
SECRET_AT = "webhook/secret"  # where the secret is sealed (binds the ciphertext to this use)
MAX_DELIVERIES = 1000


def consumer_name(webhook_id: str) -> str:
    return f"webhook:{webhook_id}"


def _document(row: dict[str, Any], cursor: dict[str, Any] | None) -> dict[str, Any]:
    doc = row["document"]
    return {
        "_id": row["id"], "name": row["name"], "url": row["url"], "enabled": row["enabled"],
        "topics": doc.get("topics", []), "jobNames": doc.get("jobNames", []),
        "automationIds": doc.get("automationIds", []), "hasSecret": row["secret"] is not None,
        "created": row["created"], "createdBy": row["created_by"],
        "lastUpdated": row["last_updated"], "lastUpdatedBy": row["last_updated_by"],
        "delivery": None if cursor is None else {
            "lastEventId": cursor["last_event_id"], "attempts": cursor["attempts"], "retryAt": cursor["retry_at"],
        },
    }


def _cursor(conn: Connection, webhook_id: str) -> dict[str, Any] | None:
    return event_store.get_consumer(conn, consumer_name(webhook_id))


def _seal(secret: Any, webhook_id: str) -> dict[str, Any] | None:
    return None if secret is None else secrets.cipher().seal(secret, webhook_id, SECRET_AT)


def _row(conn: Connection, webhook_id: str) -> dict[str, Any]:
    require_object_id(webhook_id, "id")
    row = store.get_webhook(conn, webhook_id)
    if row is None:
        raise NotFound(f"webhook {webhook_id} not found")
    return row


def create_webhook(db: Database, caller: Principal, body: Any) -> dict[str, Any]:
    doc = rules.check(body)
    webhook_id = new_object_id()
    now = now_ms()
    row = {
        "id": webhook_id, "name": doc["name"], "url": doc["url"], "enabled": doc["enabled"],
        "document": {k: doc[k] for k in ("topics", "jobNames", "automationIds")},
        "secret": _seal(body.get("secret"), webhook_id), "created": now, "created_by": caller.account_id,
        "last_updated": now, "last_updated_by": caller.account_id,
    }
    with db.write() as conn:
        store.insert_webhook(conn, row)
        events.ensure_consumer(conn, consumer_name(webhook_id))  # from the newest event on
        return _document(row, _cursor(conn, webhook_id))


def get_webhook(db: Database, webhook_id: str) -> dict[str, Any]:
    with db.read() as conn:
        return _document(_row(conn, webhook_id), _cursor(conn, webhook_id))


def list_webhooks(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [_document(r, _cursor(conn, r["id"])) for r in store.list_webhooks(conn)]


def update_webhook(db: Database, caller: Principal, webhook_id: str, body: Any) -> dict[str, Any]:
    """Change the given fields (the others stay); `secret: null` removes the secret."""
    with db.write() as conn:
        row = _row(conn, webhook_id)
        before = {"name": row["name"], "url": row["url"], "enabled": row["enabled"], **row["document"]}
        doc = rules.check(body, before)
        values = {
            "name": doc["name"], "url": doc["url"], "enabled": doc["enabled"],
            "document": {k: doc[k] for k in ("topics", "jobNames", "automationIds")},
            "last_updated": now_ms(), "last_updated_by": caller.account_id,
        }
        if "secret" in body:
            values["secret"] = _seal(body["secret"], webhook_id)
        store.update_webhook(conn, webhook_id, values)
        row.update(values)
        return _document(row, _cursor(conn, webhook_id))


def delete_webhook(db: Database, webhook_id: str) -> dict[str, Any]:
    with db.write() as conn:
        row = _row(conn, webhook_id)
        cursor = _cursor(conn, webhook_id)
        store.delete_webhook(conn, webhook_id)
        events.drop_consumer(conn, consumer_name(webhook_id))
    return _document(row, cursor)


def deliveries(db: Database, webhook_id: str, limit: str | None) -> list[dict[str, Any]]:
    """The latest delivery attempts, newest first."""
    count = 100
    if limit is not None:
        if not limit.isdigit() or not 0 < int(limit) <= MAX_DELIVERIES:
            raise Invalid.problems(f"limit must be an integer from 1 to {MAX_DELIVERIES}",
                                   [{"path": "limit", "message": f"an integer from 1 to {MAX_DELIVERIES}"}])
        count = int(limit)
    with db.read() as conn:
        _row(conn, webhook_id)
        rows = store.deliveries(conn, webhook_id, count)
    return [{"_id": r["id"], "eventId": r["event_id"], "topic": r["topic"], "attempt": r["attempt"], "at": r["at"],
             "delivered": r["delivered"], "statusCode": r["status_code"], "error": r["error"],
             "nextAttemptAt": r["next_attempt_at"]} for r in rows]


# delivery -------------------------------------------------------------------------------------------------


@dataclass
class Pending:
    """What one webhook has to deliver now."""

    url: str
    filter: dict[str, Any]
    secret: str | None
    last: int  # the cursor
    attempts: int  # failed tries of the event after the cursor
    batch: list[dict[str, Any]]
    end: int  # where the cursor may move once `batch` is handled


def enabled_ids(db: Database) -> list[str]:
    with db.read() as conn:
        return [r["id"] for r in store.list_webhooks(conn, enabled_only=True)]


def pending(db: Database, webhook_id: str, consumer: events.Consumer) -> Pending | None:
    """Lease the webhook's cursor and read what to deliver; None when there is nothing to do now (not
    ours, disabled or gone, or waiting for its back-off)."""
    with db.read() as conn:
        row = store.get_webhook(conn, webhook_id)
    if row is None or not row["enabled"]:
        return None
    polled = consumer.poll(db)
    if polled is None:
        return None
    cursor, batch, end = polled
    if cursor["retry_at"] is not None and cursor["retry_at"] > now_ms():
        return None
    secret = None if row["secret"] is None else secrets.cipher().open(row["secret"], webhook_id)
    return Pending(row["url"], row["document"], secret, cursor["last_event_id"], cursor["attempts"], batch, end)


def record_attempt(db: Database, webhook_id: str, consumer: events.Consumer, last: int, event: dict[str, Any],
                   attempt: int, status: int | None, error: str | None, retry_at: int | None, now: int) -> bool:
    """Record one POST of `event` answered at `now`; delivered (error None): the cursor moves past it, else
    it stays with the attempt count and the time of the next try. False if the cursor was no longer ours."""
    with db.write() as conn:
        if error is None:
            moved = events.move(conn, consumer, last, event["id"])
        else:
            moved = events.move(conn, consumer, last, last, attempts=attempt, retry_at=retry_at)
        if not moved:
            return False
        store.insert_delivery(conn, {
            "webhook_id": webhook_id, "event_id": event["id"], "topic": event["topic"], "attempt": attempt,
            "at": now, "delivered": error is None, "status_code": status, "error": error,
            "next_attempt_at": retry_at,
        })
    return True


def skip_to(db: Database, consumer: events.Consumer, last: int, end: int) -> None:
    with db.write() as conn:
        events.move(conn, consumer, last, end)


async def deliver(db: Database, client: httpx.AsyncClient, webhook_id: str, consumer: events.Consumer,
                  settings: Settings) -> int:
    """One round for one webhook: POST what it has, in order, until done or a failure (a backlog is read
    page after page). Returns how many events were delivered."""
    sent = 0
    while True:
        done, ok = await _deliver_page(db, client, webhook_id, consumer, settings)
        sent += done
        if not ok or not consumer.more:
            return sent


async def _deliver_page(db: Database, client: httpx.AsyncClient, webhook_id: str, consumer: events.Consumer,
                        settings: Settings) -> tuple[int, bool]:
    """Deliver one page of events: (how many were delivered, whether all of the page was handled)."""
    todo = await asyncio.to_thread(pending, db, webhook_id, consumer)
    if todo is None:
        return 0, False
    last, attempts, sent = todo.last, todo.attempts, 0
    for event in todo.batch:
        if not rules.wants(todo.filter, event):
            continue
        raw = rules.body(event)
        headers = {"Content-Type": "application/json", "User-Agent": "opsmgr-webhooks",
                   "X-Opsmgr-Event": event["topic"], "X-Opsmgr-Delivery": str(event["id"])}
        if todo.secret is not None:
            headers["X-Opsmgr-Signature"] = rules.signature(todo.secret, raw)
        status: int | None = None
        error: str | None = None
        try:
            response = await client.post(todo.url, content=raw, headers=headers,
                                         timeout=settings.webhook_timeout_seconds)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}: {response.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        attempts += 1
        answered = now_ms()
        retry_at = None
        if error is not None:
            delay = rules.backoff(attempts, settings.webhook_retry_base_seconds, settings.webhook_retry_max_seconds)
            retry_at = answered + int(delay * 1000)
            log.info("webhook %s: event %s not delivered (attempt %d, next in %.1fs): %s", webhook_id,
                     event["id"], attempts, delay, error)
        if not await asyncio.to_thread(record_attempt, db, webhook_id, consumer, last, event, attempts, status,
                                       error, retry_at, answered):
            return sent, False
        if error is not None:
            return sent, False  # the same event again after the back-off: never out of order
        last, attempts, sent = event["id"], 0, sent + 1
    if todo.end > last:
        await asyncio.to_thread(skip_to, db, consumer, last, todo.end)
    return sent, True


class Deliveries:
    """The webhook side of the engine's event loop: each round starts, for every enabled webhook whose
    previous round has ended, a new one as its own task, so a slow receiver delays only its own events."""

    def __init__(self, db: Database, settings: Settings, owner: str, lease_ms: int) -> None:
        self.db = db
        self.settings = settings
        self.owner = owner
        self.lease_ms = lease_ms
        self.client = httpx.AsyncClient(follow_redirects=False)
        self._consumers: dict[str, events.Consumer] = {}
        self._running: dict[str, asyncio.Task[int]] = {}

    async def round(self) -> None:
        ids = await asyncio.to_thread(enabled_ids, self.db)
        for webhook_id in ids:
            task = self._running.get(webhook_id)
            if task is not None and not task.done():
                continue
            consumer = self._consumers.setdefault(
                webhook_id, events.Consumer(consumer_name(webhook_id), self.owner, self.lease_ms))
            task = asyncio.create_task(deliver(self.db, self.client, webhook_id, consumer, self.settings))
            task.add_done_callback(functools.partial(_log_failure, webhook_id))
            self._running[webhook_id] = task
        for gone in set(self._consumers) - set(ids):
            self._consumers.pop(gone, None)

    async def close(self) -> None:
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)  # failures: logged by callback
        self._running.clear()
        await self.client.aclose()


def _log_failure(webhook_id: str, task: asyncio.Task[int]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("webhook %s: delivery round failed", webhook_id, exc_info=task.exception())
