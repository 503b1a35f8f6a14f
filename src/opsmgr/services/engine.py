"""Use cases of the engine's workers: lease due automatic tasks, record what running them produced.

A lease is at-least-once: a task leased by a process that dies is leased again once `lease_until`
passes (decisions §6: automatic tasks run at least once). The lease time doubles as a fencing token:
a result is recorded only if the task still carries the lease it was run under.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opsmgr.domain import retry
from opsmgr.domain.documents import now_ms
from opsmgr.services import events, large_data, progress, secrets
from opsmgr.store import accounts as account_store
from opsmgr.store import jobs as job_store
from opsmgr.store import tasks as task_store
from opsmgr.store.database import Connection, Database

log = logging.getLogger("opsmgr.engine")


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
    actor: dict[str, Any] | None = None  # who the task runs as: {"_id", "username"} (its `actor`)
    actor_error: str | None = None  # why its `actor` names nobody; the task then ends in error


# a pure task run again on fresh job variables: (finish_state, outputs, error, job_variables), or None
Recompute = Callable[[dict[str, Any]], "tuple[str, dict[str, Any], Any, dict[str, Any] | None] | None"]


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
        failed = False
        for row in rows:
            job = job_store.get_job(conn, row["job_id"])
            assert job is not None
            large_data.resolve_job(conn, job)  # tasks get full values
            try:
                # decrypted just in time, for the task only: the rows keep the encrypted values
                incoming = secrets.open_all(row["variables"]["incoming"], row["job_id"])
                job_variables = secrets.open_all(job["variables"], row["job_id"])
                outputs = secrets.open_all(progress.task_outputs(job["progress"]), row["job_id"])
            except (secrets.SecretError, secrets.KeyFileError) as exc:
                failed = _fail_undecryptable(conn, row, exc.message, now) or failed
                continue
            actor, actor_error = resolve_actor(conn, job, row["task_key"])
            metrics = {**row["metrics"], "server_id": server_id}
            if actor is not None:
                metrics["user"] = actor["_id"]
            task_store.update_task(conn, row["id"], {"metrics": metrics})
            items.append(
                WorkItem(
                    task_id=row["id"],
                    job_id=row["job_id"],
                    task_key=row["task_key"],
                    app=row["app"],
                    name=row["name"],
                    type=row["type"],
                    incoming=incoming,
                    job_variables=job_variables,
                    task_outputs=outputs,
                    runtime=row["runtime"] or {},
                    lease_until=lease_until,
                    actor=actor,
                    actor_error=actor_error,
                )
            )
    if failed:
        progress.notify_work_queued()
    return items


def _fail_undecryptable(conn: Connection, row: dict[str, Any], message: str, now: int) -> bool:
    """A leased task whose encrypted values cannot be decrypted ends in error at once, saying why (its
    error transition, if any, is followed). True if work was queued."""
    error = {"message": f"cannot run task {row['task_key']}: {message}", "type": "DecryptionError"}
    log.warning("task %s of job %s: %s", row["task_key"], row["job_id"], error["message"])
    task_store.update_task(
        conn,
        row["id"],
        {"status": "error", "finish_state": "error", "variables": {**row["variables"], "error": error},
         "end_time": now, "last_updated": now, "queue_state": None, "lease_until": None},
    )
    events.record(conn, "taskError", row["job_id"], {**row, "finish_state": "error"})
    return progress.record_outcome(conn, row["job_id"], row["task_key"], "error", {}, error, now, None)


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
    recompute: Recompute | None = None,
) -> bool:
    """Record a task run: either a wait (back to the queue, due later) or its final outcome.

    `job_description`, when set (updateJobDescription), replaces the job's description.

    `recompute`, given for a pure task that rewrites job variables (push, pop, shift), runs it again on the
    job variables as they are now, under the job's lock: the values it ran on were read at lease time, and
    another task of the job may have changed them since (two parallel pushes must both land).

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
        if recompute is not None:
            progress.lock_ancestors(conn, item.job_id)
            job = job_store.get_job(conn, item.job_id, for_update=True)
            if job is not None:
                large_data.resolve_job(conn, job)
                again = recompute(secrets.open_all(job["variables"], item.job_id))
                if again is not None:
                    finish_state, outputs, error, job_variables = again
        # outgoing values at the task's decorators' pointers are encrypted before anything is stored, and a
        # secret that leaked into the task's error text is masked (decisions §7)
        error = secrets.redact(error)
        variables = secrets.seal_task_variables(
            {**row["variables"], "outgoing": outputs, "error": error}, item.job_id, item.task_id
        )
        outputs = variables["outgoing"]
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
        events.record(conn, events.task_topic(finish_state), item.job_id, {**row, "finish_state": finish_state})
        progress.lock_ancestors(conn, item.job_id)  # a child job's parent is locked before the child
        if _retry(conn, item, row, finish_state, now):
            queued = True  # its retrySettings ask for another run instead of a transition
        else:
            queued = progress.record_outcome(
                conn, item.job_id, item.task_key, finish_state, outputs, error, now, None, job_variables,
                job_description,
            )
    if queued:
        progress.notify_work_queued()
    return True


def _retry(conn: Connection, item: WorkItem, row: dict[str, Any], finish_state: str, now: int) -> bool:
    """Queue a new iteration of the task if its `retrySettings` ask for one (domain.retry); True if queued.

    The new iteration carries `metrics.retrying` and waits in the queue until `delay` ms have passed,
    holding no worker. A job that is neither running nor paused settles the outcome as usual.
    """
    job = job_store.get_job(conn, item.job_id, for_update=True)
    if job is None or job["status"] not in ("running", "paused"):
        return False
    definition = job["workflow"]["tasks"].get(item.task_key) or {}
    made = int((row["metrics"] or {}).get("retries") or 0)
    delay = retry.retry_delay(definition.get("retrySettings"), finish_state, made)
    if delay is None:
        return False
    full = dict(job)  # the new iteration's incoming takes full values; the job row keeps its references
    large_data.resolve_job(conn, full)
    iteration = progress.new_iteration(full, item.task_key, now)
    iteration["metrics"] = {**iteration["metrics"], "retrying": True, "retries": made + 1}
    iteration["due_at"] = now + delay
    task_store.insert_tasks(conn, [iteration])
    entry = dict(job["progress"].get(item.task_key) or {})
    entry["iterations"] = [*entry.get("iterations", []), iteration["id"]]
    entry["status"] = iteration["status"]
    job_store.update_job(conn, item.job_id, {"progress": {**job["progress"], item.task_key: entry},
                                            "last_updated": now})
    return True


SYSTEM_ACTOR = "Pronghorn"  # the platform itself: our system principal, the `admin` account
JOB_ACTOR = "job"  # the user who started the job


def resolve_actor(
    conn: Connection, job: dict[str, Any], task_key: str
) -> tuple[dict[str, Any] | None, str | None]:
    """Who task `task_key` of `job` runs as, from its `actor` (workflow-semantics §1.2, §3.5).

    `Pronghorn` is the system (the `admin` account), `job` (or no actor) the job's initiator, and the key
    of a manual task the person who finished its latest iteration. Returns `({"_id", "username"}, None)`,
    or `(None, message)` when the actor names nobody.
    """
    tasks = job["workflow"]["tasks"]
    actor = (tasks.get(task_key) or {}).get("actor")
    if actor in (None, "", JOB_ACTOR):
        account_id = job["created_by"]
    elif actor == SYSTEM_ACTOR:
        admin = account_store.account_by_username(conn, "admin")
        if admin is None:
            return {"_id": None, "username": SYSTEM_ACTOR}, None
        account_id = admin["id"]
    else:
        source = tasks.get(actor) if isinstance(actor, str) else None
        if source is None or source.get("type") != "manual":
            return None, (f"actor {actor!r} of task {task_key} is not Pronghorn, job or the key of a manual task "
                          "of this workflow")
        account_id = _finisher(conn, job["progress"].get(actor) or {})
        if account_id is None:
            return None, f"actor {actor!r} of task {task_key}: manual task {actor} has not been worked yet"
    name = account_store.usernames(conn, [account_id]).get(account_id) if account_id else None
    return {"_id": account_id, "username": name}, None


def _finisher(conn: Connection, entry: dict[str, Any]) -> str | None:
    """The account that finished the latest finished iteration of a manual task, if any."""
    for task_id in reversed(entry.get("iterations") or []):
        row = task_store.get_task(conn, task_id)
        if row is None or row["finish_state"] is None:
            continue
        finishes = [h for h in task_store.history(conn, task_id) if h["action"] == "finish"]
        return finishes[-1]["by"] if finishes else row["owner"]
    return None
