"""services/triggers.py: a trigger run is one use case, so one transaction (architecture guide)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from opsmgr.services import triggers
from opsmgr.store.database import Database
from opsmgr.store.schema import job
from tests.api.automation_support import ADMIN, OM, make_trigger, with_workflow


def _jobs(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(job)).scalar_one())


def test_a_run_that_fails_after_starting_the_job_leaves_no_job(
    client: TestClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Starting the job and recording `lastExecuted` commit together: when the second fails, no job
    is left behind (before, the job was committed in its own transaction first)."""
    automation = with_workflow(client)
    trigger = make_trigger(client, name="go", type="manual", actionType="automations", actionId=automation["_id"])

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk gone")

    monkeypatch.setattr(triggers.store, "update_trigger", broken)
    with pytest.raises(RuntimeError):
        client.post(f"{OM}/triggers/manual/{trigger['_id']}/run", json={"formData": {}}, auth=ADMIN)
    assert _jobs(db) == 0

    monkeypatch.undo()
    r = client.post(f"{OM}/triggers/manual/{trigger['_id']}/run", json={"formData": {}}, auth=ADMIN)
    assert r.status_code == 200, r.text
    assert _jobs(db) == 1
