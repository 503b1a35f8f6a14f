"""Search storage (ADR 0009): the `visibility` key of jobs and tasks, the GBAC clause built on it, the
two ways `search_tasks`/`search_jobs` count and page, and the name dictionary. Decisions §4 (a job with
no groups is visible to every reader, otherwise to members of one of its groups) and §9 (exact totals,
pages stable under ties)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text

from opsmgr.domain import search
from opsmgr.services.jobs import JOB_FIELDS
from opsmgr.services.tasks import TASK_FIELDS
from opsmgr.store import jobs as job_store
from opsmgr.store import search as compile
from opsmgr.store import tasks as task_store
from opsmgr.store.database import Database
from opsmgr.store.migrate import upgrade
from opsmgr.store.schema import job, job_group, task

GROUP_SETS = [[], ["g1"], ["g10"], ["g2", "g1"], ["g3"], ["g2"]]
NAMES = ["newVariable", "stub", "ViewData", "makeData", "new_var%", "restCall"]


def job_row(n: int) -> dict[str, Any]:
    jid = f"{n:024x}"
    return {"id": jid, "name": f"job {n % 3}", "description": None, "type": "automation", "status": "running",
            "workflow": {"tasks": {}}, "variables": {"device": f"rtr-{n % 4}"}, "progress": {}, "error": None,
            "watchers": [], "ancestors": [jid], "parent": None, "created": n, "created_by": None,
            "last_updated": n, "last_updated_by": None, "start_time": 1000 + n, "end_time": None,
            "initiator": "admin", "trigger": None}


def task_row(job_id: str, n: int) -> dict[str, Any]:
    return {"id": f"00000000-0000-4000-8000-{n:012d}", "job_id": job_id, "task_key": f"{n % 16:x}0",
            "name": NAMES[n % len(NAMES)], "app": "WorkFlowEngine", "type": "manual" if n % 5 == 0 else "automatic",
            "status": ("running", "complete", "error")[n % 3], "location": "Application", "view": None,
            "owner": None, "groups": [], "variables": {}, "metrics": {}, "start_time": 5000 + n % 7,
            "claim_time": None, "end_time": None, "finish_state": None, "last_updated": 0}


@pytest.fixture
def seeded(db: Database) -> dict[str, list[str]]:
    """Six jobs (one per group set), each with six task iterations; returns job id -> its groups."""
    groups: dict[str, list[str]] = {}
    with db.write() as conn:
        for n, gs in enumerate(GROUP_SETS):
            row = job_row(n)
            job_store.insert_job(conn, row, gs)
            task_store.insert_tasks(conn, [task_row(row["id"], n * 6 + i) for i in range(6)])
            groups[row["id"]] = gs
    return groups


def visible(job_groups: list[str], caller: list[str] | None) -> bool:
    return caller is None or not job_groups or bool(set(job_groups) & set(caller))


def test_visibility_key_follows_the_job_groups(db: Database, seeded: dict[str, list[str]]) -> None:
    """Jobs and their tasks carry the sorted group ids; changing the groups rewrites both (decisions §4)."""
    with db.read() as conn:
        keys = dict(conn.execute(select(job.c.id, job.c.visibility)).all())
        task_keys = set(conn.execute(select(task.c.job_id, task.c.visibility)).all())
    assert keys == {j: " ".join(sorted(gs)) for j, gs in seeded.items()}
    assert task_keys == set(keys.items())
    some = next(j for j, gs in seeded.items() if gs == ["g2", "g1"])
    with db.write() as conn:
        job_store.set_job_groups(conn, some, ["g3", "g1"])
    with db.read() as conn:
        assert conn.execute(select(job.c.visibility).where(job.c.id == some)).scalar_one() == "g1 g3"
        assert set(conn.execute(select(task.c.visibility).where(task.c.job_id == some)).scalars()) == {"g1 g3"}
        assert job_store.job_groups(conn, some) == ["g3", "g1"]  # the order given is kept in job_group
    with db.write() as conn:
        job_store.set_job_groups(conn, some, [])
    with db.read() as conn:
        assert set(conn.execute(select(task.c.visibility).where(task.c.job_id == some)).scalars()) == {""}


@pytest.mark.parametrize("caller", [None, [], ["g1"], ["g2"], ["g10", "g3"], ["g4"]])
def test_visible_clause_is_decisions_4(db: Database, seeded: dict[str, list[str]], caller: list[str] | None) -> None:
    """Visible = no groups, or one shared whole group id ("g1" does not see a job of "g10"); the same
    answer on job rows, task rows and through the job_group probes other tables use."""
    expected = {j for j, gs in seeded.items() if visible(gs, caller)}
    with db.read() as conn:
        jobs = set(conn.execute(select(job.c.id).where(job_store.visible_clause(job.c.id, caller))).scalars())
        tasks = set(conn.execute(select(task.c.job_id).where(job_store.visible_clause(task.c.job_id, caller)))
                    .scalars())
        other = task.alias()  # any other table with a job id column (events): the job_group probes
        probed = set(conn.execute(select(other.c.job_id).where(
            job_store.visible_clause(other.c.job_id, caller))).scalars())
    assert jobs == expected
    assert tasks == expected
    assert probed == expected


def test_shares_a_group_and_has_groups(db: Database, seeded: dict[str, list[str]]) -> None:
    with db.read() as conn:
        shares = set(conn.execute(select(job.c.id).where(job_store.shares_a_group(job, ["g1"]))).scalars())
        has = set(conn.execute(select(job.c.id).where(job_store.has_groups(job))).scalars())
    assert shares == {j for j, gs in seeded.items() if "g1" in gs}
    assert has == {j for j, gs in seeded.items() if gs}


def python_page(docs: list[dict[str, Any]], skip: int, limit: int, key: str) -> list[str]:
    ordered = sorted(docs, key=lambda d: (d[key].encode(), d["id"]))  # code point order, id breaks ties
    return [d["id"] for d in ordered[skip:skip + limit]]


def matches(op: str, value: str, name: str) -> bool:
    return {"contains": value in name, "starts-with": name.startswith(value), "ends-with": name.endswith(value),
            "equals": name == value}[op]


@pytest.fixture(params=["few", "many"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of answering: all ids at once (at most FEW match) and count + ordered walk."""
    if request.param == "many":
        monkeypatch.setattr(job_store, "FEW", 0)
    return str(request.param)


@pytest.mark.parametrize("op,value", [("contains", "Data"), ("starts-with", "new"), ("ends-with", "ll"),
                                      ("contains", "%"), ("starts-with", "new_"), ("contains", "a"),
                                      ("equals", "stub"), ("contains", "nothing")])
@pytest.mark.parametrize("caller", [None, ["g1"], []])
def test_search_tasks_name_patterns(db: Database, seeded: dict[str, list[str]], path: str, op: str, value: str,
                                    caller: list[str] | None) -> None:
    """Text patterns on `name` go through the distinct names; totals are exact and pages follow
    (name, _id) whichever way the store answers (decisions §9)."""
    query = search.parse([(f"{op}[name]", value)], TASK_FIELDS, default_sort="name")
    where = compile.where_clause(task, query) & job_store.visible_clause(task.c.job_id, caller)
    with db.read() as conn:
        everything = [dict(r) for r in conn.execute(select(task)).mappings()]
    expected = [t for t in everything if matches(op, value, t["name"]) and visible(seeded[t["job_id"]], caller)]
    for skip, limit in ((0, 25), (0, 4), (3, 5), (len(expected), 5), (len(expected) + 3, 5)):
        with db.read() as conn:
            rows, total = task_store.search_tasks(conn, where, compile.order_by(task, query), skip, limit)
        assert total == len(expected)
        assert [r["id"] for r in rows] == python_page(expected, skip, limit, "name")
        assert all(r["job_name"] is not None for r in rows)  # the job summary is joined to each row


@pytest.mark.parametrize("caller", [None, ["g2"]])
def test_search_tasks_sorted_by_start_time(db: Database, seeded: dict[str, list[str]], path: str,
                                           caller: list[str] | None) -> None:
    """A sort key with many ties (start_time) pages by `_id` within a tie, in both orders."""
    with db.read() as conn:
        everything = [dict(r) for r in conn.execute(select(task)).mappings()]
    expected = [t for t in everything if t["status"] != "error" and visible(seeded[t["job_id"]], caller)]
    for order in (1, -1):
        query = search.parse([("in[status]", "running,complete"), ("sort", "metrics.start_time"),
                              ("order", str(order))], TASK_FIELDS, default_sort="name")
        where = compile.where_clause(task, query) & job_store.visible_clause(task.c.job_id, caller)
        ordered = sorted(expected, key=lambda t: (t["start_time"], t["id"]), reverse=order == -1)
        for skip in (0, 7):
            with db.read() as conn:
                rows, total = task_store.search_tasks(conn, where, compile.order_by(task, query), skip, 6)
            assert total == len(expected)
            assert [r["id"] for r in rows] == [t["id"] for t in ordered[skip:skip + 6]]


@pytest.mark.parametrize("caller", [None, ["g1"], ["g4"]])
def test_search_jobs_both_ways(db: Database, seeded: dict[str, list[str]], path: str,
                               caller: list[str] | None) -> None:
    query = search.parse([], JOB_FIELDS, default_sort="name")
    where = compile.where_clause(job, query) & job_store.visible_clause(job.c.id, caller)
    expected = sorted((j for j, gs in seeded.items() if visible(gs, caller)),
                      key=lambda j: (job_row(int(j, 16))["name"], j))
    for skip, limit in ((0, 25), (1, 2), (len(expected), 3)):
        with db.read() as conn:
            rows, total = job_store.search_jobs(conn, where, compile.order_by(job, query), skip, limit)
        assert total == len(expected)
        assert [r["id"] for r in rows] == expected[skip:skip + limit]


@pytest.fixture
def scratch_url(database: Database, tmp_path: Path) -> Iterator[str]:
    """An empty database of the same kind as the suite's."""
    if database.dialect != "postgresql":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    import psycopg

    base = database.url.rsplit("/", 1)[0].replace("+psycopg", "")
    name = database.url.rsplit("/", 1)[1] + "_s2mig"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]
        c.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    yield database.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]


def test_migration_0006_backfills_visibility(scratch_url: str) -> None:
    """Jobs and tasks that exist before migration 0006 get the key of their job's groups."""
    db = Database(scratch_url, pool_size=1)
    try:
        upgrade(db, "0005")
        with db.engine.begin() as conn:
            for n, gs in enumerate(GROUP_SETS):
                row = job_row(n)
                conn.execute(insert(job), [row])
                if gs:
                    conn.execute(insert(job_group), [{"job_id": row["id"], "group_id": g, "position": i}
                                                     for i, g in enumerate(gs)])
                conn.execute(text("INSERT INTO task (id, job_id, task_key, name, app, type, status, location, "
                                  "groups, variables, metrics, start_time, last_updated) VALUES (:id, :job, 'a0', "
                                  "'stub', 'x', 'automatic', 'complete', 'Application', '[]', '{}', '{}', 0, 0)"),
                             {"id": f"00000000-0000-4000-8000-{n:012d}", "job": row["id"]})
        upgrade(db)
        with db.engine.connect() as conn:
            jobs = dict(conn.execute(text("SELECT id, visibility FROM job")).all())
            tasks = dict(conn.execute(text("SELECT job_id, visibility FROM task")).all())
        expected = {job_row(n)["id"]: " ".join(sorted(gs)) for n, gs in enumerate(GROUP_SETS)}
        assert jobs == expected
        assert tasks == expected
    finally:
        db.dispose()


def test_distinct_names_reads_every_name(db: Database, seeded: dict[str, list[str]]) -> None:
    """The loose index scan behind the name dictionary yields each distinct name once."""
    with db.read() as conn:
        names = [n for n in conn.execute(select(task_store._NAMES.c.n)).scalars() if n is not None]
    assert sorted(names) == sorted(set(NAMES))
    assert len(names) == len(set(names))
    assert list(itertools.islice(names, 2)) == sorted(names)[:2]
