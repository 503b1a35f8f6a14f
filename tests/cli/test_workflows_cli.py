"""`opsmgr workflows import FILE...`: all or nothing, problems printed, exit code 1 on any problem."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from opsmgr.cli.main import app
from opsmgr.services import workflows
from tests.helpers import task, workflow


def simple(name: str) -> dict:
    return workflow(name, {"a1": task("stub")},
                    {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}})


@pytest.fixture
def cli(db, monkeypatch):
    monkeypatch.setenv("OPSMGR_DATABASE_URL", db.url)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def stored(db) -> list[str]:
    return [w["name"] for w in workflows.search_workflows(db, [])["items"]]


def test_import_files(cli, db, tmp_path):
    one = tmp_path / "one.json"
    one.write_text(json.dumps(simple("one")))
    many = tmp_path / "many.json"
    many.write_text(json.dumps([simple("two"), simple("three")]))
    result = cli("workflows", "import", str(one), str(many))
    assert result.exit_code == 0, result.output
    assert "imported workflow one" in result.output and "imported workflow three" in result.output
    assert sorted(stored(db)) == ["one", "three", "two"]


def test_a_file_with_problems_fails_and_prints_them_and_imports_nothing(cli, db, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(simple("good")))
    doc = simple("bad")
    doc["tasks"]["a1"]["app"] = "Nowhere"
    doc["tasks"]["q"] = task("stub")  # not hex, unreachable
    doc["transitions"]["q"] = {}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    result = cli("workflows", "import", str(good), str(bad))
    assert result.exit_code == 1
    out = result.output
    assert "automations.1.tasks.a1" in out and "Nowhere.stub" in out
    assert "automations.1.tasks.q" in out and "hex" in out and "unreachable" in out
    assert stored(db) == []


def test_unreadable_or_invalid_json_fails(cli, db, tmp_path):
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    result = cli("workflows", "import", str(junk))
    assert result.exit_code == 1 and "junk.json" in result.output
    result = cli("workflows", "import", str(tmp_path / "missing.json"))
    assert result.exit_code == 1 and "missing.json" in result.output
    assert stored(db) == []


def test_a_name_already_stored_fails(cli, db, tmp_path):
    path = tmp_path / "w.json"
    path.write_text(json.dumps(simple("w")))
    assert cli("workflows", "import", str(path)).exit_code == 0
    result = cli("workflows", "import", str(path))
    assert result.exit_code == 1 and "already exists" in result.output
    assert stored(db) == ["w"]
