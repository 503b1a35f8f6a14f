"""Webhooks (issue #3 scope 7: "webhooks (configured by admins: URL on loopback in tests, event filter, HMAC
signature, retries with back-off) deliver them in order, at least once"; ADR 0010). A real HTTP receiver
on 127.0.0.1 records what it gets."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from opsmgr.api.app import create_app
from opsmgr.config import Settings
from opsmgr.services import auth, events, secrets, webhooks
from opsmgr.store.database import Database
from opsmgr.store.schema import webhook
from tests.api.automation_support import ADMIN, OM, simple
from tests.helpers import World, create_workflow, http_server, start_job, wait_for_job, wait_until

URL = f"{OM}/webhooks"
SECRET = "hush-hush"


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST; it answers `fail` times with 500 first (or
    refuses everything while `down`)."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.got: list[dict[str, Any]] = []  # every request, delivered or not
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    failing = receiver.fail > 0
                    receiver.fail -= 1 if failing else 0
                    receiver.got.append({"headers": dict(self.headers), "raw": raw, "ok": not failing})
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._serving = http_server(Handler)
        self.url = f"{self._serving.__enter__()}/hook"

    def delivered(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(g["raw"]) for g in self.got if g["ok"]]

    def close(self) -> None:
        self._serving.__exit__(None, None, None)


@pytest.fixture
def keyed(settings: Settings, tmp_path: Path) -> Settings:
    """Fast event loops and back-off, and a key file (the webhook secret is stored encrypted)."""
    fast = settings.model_copy(update={"key_file": str(tmp_path / "test.key"), "event_poll_seconds": 0.05,
                                       "webhook_retry_base_seconds": 0.1, "webhook_retry_max_seconds": 0.4})
    secrets.ensure_key(fast)
    return fast


@pytest.fixture
def app_client(db: Database, keyed: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(keyed, db)) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def create(client: TestClient, **body: Any) -> dict[str, Any]:
    r = client.post(URL, json=body, auth=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


def outbox(db: Database) -> list[dict[str, Any]]:
    return events.events_after(db, auth.system_principal(db), 0, 10_000)


def run_jobs(client: TestClient, count: int, name: str = "hooked") -> list[dict[str, Any]]:
    create_workflow(client, simple(name))
    done = [start_job(client, name) for _ in range(count)]
    return [wait_for_job(client, j["_id"]) for j in done]


def test_delivers_every_event_in_order_with_a_valid_signature(app_client: TestClient, db: Database,
                                                              receiver: Receiver) -> None:
    hook = create(app_client, name="all", url=receiver.url, secret=SECRET)
    assert hook["hasSecret"] is True and "secret" not in hook and hook["topics"] == []
    run_jobs(app_client, 3)
    expected = [e["id"] for e in outbox(db)]
    assert len(expected) == 9  # jobStarted, taskFinished, jobComplete per job
    wait_until(lambda: len(receiver.delivered()) >= 9)
    got = receiver.got
    assert [json.loads(g["raw"])["id"] for g in got] == expected  # in order, each once
    for g in got:
        body = json.loads(g["raw"])
        assert g["headers"]["X-Opsmgr-Event"] == body["topic"]
        assert g["headers"]["X-Opsmgr-Delivery"] == str(body["id"])
        mac = hmac.new(SECRET.encode(), g["raw"], hashlib.sha256).hexdigest()
        assert hmac.compare_digest(g["headers"]["X-Opsmgr-Signature"], f"sha256={mac}")
        assert set(body) == {"id", "source", "topic", "at", "payload"}
    def recorded() -> list[dict[str, Any]]:  # the attempt is recorded just after the receiver answered
        r = app_client.get(f"{URL}/{hook['_id']}/deliveries", auth=ADMIN)
        assert r.status_code == 200
        return r.json()["data"] if len(r.json()["data"]) == 9 else []  # type: ignore[no-any-return]

    attempts = wait_until(recorded)
    assert all(a["delivered"] and a["statusCode"] == 204 for a in attempts)
    assert [a["eventId"] for a in attempts] == expected[::-1]  # newest first
    assert app_client.get(f"{URL}/{hook['_id']}", auth=ADMIN).json()["data"]["delivery"]["lastEventId"] == expected[-1]


def test_a_failing_receiver_gets_the_same_event_again_after_back_off(app_client: TestClient, db: Database) -> None:
    receiver = Receiver(fail=2)
    try:
        hook = create(app_client, name="flaky", url=receiver.url)
        run_jobs(app_client, 2)
        expected = [e["id"] for e in outbox(db)]
        wait_until(lambda: len(receiver.delivered()) >= len(expected))
        sent = [json.loads(g["raw"])["id"] for g in receiver.got]
        assert sent == [expected[0]] * 3 + expected[1:]  # two failures, then delivered, never skipped ahead
        assert [d["id"] for d in receiver.delivered()] == expected
        attempts = app_client.get(f"{URL}/{hook['_id']}/deliveries", params={"limit": "1000"},
                                  auth=ADMIN).json()["data"][::-1]
        first = attempts[:3]
        assert [(a["attempt"], a["delivered"], a["statusCode"]) for a in first] == [
            (1, False, 500), (2, False, 500), (3, True, 204)]
        assert first[0]["error"].startswith("HTTP 500") and first[0]["nextAttemptAt"] > first[0]["at"]
        # exponential back-off: base 0.1 s, then twice that
        assert [a["nextAttemptAt"] - a["at"] for a in first[:2]] == [100, 200]
    finally:
        receiver.close()


def test_at_least_once_across_a_restart(db: Database, keyed: Settings, monkeypatch) -> None:
    """A receiver down while events happen, then the server restarts: everything arrives, in order; and a
    crash between the POST and its commit sends that event again (at least once, never lost)."""
    receiver = Receiver(fail=10_000)  # answers 500 until told otherwise
    try:
        with TestClient(create_app(keyed, db)) as client:
            create(client, name="restart", url=receiver.url)
            run_jobs(client, 2)
            wait_until(lambda: len(receiver.got) >= 2)
        expected = [e["id"] for e in outbox(db)]
        receiver.fail = 0
        real = webhooks.record_attempt
        crashed: list[int] = []

        def crash_once(*args: Any, **kwargs: Any) -> bool:
            if not crashed and args[7] is None:  # the first delivered one: the process "dies" before commit
                crashed.append(args[4]["id"])
                raise RuntimeError("died before the commit")
            return real(*args, **kwargs)

        monkeypatch.setattr(webhooks, "record_attempt", crash_once)
        with TestClient(create_app(keyed, db)):
            wait_until(lambda: len(receiver.delivered()) >= len(expected) + 1)
        got = [d["id"] for d in receiver.delivered()]
        assert got == [expected[0], *expected]  # the crashed one twice, then all in order
        assert crashed == [expected[0]]
    finally:
        receiver.close()


def test_filter_on_topics_and_job_names(app_client: TestClient, db: Database, receiver: Receiver) -> None:
    create(app_client, name="completions", url=receiver.url, topics=["jobComplete"], jobNames=["wanted"])
    create_workflow(app_client, simple("other"))
    wait_for_job(app_client, start_job(app_client, "other")["_id"])
    wanted = run_jobs(app_client, 2, name="wanted")
    last = outbox(db)[-1]["id"]
    wait_until(lambda: app_client.get(URL, auth=ADMIN).json()["data"][0]["delivery"]["lastEventId"] == last)
    got = receiver.delivered()
    assert [(d["topic"], d["payload"]["job"]["_id"]) for d in got] == [("jobComplete", j["_id"]) for j in wanted]


def test_crud_and_write_only_secret(app_client: TestClient, db: Database) -> None:
    """The secret is write-only and stored encrypted (decisions §7's key): no plaintext in answers or rows."""
    hook = create(app_client, name="h", url="https://example.invalid/x", enabled=False)
    assert hook["hasSecret"] is False and hook["enabled"] is False and hook["delivery"]["attempts"] == 0
    r = app_client.put(f"{URL}/{hook['_id']}", json={"secret": "top-secret-value", "topics": ["taskError"]},
                       auth=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["hasSecret"] is True and r.json()["data"]["topics"] == ["taskError"]
    assert r.json()["data"]["name"] == "h" and "top-secret-value" not in r.text
    assert "top-secret-value" not in app_client.get(f"{URL}/{hook['_id']}", auth=ADMIN).text
    with db.read() as conn:
        stored = conn.execute(select(webhook.c.secret)).scalar_one()
    assert stored["$enc"] == "v1" and "top-secret-value" not in json.dumps(stored)
    assert [h["_id"] for h in app_client.get(URL, auth=ADMIN).json()["data"]] == [hook["_id"]]
    r = app_client.put(f"{URL}/{hook['_id']}", json={"secret": None}, auth=ADMIN)
    assert r.json()["data"]["hasSecret"] is False
    assert app_client.delete(f"{URL}/{hook['_id']}", auth=ADMIN).status_code == 200
    assert app_client.get(f"{URL}/{hook['_id']}", auth=ADMIN).status_code == 404
    assert app_client.get(f"{URL}/{hook['_id']}/deliveries", auth=ADMIN).status_code == 404
    assert app_client.put(f"{URL}/{hook['_id']}", json={}, auth=ADMIN).status_code == 404
    assert app_client.get(f"{URL}/not-an-id", auth=ADMIN).status_code == 400


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "http://127.0.0.1/x"}, "name"),
    ({"name": "n"}, "url"),
    ({"name": "n", "url": "ftp://127.0.0.1/x"}, "url"),
    ({"name": "n", "url": "http:///nohost"}, "url"),
    ({"name": "n", "url": "http://h/x", "topics": ["noSuchTopic"]}, "topics.0"),
    ({"name": "n", "url": "http://h/x", "topics": "jobComplete"}, "topics"),
    ({"name": "n", "url": "http://h/x", "jobNames": [1]}, "jobNames"),
    ({"name": "n", "url": "http://h/x", "automationIds": ["zz"]}, "automationIds"),
    ({"name": "n", "url": "http://h/x", "enabled": "yes"}, "enabled"),
    ({"name": "n", "url": "http://h/x", "secret": 5}, "secret"),
    ({"name": "n", "url": "http://h/x", "colour": "red"}, "colour"),
    ([], "body"),
])
def test_bad_config_is_a_400_naming_the_field(app_client: TestClient, body: Any, field: str) -> None:
    r = app_client.post(URL, json=body, auth=ADMIN)
    assert r.status_code == 400, r.text
    assert field in [e["path"] for e in r.json()["metadata"]["errors"]] and field in r.json()["message"]


def test_admin_only(client: TestClient, world: World) -> None:
    """Webhooks see every event, so only admins configure them (domain.access METHODS)."""
    hook = create(client, name="h", url="http://127.0.0.1:9/x", enabled=False)
    for who in ("alice", "carol", "erin"):
        assert client.get(URL, auth=world.auth(who)).status_code == 403
        assert client.post(URL, json={"name": "x", "url": "http://h/"}, auth=world.auth(who)).status_code == 403
        assert client.get(f"{URL}/{hook['_id']}/deliveries", auth=world.auth(who)).status_code == 403
        assert client.delete(f"{URL}/{hook['_id']}", auth=world.auth(who)).status_code == 403
    assert client.get(f"{URL}/{hook['_id']}", auth=ADMIN).status_code == 200


def test_a_secret_without_a_usable_key_file_is_503_saying_so_and_stores_nothing(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """The secret is stored encrypted; with no usable key file (outside `opsmgr serve`, which creates it)
    the answer is 503 naming the key file, not a 500, and no webhook is half-written."""
    absent = settings.model_copy(update={"key_file": str(tmp_path / "absent.key")})
    with TestClient(create_app(absent, db)) as client:
        r = client.post(URL, json={"name": "signed", "url": "http://127.0.0.1:9/hook", "secret": SECRET}, auth=ADMIN)
        assert r.status_code == 503, r.text
        assert "key file" in r.json()["message"]
        listed = client.get(URL, auth=ADMIN)
        assert listed.status_code == 200 and listed.json()["data"] == []
