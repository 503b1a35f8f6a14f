"""Crash safety over real processes (issue #3 scope 5; decisions §5, §6, §8).

A real server with engine workers and a 2 s lease runs 100 jobs (automatic tasks with delays, a task
that holds its lease, a manual ViewData task, automatic tasks after it that promote variables). Users
claim the manual tasks as they appear and finish some. While work is in flight (delays pending, tasks
leased, claims acknowledged but not finished) the server gets SIGKILL. A second server on the same
database finishes the remaining manual tasks, and then:
- every job is `complete`;
- every claim acknowledged with 2xx still names its owner, every acknowledged finish is recorded;
- every job has every job variable the workflow sets, with the right value;
- each task key has exactly one iteration per job, `complete`, listed once in the job's progress;
- histories hold exactly one claim and one finish per manual task (nothing recorded twice);
- tasks leased by the dead process were leased again by the new one (at least once).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from opsmgr.domain.documents import now_ms
from opsmgr.services import accounts
from opsmgr.store.database import Database
from opsmgr.store.schema import job, task, task_history
from tests.helpers import PASSWORD, manual, workflow
from tests.helpers import task as task_entry
from tests.live.conftest import ROOT, _wait_healthy, free_port

JOBS = 100
USERS = 4
LEASE_SECONDS = 2
# task ids are 1-4 hex characters: a1 newVariable, b1 hold, c1 delay, d1 stub, e1 ViewData (manual),
# f1 newVariable, a2 stub with a delay, b2 hold
KEYS = ("a1", "b1", "c1", "d1", "e1", "f1", "a2", "b2")
MANUAL = "e1"
DELAYS = ("c1", "a2")
HOLDS = ("b1", "b2")
KEEP_OPEN = 4  # claims each user keeps unfinished before the kill
FINISH_EVERY = 0.25  # seconds between two finishes of one user before the kill
ADMIN = ("admin", "admin")


# servers -----------------------------------------------------------------------------------------


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base_url: str
    server_id: str
    log: Path

    def sigkill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


class Servers:
    """Starts `tests.live.crash_server` processes on one database; stops any still running at the end."""

    def __init__(self, database: Database, tmp: Path) -> None:
        self.database = database
        self.tmp = tmp
        self.started: list[Server] = []

    def start(self, server_id: str, gate: Path | None = None) -> Server:
        port = free_port()
        log = self.tmp / f"{server_id}.log"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
            "OPSMGR_DATABASE_URL": self.database.url,
            "OPSMGR_HOST": "127.0.0.1",
            "OPSMGR_PORT": str(port),
            "OPSMGR_LOG_LEVEL": "warning",
            "OPSMGR_DB_POOL_SIZE": "16",
            "OPSMGR_ENGINE_WORKERS": "4",
            "OPSMGR_ENGINE_POLL_SECONDS": "0.05",
            "OPSMGR_LEASE_SECONDS": str(LEASE_SECONDS),
            "OPSMGR_SERVER_ID": server_id,
        }
        env.pop("OPSMGR_CRASH_GATE", None)
        if gate is not None:
            env["OPSMGR_CRASH_GATE"] = str(gate)
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "tests.live.crash_server"], cwd=ROOT, env=env,
                                    stdout=out, stderr=subprocess.STDOUT)
        server = Server(proc, f"http://127.0.0.1:{port}", server_id, log)
        self.started.append(server)
        _wait_healthy(proc, server.base_url, log)
        return server

    def stop_all(self) -> None:
        for server in self.started:
            server.stop()


@pytest.fixture
def servers(db: Database, tmp_path: Path) -> Iterator[Servers]:
    """Crash-test servers over freshly emptied tables; every process started is stopped by pid."""
    started = Servers(db, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


# the workload ------------------------------------------------------------------------------------


def hold(seconds: float, token: str, promote_to: str) -> dict[str, Any]:
    entry = task_entry("hold", app="CrashTest", seconds=seconds, token=token)
    entry["variables"]["outgoing"] = {"held": f"$var.job.{promote_to}"}
    return entry


def crash_workflow(group: str) -> dict[str, Any]:
    """start → a1 newVariable → b1 hold → c1 delay (1–2 s) → d1 stub → e1 ViewData → f1 newVariable →
    a2 stub (1 s delay) → b2 hold → end; each automatic task promotes an outgoing variable to the job."""
    a1 = task_entry("newVariable", name="first", value="$var.job.n")
    a1["variables"]["outgoing"] = {"value": "$var.job.first_out"}
    d1 = task_entry("stub", type="success", response="$var.a1.value")
    d1["variables"]["outgoing"] = {"response": "$var.job.stub_out"}
    e1 = manual([group])
    e1["variables"]["outgoing"] = {"answer": "$var.job.answer"}
    f1 = task_entry("newVariable", name="after", value="$var.e1.answer")
    f1["variables"]["outgoing"] = {"value": "$var.job.after_out"}
    a2 = task_entry("stub", type="success", delay=1, response="$var.job.answer")
    a2["variables"]["outgoing"] = {"response": "$var.job.final"}
    tasks = {
        "a1": a1, "b1": hold(0.1, "$var.job.n", "held"), "c1": task_entry("delay", time="$var.job.wait"),
        "d1": d1, "e1": e1, "f1": f1, "a2": a2, "b2": hold(0.1, "$var.f1.value", "held2"),
    }
    chain = ["workflow_start", *KEYS, "workflow_end"]
    return workflow("crash", tasks, {a: {b: "success"} for a, b in pairwise(chain)})


def expected_variables(job_id: str, n: int) -> dict[str, Any]:
    answer = answer_of(job_id)
    return {"_id": job_id, "initiator": "admin", "n": n, "wait": 1 + n % 2, "first": n, "first_out": n, "held": n,
            "stub_out": n, "answer": answer, "after": answer, "after_out": answer, "final": answer, "held2": answer}


def answer_of(job_id: str) -> str:
    return f"answer-{job_id}"


def finish_body(job_id: str) -> dict[str, Any]:
    return {"taskData": {"finish_state": "success", "variables": {"answer": answer_of(job_id)}}}


@dataclass
class Ledger:
    """What the first server acknowledged with 2xx: claims (task → owner) and finishes (task → job)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    claims: dict[str, str] = field(default_factory=dict)
    finishes: dict[str, str] = field(default_factory=dict)
    transport_errors: int = 0
    failures: list[str] = field(default_factory=list)  # unexpected answers (a claimer stops at the first)


def login(base_url: str, name: str) -> str:
    r = httpx.post(base_url + "/login", json={"user": {"username": name, "password": PASSWORD}}, timeout=30)
    assert r.status_code == 200, r.text
    return r.text


def waiting_manual_tasks(client: httpx.Client) -> list[dict[str, Any]]:
    r = client.get("/operations-manager/tasks",
                   params={"equals[job.task]": MANUAL, "equals[status]": "running", "limit": 500})
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


def work_before_crash(client: httpx.Client, account_id: str, seed: int, ledger: Ledger,
                      stop: threading.Event) -> None:
    """Claim waiting manual tasks (racing the other users) and finish the own ones at a steady pace,
    always keeping a few claimed and unfinished, so claims and finishes both go on until the kill."""
    rng = random.Random(seed)
    open_claims: list[tuple[str, str]] = []  # (task id, job id), oldest first
    last_finish = time.monotonic()
    try:
        while not stop.is_set():
            tasks = [t for t in waiting_manual_tasks(client) if not t["metrics"]["owner"]]
            rng.shuffle(tasks)
            for t in tasks[:3]:
                r = client.post(f"/operations-manager/tasks/{t['_id']}/claim", json={})
                if r.status_code == 409:
                    continue
                assert r.status_code == 200, r.text
                assert r.json()["data"]["metrics"]["owner"] == account_id, r.text
                with ledger.lock:
                    ledger.claims[t["_id"]] = account_id
                open_claims.append((t["_id"], t["job"]["_id"]))
            if len(open_claims) > KEEP_OPEN and time.monotonic() - last_finish > FINISH_EVERY:
                task_id, job_id = open_claims.pop(0)
                r = client.post(f"/operations-manager/tasks/{task_id}/finish", json=finish_body(job_id))
                assert r.status_code == 200, r.text
                with ledger.lock:
                    ledger.finishes[task_id] = job_id
                last_finish = time.monotonic()
            time.sleep(0.05)
    except httpx.TransportError:  # the server died under this request: its outcome is unknown
        with ledger.lock:
            ledger.transport_errors += 1
    except AssertionError as exc:
        with ledger.lock:
            ledger.failures.append(str(exc))


# database views (read in the test process) -------------------------------------------------------


def queue_snapshot(db: Database) -> dict[str, Any]:
    """Leased tasks (with their lease expiry), delays that started waiting and are not over, complete jobs."""
    with db.read() as conn:
        leased = {r.id: (r.task_key, r.lease_until) for r in conn.execute(
            select(task.c.id, task.c.task_key, task.c.lease_until).where(task.c.queue_state == "leased"))}
        delays = [
            r.id for r in conn.execute(select(task.c.id, task.c.runtime).where(
                task.c.task_key.in_(DELAYS), task.c.queue_state == "ready")) if (r.runtime or {}).get("wake_at")
        ]
        complete = conn.execute(select(func.count()).select_from(job).where(job.c.status == "complete")).scalar_one()
    return {"leased": leased, "delays": delays, "complete_jobs": complete}


def task_rows(db: Database) -> dict[str, dict[str, Any]]:
    with db.read() as conn:
        return {r["id"]: dict(r) for r in conn.execute(select(task)).mappings()}


def job_rows(db: Database) -> dict[str, dict[str, Any]]:
    with db.read() as conn:
        return {r["id"]: dict(r) for r in conn.execute(select(job)).mappings()}


def histories(db: Database) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    with db.read() as conn:
        for r in conn.execute(select(task_history).order_by(task_history.c.id)).mappings():
            out.setdefault(r["task_id"], []).append(dict(r))
    return out


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.05)


# the test ----------------------------------------------------------------------------------------


def test_sigkill_mid_run_loses_nothing_acknowledged(db: Database, servers: Servers) -> None:
    group = accounts.create_group(db, "Crashers", "crash test", roles=["operations"])["_id"]
    ids = {f"user{i}": accounts.create_account(db, f"user{i}", PASSWORD, groups=["Crashers"])["_id"]
           for i in range(USERS)}

    gate = servers.tmp / "gate"
    first = servers.start("crash-first", gate=gate)
    tokens = {name: login(first.base_url, name) for name in ids}  # tokens live in the database
    with httpx.Client(base_url=first.base_url, auth=ADMIN, timeout=30) as admin:
        r = admin.post("/automation-studio/automations", json={"automation": crash_workflow(group)})
        assert r.status_code == 200, r.text

    ledger = Ledger()
    stop = threading.Event()
    clients = [httpx.Client(base_url=first.base_url, headers={"Authorization": f"Bearer {tokens[n]}"}, timeout=30)
               for n in ids]
    workers = [threading.Thread(target=work_before_crash, args=(c, ids[n], i, ledger, stop), daemon=True)
               for i, (n, c) in enumerate(zip(ids, clients, strict=True))]
    for w in workers:
        w.start()

    numbers: dict[str, int] = {}
    with httpx.Client(base_url=first.base_url, auth=ADMIN, timeout=30) as admin:
        for n in range(JOBS):
            body = {"workflow": "crash", "options": {"variables": {"n": n, "wait": 1 + n % 2}, "groups": []}}
            r = admin.post("/operations-manager/jobs/start", json=body)
            assert r.status_code == 200, r.text
            numbers[r.json()["data"]["_id"]] = n

    # Kill when work is certainly in flight: claims acknowledged and not finished, finishes acknowledged
    # (so the tasks after the manual one run), delays waiting, jobs not complete, and hold tasks that the
    # first server leased and runs but can never record (`hold` blocks on the gate and says so).
    def claims_and_finishes() -> bool:
        with ledger.lock:
            return len(set(ledger.claims) - set(ledger.finishes)) >= 10 and len(ledger.finishes) >= 5

    wait_for(claims_and_finishes, 45, f"claims and finishes on the first server; log:\n{first.log.read_text()}")
    gate.touch()

    def in_flight() -> bool:
        assert not ledger.failures, (ledger.failures, first.log.read_text())
        snap = queue_snapshot(db)
        progress_seen.update(stuck=len(stuck_holds()), delays=len(snap["delays"]), complete=snap["complete_jobs"],
                             leased=len(snap["leased"]), claims=len(ledger.claims), finishes=len(ledger.finishes))
        return len(stuck_holds()) >= 2 and len(snap["delays"]) >= 2 and snap["complete_jobs"] < JOBS

    progress_seen: dict[str, int] = {}

    def stuck_holds() -> set[str]:
        return {p.name.removeprefix("gate.") for p in gate.parent.glob("gate.*")}

    try:
        wait_for(in_flight, 45, "work in flight on the first server")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: last seen {progress_seen}; log:\n{first.log.read_text()}") from None
    first.sigkill()
    killed_at = now_ms()
    stop.set()
    for w in workers:
        w.join(timeout=30)
        assert not w.is_alive()
    for c in clients:
        c.close()

    assert not ledger.failures, (ledger.failures, first.log.read_text())
    # What the dead process left behind: work it held and work waiting.
    at_kill = queue_snapshot(db)
    claims, finishes = dict(ledger.claims), dict(ledger.finishes)
    stuck = stuck_holds()
    assert len(stuck) >= 2 and stuck <= set(at_kill["leased"]), (stuck, at_kill["leased"])
    assert at_kill["delays"], "no delay was pending when the server died"
    assert at_kill["complete_jobs"] < JOBS
    assert len(set(claims) - set(finishes)) >= 10 and len(finishes) >= 5
    print(f"at SIGKILL: {len(at_kill['leased'])} tasks leased, {len(at_kill['delays'])} delays pending, "
          f"{at_kill['complete_jobs']} jobs complete, {len(claims)} claims and {len(finishes)} finishes "
          f"acknowledged, {ledger.transport_errors} requests cut off")
    rows = task_rows(db)
    for task_id, owner in claims.items():  # durable before anything else touches the database
        assert rows[task_id]["owner"] == owner, (task_id, rows[task_id])
    for task_id, job_id in finishes.items():
        assert rows[task_id]["status"] == "complete", rows[task_id]
        assert rows[task_id]["variables"]["outgoing"] == {"answer": answer_of(job_id)}, rows[task_id]
    recorded = {i: r for i, r in rows.items() if r["status"] == "complete"}  # results recorded before the kill
    history_at_kill = histories(db)
    variables_at_kill = {i: j["variables"] for i, j in job_rows(db).items()}
    assert recorded and history_at_kill

    second = servers.start("crash-second")
    clients_by_id = {
        ids[n]: httpx.Client(base_url=second.base_url, headers={"Authorization": f"Bearer {tokens[n]}"}, timeout=30)
        for n in ids
    }
    try:
        anyone = next(iter(clients_by_id.values()))
        finished_after: dict[str, str] = {}

        def finish_waiting() -> bool:
            """Finish every waiting manual task: by its owner, or claimed and finished by someone."""
            waiting = waiting_manual_tasks(anyone)
            for t in waiting:
                owner = t["metrics"]["owner"]
                if t["_id"] in claims:
                    assert owner == claims[t["_id"]], ("an acknowledged claim lost its owner", t)
                client = clients_by_id[owner] if owner else random.choice(list(clients_by_id.values()))
                job_id = t["job"]["_id"]
                r = client.post(f"/operations-manager/jobs/{job_id}/tasks/{MANUAL}/finish", json=finish_body(job_id))
                assert r.status_code == 200, (r.text, second.log.read_text())
                finished_after[t["_id"]] = r.json()["data"]["metrics"]["owner"]
            done = queue_snapshot(db)["complete_jobs"]
            return done == JOBS

        wait_for(finish_waiting, 60, f"all {JOBS} jobs complete; log:\n{second.log.read_text()}")
    finally:
        for c in clients_by_id.values():
            c.close()

    jobs_after = job_rows(db)
    rows = task_rows(db)
    history = histories(db)
    assert len(jobs_after) == JOBS
    assert Counter(j["status"] for j in jobs_after.values()) == {"complete": JOBS}

    by_job: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for row in rows.values():
        by_job.setdefault(row["job_id"], {}).setdefault(row["task_key"], []).append(row)
    for job_id, j in jobs_after.items():
        # every job variable the workflow sets, with the value this job computed
        assert j["variables"] == expected_variables(job_id, numbers[job_id]), (job_id, j["variables"])
        # each task key ran to exactly one recorded, complete iteration, listed once in the progress
        assert sorted(by_job[job_id]) == sorted(KEYS), (job_id, sorted(by_job[job_id]))
        for key in KEYS:
            (iteration,) = by_job[job_id][key]
            assert (iteration["status"], iteration["finish_state"]) == ("complete", "success"), iteration
            assert iteration["queue_state"] is None and iteration["lease_until"] is None, iteration
            assert j["progress"][key]["iterations"] == [iteration["id"]], (job_id, key, j["progress"][key])
            assert j["progress"][key]["status"] == "complete", (job_id, key, j["progress"][key])

    # manual tasks: one claim and one finish each, by the same owner; acknowledged claims kept their
    # owner and acknowledged finishes are the ones recorded (nothing recorded twice, nothing lost)
    manual_rows = {r["id"]: r for r in rows.values() if r["task_key"] == MANUAL}
    assert len(manual_rows) == JOBS
    for task_id, row in manual_rows.items():
        entries = history.get(task_id, [])
        actions = [e["action"] for e in entries]
        assert actions == ["claim", "finish"], (task_id, entries)
        claim, finish = entries
        assert claim["to_owner"] == row["owner"] == finish["by"] == finish["to_owner"], (task_id, entries, row)
        assert row["variables"]["outgoing"] == {"answer": answer_of(row["job_id"])}, row
        if task_id in claims:
            assert row["owner"] == claims[task_id], ("acknowledged claim lost its owner", task_id, row, entries)
        if task_id in finishes:
            assert task_id not in finished_after, ("acknowledged finish was not recorded", task_id)
            assert finish["at"] <= killed_at, (task_id, entries)
    all_ids = [e["id"] for es in history.values() for e in es]
    assert len(all_ids) == len(set(all_ids)) == 2 * JOBS

    # what was recorded before the kill is unchanged: not lost, not run or recorded again
    fields = ("status", "finish_state", "variables", "end_time", "owner", "claim_time", "metrics")
    for task_id, before in recorded.items():
        assert {f: rows[task_id][f] for f in fields} == {f: before[f] for f in fields}, (before, rows[task_id])
    for task_id, entries in history_at_kill.items():
        assert history[task_id][: len(entries)] == entries, (task_id, entries, history[task_id])
    for job_id, variables in variables_at_kill.items():
        assert {k: jobs_after[job_id]["variables"].get(k) for k in variables} == variables, job_id

    # the dead server's leases were taken again by the new one (at least once) and completed
    for task_id in at_kill["leased"]:
        assert rows[task_id]["metrics"]["server_id"] == "crash-second", rows[task_id]
    for task_id in stuck:  # ran on the first server, which died before recording it; ran again
        assert rows[task_id]["task_key"] in HOLDS and rows[task_id]["status"] == "complete", rows[task_id]
    for task_id in at_kill["delays"]:
        assert rows[task_id]["status"] == "complete", rows[task_id]
