"""Endpoint-trigger load (issue #5): every request starts exactly one job, none fails.

    .venv/bin/python benchmarks/endpoint_trigger.py [--requests 2000] [--clients 32] [--database-url URL]

Prepares a database (a temporary SQLite file by default; a PostgreSQL URL is emptied first) with a
workflow of two pure tasks (stub, newVariable), an automation over it and an endpoint trigger, starts
`opsmgr serve` on a free loopback port, then `--clients` keep-alive connections (Bearer token of admin)
POST `--requests` bodies to `/operations-manager/triggers/endpoint/bench` after a short warm-up. Prints
one JSON object: requests/s, p50/p95/p99 latency, errors, status counts, and the number of jobs recorded
with that trigger id (must equal warm-up + requests).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text

from opsmgr.config import Settings
from opsmgr.engine.registry import default_registry
from opsmgr.services import auth, automations, triggers, workflows
from opsmgr.store.database import Database
from opsmgr.store.migrate import upgrade
from opsmgr.store.schema import job, metadata

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import cpu_seconds, free_port, rss_mb, start_server, stop_server

PASSWORD = "bench-admin"
ROUTE = "bench"
WARMUP = 50


def small_workflow() -> dict[str, Any]:
    def op(name: str, incoming: dict[str, Any], outgoing: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "app": "WorkFlowEngine", "type": "operation", "location": "Application",
                "groups": [], "variables": {"incoming": incoming, "outgoing": outgoing, "error": "",
                                            "decorators": []}}
    return {
        "name": "endpoint-bench", "type": "automation", "groups": [],
        "tasks": {"workflow_start": {"name": "workflow_start", "groups": []},
                  "workflow_end": {"name": "workflow_end", "groups": []},
                  "a1": op("stub", {}, {}), "a2": op("newVariable", {"name": "seen", "value": 1}, {"value": None})},
        "transitions": {"workflow_start": {"a1": {"type": "standard", "state": "success"}},
                        "a1": {"a2": {"type": "standard", "state": "success"}},
                        "a2": {"workflow_end": {"type": "standard", "state": "success"}},
                        "workflow_end": {}},
    }


def prepare_database(url: str) -> str:
    db = Database(url)
    upgrade(db)
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    auth.bootstrap(db, Settings(database_url=url, admin_password=PASSWORD))
    admin = auth.system_principal(db)
    wf = workflows.create_workflow(db, admin, small_workflow(), default_registry().known())
    auto = automations.create_automation(db, admin, {"name": "endpoint-bench", "componentType": "workflows",
                                                     "componentId": wf["_id"]})
    trig = triggers.create_trigger(db, admin, {"name": "bench", "type": "endpoint", "actionId": auto["_id"],
                                               "routeName": ROUTE})
    db.dispose()
    return str(trig["_id"])


def jobs_of(url: str, trigger_id: str) -> tuple[int, dict[str, int]]:
    db = Database(url)
    try:
        with db.read() as conn:
            rows = conn.execute(select(job.c.trigger, job.c.status)).all()
            statuses = Counter(r.status for r in rows if r.trigger and r.trigger.get("triggerId") == trigger_id)
            total = conn.execute(select(func.count()).select_from(job)).scalar_one()
        return int(sum(statuses.values())), {"all_jobs": int(total), **statuses}
    finally:
        db.dispose()


def percentile(sorted_ms: list[float], p: float) -> float:
    return round(sorted_ms[min(len(sorted_ms) - 1, math.ceil(p / 100 * len(sorted_ms)) - 1)], 2)


async def load(port: int, token: str, clients: int, count: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors: list[str] = []
    job_ids: set[str] = set()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def client_loop() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            await client.get("/whoami")  # opens the keep-alive connection
            while True:
                try:
                    i = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                try:
                    r = await client.post(f"/operations-manager/triggers/endpoint/{ROUTE}", json={"n": i})
                except httpx.HTTPError as exc:
                    errors.append(type(exc).__name__)
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[r.status_code] += 1
                if r.status_code == 200:
                    job_ids.add(r.json()["data"]["_id"])
                else:
                    errors.append(f"{r.status_code}: {r.text[:200]}")

    t0 = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(clients)))
    seconds = time.perf_counter() - t0
    latencies.sort()
    return {"requests": count, "seconds": round(seconds, 3), "rps": round(count / seconds, 1),
            "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99), "errors": len(errors), "error_samples": errors[:3],
            "statuses": {str(k): v for k, v in sorted(statuses.items())}, "distinct_jobs": len(job_ids)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        trigger_id = prepare_database(url)
        port = free_port()
        proc = start_server(url, port, Path(tmp) / "server.log", PASSWORD,
                            OPSMGR_KEY_FILE=str(Path(tmp) / "opsmgr.key"))
        try:
            r = httpx.post(f"http://127.0.0.1:{port}/login",
                           json={"user": {"username": "admin", "password": PASSWORD}})
            r.raise_for_status()
            token = r.text
            warm = asyncio.run(load(port, token, args.clients, WARMUP))
            cpu0 = cpu_seconds(proc.pid)
            result = asyncio.run(load(port, token, args.clients, args.requests))
            cpu = cpu_seconds(proc.pid) - cpu0
            rss = rss_mb(proc.pid)
        finally:
            stop_server(proc)
        recorded, by_status = jobs_of(url, trigger_id)
    expected = args.requests + WARMUP
    print(json.dumps({
        **result, "warmup_errors": warm["errors"], "jobs_with_trigger": recorded, "jobs_expected": expected,
        "every_request_one_job": recorded == expected and result["distinct_jobs"] == args.requests
        and result["errors"] == 0, "job_statuses": by_status, "server_cpu_seconds": round(cpu, 2),
        "server_rss_mb": rss, "clients": args.clients, "database": url.split(":", 1)[0].split("+")[0],
        "python": platform.python_version(), "cpu_count": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()
