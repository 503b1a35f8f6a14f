"""The event chain through the running server (issue #5 acceptance; ops-manager-api §3.4 eventSystem): the
job of automation X completing starts automation Y through an eventSystem trigger on jobComplete whose
schema filter matches only X's jobs; automation Z's job completing starts nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opsmgr.api.app import create_app
from opsmgr.config import Settings
from opsmgr.domain import events as catalog
from opsmgr.store.database import Database
from tests.api.automation_support import ADMIN, OM, make_trigger, with_workflow
from tests.helpers import get_job, wait_for_job, wait_until


@pytest.fixture
def fast(db: Database, settings: Settings) -> Iterator[TestClient]:
    """The app with the event loops polling every 50 ms."""
    with TestClient(create_app(settings.model_copy(update={"event_poll_seconds": 0.05}), db)) as client:
        yield client


def run(client: TestClient, trigger: dict[str, Any]) -> dict[str, Any]:
    r = client.post(f"{OM}/triggers/manual/{trigger['_id']}/run", json={"formData": {}}, auth=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


def jobs_named(client: TestClient, name: str) -> list[dict[str, Any]]:
    r = client.get(f"{OM}/jobs", params={"equals[name]": name, "limit": "100"}, auth=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


def test_job_complete_of_x_triggers_y_and_z_does_not(fast: TestClient) -> None:
    client = fast
    x = with_workflow(client, "wf-x", name="X")
    z = with_workflow(client, "wf-z", name="Z")
    y = with_workflow(client, "wf-y", name="Y")
    run_x = make_trigger(client, name="run x", type="manual", actionId=x["_id"])
    run_z = make_trigger(client, name="run z", type="manual", actionId=z["_id"])
    only_x = {"type": "object", "required": ["job"], "properties": {"job": {
        "type": "object", "required": ["trigger"],
        "properties": {"trigger": {"type": "object", "required": ["automationId"],
                                   "properties": {"automationId": {"const": x["_id"]}}}}}}}
    on_x = make_trigger(client, name="after X", type="eventSystem", actionId=y["_id"], source=catalog.SOURCE,
                        topic="jobComplete", schema=only_x)
    z_job = run(client, run_z)
    assert wait_for_job(client, z_job["_id"])["status"] == "complete"
    x_job = run(client, run_x)
    assert wait_for_job(client, x_job["_id"])["status"] == "complete"
    (y_job,) = wait_until(lambda: jobs_named(client, "wf-y"))
    y_job = wait_for_job(client, y_job["_id"])
    assert y_job["status"] == "complete"
    by = y_job["trigger"]["triggeredBy"]
    assert y_job["trigger"]["automationId"] == y["_id"] and y_job["trigger"]["triggerId"] == on_x["_id"]
    assert by["topic"] == "jobComplete" and by["jobId"] == x_job["_id"]
    assert get_job(client, y_job["_id"])["variables"]["formData"]["job"]["trigger"]["automationId"] == x["_id"]
    r = client.get(f"{OM}/triggers/{on_x['_id']}", auth=ADMIN)
    assert r.json()["data"]["lastExecuted"] is not None
    # Y's own jobComplete and Z's do not start Y: still exactly one Y job once the outbox is consumed
    z_again = run(client, run_z)
    wait_for_job(client, z_again["_id"])
    wait_until(lambda: _consumed(client))
    assert len(jobs_named(client, "wf-y")) == 1


def _consumed(client: TestClient) -> bool:
    """The trigger cursor has passed every event in the outbox."""
    from opsmgr.services import event_triggers, events
    from opsmgr.store import events as event_store

    db = client.app.state.opsmgr.db  # type: ignore[attr-defined]
    with db.read() as conn:
        row = event_store.get_consumer(conn, event_triggers.CONSUMER)
    return row is not None and row["last_event_id"] >= events.latest_id(db)
