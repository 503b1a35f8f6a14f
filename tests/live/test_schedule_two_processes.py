"""Two server processes, one database (issue #5): a schedule due every second for ten seconds starts
exactly ten jobs, not twenty. Both processes run the scheduler (poll 0.2 s); the conditional UPDATE of
`trigger.next_run_at` lets exactly one of them fire each due time. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from opsmgr.domain.documents import now_ms
from opsmgr.engine.registry import default_registry
from opsmgr.services import auth, automations, triggers, workflows
from opsmgr.store.database import Database
from opsmgr.store.schema import job
from tests.api.automation_support import simple
from tests.live.conftest import ROOT, _wait_healthy, free_port

KNOWN = default_registry().known()


@pytest.fixture
def two_servers(db: Database, tmp_path: Path) -> Iterator[list[int]]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(2):
            port = free_port()
            env = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
                "OPSMGR_DATABASE_URL": db.url, "OPSMGR_HOST": "127.0.0.1", "OPSMGR_PORT": str(port),
                "OPSMGR_LOG_LEVEL": "warning", "OPSMGR_ENGINE_WORKERS": "1",
                "OPSMGR_SCHEDULE_POLL_SECONDS": "0.2", "OPSMGR_SERVER_ID": f"sched-{i}",
            }
            log = tmp_path / f"server{i}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen([sys.executable, "-m", "tests.live.server"], cwd=ROOT, env=env,
                                        stdout=out, stderr=subprocess.STDOUT)
            procs.append(proc)
            _wait_healthy(proc, f"http://127.0.0.1:{port}", log)
        yield [p.pid for p in procs]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def test_two_processes_fire_each_due_time_once(db: Database, two_servers: list[int]) -> None:
    admin = auth.system_principal(db)
    wf = workflows.create_workflow(db, admin, simple("tick"), KNOWN)
    auto = automations.create_automation(db, admin, {"name": "tick", "componentType": "workflows",
                                                     "componentId": wf["_id"]})
    first = now_ms() + 1000
    trig = triggers.create_trigger(db, admin, {"name": "every second", "type": "schedule",
                                               "actionId": auto["_id"], "firstRunAt": first,
                                               "repeatInterval": 1000})
    # due at first, first+1s, ..., first+9s: disable half a second after the tenth
    time.sleep(max(0.0, (first + 9500 - now_ms()) / 1000))
    triggers.update_trigger(db, admin, trig["_id"], {"enabled": False})
    time.sleep(1.0)  # a fire that began before the disable commits or gives up
    with db.read() as conn:
        rows = conn.execute(select(job.c.trigger)).all()
    mine = [r.trigger for r in rows if r.trigger and r.trigger["triggerId"] == trig["_id"]]
    assert len(mine) == 10
