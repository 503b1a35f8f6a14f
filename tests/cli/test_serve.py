"""`opsmgr serve` as a real process (issue #2 scope 1): port option, migrations on start, health,
OpenAPI and docs, one log line per request, clean shutdown on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_runs_logs_requests_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "OPSMGR_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}", "OPSMGR_PORT": str(port)}
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from opsmgr.cli.main import main; main()", "serve", "--demo"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.2)
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "opsmgr"
        assert httpx.get(f"{base}/docs").status_code == 200
        tasks = httpx.get(
            f"{base}/operations-manager/tasks", params={"equals[type]": "manual", "equals[status]": "running"},
            auth=("alice", "demo"),
        )
        assert tasks.status_code == 200 and tasks.json()["metadata"]["total"] == 3
        assert httpx.get(f"{base}/operations-manager/jobs").status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        log.close()
    output = (tmp_path / "serve.log").read_text()
    # uvicorn finishes in-flight work, runs the lifespan shutdown (engine stop), then re-raises the
    # signal so supervisors see "terminated by SIGTERM" (systemd counts that as a clean stop)
    assert code in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert '"GET /health" 200' in output
    assert '"GET /operations-manager/tasks" 200' in output
    assert '"GET /operations-manager/jobs" 401' in output
    assert "Running upgrade" in output or "0001" in output or "alembic" in output
