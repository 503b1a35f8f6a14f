"""Use cases of the engine's workers: lease due automatic tasks, record what running them produced.

A lease is at-least-once: a task leased by a process that dies is leased again once `lease_until`
passes (decisions §6: automatic tasks run at least once). The lease time doubles as a fencing token:
a result is recorded only if the task still carries the lease it was run under.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opsmgr.domain.documents import now_ms
from opsmgr.services import progress
from opsmgr.store import jobs as job_store
from opsmgr.store import tasks as task_store
from opsmgr.store.database import Database


@dataclass(frozen=True)
class WorkItem:
    task_id: str
    job_id: str
    task_key: str
    app: str
    name: str
    type: str
    incoming: dict[str, Any]
    job_variables: dict[str, Any]
    task_outputs: dict[str, dict[str, Any]]
    runtime: dict[str, Any]
    lease_until: int


def seconds_until_due(db: Database) -> float | None:
    """Seconds until the next ready task is due (0 if one is due now), None if none is queued."""
    with db.read() as conn:
        due = task_store.next_due(conn)
    return None if due is None else max(0.0, (due - now_ms()) / 1000)


def lease_work(db: Database, server_id: str, lease_seconds: int, limit: int) -> list[WorkItem]:
    now = now_ms()
    lease_until = now + lease_seconds * 1000
    with db.write() as conn:
        rows = task_store.lease_ready(
            conn, now, limit, server_id, lease_until, skip_locked=db.dialect == "postgresql"
        )
        items = []
        for row in rows:
            job = job_store.get_job(conn, row["job_id"])
            assert job is not None
            metrics = {**row["metrics"], "server_id": server_id}
            task_store.update_task(conn, row["id"], {"metrics": metrics})
            items.append(
                WorkItem(
                    task_id=row["id"],
                    job_id=row["job_id"],
                    task_key=row["task_key"],
                    app=row["app"],
                    name=row["name"],
                    type=row["type"],
                    incoming=row["variables"]["incoming"],
                    job_variables=job["variables"],
                    task_outputs=progress.task_outputs(job["progress"]),
                    runtime=row["runtime"] or {},
                    lease_until=lease_until,
                )
            )
    return items


def record_work(
    db: Database,
    item: WorkItem,
    finish_state: str,
    outputs: dict[str, Any],
    error: Any = None,
    job_variables: dict[str, Any] | None = None,
    wait_until: int | None = None,
    runtime: dict[str, Any] | None = None,
    job_description: str | None = None,
) -> bool:
    """Record a task run: either a wait (back to the queue, due later) or its final outcome.

    `job_description`, when set (updateJobDescription), replaces the job's description.

    Returns False when the result was dropped because the lease was lost (canceled, or re-leased).
    """
    now = now_ms()
    queued = False
    with db.write() as conn:
        row = task_store.get_task(conn, item.task_id)
        if row is None or row["queue_state"] != "leased" or row["lease_until"] != item.lease_until:
            return False
        if wait_until is not None:
            task_store.update_task(
                conn,
                item.task_id,
                {"queue_state": "ready", "due_at": wait_until, "lease_until": None, "runtime": runtime,
                 "last_updated": now},
            )
            return True
        variables = {**row["variables"], "outgoing": outputs, "error": error}
        task_store.update_task(
            conn,
            item.task_id,
            {
                "status": "error" if finish_state == "error" else "complete",
                "finish_state": finish_state,
                "variables": variables,
                "end_time": now,
                "last_updated": now,
                "queue_state": None,
                "lease_until": None,
                "runtime": runtime,
            },
        )
        queued = progress.record_outcome(
            conn, item.job_id, item.task_key, finish_state, outputs, error, now, None, job_variables,
            job_description,
        )
    if queued:
        progress.notify_work_queued()
    return True
