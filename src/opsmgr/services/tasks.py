"""Task use cases: read and search task iterations; claim, release, assign and finish manual tasks.

Each write is one transaction whose deciding statement is conditional (`store.tasks.claim_if_unowned`,
`set_owner_if`, `finish_if_owned`). When it reports that the row changed under us (only possible on
PostgreSQL, where writers are not serialized), the rules are applied again to a fresh snapshot, so a
loser learns who won.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opsmgr.domain import manual, search
from opsmgr.domain.access import WRITE, Principal, can_see_job
from opsmgr.domain.documents import history_entry, now_ms, task_document, unstorable
from opsmgr.domain.ids import TERMINATORS, require_object_id, require_task_key, require_uuid
from opsmgr.domain.manual import ClaimDecision, FinishDecision, ManualTaskSnapshot
from opsmgr.errors import Conflict, Invalid, NotFound
from opsmgr.services import dereference, events, progress, secrets
from opsmgr.services.auth import principal_of
from opsmgr.store import accounts as account_store
from opsmgr.store import jobs as job_store
from opsmgr.store import search as compile
from opsmgr.store import tasks as task_store
from opsmgr.store.database import Connection, Database
from opsmgr.store.schema import task as task_table

TASK_FIELDS = search.fields(
    search.Field("_id", "id"),
    search.Field("name", "name"),
    search.Field("app", "app"),
    search.Field("status", "status"),
    search.Field("type", "type"),
    search.Field("location", "location"),
    search.Field("view", "view"),
    search.Field("job._id", "job_id"),
    search.Field("job.task", "task_key"),
    search.Field("metrics.owner", "owner"),
    search.Field("metrics.finish_state", "finish_state"),
    search.Field("metrics.start_time", "start_time", "date"),
    search.Field("metrics.end_time", "end_time", "date"),
    search.Field("metrics.claim_time", "claim_time", "date"),
    search.Field("last_updated", "last_updated", "date"),
    search.Field("groups", "groups", "array"),
    # dotted paths into JSON columns (domain.search: `variables.incoming.x`, `metrics.server_id`)
    search.Field("variables", "variables", "json"),
    search.Field("metrics", "metrics", "json"),
)
RETRIES = 3  # re-decisions after a lost race; each loser sees the winner on its next snapshot


def _visible_row(conn: Connection, caller: Principal, task_id: str) -> tuple[dict[str, Any], list[str]]:
    row = task_store.get_task(conn, task_id)
    groups = job_store.job_groups(conn, row["job_id"]) if row else []
    if row is None or not can_see_job(caller, groups):
        raise NotFound(f"task {task_id} not found")
    return row, groups


def _snapshot(conn: Connection, row: dict[str, Any], job_groups: list[str]) -> ManualTaskSnapshot:
    owner = row["owner"]
    return ManualTaskSnapshot(
        task_id=row["id"],
        type=row["type"],
        status=row["status"],
        owner=owner,
        owner_name=account_store.usernames(conn, [owner]).get(owner) if owner else None,
        groups=tuple(row["groups"] or ()),
        job_groups=tuple(job_groups),
    )


def get_task(
    db: Database, caller: Principal, task_id: str, params: Iterable[tuple[str, str]] = ()
) -> dict[str, Any]:
    require_uuid(task_id, "id")
    projection = search.parse_projection(params, dereference.TASK_REFS)
    with db.read() as conn:
        row, _ = _visible_row(conn, caller, task_id)
        doc = dereference.tasks(conn, caller, [row], projection.dereference)[0]
    return search.project(doc, projection.include, projection.exclude)


def search_tasks(
    db: Database, caller: Principal, params: Iterable[tuple[str, str]], view: Any = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A page of the task iterations the caller may see (GBAC in the query: decisions §4, §9); `view` is
    an extra clause of a convenience view (workable, retryable)."""
    query = search.parse(params, TASK_FIELDS, default_sort="name", dereferences=dereference.TASK_REFS)
    where = compile.where_clause(task_table, query) & job_store.visible_clause(
        task_table.c.job_id, None if caller.is_admin else caller.groups
    )
    if view is not None:
        where = where & view
    with db.read() as conn:
        rows, total = task_store.search_tasks(
            conn, where, compile.order_by(task_table, query), query.skip, query.limit
        )
        docs = dereference.tasks(conn, caller, rows, query.dereference)
    docs = [search.project(d, query.include, query.exclude) for d in docs]
    return docs, search.page_metadata(query, total, len(docs))


def workable_tasks(
    db: Database, caller: Principal, params: Iterable[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The caller's inbox: manual tasks waiting for a person that the caller may work (decisions §4 "who
    may work a manual task") and that are unassigned or the caller's own; normal search parameters apply."""
    view = compile.workable_clause(
        caller.account_id, None if caller.is_admin else caller.groups, bool(caller.roles & WRITE)
    )
    return search_tasks(db, caller, params, view)


def retryable_tasks(
    db: Database, caller: Principal, params: Iterable[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Task iterations in `error` of jobs the caller may see; normal search parameters apply."""
    return search_tasks(db, caller, params, task_table.c.status == "error")


def claim_task(db: Database, caller: Principal, task_id: str) -> dict[str, Any]:
    """Make the caller the owner of a waiting manual task: exactly one concurrent claimer wins."""
    require_uuid(task_id, "taskId")
    with db.write() as conn:
        for _ in range(RETRIES):
            row, groups = task_store.task_with_job_groups(conn, task_id)
            if row is None or not can_see_job(caller, groups):
                raise NotFound(f"task {task_id} not found")
            decision = manual.decide_claim(_snapshot(conn, row, groups), caller)
            if decision == ClaimDecision.ALREADY_OWNER:
                return task_document(row)
            now = now_ms()
            if task_store.claim_if_unowned(conn, task_id, caller.account_id, now):
                task_store.append_history(conn, task_id, "claim", caller.account_id, None, caller.account_id, now)
                row.update(owner=caller.account_id, claim_time=now, last_updated=now)
                events.record(conn, "taskClaimed", row["job_id"], row, caller.account_id)
                return task_document(row)
    raise Conflict(f"task {task_id} changed while claiming it; try again")


def release_task(db: Database, caller: Principal, task_id: str) -> dict[str, Any]:
    require_uuid(task_id, "taskId")
    with db.write() as conn:
        for _ in range(RETRIES):
            row, groups = _visible_row(conn, caller, task_id)
            if not manual.decide_release(_snapshot(conn, row, groups), caller):
                return task_document(row)
            now = now_ms()
            if task_store.set_owner_if(conn, task_id, row["owner"], None, now):
                task_store.append_history(conn, task_id, "release", caller.account_id, row["owner"], None, now)
                row.update(owner=None, claim_time=None, last_updated=now)
                events.record(conn, "taskReleased", row["job_id"], row, caller.account_id)
                return task_document(row)
    raise Conflict(f"task {task_id} changed while releasing it; try again")


def assign_task(db: Database, caller: Principal, task_id: str, user_id: str) -> dict[str, Any]:
    require_uuid(task_id, "taskId")
    if not isinstance(user_id, str) or not user_id:
        raise Invalid.problems("userId is required", [{"path": "userId", "message": "required"}])
    with db.write() as conn:
        for _ in range(RETRIES):
            row, groups = _visible_row(conn, caller, task_id)
            target_row = account_store.get_account(conn, user_id)
            if target_row is None or target_row["inactive"]:
                raise Invalid.problems(
                    f"userId {user_id!r} is not an active account", [{"path": "userId", "message": "no such account"}]
                )
            snapshot = _snapshot(conn, row, groups)
            manual.check_assignee(snapshot, principal_of(conn, target_row))
            if row["owner"] == user_id:
                return task_document(row)
            now = now_ms()
            if task_store.set_owner_if(conn, task_id, row["owner"], user_id, now):
                task_store.append_history(conn, task_id, "assign", caller.account_id, row["owner"], user_id, now)
                row.update(owner=user_id, claim_time=now, last_updated=now)
                events.record(conn, "taskAssigned", row["job_id"], row, caller.account_id)
                return task_document(row)
    raise Conflict(f"task {task_id} changed while assigning it; try again")


def _waiting_iteration(conn: Connection, caller: Principal, job_id: str, task_key: str) -> str:
    """The id of the iteration of `task_key` in `job_id` that a finish applies to."""
    job = job_store.get_job(conn, job_id)
    if job is None or not can_see_job(caller, job_store.job_groups(conn, job_id)):
        raise NotFound(f"job {job_id} not found")
    if task_key not in job["workflow"]["tasks"]:
        raise NotFound(f"job {job_id} has no task {task_key}")
    if task_key in TERMINATORS:
        raise Conflict(f"{task_key} of job {job_id} is not a manual task", {"type": task_key})
    latest = task_store.latest_iteration(conn, job_id, task_key)
    if latest is None:
        raise Conflict(f"task {task_key} of job {job_id} has not been reached yet", {"status": "incomplete"})
    return str(latest["id"])


def finish_task(
    db: Database,
    caller: Principal,
    finish_state: object,
    variables: dict[str, Any],
    task_id: str | None = None,
    job_id: str | None = None,
    task_key: str | None = None,
) -> dict[str, Any]:
    """Work a manual task: record its outcome and move the job on (decisions §5)."""
    state = manual.parse_finish_state(finish_state)
    problems = unstorable(variables, "taskData.variables")
    if problems:
        raise Invalid.problems(f"{problems[0]['path']}: {problems[0]['message']}", problems)
    if task_id is not None:
        require_uuid(task_id, "taskId")
    else:
        require_object_id(job_id or "", "jobId")
        require_task_key(task_key or "", "taskId")
    queued = False
    with db.write() as conn:
        if task_id is None:
            assert job_id is not None and task_key is not None
            task_id = _waiting_iteration(conn, caller, job_id, task_key)
        for _ in range(RETRIES):
            row, groups = _visible_row(conn, caller, task_id)
            decision = manual.decide_finish(_snapshot(conn, row, groups), caller)
            now = now_ms()
            owner = row["owner"]
            if decision == FinishDecision.CLAIM_AND_FINISH:
                if not task_store.claim_if_unowned(conn, task_id, caller.account_id, now):
                    continue
                task_store.append_history(conn, task_id, "claim", caller.account_id, None, caller.account_id, now)
                owner = caller.account_id
                row["claim_time"] = now
                events.record(conn, "taskClaimed", row["job_id"], {**row, "owner": owner}, caller.account_id)
            # values at the task's decorators' pointers are encrypted before they are stored (decisions §7)
            task_vars = secrets.seal_task_variables(
                {**row["variables"], "outgoing": dict(variables)}, row["job_id"], task_id
            )
            outgoing = task_vars["outgoing"]
            values = {
                "status": "complete" if state != "error" else "error",
                "finish_state": state.value,
                "end_time": now,
                "last_updated": now,
                "variables": task_vars,
            }
            if not task_store.finish_if_owned(conn, task_id, owner, values):
                continue
            task_store.append_history(
                conn, task_id, "finish", caller.account_id, owner, owner, now, {"finish_state": state.value}
            )
            events.record(conn, events.task_topic(state.value), row["job_id"], {**row, **values, "owner": owner},
                          caller.account_id)
            queued = progress.record_outcome(
                conn, row["job_id"], row["task_key"], state.value, outgoing,
                outgoing.get("error") if state == "error" else None, now, caller.account_id,
            )
            row.update(values, owner=owner)
            result = task_document(row)
            break
        else:
            raise Conflict(f"task {task_id} changed while finishing it; try again")
    if queued:
        progress.notify_work_queued()
    return result


def task_history(db: Database, caller: Principal, task_id: str) -> list[dict[str, Any]]:
    require_uuid(task_id, "taskId")
    with db.read() as conn:
        _visible_row(conn, caller, task_id)
        rows = task_store.history(conn, task_id)
        names = account_store.usernames(conn, [r["by"] for r in rows])
    return [history_entry(r, names) for r in rows]
