"""`opsmgr users add` / `opsmgr groups add` work on the database directly (issue #2 scope 2)."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from opsmgr.cli.main import app
from opsmgr.services import auth
from opsmgr.store.database import Database


@pytest.fixture
def run(db: Database, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPSMGR_DATABASE_URL", db.url)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    return invoke


def test_groups_add_then_users_add_gives_roles_through_the_group(run, db):
    r = run("groups", "add", "NetOps", "--role", "operations", "--description", "network ops")
    assert r.exit_code == 0, r.output
    r = run("users", "add", "alice", "--password", "s3cret", "--group", "NetOps", "--role", "apiread")
    assert r.exit_code == 0, r.output
    principal = auth.authenticate_password(db, auth.AuthCache(0), "alice", "s3cret")
    assert principal.roles == {"operations", "apiread"}
    assert len(principal.groups) == 1
    listed = run("users", "list")
    assert "alice" in listed.output
    assert "NetOps" in run("groups", "list").output


def test_users_add_rejects_unknown_role_and_duplicate(run):
    r = run("users", "add", "bob", "--password", "x", "--role", "superuser")
    assert r.exit_code == 1
    assert "superuser" in r.output
    assert run("users", "add", "bob", "--password", "x").exit_code == 0
    r = run("users", "add", "bob", "--password", "y")
    assert r.exit_code == 1 and "already exists" in r.output


def test_groups_add_rejects_unknown_role(run):
    r = run("groups", "add", "Ops", "--role", "nope")
    assert r.exit_code == 1 and "nope" in r.output


def test_db_upgrade_reports_the_revision(run):
    r = run("db", "upgrade")
    assert r.exit_code == 0, r.output
    assert re.search(r"revision \d{4}\b", r.output), r.output  # the head revision, whichever it is
