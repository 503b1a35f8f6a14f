"""The event stream over real HTTP (issue #3 scope 7): an EventSource-like reader sees a state change
made after it connected, and a client that goes away ends its stream on the server."""

from __future__ import annotations

import json

import httpx

from opsmgr.store.database import Database
from tests.helpers import approval_workflow
from tests.live.conftest import LiveServer

ADMIN = ("admin", "admin")


def test_stream_delivers_a_change_made_while_open_and_ends_on_disconnect(db: Database, live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.base_url, auth=ADMIN, timeout=30) as http:
        r = http.post("/automation-studio/automations", json={"automation": approval_workflow("live-events")})
        assert r.status_code == 200, r.text
        for _ in range(3):  # each stream's poller must stop when its client leaves, or threads run out
            with http.stream("GET", "/operations-manager/events/stream",
                             headers={"Accept": "text/event-stream"}) as stream:
                assert stream.status_code == 200
                lines = stream.iter_lines()
                assert next(lines).startswith(":")  # connected: only what happens from now on comes
                job = http.post("/operations-manager/jobs/start", json={"workflow": "live-events"}).json()["data"]
                fields: dict[str, str] = {}
                for line in lines:
                    if not line and fields:
                        break
                    if line and not line.startswith(":"):
                        name, _, value = line.partition(": ")
                        fields[name] = value
                assert fields["event"] == "jobStarted"
                assert json.loads(fields["data"])["payload"]["job"]["_id"] == job["_id"]
        assert http.get("/operations-manager/jobs", params={"limit": 1}).status_code == 200
