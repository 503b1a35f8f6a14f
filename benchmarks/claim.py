"""Claim throughput and latency of a live `opsmgr serve`, compared with `GET /whoami` (issue #2).

    .venv/bin/python benchmarks/claim.py [--tasks 5000] [--clients 32] [--users 8] [--database-url URL]

1. Prepares a database: a temporary SQLite file by default, or the given URL (PostgreSQL: use a scratch
   database, its tables are emptied first). Creates a group with role `operations`, `--users` members, an
   approval workflow whose manual task only that group may work, and `--tasks` waiting manual tasks
   (+ a few hundred for warm-up), cloned in bulk from one job started through the services.
2. Starts `opsmgr serve` as a separate process on a free loopback port (log level warning, so neither
   the access log nor the request-log middleware writes anything; the same for both measurements).
3. From this process (the load generator, competing with the server for the machine's cores), fetches
   a token per user through `POST /login`, then with `--clients` keep-alive connections claims every
   task exactly once (each claim a distinct task, users taken round-robin, Bearer auth) and then sends
   as many `GET /whoami` with the same connections and users. Each phase is preceded by a warm-up.
4. Prints one JSON object: per phase requests, rps, p50/p95/p99 latency, errors and status counts; the
   claim/whoami throughput ratio; the server's RSS at the end (VmRSS, children included); the targets.

The load generator speaks HTTP/1.1 over asyncio streams directly (`--client raw`, the default): it costs
a fraction of the CPU of an HTTP library, which matters on a 2-core machine where it shares the cores
with the server. `--client httpx` uses `httpx.AsyncClient` instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, text

from opsmgr.config import Settings
from opsmgr.domain.ids import new_object_id, new_uuid
from opsmgr.engine.registry import default_registry
from opsmgr.services import accounts, auth, jobs, workflows
from opsmgr.store import jobs as job_store
from opsmgr.store import tasks as task_store
from opsmgr.store.database import Database
from opsmgr.store.migrate import upgrade
from opsmgr.store.schema import job as job_table
from opsmgr.store.schema import metadata

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import cpu_seconds, free_port, rss_mb, start_server, stop_server

PASSWORD = "bench-password"
WARMUP_CLAIMS = 300
WARMUP_WHOAMI = 500
TARGETS = {"claim_to_whoami_ratio_min": 0.5, "claim_p99_ms_max": 50.0, "server_rss_mb_max": 200.0}


# database ----------------------------------------------------------------------------------------


def prepare_database(url: str, users: int, tasks: int) -> tuple[list[str], list[str]]:
    """Schema, accounts and `tasks` waiting manual tasks; returns (usernames, task ids)."""
    db = Database(url, pool_size=2)
    try:
        upgrade(db)
        if db.dialect == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in reversed(metadata.sorted_tables))
            with db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        settings = Settings(database_url=url, admin_password=PASSWORD)
        auth.bootstrap(db, settings)
        group = accounts.create_group(db, "BenchOps", "benchmark operators", roles=["operations"])["_id"]
        usernames = [f"bench{i:02d}" for i in range(users)]
        for name in usernames:
            accounts.create_account(db, name, PASSWORD, groups=["BenchOps"])
        known = default_registry().known()
        admin = auth.system_principal(db)
        workflows.create_workflow(db, admin, approval_workflow([group]), known)
        first = jobs.start_job(db, admin, "bench-approve", None, "automation", {}, [], known)["_id"]
        with db.read() as conn:
            job_row = job_store.get_job(conn, first)
            (task_row,) = task_store.tasks_of_job(conn, first)
        assert job_row and task_row["type"] == "manual" and task_row["status"] == "running"
        ids = [task_row["id"], *seed_clones(db, job_row, task_row, tasks - 1)]
        return usernames, ids
    finally:
        db.dispose()


def approval_workflow(groups: list[str]) -> dict[str, Any]:
    """workflow_start → approve (manual, only `groups`) → workflow_end."""
    approve = {
        "name": "ViewData", "canvasName": "ViewData", "summary": "Approve", "location": "Application",
        "locationType": None, "app": "WorkFlowEngine", "type": "manual", "groups": groups,
        "view": "/workflow_engine/task/ViewData",
        "variables": {"incoming": {"header": "Approve?", "message": "", "body": "", "variables": {},
                                   "btn_success": "OK", "btn_failure": "No"},
                      "outgoing": {}, "error": "", "decorators": []},
    }
    ends = {"workflow_start": {"name": "workflow_start", "groups": []},
            "workflow_end": {"name": "workflow_end", "groups": []}}
    transitions = {
        "workflow_start": {"a1": {"type": "standard", "state": "success"}},
        "a1": {"workflow_end": {"type": "standard", "state": "success"}},
        "workflow_end": {},
    }
    return {"name": "bench-approve", "type": "automation", "canvasVersion": 3, "tasks": {**ends, "a1": approve},
            "transitions": transitions, "groups": [], "inputSchema": {"type": "object"},
            "outputSchema": {"type": "object"}}


def seed_clones(db: Database, job_row: dict[str, Any], task_row: dict[str, Any], count: int) -> list[str]:
    """`count` more jobs, each waiting on its manual task, inserted in bulk (1,000 per transaction)."""
    job_json, task_json = json.dumps(job_row), json.dumps(task_row)
    old_job, old_task = job_row["id"], task_row["id"]
    ids: list[str] = []
    for start in range(0, count, 1000):
        job_rows, task_rows = [], []
        for _ in range(min(1000, count - start)):
            jid, tid = new_object_id(), new_uuid()
            job_rows.append(json.loads(job_json.replace(old_job, jid).replace(old_task, tid)))
            task_rows.append(json.loads(task_json.replace(old_job, jid).replace(old_task, tid)))
            ids.append(tid)
        with db.write() as conn:
            conn.execute(insert(job_table), job_rows)
            task_store.insert_tasks(conn, task_rows)
    return ids


# server ------------------------------------------------------------------------------------------


# load generator ----------------------------------------------------------------------------------

Request = tuple[str, str, str]  # method, path, token
Send = Callable[[Request], Awaitable[int]]


class RawConnection:
    """One keep-alive HTTP/1.1 connection; enough of the protocol for uvicorn's answers."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, req: Request) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        method, path, token = req
        body = b"{}" if method == "POST" else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        self.writer.write(head.encode() + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class HttpxConnection:
    def __init__(self, port: int) -> None:
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                        limits=httpx.Limits(max_connections=1), timeout=60)

    async def send(self, req: Request) -> int:
        method, path, token = req
        headers = {"Authorization": f"Bearer {token}"}
        if method == "POST":
            r = await self.client.post(path, json={}, headers=headers)
        else:
            r = await self.client.get(path, headers=headers)
        return r.status_code

    async def close(self) -> None:
        await self.client.aclose()


async def run_phase(conns: list[Any], requests: list[Request], server_pid: int) -> dict[str, Any]:
    """Send every request once over the connections (each takes the next one when free)."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    failures = 0
    it = iter(requests)

    async def worker(conn: Any) -> None:
        nonlocal failures
        for req in it:
            started = time.perf_counter()
            try:
                statuses[await conn.send(req)] += 1
            except (OSError, asyncio.IncompleteReadError, httpx.HTTPError):
                failures += 1
                continue
            latencies.append(time.perf_counter() - started)


    began, cpu_began = time.perf_counter(), cpu_seconds(server_pid)
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed, cpu = time.perf_counter() - began, cpu_seconds(server_pid) - cpu_began
    latencies.sort()

    def pct(q: float) -> float:
        return round(latencies[max(0, math.ceil(q * len(latencies)) - 1)] * 1000, 2) if latencies else math.nan

    return {
        "requests": len(requests),
        "seconds": round(elapsed, 3),
        "rps": round(len(requests) / elapsed, 1),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else math.nan,
        "server_cpu_ms_per_request": round(cpu * 1000 / len(requests), 3),
        "errors": failures + sum(n for s, n in statuses.items() if s != 200),
        "status_counts": {str(s): n for s, n in sorted(statuses.items())},
    }


async def load(pid: int, port: int, clients: int, tokens: list[str], warm_ids: list[str], ids: list[str],
               kind: str, profile: Callable[[str], Any] | None = None) -> dict[str, Any]:
    conns = [RawConnection(port) if kind == "raw" else HttpxConnection(port) for _ in range(clients)]
    try:
        def claims(task_ids: list[str]) -> list[Request]:
            return [("POST", f"/operations-manager/tasks/{t}/claim", tokens[i % len(tokens)])
                    for i, t in enumerate(task_ids)]

        def whoamis(n: int) -> list[Request]:
            return [("GET", "/whoami", tokens[i % len(tokens)]) for i in range(n)]

        await run_phase(conns, claims(warm_ids), pid)
        sampler = profile("claim") if profile else None
        claim = await run_phase(conns, claims(ids), pid)
        if sampler:
            sampler.send_signal(signal.SIGINT)
        await run_phase(conns, whoamis(WARMUP_WHOAMI), pid)
        sampler = profile("whoami") if profile else None
        whoami = await run_phase(conns, whoamis(len(ids)), pid)
        if sampler:
            sampler.send_signal(signal.SIGINT)
        return {"claim": claim, "whoami": whoami}
    finally:
        for c in conns:
            await c.close()


# main --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=5000, help="claims to measure (distinct waiting tasks)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument("--users", type=int, default=8, help="eligible users the claims are spread over")
    parser.add_argument("--database-url", help="default: a temporary SQLite file; PostgreSQL: a scratch database")
    parser.add_argument("--py-spy", metavar="DIR",
                        help="sample the server with py-spy during each phase (collapsed stacks into DIR)")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw", help="load generator's HTTP client")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="opsmgr-bench-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        began = time.perf_counter()
        usernames, ids = prepare_database(url, args.users, args.tasks + WARMUP_CLAIMS)
        seeded = time.perf_counter() - began
        port = free_port()
        proc = start_server(url, port, Path(tmp) / "server.log", PASSWORD)
        try:
            tokens = []
            for name in usernames:
                r = httpx.post(f"http://127.0.0.1:{port}/login",
                               json={"user": {"username": name, "password": PASSWORD}}, timeout=30)
                r.raise_for_status()
                tokens.append(r.text)
            try:
                import uvloop

                runner: Callable[[Any], Any] = uvloop.run
            except ImportError:
                runner = asyncio.run
            profile = None
            if args.py_spy:
                Path(args.py_spy).mkdir(parents=True, exist_ok=True)

                def profile(phase: str) -> subprocess.Popen[bytes]:
                    out = Path(args.py_spy) / f"{phase}.txt"
                    return subprocess.Popen(["py-spy", "record", "--pid", str(proc.pid), "--format", "raw",
                                             "--nonblocking", "--gil", "--rate", "250", "-o", str(out)],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            phases = runner(load(proc.pid, port, args.clients, tokens, ids[:WARMUP_CLAIMS], ids[WARMUP_CLAIMS:],
                                 args.client, profile))
            rss = rss_mb(proc.pid)
        finally:
            stop_server(proc)

    claim, whoami = phases["claim"], phases["whoami"]
    ratio = round(claim["rps"] / whoami["rps"], 3)
    report = {
        "claim": claim,
        "whoami": whoami,
        "ratio_claim_to_whoami": ratio,
        "server_rss_mb": rss,
        "targets": {
            **TARGETS,
            "ratio_met": ratio >= TARGETS["claim_to_whoami_ratio_min"],
            "claim_p99_met": claim["p99_ms"] <= TARGETS["claim_p99_ms_max"],
            "rss_met": rss <= TARGETS["server_rss_mb_max"],
            "no_errors": claim["errors"] == 0 and whoami["errors"] == 0,
        },
        "database": "sqlite" if url.startswith("sqlite") else "postgresql",
        "clients": args.clients,
        "users": args.users,
        "tasks": args.tasks,
        "load_generator": f"{args.client} (asyncio, separate process from the server)",
        "server": "opsmgr serve (uvicorn, one process, log level warning)",
        "seed_seconds": round(seeded, 1),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
