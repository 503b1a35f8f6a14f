"""Shared fixtures. Every test runs against a real database: a SQLite file by default, or the
PostgreSQL named by OPSMGR_TEST_DATABASE_URL (CI runs the suite once on each). Tables are emptied
between tests rather than rolled back, because concurrency tests use many connections."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from opsmgr.api.app import create_app
from opsmgr.config import Settings
from opsmgr.services import auth
from opsmgr.store.database import Database
from opsmgr.store.migrate import upgrade
from opsmgr.store.schema import metadata
from tests.helpers import World, make_world

# A cheaper scrypt cost keeps account creation fast in tests; the stored hash records its own cost.
auth.SCRYPT_N = 2**10


def test_database_url(tmp_dir: Path) -> str:
    return os.environ.get("OPSMGR_TEST_DATABASE_URL") or f"sqlite:///{tmp_dir / 'opsmgr-test.db'}"


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = Database(test_database_url(tmp_path_factory.mktemp("db")), pool_size=8)
    upgrade(db)
    yield db
    db.dispose()


def empty_tables(db: Database) -> None:
    tables = list(reversed(metadata.sorted_tables))
    with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())


@pytest.fixture
def settings(database: Database) -> Settings:
    return Settings(database_url=database.url, engine_poll_seconds=0.05, admin_password="admin")


@pytest.fixture
def db(database: Database, settings: Settings) -> Database:
    empty_tables(database)
    auth.bootstrap(database, settings)
    return database


@pytest.fixture
def client(db: Database, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db)) as test_client:
        yield test_client


@pytest.fixture
def world(db: Database, client: TestClient) -> World:
    """The demo cast: NetOps (operations) with alice and bob, carol (apiread), dave (operations, not
    in NetOps), erin (apiwrite), and admin."""
    return make_world(db)
