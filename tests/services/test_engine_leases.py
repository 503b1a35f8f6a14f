"""Work-queue leases (decisions §6: automatic tasks run at least once; nothing recorded twice)."""

from __future__ import annotations

import time

from opsmgr.engine.registry import default_registry
from opsmgr.services import auth, engine, jobs, workflows
from tests.helpers import task, workflow


def one_stub_workflow() -> dict:
    stub = task("stub", type="success", response="done")
    stub["variables"]["outgoing"] = {"response": "$var.job.result"}
    return workflow("one stub", {"a": stub}, {"workflow_start": {"a": "success"}, "a": {"workflow_end": "success"}})


def test_a_task_whose_worker_died_is_leased_again_and_the_stale_result_is_dropped(db) -> None:
    known = default_registry().known()
    admin = auth.system_principal(db)
    workflows.create_workflow(db, admin, one_stub_workflow(), known)
    job = jobs.start_job(db, admin, "one stub", None, "automation", {}, [], known)

    [first] = engine.lease_work(db, "node-a", lease_seconds=1, limit=8)  # node-a dies holding it
    assert engine.lease_work(db, "node-b", lease_seconds=1, limit=8) == []  # still leased
    wait = engine.seconds_until_due(db)
    assert wait is not None and wait <= 1.0  # the expiry is a due time: idle workers wake for it

    time.sleep(1.05)
    [again] = engine.lease_work(db, "node-b", lease_seconds=60, limit=8)
    assert again.task_id == first.task_id
    # node-a's late result no longer holds the lease: dropped, not recorded twice
    assert engine.record_work(db, first, "success", {"response": "late"}) is False
    assert engine.record_work(db, again, "success", {"response": "done"}) is True
    done = jobs.get_job(db, admin, job["_id"])
    assert done["status"] == "complete"
    assert done["variables"]["result"] == "done"


def test_a_paused_job_has_nothing_due(db) -> None:
    known = default_registry().known()
    admin = auth.system_principal(db)
    workflows.create_workflow(db, admin, one_stub_workflow(), known)
    job = jobs.start_job(db, admin, "one stub", None, "automation", {}, [], known)
    assert engine.seconds_until_due(db) == 0
    jobs.pause_jobs(db, admin, [job["_id"]])
    assert engine.seconds_until_due(db) is None
    assert engine.lease_work(db, "node-a", lease_seconds=60, limit=8) == []
