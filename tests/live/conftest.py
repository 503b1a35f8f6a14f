"""A real uvicorn server in a subprocess, on the database the test session uses (SQLite file or the
PostgreSQL of OPSMGR_TEST_DATABASE_URL). Tests drive it over HTTP with real sockets; fixtures of the
parent conftest (`db`, `settings`) still empty the tables and bootstrap between tests, and accounts are
created in this process (cheap scrypt cost; the server verifies with the cost recorded in each hash)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from opsmgr.store.database import Database

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LiveServer:
    base_url: str
    pid: int


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"live server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"live server not healthy within {timeout}s:\n{log.read_text()}")


@pytest.fixture(scope="package")
def live_server(database: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One uvicorn process for the tests of this package, stopped by pid after them. It runs no engine
    workers: these tests only claim, and a live engine polling the shared test database would take
    work that later tests of the session expect to handle themselves."""
    port = free_port()
    log = tmp_path_factory.mktemp("live") / "server.log"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        "OPSMGR_DATABASE_URL": database.url,
        "OPSMGR_HOST": "127.0.0.1",
        "OPSMGR_PORT": str(port),
        "OPSMGR_LOG_LEVEL": "warning",
        "OPSMGR_DB_POOL_SIZE": "16",
        "OPSMGR_ENGINE_WORKERS": "0",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tests.live.server"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, base_url, log)
        yield LiveServer(base_url, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture
def live(live_server: LiveServer, db: Database) -> LiveServer:
    """The live server over freshly emptied tables (with the built-in roles and `admin`)."""
    return live_server
