"""`opsmgr automations export ID > f.json` then `opsmgr automations import f.json` on another, empty
instance (two SQLite files) reproduces the automation, its triggers, its groups and its workflow."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from opsmgr.cli.main import app
from opsmgr.config import Settings
from opsmgr.engine.registry import default_registry
from opsmgr.services import accounts, auth, automations, triggers, workflows
from opsmgr.store.database import Database
from opsmgr.store.migrate import upgrade
from tests.api.automation_support import simple

KNOWN = default_registry().known()


def instance(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    upgrade(db)
    auth.bootstrap(db, Settings(database_url=db.url, admin_password="admin"))
    return db


def cli(monkeypatch, db: Database, *args: str):
    monkeypatch.setenv("OPSMGR_DATABASE_URL", db.url)
    monkeypatch.setenv("OPSMGR_KEY_FILE", str(Path(db.url.removeprefix("sqlite:///")).with_suffix(".key")))
    return CliRunner().invoke(app, list(args))


def test_export_then_import_on_an_empty_instance(tmp_path, monkeypatch):
    source, target = instance(tmp_path / "a.db"), instance(tmp_path / "b.db")
    try:
        admin = auth.system_principal(source)
        accounts.create_group(source, "NetOps", "", roles=["operations"])
        netops = accounts.list_groups(source, 0, 10)["results"][0]["_id"]
        wf = workflows.create_workflow(source, admin, simple("provision"), KNOWN)
        auto = automations.create_automation(source, admin, {
            "name": "provision", "description": "a site", "componentType": "workflows",
            "componentId": wf["_id"], "gbac": {"read": [], "write": [netops]}})
        triggers.create_trigger(source, admin, {"name": "hook", "type": "endpoint", "actionId": auto["_id"],
                                                "routeName": "provision"})
        triggers.create_trigger(source, admin, {"name": "nightly", "type": "schedule", "actionId": auto["_id"],
                                                "firstRunAt": 4_000_000_000_000, "repeatUnit": "day",
                                                "repeatFrequency": 1, "processMissedRuns": "last"})

        exported = cli(monkeypatch, source, "automations", "export", auto["_id"])
        assert exported.exit_code == 0, exported.output
        doc = json.loads(exported.stdout)
        assert doc["workflow"]["name"] == "provision" and len(doc["triggers"]) == 2
        file = tmp_path / "f.json"
        file.write_text(exported.stdout)

        # the target has its own NetOps group (another id): matched by name
        accounts.create_group(target, "NetOps", "", roles=["operations"])
        imported = cli(monkeypatch, target, "automations", "import", str(file))
        assert imported.exit_code == 0, imported.output
        assert "imported workflow provision" in imported.output

        again = cli(monkeypatch, target, "automations", "export", auto["_id"])
        assert again.exit_code == 0, again.output
        copy = json.loads(again.stdout)
        for key in ("name", "description", "componentType", "componentName", "triggers"):
            assert copy[key] == doc[key], key
        assert [g["name"] for g in copy["gbac"]["write"]] == ["NetOps"]
        for key in ("tasks", "transitions"):
            assert copy["workflow"][key] == doc["workflow"][key]

        # importing it twice is refused (the automation exists), the workflow is not duplicated
        twice = cli(monkeypatch, target, "automations", "import", str(file))
        assert twice.exit_code == 1
        assert workflows.search_workflows(target, [])["total"] == 1
    finally:
        source.dispose()
        target.dispose()


def test_import_reports_unreadable_files(tmp_path, monkeypatch):
    db = instance(tmp_path / "c.db")
    try:
        bad = tmp_path / "bad.json"
        bad.write_text("{not json")
        result = cli(monkeypatch, db, "automations", "import", str(bad))
        assert result.exit_code == 1
        missing = cli(monkeypatch, db, "automations", "export", "0" * 24)
        assert missing.exit_code == 1
    finally:
        db.dispose()
