"""Shared builders for the automation and trigger API tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from opsmgr.services import accounts
from opsmgr.store.database import Database
from tests.helpers import PASSWORD, World, create_workflow, task, workflow

ADMIN = ("admin", "admin")
MISSING = "0" * 24
OM = "/operations-manager"


def simple(name: str = "simple") -> dict:
    return workflow(name, {"a1": task("stub", type="success")},
                    {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}})


def add_viewers(db: Database) -> str:
    """Group Viewers (no roles) with frank (engineering): he sees automations readable by Viewers."""
    viewers = accounts.create_group(db, "Viewers", "", roles=[])["_id"]
    accounts.create_account(db, "frank", PASSWORD, ["engineering"], ["Viewers"])
    return viewers  # type: ignore[no-any-return]


def make_automation(client: TestClient, who: tuple[str, str] = ADMIN, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "auto")
    r = client.post(f"{OM}/automations", json=body, auth=who)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


def make_trigger(client: TestClient, who: tuple[str, str] = ADMIN, **body: Any) -> dict[str, Any]:
    r = client.post(f"{OM}/triggers", json=body, auth=who)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


def with_workflow(client: TestClient, wf_name: str = "simple", **body: Any) -> dict[str, Any]:
    wf = create_workflow(client, simple(wf_name))
    return make_automation(client, componentType="workflows", componentId=wf["_id"], **body)


def restricted(client: TestClient, world: World, viewers: str, name: str = "restricted") -> dict[str, Any]:
    """Readable by Viewers (frank), writable by NetOps (alice, bob)."""
    return make_automation(client, name=name, gbac={"read": [viewers], "write": [world.netops]})
