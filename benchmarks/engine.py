"""Engine throughput: many jobs of a 10-task workflow of automatic built-in tasks (issue #3).

    .venv/bin/python benchmarks/engine.py [--jobs 500] [--database-url URL] [--workers N]

1. Prepares a database (a temporary SQLite file by default; a PostgreSQL URL must name a scratch
   database: its tables are emptied) with a workflow of 10 chained automatic tasks (stub, newVariable
   and merge, promoting outgoing variables to job variables).
2. Starts `opsmgr serve` as a separate process (log level warning) with its embedded engine.
3. Starts `--jobs` jobs over HTTP (16 keep-alive connections), then waits until every job has ended,
   reading the database. Every task iteration is persisted as in normal operation.
4. Prints one JSON object: task executions/s and jobs/s over the whole run (first start to last end),
   p50/p95 job duration (job end − job start), job statuses, server CPU and RSS, and the target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text

from opsmgr.config import Settings
from opsmgr.engine.registry import default_registry
from opsmgr.services import auth, workflows
from opsmgr.store.database import Database
from opsmgr.store.migrate import upgrade
from opsmgr.store.schema import job, metadata, task

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

from _server import cpu_seconds, free_port, rss_mb, start_server, stop_server

PASSWORD = "bench-password"
WORKFLOW = "engine benchmark"
TASKS = 10
TARGET_TASK_EXECUTIONS_PER_S = 1000


def ten_task_workflow() -> dict[str, Any]:
    """workflow_start → t0 … t9 → workflow_end; stub, newVariable and merge in turn."""
    tasks: dict[str, Any] = {
        "workflow_start": {"name": "workflow_start", "groups": []},
        "workflow_end": {"name": "workflow_end", "groups": []},
    }
    keys = [f"{i:x}0" for i in range(TASKS)]
    for i, key in enumerate(keys):
        kind = ("stub", "newVariable", "merge")[i % 3]
        if kind == "stub":
            incoming: dict[str, Any] = {"type": "success", "delay": 0, "response": f"step {i}"}
            outgoing: dict[str, Any] = {"response": f"$var.job.r{i}"}
        elif kind == "newVariable":
            incoming, outgoing = {"name": f"v{i}", "value": i}, {"value": None}
        else:
            incoming = {"data_to_merge": [{"key": "a", "value": {"task": "job", "variable": "_id"}},
                                          {"key": "b", "value": {"task": "static", "variable": i}}]}
            outgoing = {"merged_object": f"$var.job.m{i}"}
        tasks[key] = {"name": kind, "app": "WorkFlowEngine", "type": "operation", "location": "Application",
                      "groups": [], "variables": {"incoming": incoming, "outgoing": outgoing, "error": "",
                                                  "decorators": []}}
    chain = ["workflow_start", *keys, "workflow_end"]
    transitions: dict[str, Any] = {k: {} for k in tasks}
    for a, b in itertools.pairwise(chain):
        transitions[a] = {b: {"type": "standard", "state": "success"}}
    return {"name": WORKFLOW, "type": "automation", "tasks": tasks, "transitions": transitions, "groups": []}


def prepare_database(url: str) -> None:
    db = Database(url)
    upgrade(db)
    if db.dialect == "postgresql":
        with db.engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    settings = Settings(database_url=url, admin_password=PASSWORD)
    auth.bootstrap(db, settings)
    workflows.create_workflow(db, auth.system_principal(db), ten_task_workflow(), default_registry().known())
    db.dispose()


async def start_jobs(port: int, count: int) -> float:
    """Start `count` jobs over 16 connections; returns the seconds it took."""
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", auth=("admin", PASSWORD), limits=limits,
                                 timeout=60) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)

        async def starter() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                r = await client.post("/operations-manager/jobs/start",
                                      json={"workflow": WORKFLOW, "options": {"description": f"bench {i}"}})
                if r.status_code != 200:
                    raise SystemExit(f"job start failed: {r.status_code} {r.text}")

        began = time.perf_counter()
        await asyncio.gather(*(starter() for _ in range(16)))
        return time.perf_counter() - began


def wait_for_jobs(db: Database, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.read() as conn:
            ended = conn.execute(
                select(func.count()).select_from(job).where(job.c.status.in_(("complete", "error", "canceled")))
            ).scalar_one()
        if ended >= count:
            return
        time.sleep(0.1)
    raise SystemExit(f"jobs did not end within {timeout} s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure(db: Database) -> dict[str, Any]:
    with db.read() as conn:
        rows = conn.execute(select(job.c.status, job.c.start_time, job.c.end_time)).all()
        executions = conn.execute(
            select(func.count()).select_from(task).where(task.c.status.in_(("complete", "error")))
        ).scalar_one()
    first = min(r.start_time for r in rows)
    last = max((r.end_time or r.start_time) for r in rows)
    seconds = max(0.001, (last - first) / 1000)
    durations = [r.end_time - r.start_time for r in rows if r.end_time is not None]
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    return {
        "jobs": len(rows),
        "task_executions": executions,
        "seconds": round(seconds, 3),
        "task_executions_per_s": round(executions / seconds, 1),
        "jobs_per_s": round(len(rows) / seconds, 1),
        "job_duration_p50_ms": percentile(durations, 0.5) if durations else None,
        "job_duration_p95_ms": percentile(durations, 0.95) if durations else None,
        "statuses": statuses,
    }


def start_profiler(pid: int, out: str) -> subprocess.Popen[bytes]:
    """py-spy sampling the server process (and its threads) until SIGINT; raw collapsed stacks."""
    beside = Path(sys.executable).parent / "py-spy"  # installed in the virtualenv, else on PATH
    exe = str(beside) if beside.exists() else "py-spy"
    proc = subprocess.Popen([exe, "record", "--pid", str(pid), "--format", "raw", "--gil", "--nonblocking",
                             "--rate", "250", "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # let it attach before the load starts
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--database-url", help="default: a temporary SQLite file; PostgreSQL: a scratch database")
    parser.add_argument("--workers", type=int, help="engine workers of the server (default: its own default)")
    parser.add_argument("--py-spy", metavar="FILE",
                        help="sample the server with py-spy (--gil) while the jobs run; raw stacks into FILE "
                             "(summarize with benchmarks/profile_summary.py FILE)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'engine-bench.db'}"
        prepare_database(url)
        port = free_port()
        extra = {"OPSMGR_ENGINE_WORKERS": str(args.workers)} if args.workers else {}
        proc = start_server(url, port, Path(tmp) / "server.log", PASSWORD, **extra)
        db = Database(url)
        try:
            cpu_before = cpu_seconds(proc.pid)
            sampler = start_profiler(proc.pid, args.py_spy) if args.py_spy else None
            start_seconds = asyncio.run(start_jobs(port, args.jobs))
            wait_for_jobs(db, args.jobs, timeout=600)
            if sampler is not None:
                sampler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                sampler.wait(timeout=60)
            result = measure(db)
            result["start_requests_seconds"] = round(start_seconds, 3)
            result["server_cpu_seconds"] = round(cpu_seconds(proc.pid) - cpu_before, 2)
            result["server_rss_mb"] = rss_mb(proc.pid)
        finally:
            stop_server(proc)
            db.dispose()
    result.update(
        database=url.split(":", 1)[0],
        tasks_per_job=TASKS,
        target={"task_executions_per_s_min": TARGET_TASK_EXECUTIONS_PER_S,
                "met": result["task_executions_per_s"] >= TARGET_TASK_EXECUTIONS_PER_S},
        python=platform.python_version(),
        cpu_count=os.cpu_count(),
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
