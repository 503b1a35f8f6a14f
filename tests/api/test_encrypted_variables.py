"""Encrypted variables end to end (decisions §7): encrypted at rest, plaintext for tasks, `****` in answers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from opsmgr.api.app import create_app
from opsmgr.config import Settings
from opsmgr.engine.registry import Outcome, TaskContext, default_registry
from opsmgr.services import secrets
from opsmgr.store import jobs as job_store
from opsmgr.store.database import Database
from tests.helpers import create_workflow, get_job, manual, start_job, task, wait_for_job, waiting_task, workflow

ADMIN = ("admin", "admin")
MASK = "****"
PASSWORD = "pa55-w0rd-plain"
ESCAPED = "escaped-secret-value"
NESTED = "nested-secret-value"
LITERAL = "literal-secret-value"
TOKEN = "token-made-by-task"
MANUAL = "typed-by-a-person"
SECRETS = (PASSWORD, ESCAPED, NESTED, LITERAL, TOKEN, MANUAL)

received: list[dict[str, Any]] = []


async def capture(ctx: TaskContext) -> Outcome:
    """Records what a task receives; answers a token (decorated) and a harmless undecorated value."""
    received.append({"key": ctx.task_key, "incoming": dict(ctx.incoming), "job": dict(ctx.job_variables),
                     "outputs": {k: dict(v) for k, v in ctx.task_outputs.items()}})
    if ctx.incoming.get("explode"):
        raise RuntimeError(f"could not log in with {ctx.incoming['password']}")
    if ctx.incoming.get("quiet"):
        return Outcome("success")
    return Outcome("success", outputs={"token": TOKEN, "plain": "nothing-secret"})


def decorated(*at: str) -> list[dict[str, str]]:
    return [{"type": "encryption", "pointer": p} for p in at]


def capture_task(decorators: tuple[str, ...] = (), **incoming: Any) -> dict[str, Any]:
    entry = task("capture", app="Test", **incoming)
    entry["variables"]["outgoing"] = {"token": "$var.job.token", "plain": "$var.job.plain"}
    entry["variables"]["decorators"] = decorated(*decorators)
    return entry


@pytest.fixture
def client(db: Database, settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    received.clear()
    registry = default_registry()
    registry.register("Test", "capture", capture)
    keyed = settings.model_copy(update={"key_file": str(tmp_path / "test.key")})
    secrets.ensure_key(keyed)
    with TestClient(create_app(keyed, db, registry)) as test_client:
        yield test_client


def secret_workflow(name: str = "secret") -> dict[str, Any]:
    """a1 reads the job's secrets (one through `#/pointer`, one under an escaped name) and a literal
    encrypted by its own decorator, and makes a token (decorated outgoing, promoted to job.token);
    b2 reads the token both ways."""
    a1 = capture_task(("/incoming/literal", "/outgoing/token"), password="$var.job.password",
                      escaped="$var.job.a/b~c", nested="$var.job.creds#/pw", literal=LITERAL, user="$var.job.user")
    b2 = capture_task((), fromTask="$var.a1.token", fromJob="$var.job.token", quiet=True)
    b2["variables"]["outgoing"] = {}
    doc = workflow(name, {"a1": a1, "b2": b2}, {"workflow_start": {"a1": "success"}, "a1": {"b2": "success"},
                                                 "b2": {"workflow_end": "success"}})
    doc["decorators"] = decorated("/variables/password", "/variables/a~1b~0c", "/variables/creds/pw")
    return doc


VARIABLES = {"password": PASSWORD, "a/b~c": ESCAPED, "creds": {"pw": NESTED, "user": "u"}, "user": "shown"}


def raw_database_text(db: Database) -> str:
    """Everything the database holds, as the bytes on disk (SQLite: the file and its WAL) or as the
    text of every row (PostgreSQL)."""
    if db.dialect == "sqlite":
        path = Path(db.url.split("///", 1)[1])
        files = [path, path.with_name(path.name + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists()).decode("latin-1")
    with db.engine.connect() as conn:
        return "\n".join(
            row[0] for table in ("job", "task", "task_history")
            for row in conn.execute(text(f"SELECT t::text FROM {table} t"))
        )


def rows_text(db: Database, table: str) -> str:
    with db.engine.connect() as conn:
        return "\n".join(str(tuple(row)) for row in conn.execute(text(f"SELECT * FROM {table}")))


def tasks_of(client: TestClient, job_id: str) -> dict[str, dict[str, Any]]:
    r = client.get("/operations-manager/tasks", params={"equals[job._id]": job_id}, auth=ADMIN)
    assert r.status_code == 200, r.text
    return {t["job"]["task"]: t for t in r.json()["data"]}


def test_tasks_get_plaintext_answers_show_mask_and_the_database_holds_no_plaintext(client, db):
    create_workflow(client, secret_workflow())
    started = start_job(client, "secret", VARIABLES)
    assert started["variables"]["password"] == MASK and started["variables"]["a/b~c"] == MASK
    assert started["variables"]["creds"] == {"pw": MASK, "user": "u"} and started["variables"]["user"] == "shown"
    job = wait_for_job(client, started["_id"])
    assert job["status"] == "complete", job["error"]

    a1, b2 = received
    assert a1["incoming"] == {"password": PASSWORD, "escaped": ESCAPED, "nested": NESTED, "literal": LITERAL,
                              "user": "shown"}
    assert a1["job"]["password"] == PASSWORD and a1["job"]["creds"]["pw"] == NESTED
    assert b2["incoming"] == {"fromTask": TOKEN, "fromJob": TOKEN, "quiet": True}
    assert b2["outputs"]["a1"]["token"] == TOKEN

    assert job["variables"]["password"] == MASK and job["variables"]["token"] == MASK
    assert job["variables"]["plain"] == "nothing-secret"
    assert job["tasks"]["a1"]["variables"]["incoming"]["literal"] == MASK  # literal in the snapshot
    docs = tasks_of(client, job["_id"])
    assert docs["a1"]["variables"]["incoming"] == {"password": MASK, "escaped": MASK, "nested": MASK,
                                                   "literal": MASK, "user": "shown"}
    assert docs["a1"]["variables"]["outgoing"] == {"token": MASK, "plain": "nothing-secret"}
    assert docs["b2"]["variables"]["incoming"] == {"fromTask": MASK, "fromJob": MASK, "quiet": True}
    one = client.get(f"/operations-manager/tasks/{docs['a1']['_id']}", auth=ADMIN).json()["data"]
    assert one["variables"]["outgoing"]["token"] == MASK
    listed = client.get("/operations-manager/jobs", params={"equals[_id]": job["_id"]}, auth=ADMIN).json()["data"]
    assert listed[0]["variables"]["password"] == MASK

    raw = raw_database_text(db)
    assert job["_id"] in raw  # the check reads the real data
    leaked = [s for s in SECRETS if s in raw and s != LITERAL]
    assert not leaked, f"plaintext in the database: {leaked}"
    # a literal value in a workflow definition is stored as authored in the workflow itself, but a job's
    # snapshot of it and the task iterations hold it encrypted
    assert LITERAL not in rows_text(db, "job") + rows_text(db, "task")


def test_a_person_finishing_a_task_has_decorated_values_encrypted(client, db):
    ask = manual()
    ask["variables"]["outgoing"] = {"secret": "$var.job.manualSecret"}
    ask["variables"]["decorators"] = decorated("/outgoing/secret")
    doc = workflow("ask", {"a1": ask, "b2": capture_task((), got="$var.job.manualSecret")},
                   {"workflow_start": {"a1": "success"}, "a1": {"b2": "success"}, "b2": {"workflow_end": "success"}})
    create_workflow(client, doc)
    job_id = start_job(client, "ask")["_id"]
    waiting = waiting_task(client, job_id, "a1")
    r = client.post(f"/operations-manager/tasks/{waiting['_id']}/finish",
                    json={"taskData": {"finish_state": "success", "variables": {"secret": MANUAL}}}, auth=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["variables"]["outgoing"]["secret"] == MASK
    job = wait_for_job(client, job_id)
    assert job["status"] == "complete" and job["variables"]["manualSecret"] == MASK
    assert received[0]["incoming"] == {"got": MANUAL}
    controller = client.get(f"/operations-manager/jobs/{job_id}/tasks/a1/manual-controller", auth=ADMIN)
    assert controller.json()["data"]["variables"]["outgoing"]["secret"] == MASK
    assert MANUAL not in raw_database_text(db)


def gated_job(client: TestClient) -> tuple[str, str]:
    """A job waiting at manual task a1, whose next task b2 reads the encrypted job.password."""
    doc = workflow("gated", {"a1": manual(), "b2": capture_task((), password="$var.job.password")},
                   {"workflow_start": {"a1": "success"}, "a1": {"b2": "success"}, "b2": {"workflow_end": "success"}})
    doc["decorators"] = decorated("/variables/password")
    create_workflow(client, doc)
    job_id = start_job(client, "gated", {"password": PASSWORD})["_id"]
    return job_id, waiting_task(client, job_id, "a1")["_id"]


def finish(client: TestClient, task_id: str) -> None:
    r = client.post(f"/operations-manager/tasks/{task_id}/finish",
                    json={"taskData": {"finish_state": "success", "variables": {}}}, auth=ADMIN)
    assert r.status_code == 200, r.text


def test_tampered_ciphertext_makes_the_task_fail_clearly(client, db):
    job_id, waiting = gated_job(client)
    with db.write() as conn:
        row = job_store.get_job(conn, job_id)
        assert row is not None
        sealed = dict(row["variables"]["password"])
        sealed["data"] = ("A" if sealed["data"][0] != "A" else "B") + sealed["data"][1:]
        job_store.update_job(conn, job_id, {"variables": {**row["variables"], "password": sealed}})
    finish(client, waiting)
    job = wait_for_job(client, job_id)
    assert job["status"] == "error" and not received
    b2 = tasks_of(client, job_id)["b2"]
    assert b2["status"] == "error"
    assert "failed authentication" in b2["variables"]["error"]["message"]


def test_a_wrong_key_makes_the_task_fail_clearly(client, db, tmp_path):
    job_id, waiting = gated_job(client)
    secrets.ensure_key(Settings(key_file=str(tmp_path / "another.key")))
    finish(client, waiting)
    job = wait_for_job(client, job_id)
    assert job["status"] == "error" and not received
    message = tasks_of(client, job_id)["b2"]["variables"]["error"]["message"]
    assert "encrypted under key" in message and "OPSMGR_KEY_FILE" in message


def test_a_secret_in_a_task_exception_reaches_neither_log_nor_database(client, db, caplog):
    doc = workflow("boom", {"a1": capture_task((), password="$var.job.password", explode=True)},
                   {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}})
    doc["decorators"] = decorated("/variables/password")
    create_workflow(client, doc)
    with caplog.at_level(logging.INFO, logger="opsmgr"):
        job = wait_for_job(client, start_job(client, "boom", {"password": PASSWORD})["_id"])
    assert job["status"] == "error" and received[0]["incoming"]["password"] == PASSWORD
    assert "could not log in" in caplog.text and PASSWORD not in caplog.text
    error = tasks_of(client, job["_id"])["a1"]["variables"]["error"]
    assert error["message"] == f"could not log in with {MASK}"
    assert PASSWORD not in raw_database_text(db)


def test_a_malformed_decorator_pointer_is_refused_at_start(client):
    doc = secret_workflow("bad")
    doc["decorators"] = decorated("variables/password")
    create_workflow(client, doc)
    r = client.post("/operations-manager/jobs/start", json={"workflow": "bad", "options": {"variables": {}}},
                    auth=ADMIN)
    assert r.status_code == 400
    assert r.json()["metadata"]["errors"][0]["path"] == "decorators.0.pointer"


def test_retry_overrides_are_encrypted(client, db):
    doc = workflow("retry", {"a1": capture_task(("/incoming/password",), password="x", explode=True)},
                   {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}})
    create_workflow(client, doc)
    job = wait_for_job(client, start_job(client, "retry")["_id"])
    assert job["status"] == "error"
    r = client.post(f"/operations-manager/jobs/{job['_id']}/tasks/a1/retry",
                    json={"variables": {"password": PASSWORD, "explode": False}}, auth=ADMIN)
    assert r.status_code == 200, r.text
    job = wait_for_job(client, job["_id"])
    assert job["status"] == "complete" and received[-1]["incoming"]["password"] == PASSWORD
    assert PASSWORD not in raw_database_text(db)
    assert get_job(client, job["_id"])["variables"]["token"] == "token-made-by-task"  # undecorated: shown
