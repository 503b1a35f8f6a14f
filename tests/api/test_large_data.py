"""Large data (issue #3 scope 1; ops-manager-api §5.3, workflow-semantics §2.4, decisions §4 and §7): job
variables and task outputs above `large_data_bytes` are stored aside in `job_data`, the job row and the job
documents hold `{"$largeData": id, "size": n}`, tasks get the full value, and
`GET /operations-manager/large-data/:id` answers the value itself to readers who may see the job."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from opsmgr.api.app import create_app
from opsmgr.config import Settings
from opsmgr.engine.registry import Outcome, TaskContext, default_registry
from opsmgr.services import large_data as large_data_service
from opsmgr.services import secrets
from opsmgr.store.database import Database
from tests.engine.test_child_jobs import child_job, child_workflow, parent_workflow
from tests.helpers import create_workflow, get_job, manual, start_job, task, wait_for_job, waiting_task, workflow

ADMIN = ("admin", "admin")
OM = "/operations-manager"
BIG = {"lines": [f"interface Gi0/{i} description uplink-{i:06d}" for i in range(5000)]}  # ~250 KB of JSON
SECRET_LINE = "s3cr3t-c0nfig-line"
UNKNOWN = "0123456789abcdef01234567"

received: list[dict[str, Any]] = []


async def capture(ctx: TaskContext) -> Outcome:
    """Records what it gets; answers a copy of its `big` input (promoted to the job as `copy`)."""
    received.append({"job_id": ctx.job_id, "key": ctx.task_key, "incoming": dict(ctx.incoming),
                     "job": dict(ctx.job_variables), "outputs": {k: dict(v) for k, v in ctx.task_outputs.items()}})
    if ctx.incoming.get("fail"):
        return Outcome("error", error={"message": "asked to fail"})
    if ctx.incoming.get("echo") is False:
        return Outcome("success")
    return Outcome("success", outputs={"copy": ctx.incoming.get("big"), "note": "small"})


@pytest.fixture
def client(db: Database, settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    received.clear()
    registry = default_registry()
    registry.register("Test", "capture", capture)
    keyed = settings.model_copy(update={"key_file": str(tmp_path / "test.key")})
    secrets.ensure_key(keyed)
    with TestClient(create_app(keyed, db, registry)) as test_client:
        yield test_client


def capture_task(**incoming: Any) -> dict[str, Any]:
    entry = task("capture", app="Test", **incoming)
    entry["variables"]["outgoing"] = {"copy": "$var.job.copy", "note": "$var.job.note"}
    return entry


def big_workflow(name: str = "big") -> dict[str, Any]:
    """a1 reads the big job variable and outputs a copy (promoted to job.copy); a2 reads a1's output and the
    promoted copy; b3 (newVariable) replaces job.big with a1's copy; c4 waits for a person."""
    a2 = capture_task(big="$var.a1.copy", fromJob="$var.job.copy")
    a2["variables"]["outgoing"] = {}
    b3 = task("newVariable", name="big", value="$var.a1.copy")
    return workflow(name, {"a1": capture_task(big="$var.job.big", small="$var.job.small"), "a2": a2, "b3": b3,
                           "c4": manual()},
                    {"workflow_start": {"a1": "success"}, "a1": {"a2": "success"}, "a2": {"b3": "success"},
                     "b3": {"c4": "success"}, "c4": {"workflow_end": "success"}})


def job_row(db: Database, job_id: str) -> dict[str, Any]:
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT variables, progress FROM job WHERE id = :id"), {"id": job_id}).one()
    return {"variables": _json(row[0]), "progress": _json(row[1]), "size": len(str(row[0])) + len(str(row[1]))}


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def data_rows(db: Database, job_id: str | None = None) -> list[dict[str, Any]]:
    query = "SELECT id, job_id, task_id, name, size FROM job_data"
    with db.engine.connect() as conn:
        rows = conn.execute(text(query + (" WHERE job_id = :id" if job_id else "")), {"id": job_id})
        return sorted((dict(r._mapping) for r in rows), key=lambda r: r["name"])


def large_data(client: TestClient, ref: Any, who: tuple[str, str] = ADMIN) -> Any:
    assert isinstance(ref, dict) and set(ref) == {"$largeData", "size"}, ref
    r = client.get(f"{OM}/large-data/{ref['$largeData']}", auth=who)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_large_variable_is_stored_aside_and_tasks_get_it_whole(client, db):
    """ops-manager-api §5.3: the job row stays small, tasks read full values through `$var.job.x` and
    `$var.<task>.x`, and GET /large-data/:id answers the stored value itself (no envelope)."""
    create_workflow(client, big_workflow())
    started = start_job(client, "big", {"big": BIG, "small": "tiny"})
    ref = started["variables"]["big"]
    assert ref == {"$largeData": ref["$largeData"], "size": len(json.dumps(BIG, separators=(",", ":")))}
    assert started["variables"]["small"] == "tiny"
    assert large_data(client, ref) == BIG

    waiting_task(client, started["_id"], "c4")
    a1, a2 = received
    assert a1["incoming"] == {"big": BIG, "small": "tiny"} and a1["job"]["big"] == BIG
    assert a2["incoming"] == {"big": BIG, "fromJob": BIG}  # a task output and a promoted job variable
    assert a2["outputs"]["a1"]["copy"] == BIG

    job = get_job(client, started["_id"])
    for name in ("big", "copy"):
        assert set(job["variables"][name]) == {"$largeData", "size"}
        assert large_data(client, job["variables"][name]) == BIG
    assert job["variables"]["note"] == "small"
    assert job["variables"]["big"] != ref  # b3 replaced it: a new row, and the old one is gone
    assert client.get(f"{OM}/large-data/{ref['$largeData']}", auth=ADMIN).status_code == 404

    row = job_row(db, started["_id"])
    assert row["size"] < 20_000, row["size"]  # the workflow snapshot and progress; no 250 KB value
    assert set(row["progress"]["a1"]["outgoing"]["copy"]) == {"$largeData", "size"}
    rows = data_rows(db, started["_id"])
    # task outputs as the job keeps them for `$var.<task>.x` are large values too (a2 and b3 output BIG)
    assert [r["name"] for r in rows] == ["/progress/a1/outgoing/copy", "/progress/a2/outgoing/copy",
                                         "/progress/b3/outgoing/value", "/variables/big", "/variables/copy"]
    assert rows[0]["task_id"] == job["tasks"]["a1"]["iterations"][0]
    assert all(r["size"] == ref["size"] for r in rows)
    refs = [*(job["variables"][n] for n in ("big", "copy")),
            *(row["progress"][k]["outgoing"][n] for k, n in (("a1", "copy"), ("a2", "copy"), ("b3", "value")))]
    assert {r["id"] for r in rows} == {r["$largeData"] for r in refs}

    body = {"taskData": {"finish_state": "success", "variables": {}}}
    assert client.post(f"{OM}/jobs/{job['_id']}/tasks/c4/finish", json=body, auth=ADMIN).status_code == 200
    done = wait_for_job(client, job["_id"])
    assert done["status"] == "complete" and done["variables"]["big"] == job["variables"]["big"]
    assert len(data_rows(db, job["_id"])) == 5  # saving the job again wrote nothing new


def test_small_variables_are_not_touched(client, db):
    create_workflow(client, big_workflow())
    started = start_job(client, "big", {"big": {"x": 1}, "small": "tiny"})
    waiting_task(client, started["_id"], "c4")
    assert get_job(client, started["_id"])["variables"]["big"] == {"x": 1}
    assert job_row(db, started["_id"])["variables"]["copy"] == {"x": 1}
    assert data_rows(db) == []


def test_the_threshold_is_a_setting(db, settings, tmp_path, world, monkeypatch):
    """`large_data_bytes` (OPSMGR_LARGE_DATA_BYTES): a value of exactly that size stays on the row; one
    byte more goes aside."""
    keyed = settings.model_copy(update={"key_file": str(tmp_path / "k.key"), "large_data_bytes": 1000})
    secrets.ensure_key(keyed)
    try:
        with TestClient(create_app(keyed, db, default_registry())) as client:
            create_workflow(client, workflow("plain", {"d1": manual()}, {"workflow_start": {"d1": "success"},
                                                                         "d1": {"workflow_end": "success"}}))
            at = "x" * 998  # 1000 bytes of JSON with its quotes
            started = start_job(client, "plain", {"at": at, "above": at + "y", "utf8": "é" * 499,
                                                  "more": "é" * 500})
            assert started["variables"]["at"] == at and started["variables"]["utf8"] == "é" * 499  # UTF-8 bytes
            assert started["variables"]["above"]["size"] == 1001 and started["variables"]["more"]["size"] == 1002
            assert large_data(client, started["variables"]["more"], world.auth("carol")) == "é" * 500
    finally:
        large_data_service.configure(settings)  # the threshold is per process: back to the default
    assert Settings().large_data_bytes == 64 * 1024
    monkeypatch.setenv("OPSMGR_LARGE_DATA_BYTES", "4096")
    assert Settings().large_data_bytes == 4096


def test_large_data_access(client, db, world):
    """decisions §4: a read route (admin, apiread, engineering, operations) under the job's GBAC; 404 for
    a job the caller may not see and for an unknown id, 403 for a role without read, 400 for a bad id."""
    create_workflow(client, big_workflow())
    hidden = start_job(client, "big", {"big": BIG}, groups=[world.netops])
    ref = hidden["variables"]["big"]
    path = f"{OM}/large-data/{ref['$largeData']}"
    assert large_data(client, ref, world.auth("alice")) == BIG  # in NetOps
    for outsider in ("dave", "carol"):  # operations / apiread, not in the job's group
        r = client.get(path, auth=world.auth(outsider))
        assert r.status_code == 404, r.text
    assert client.get(path, auth=world.auth("erin")).status_code == 403  # apiwrite only
    assert client.get(path).status_code == 401
    assert client.get(f"{OM}/large-data/{UNKNOWN}", auth=ADMIN).status_code == 404
    r = client.get(f"{OM}/large-data/nope", auth=ADMIN)
    assert r.status_code == 400 and "id" in r.json()["message"]
    open_job = start_job(client, "big", {"big": BIG})
    assert large_data(client, open_job["variables"]["big"], world.auth("carol")) == BIG


def test_deleting_a_job_deletes_its_large_data(client, db):
    """workflow-semantics §2.7: deletion removes the job's data; it is counted as jobDataLargeFiles."""
    create_workflow(client, big_workflow())
    done = start_job(client, "big", {"big": BIG})
    kept = start_job(client, "big", {"big": BIG})
    for job in (done, kept):
        waiting_task(client, job["_id"], "c4")
    assert client.post(f"{OM}/jobs/cancel", json={"jobIds": [done["_id"]]}, auth=ADMIN).status_code == 200
    r = client.delete(f"{OM}/jobs/{done['_id']}", auth=ADMIN)
    assert r.status_code == 200, r.text
    assert {"collection": "jobDataLargeFiles", "deletedCount": 5} in r.json()["data"]
    assert data_rows(db, done["_id"]) == [] and len(data_rows(db, kept["_id"])) == 5
    assert client.get(f"{OM}/large-data/{done['variables']['big']['$largeData']}", auth=ADMIN).status_code == 404

    client.post(f"{OM}/jobs/cancel", json={"jobIds": [kept["_id"]]}, auth=ADMIN)
    r = client.post(f"{OM}/jobs/bulk-delete", json={"jobIds": [kept["_id"]]}, auth=ADMIN)
    assert r.status_code == 200 and r.json()["data"]["jobDataLargeFilesDeleted"] == 5
    assert data_rows(db) == []


def test_an_encrypted_large_variable_stays_encrypted(client, db):
    """decisions §7: the value stored aside is the encrypted one; the task gets plaintext; answers show
    `****`; neither the database file nor any table holds the plaintext."""
    e1 = capture_task(big="$var.job.big", echo=False)
    e1["variables"]["outgoing"] = {}
    doc = workflow("sealed", {"e1": e1, "f2": manual()},
                   {"workflow_start": {"e1": "success"}, "e1": {"f2": "success"}, "f2": {"workflow_end": "success"}})
    doc["decorators"] = [{"type": "encryption", "pointer": "/variables/big"}]
    create_workflow(client, doc)
    secret = {"lines": [f"{SECRET_LINE}-{i:06d}" for i in range(5000)]}
    started = start_job(client, "sealed", {"big": secret})
    assert started["variables"]["big"] == "****"
    waiting_task(client, started["_id"], "f2")
    assert received[0]["incoming"]["big"] == secret  # the task gets plaintext

    (stored,) = data_rows(db, started["_id"])
    assert stored["name"] == "/variables/big"
    with db.engine.connect() as conn:
        value = _json(conn.execute(text("SELECT value FROM job_data WHERE id = :id"), {"id": stored["id"]}).one()[0])
    assert set(value) == {"$enc", "key", "at", "nonce", "data"}
    assert large_data(client, {"$largeData": stored["id"], "size": stored["size"]}) == "****"
    assert job_row(db, started["_id"])["variables"]["big"] == {"$largeData": stored["id"], "size": stored["size"]}
    assert SECRET_LINE not in raw_database_text(db)


def raw_database_text(db: Database) -> str:
    """SQLite: the bytes of the database file and its WAL; PostgreSQL: the text of every row that holds
    variables (jobs, task iterations, large data)."""
    if db.dialect == "sqlite":
        path = Path(db.url.split("///", 1)[1])
        files = [path, path.with_name(path.name + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists()).decode("latin-1")
    with db.engine.connect() as conn:
        return "\n".join(row[0] for table in ("job", "task", "job_data")
                         for row in conn.execute(text(f"SELECT t::text FROM {table} t")))


def test_a_child_job_gets_and_gives_back_full_values(client, db, world):
    """workflow-semantics §2.7: a large value passed to a child job arrives whole, the child's variables
    come back whole in `job_details`, and each job's row keeps references to its own large data."""
    create_workflow(client, child_workflow(delay=None))
    create_workflow(client, parent_workflow(child_job("child", {"x": {"task": "job", "value": "big"}})))
    parent = start_job(client, "parent", {"big": BIG}, groups=[world.netops])
    done = wait_for_job(client, parent["_id"])
    assert done["status"] == "complete" and done["variables"]["path"] == "success"
    details = large_data(client, done["variables"]["details"])
    assert details["variables"]["x"] == BIG and details["variables"]["seen"] == BIG
    (child,) = [r for r in data_rows(db) if r["job_id"] != parent["_id"]][:1]
    shown = get_job(client, child["job_id"])
    assert large_data(client, shown["variables"]["seen"], world.auth("alice")) == BIG
    r = client.get(f"{OM}/large-data/{shown['variables']['x']['$largeData']}", auth=world.auth("dave"))
    assert r.status_code == 404  # the child has its parent's groups
    for job_id in (parent["_id"], child["job_id"]):
        assert job_row(db, job_id)["size"] < 20_000


def test_a_reference_in_the_input_cannot_read_another_jobs_data(client, db, world):
    """GBAC (decisions §4) must not be bypassed by writing a reference by hand: a reference resolves only to
    its own job's large data; any other stays the literal object it is."""
    create_workflow(client, big_workflow())
    hidden = start_job(client, "big", {"big": BIG}, groups=[world.netops])
    forged = hidden["variables"]["big"]
    mine = start_job(client, "big", {"big": forged, "small": "tiny"}, who=world.auth("dave"))
    waiting_task(client, mine["_id"], "c4")
    waiting_task(client, hidden["_id"], "c4")
    got = {(r["job_id"], r["key"]): r["incoming"]["big"] for r in received}
    assert got[(mine["_id"], "a1")] == forged  # not BIG
    assert got[(hidden["_id"], "a1")] == BIG  # the hidden job's own task
    assert get_job(client, mine["_id"])["variables"]["big"] == forged


def test_a_retried_task_gets_the_full_value(client, db):
    """ops-manager-api §5.1 retry: the new iteration's incoming is resolved again from the job, whose row
    holds a reference; the value stored aside is not written again."""
    e1 = capture_task(big="$var.job.big", fail=True)
    doc = workflow("fails", {"e1": e1, "f2": manual()},
                   {"workflow_start": {"e1": "success"}, "e1": {"f2": "success"}, "f2": {"workflow_end": "success"}})
    create_workflow(client, doc)
    started = start_job(client, "fails", {"big": BIG})
    assert wait_for_job(client, started["_id"], ("error",))["status"] == "error"
    before = data_rows(db, started["_id"])
    r = client.post(f"{OM}/jobs/{started['_id']}/tasks/e1/retry", json={"variables": {"fail": False}}, auth=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["variables"]["big"] == started["variables"]["big"]
    waiting_task(client, started["_id"], "f2")
    assert [x["incoming"]["big"] for x in received] == [BIG, BIG]
    assert [x for x in data_rows(db, started["_id"]) if x["name"] == "/variables/big"] == before
