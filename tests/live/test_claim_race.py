"""Claims race over real HTTP against a live uvicorn (issue #2, decisions §5): whatever the number of
concurrent claimers, exactly one wins, every loser gets 409 naming the winner, and the task's history
holds exactly one claim. Each client is its own thread with its own keep-alive connection."""

from __future__ import annotations

import random
import threading
from collections import Counter, defaultdict
from typing import Any

import httpx

from opsmgr.engine.registry import default_registry
from opsmgr.services import accounts, auth, jobs, workflows
from opsmgr.store import tasks as task_store
from opsmgr.store.database import Database
from tests.helpers import PASSWORD, approval_workflow
from tests.live.conftest import LiveServer

KNOWN = default_registry().known()


def make_claimers(db: Database, live: LiveServer, count: int) -> tuple[str, list[tuple[str, str, httpx.Client]]]:
    """A group with role `operations` and `count` members, each with a token and a connected client."""
    group = accounts.create_group(db, "Racers", "claim race", roles=["operations"])["_id"]
    users = []
    for i in range(count):
        name = f"racer{i:02d}"
        account_id = accounts.create_account(db, name, PASSWORD, groups=["Racers"])["_id"]
        r = httpx.post(live.base_url + "/login", json={"user": {"username": name, "password": PASSWORD}})
        assert r.status_code == 200, r.text
        client = httpx.Client(base_url=live.base_url, headers={"Authorization": f"Bearer {r.text}"}, timeout=30)
        assert client.get("/whoami").status_code == 200  # opens the keep-alive connection
        users.append((name, account_id, client))
    return group, users


def waiting_tasks(db: Database, group: str, count: int) -> list[str]:
    """Start `count` jobs of an approval workflow that only `group` may work; their waiting task ids."""
    admin = auth.system_principal(db)
    workflows.create_workflow(db, admin, approval_workflow("race", groups=[group]), KNOWN)
    ids = []
    for _ in range(count):
        job = jobs.start_job(db, admin, "race", None, "automation", {}, [], KNOWN)
        with db.read() as conn:
            (row,) = [t for t in task_store.tasks_of_job(conn, job["_id"]) if t["task_key"] == "a1"]
        assert (row["type"], row["status"], row["owner"]) == ("manual", "running", None)
        ids.append(row["id"])
    return ids


def run_together(workers: list[Any]) -> list[Any]:
    """Run each callable in its own thread, released at the same instant by a barrier."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = workers[i]()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


def claim_history(client: httpx.Client, task_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/operations-manager/tasks/{task_id}/history")
    assert r.status_code == 200, r.text
    return [e for e in r.json()["data"] if e["action"] == "claim"]


def close_all(users: list[tuple[str, str, httpx.Client]]) -> None:
    for _, _, client in users:
        client.close()


def test_fifty_users_claim_one_task_exactly_one_wins(live: LiveServer, db: Database) -> None:
    group, users = make_claimers(db, live, 50)
    try:
        for task_id in waiting_tasks(db, group, 4):
            def claim(client: httpx.Client, task_id: str = task_id) -> httpx.Response:
                return client.post(f"/operations-manager/tasks/{task_id}/claim", json={})

            responses = run_together([lambda c=c: claim(c) for _, _, c in users])
            statuses = Counter(r.status_code for r in responses)
            assert statuses == {200: 1, 409: 49}, statuses
            winner = next(i for i, r in enumerate(responses) if r.status_code == 200)
            name, account_id, client = users[winner]
            assert responses[winner].json()["data"]["metrics"]["owner"] == account_id
            assert responses[winner].json()["data"]["metrics"]["claim_time"]
            for r in responses:
                if r.status_code == 409:
                    body = r.json()
                    assert name in body["message"], body
                    assert body["metadata"]["owner"] == {"_id": account_id, "username": name}, body
            claims = claim_history(client, task_id)
            assert [(c["by"], c["to"]) for c in claims] == [(account_id, account_id)]
            r = client.get(f"/operations-manager/tasks/{task_id}")
            assert r.json()["data"]["metrics"]["owner"] == account_id
    finally:
        close_all(users)


def test_eight_clients_claim_two_hundred_tasks_in_random_order(live: LiveServer, db: Database) -> None:
    group, users = make_claimers(db, live, 8)
    task_ids = waiting_tasks(db, group, 200)
    try:
        def claim_all(seed: int, client: httpx.Client) -> list[tuple[str, int, dict[str, Any]]]:
            order = list(task_ids)
            random.Random(seed).shuffle(order)
            out = []
            for task_id in order:
                r = client.post(f"/operations-manager/tasks/{task_id}/claim", json={})
                out.append((task_id, r.status_code, r.json()))
            return out

        results = run_together([lambda i=i, c=c: claim_all(i, c) for i, (_, _, c) in enumerate(users)])
        winners: dict[str, list[str]] = defaultdict(list)
        losers: dict[str, list[dict[str, Any]]] = defaultdict(list)
        statuses: Counter[int] = Counter()
        for (_, account_id, _), outcome in zip(users, results, strict=True):
            assert len(outcome) == len(task_ids)
            for task_id, status, body in outcome:
                statuses[status] += 1
                if status == 200:
                    assert body["data"]["metrics"]["owner"] == account_id
                    winners[task_id].append(account_id)
                else:
                    assert status == 409, body
                    losers[task_id].append(body)
        assert statuses == {200: len(task_ids), 409: len(task_ids) * (len(users) - 1)}, statuses
        assert sorted(winners) == sorted(task_ids)
        assert all(len(w) == 1 for w in winners.values()), {t: w for t, w in winners.items() if len(w) > 1}

        reader = users[0][2]
        for task_id in task_ids:
            (owner,) = winners[task_id]
            assert all(b["metadata"]["owner"]["_id"] == owner for b in losers[task_id])
            r = reader.get(f"/operations-manager/tasks/{task_id}")
            assert r.status_code == 200, r.text
            assert r.json()["data"]["metrics"]["owner"] == owner
            assert [(c["by"], c["to"]) for c in claim_history(reader, task_id)] == [(owner, owner)]
    finally:
        close_all(users)
