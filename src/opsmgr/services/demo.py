"""The `opsmgr serve --demo` data set: NetOps people, an approval workflow and three waiting jobs."""

from __future__ import annotations

import json
from collections.abc import Collection
from importlib import resources
from typing import Any

from opsmgr.services import accounts, auth, jobs, workflows
from opsmgr.store import accounts as account_store
from opsmgr.store.database import Database

WORKFLOW_NAME = "Approve and configure"
DEVICES = ("core-sw-01", "edge-rtr-07", "dc2-leaf-12")


def demo_workflow(netops_group_id: str) -> dict[str, Any]:
    text = resources.files("opsmgr.demo").joinpath("approve-and-configure.json").read_text()
    return json.loads(text.replace("@NetOps", netops_group_id))


def seed(db: Database, known_tasks: Collection[tuple[str, str]]) -> bool:
    """Create the demo data on a database that does not have it yet; True if it was created."""
    with db.read() as conn:
        if account_store.group_by_name(conn, "NetOps") is not None:
            return False
    netops = accounts.create_group(db, "NetOps", "Network operations", roles=["operations"])
    accounts.create_account(db, "alice", "demo", groups=["NetOps"], firstname="Alice")
    accounts.create_account(db, "bob", "demo", groups=["NetOps"], firstname="Bob")
    accounts.create_account(db, "carol", "demo", roles=["apiread"], firstname="Carol")
    accounts.create_account(db, "dave", "demo", roles=["operations"], firstname="Dave")
    admin = auth.system_principal(db)
    workflows.create_workflow(db, admin, demo_workflow(netops["_id"]), known_tasks)
    for device in DEVICES:
        jobs.start_job(
            db, admin, WORKFLOW_NAME, f"Approve the change on {device}", "automation",
            {"device": device, "change": f"Set NTP servers on {device}"}, [], known_tasks,
        )
    return True
