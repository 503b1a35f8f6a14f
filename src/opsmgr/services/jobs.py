"""Job use cases: start a job from a workflow, read one, search them, and the job controls (cancel,
pause, resume, watch, groups, retry, continue, revert, delete, manual-task controller)."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from typing import Any

from opsmgr.domain import pointers, search
from opsmgr.domain.access import Principal, can_see_job
from opsmgr.domain.documents import job_document, masked_task_variables, now_ms, unstorable
from opsmgr.domain.ids import is_object_id, new_object_id, require_object_id, require_task_key
from opsmgr.domain.jobflow import JobFlow, Step
from opsmgr.domain.states import JobStatus, TaskStatus, job_transition
from opsmgr.domain.workflow import START, Graph, validate
from opsmgr.errors import Conflict, Invalid, NotFound
from opsmgr.services import dereference, events, large_data, progress, secrets
from opsmgr.store import accounts as account_store
from opsmgr.store import jobs as job_store
from opsmgr.store import search as compile
from opsmgr.store import tasks as task_store
from opsmgr.store import workflows as workflow_store
from opsmgr.store.database import Connection, Database
from opsmgr.store.schema import job as job_table

JOB_FIELDS = search.fields(
    search.Field("_id", "id"),
    search.Field("name", "name"),
    search.Field("description", "description", text_search=True),  # contains = word/phrase search
    search.Field("status", "status"),
    search.Field("type", "type"),
    search.Field("metrics.start_time", "start_time", "date"),
    search.Field("metrics.end_time", "end_time", "date"),
    search.Field("metrics.user", "created_by"),
    search.Field("created", "created", "date"),
    search.Field("last_updated", "last_updated", "date"),
    search.Field("created_by", "created_by"),
    search.Field("last_updated_by", "last_updated_by"),
    search.Field("groups", "id", "groups"),
    search.Field("watchers", "watchers", "array"),
    search.Field("ancestors", "ancestors", "array"),
    # dotted paths into JSON columns (domain.search): `variables.a.b`, `parent.job`
    search.Field("variables", "variables", "json"),
    search.Field("parent", "parent", "json"),
)


def start_job(
    db: Database,
    caller: Principal,
    workflow_name: str,
    description: str | None,
    job_type: str,
    variables: dict[str, Any],
    groups: list[str],
    known_tasks: Collection[tuple[str, str]],
    trigger: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Start a job of the named workflow; the job takes a snapshot of the workflow (decisions §6).
    `trigger` ({automationId, triggerId, type, triggeredBy}) records the trigger that started it."""
    bad = [g for g in groups if not is_object_id(g)]
    if bad:
        raise Invalid.problems(
            f"options.groups must hold 24-hex group ids; not: {', '.join(map(str, bad))}",
            [{"path": "options.groups", "message": f"not a group id: {g}"} for g in bad],
        )
    problems = unstorable({"description": description, "variables": variables}, "options")
    if problems:
        raise Invalid.problems(f"{problems[0]['path']}: {problems[0]['message']}", problems)
    now = now_ms()
    with db.write() as conn:
        wf = None if "\x00" in workflow_name else workflow_store.workflow_by_name(conn, workflow_name)
        if wf is None:
            raise Invalid.problems(
                f"no workflow named {workflow_name!r}", [{"path": "workflow", "message": "no such workflow"}]
            )
        missing = set(groups) - account_store.existing_group_ids(conn, groups)
        if missing:
            raise Invalid.problems(
                f"unknown group ids in options.groups: {', '.join(sorted(missing))}",
                [{"path": "options.groups", "message": f"no such group: {g}"} for g in sorted(missing)],
            )
        document = wf["document"]
        problems = validate(document, known_tasks) or _decorator_problems(document)
        if problems:
            raise Invalid.problems(f"workflow {workflow_name!r} cannot run: it has problems", problems)
        job = new_job(document, wf["name"], description, job_type, variables, caller.account_id, caller.username,
                      now, trigger=trigger)
        flow = JobFlow.new(Graph.of(document))
        step = flow.start()
        job["visibility"] = job_store.visibility_key(groups)  # its iterations carry it (store.tasks.insert_tasks)
        job_store.insert_job(conn, large_data.stored_row(conn, job), groups)
        events.record(conn, "jobStarted", job, by=caller.account_id)
        queued = progress.apply_step(conn, job, flow, step, now)
        progress.save_job(conn, job, now, caller.account_id)
    if queued:
        progress.notify_work_queued()
    return job_document(job, list(dict.fromkeys(groups)))


def new_job(
    document: dict[str, Any],
    name: str,
    description: str | None,
    job_type: str,
    variables: dict[str, Any],
    created_by: str | None,
    initiator: str | None,
    now: int,
    trigger: dict[str, Any] | None = None,
    parent: dict[str, Any] | None = None,
    ancestors: list[str] | None = None,
) -> dict[str, Any]:
    """A new running job row of `document` (not stored), with its variables and literals encrypted.

    A root job has `ancestors == [self]` and no `parent`; a child job (childJob) gets its parent's
    `ancestors` plus itself and `parent = {job, task, iteration, element}`."""
    job_id = new_object_id()
    job: dict[str, Any] = {
        "id": job_id,
        "name": name,
        "description": description,
        "type": job_type,
        "status": JobStatus.RUNNING.value,
        "workflow": {k: v for k, v in document.items() if k not in ("_id", "errors", "warnings")},
        "variables": {**variables, "_id": job_id, "initiator": initiator},
        "progress": {},
        "error": None,
        "watchers": [],
        "ancestors": [*(ancestors or []), job_id],
        "parent": parent,
        "created": now,
        "created_by": created_by,
        "last_updated": now,
        "last_updated_by": created_by,
        "start_time": now,
        "end_time": None,
        "initiator": initiator,
        "trigger": trigger,
    }
    # encrypted before anything is stored (decisions §7)
    job["variables"] = secrets.seal_job_variables(job)
    job["workflow"] = secrets.seal_workflow_literals(job)
    return job


def _decorator_problems(document: dict[str, Any]) -> list[dict[str, str]]:
    """Encryption decorators whose pointer is not an RFC 6901 pointer: a job must not start unable to
    protect what they name."""
    problems = pointers.check_decorators(document.get("decorators"), "decorators")
    for key, definition in (document.get("tasks") or {}).items():
        declared = definition.get("variables") if isinstance(definition, dict) else None
        if isinstance(declared, dict):
            problems += pointers.check_decorators(declared.get("decorators"), f"tasks.{key}.variables.decorators")
    return problems


def get_job(
    db: Database, caller: Principal, job_id: str, params: Iterable[tuple[str, str]] = ()
) -> dict[str, Any]:
    require_object_id(job_id, "id")
    projection = search.parse_projection(params, dereference.JOB_REFS)
    with db.read() as conn:
        job = job_store.get_job(conn, job_id)
        groups = job_store.job_groups(conn, job_id) if job else []
        if job is None or not can_see_job(caller, groups):
            raise NotFound(f"job {job_id} not found")
        doc = dereference.jobs(conn, [job], {job_id: groups}, projection.dereference)[0]
    return search.project(doc, projection.include, projection.exclude)


def search_jobs(
    db: Database, caller: Principal, params: Iterable[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    query = search.parse(params, JOB_FIELDS, default_sort="name", dereferences=dereference.JOB_REFS)
    where = compile.where_clause(job_table, query) & job_store.visible_clause(
        job_table.c.id, None if caller.is_admin else caller.groups
    )
    with db.read() as conn:
        rows, total = job_store.search_jobs(conn, where, compile.order_by(job_table, query), query.skip, query.limit)
        groups = job_store.groups_of_jobs(conn, [r["id"] for r in rows])
        docs = dereference.jobs(conn, rows, groups, query.dereference)
    docs = [search.project(d, query.include, query.exclude) for d in docs]
    return docs, search.page_metadata(query, total, len(docs))


# job controls (issue #3, ops-manager-api §5.1-5.2, decisions §6) ------------------------------------------
#
# Every control reads the job row FOR UPDATE, checks that the caller may see it (else 404, or a per-job
# `success: false` in the bulk routes), moves statuses only through domain.states, and writes in the one
# transaction of the use case.

CANCELABLE = (JobStatus.RUNNING, JobStatus.PAUSED, JobStatus.ERROR)
DELETABLE = (JobStatus.COMPLETE, JobStatus.CANCELED)
DATA_COLLECTIONS = ("jobs", "tasks", "jobHistory", "jobData", "jobDataLargeFiles")


def _locked_job(conn: Connection, caller: Principal, job_id: str) -> tuple[dict[str, Any], list[str]]:
    """The job row (locked for the transaction) and its groups; NotFound when unknown or invisible."""
    job = job_store.get_job(conn, job_id, for_update=True)
    groups = job_store.job_groups(conn, job_id) if job else []
    if job is None or not can_see_job(caller, groups):
        raise NotFound(f"job {job_id} not found")
    job["progress"] = {k: dict(v) for k, v in job["progress"].items()}
    job["variables"] = dict(job["variables"])
    return job, groups


def _result(job_id: str, success: bool, message: str) -> dict[str, Any]:
    return {"_id": job_id, "success": success, "message": message}


def _bulk(
    db: Database, caller: Principal, job_ids: list[str], action: Callable[[Connection, dict[str, Any], int], str]
) -> list[dict[str, Any]]:
    """Apply `action` to each job in one transaction; a job that is unknown, invisible or in the wrong
    state gets `success: false` with the reason and the others go on. Jobs are locked in id order (no
    deadlock between two bulk calls), results come back in the request's order."""
    ids = list(dict.fromkeys(job_ids))
    for i, job_id in enumerate(ids):
        require_object_id(job_id, f"jobIds.{i}")
    results: dict[str, dict[str, Any]] = {}
    now = now_ms()
    with db.write() as conn:
        for job_id in sorted(ids):
            try:
                job, _ = _locked_job(conn, caller, job_id)
                results[job_id] = _result(job_id, True, action(conn, job, now))
            except (NotFound, Conflict) as exc:
                results[job_id] = _result(job_id, False, exc.message)
    return [results[i] for i in ids]


def cancel_locked(conn: Connection, job: dict[str, Any], now: int, by: str | None) -> str:
    """Cancel a job row read FOR UPDATE, with its child jobs (see `_cancel`)."""
    job["progress"] = {k: dict(v) for k, v in job["progress"].items()}
    job["variables"] = dict(job["variables"])
    return _cancel(conn, job, now, by)


def _cancel(conn: Connection, job: dict[str, Any], now: int, by: str | None) -> str:
    """The job and its child jobs (any depth) that are still active become canceled, and so do their
    unfinished task iterations (waiting manual tasks, queued or running automatic ones)."""
    before = job["status"]
    job["status"] = job_transition(job["status"], JobStatus.CANCELED).value
    children = [c for c in job_store.descendants(conn, job["id"], for_update=True) if c["status"] in CANCELABLE]
    for child in children:
        child["progress"] = {k: dict(v) for k, v in child["progress"].items()}
        child["status"] = job_transition(child["status"], JobStatus.CANCELED).value
    family = [job, *children]
    progress.cancel_iterations(conn, family, now)
    for member in family:
        member["end_time"] = now
        progress.save_job(conn, member, now, by)
    # a child job canceled on its own: its parent's childJob task ends in error (workflow-semantics §2.7)
    if progress.job_ended(conn, job, before, now):
        progress.notify_work_queued()
    return "Job canceled" + (f" with {len(children)} child job(s)" if children else "")


def cancel_jobs(db: Database, caller: Principal, job_ids: list[str]) -> list[dict[str, Any]]:
    """cancelJobs: each running, paused or errored job becomes `canceled` with its child jobs (jobs whose
    `ancestors` hold it) and every unfinished task iteration of them. Per job `{_id, success, message}`."""
    return _bulk(db, caller, job_ids, lambda conn, job, now: _cancel(conn, job, now, caller.account_id))


def _pause(conn: Connection, job: dict[str, Any], now: int, by: str) -> str:
    job["status"] = job_transition(job["status"], JobStatus.PAUSED).value
    progress.save_job(conn, job, now, by)
    return "Job paused"


def pause_jobs(db: Database, caller: Principal, job_ids: list[str]) -> list[dict[str, Any]]:
    """pauseJobs: a running job becomes `paused`. It starts no new task: automatic tasks queued but not
    started stay queued (workers skip them), running ones finish, manual tasks stay workable. Outcomes
    that arrive while paused are recorded and settled on resume. Child jobs are not paused."""
    return _bulk(db, caller, job_ids, lambda conn, job, now: _pause(conn, job, now, caller.account_id))


def _reactivate(conn: Connection, job: dict[str, Any], flow: JobFlow, now: int) -> tuple[bool, list[str]]:
    """Bring a paused or errored job back to `running` and settle the outcomes recorded meanwhile.

    A task that ended in error with no error transition while the job was paused stops it again: the
    job goes to `error` (its `job.error` entry was written when the outcome arrived) and nothing new
    starts. Returns (work was queued, the keys of such tasks)."""
    job["status"] = job_transition(job["status"], JobStatus.RUNNING).value
    stops = sorted(k for k, e in job["progress"].items() if e.pop("stops_job", False))
    if stops:
        job["status"] = job_transition(job["status"], JobStatus.ERROR).value
        progress.apply_step(conn, job, flow, Step(), now)
        return False, stops
    return progress.apply_step(conn, job, flow, flow.settle(), now), []


def _resume(conn: Connection, job: dict[str, Any], now: int, by: str) -> str:
    if job["status"] != JobStatus.PAUSED:
        raise Conflict(f"job {job['id']} is {job['status']}; only a paused job can be resumed")
    large_data.resolve_job(conn, job)  # tasks it starts read full values
    flow = JobFlow.restore(Graph.of(job["workflow"]), job["progress"])
    _, stops = _reactivate(conn, job, flow, now)
    progress.save_job(conn, job, now, by)
    if stops:
        return f"Job resumed, then stopped: task(s) {', '.join(stops)} ended in error while it was paused"
    return "Job resumed"


def resume_jobs(db: Database, caller: Principal, job_ids: list[str]) -> list[dict[str, Any]]:
    """resumeJobs: a paused job becomes `running` again; outcomes recorded while it was paused are settled
    (the tasks they lead to start), and its queued automatic tasks become leasable again."""
    results = _bulk(db, caller, job_ids, lambda conn, job, now: _resume(conn, job, now, caller.account_id))
    if any(r["success"] for r in results):
        progress.notify_work_queued()
    return results


# watchers ---------------------------------------------------------------------------------------------


def _set_watchers(conn: Connection, job: dict[str, Any], watchers: list[str], now: int, by: str) -> None:
    job["watchers"] = list(dict.fromkeys(watchers))
    job_store.update_job(conn, job["id"], {"watchers": job["watchers"], "last_updated": now, "last_updated_by": by})


def _watch(conn: Connection, job: dict[str, Any], now: int, caller: Principal, watch: bool) -> str:
    me = caller.account_id
    watching = me in job["watchers"]
    if watch and not watching:
        _set_watchers(conn, job, [*job["watchers"], me], now, me)
    elif not watch and watching:
        _set_watchers(conn, job, [w for w in job["watchers"] if w != me], now, me)
    return ("Watching job" if watch else "Not watching job") + (" (no change)" if watching == watch else "")


def watch_jobs(db: Database, caller: Principal, job_ids: list[str], watch: bool) -> list[dict[str, Any]]:
    """watchJobs / unwatchJobs: add the caller's account id to (or remove it from) each job's `watchers`,
    in any job state; idempotent. Per job `{_id, success, message}`."""
    return _bulk(db, caller, job_ids, lambda conn, job, now: _watch(conn, job, now, caller, watch))


def watch_job(db: Database, caller: Principal, job_id: str, watch: bool) -> dict[str, Any]:
    """watchJob / unwatchJob for one job: `{_id, watchers}` after the change."""
    require_object_id(job_id, "jobId")
    with db.write() as conn:
        job, _ = _locked_job(conn, caller, job_id)
        _watch(conn, job, now_ms(), caller, watch)
    return {"_id": job_id, "watchers": job["watchers"]}


def add_watchers(db: Database, caller: Principal, job_id: str, user_ids: list[str]) -> dict[str, Any]:
    """addWatchersToJob: add existing accounts to `watchers` (an unknown account id is a 400)."""
    require_object_id(job_id, "jobId")
    with db.write() as conn:
        job, _ = _locked_job(conn, caller, job_id)
        known = account_store.usernames(conn, user_ids)
        missing = [u for u in dict.fromkeys(user_ids) if u not in known]
        if missing:
            raise Invalid.problems(
                f"unknown user ids in userIds: {', '.join(missing)}",
                [{"path": "userIds", "message": f"no such account: {u}"} for u in missing],
            )
        _set_watchers(conn, job, [*job["watchers"], *user_ids], now_ms(), caller.account_id)
    return {"_id": job_id, "watchers": job["watchers"]}


# job groups (GBAC) -------------------------------------------------------------------------------------


def _check_groups(conn: Connection, groups: list[str], path: str) -> None:
    missing = [g for g in dict.fromkeys(groups) if g not in account_store.existing_group_ids(conn, groups)]
    if missing:
        raise Invalid.problems(
            f"unknown group ids in {path}: {', '.join(missing)}",
            [{"path": path, "message": f"no such group: {g}"} for g in missing],
        )


def _change_groups(
    db: Database, caller: Principal, job_id: str, change: Callable[[Connection, list[str]], list[str]]
) -> dict[str, Any]:
    require_object_id(job_id, "jobId")
    with db.write() as conn:
        _, groups = _locked_job(conn, caller, job_id)
        new = list(dict.fromkeys(change(conn, groups)))
        if new != groups:
            job_store.set_job_groups(conn, job_id, new)
            job_store.update_job(conn, job_id, {"last_updated": now_ms(), "last_updated_by": caller.account_id})
    return {"_id": job_id, "groups": new}


def add_job_group(db: Database, caller: Principal, job_id: str, group_id: str) -> dict[str, Any]:
    """addJobGroup: append an existing group to the job's groups (idempotent). `{_id, groups}`."""
    def change(conn: Connection, groups: list[str]) -> list[str]:
        _check_groups(conn, [group_id], "groupId")
        return [*groups, group_id]

    return _change_groups(db, caller, job_id, change)


def replace_job_groups(db: Database, caller: Principal, job_id: str, groups: list[str]) -> dict[str, Any]:
    """replaceJobGroups: the job's groups become `groups` (each must exist). `{_id, groups}`."""
    def change(conn: Connection, _: list[str]) -> list[str]:
        _check_groups(conn, groups, "groups")
        return groups

    return _change_groups(db, caller, job_id, change)


def delete_job_groups(db: Database, caller: Principal, job_id: str) -> dict[str, Any]:
    """deleteJobGroups: the job has no groups any more (visible to every reader, decisions §4)."""
    return _change_groups(db, caller, job_id, lambda conn, groups: [])


def delete_job_group(db: Database, caller: Principal, job_id: str, group_id: str) -> dict[str, Any]:
    """deleteJobGroup: remove one group from the job; 404 when the job does not have it."""
    require_object_id(group_id, "groupId")

    def change(conn: Connection, groups: list[str]) -> list[str]:
        if group_id not in groups:
            raise NotFound(f"job {job_id} has no group {group_id}")
        return [g for g in groups if g != group_id]

    return _change_groups(db, caller, job_id, change)


# retry, continue, revert ----------------------------------------------------------------------------------


def _task_key(job: dict[str, Any], key: str, name: str) -> str:
    require_task_key(key, name)
    if key not in job["workflow"]["tasks"]:
        raise NotFound(f"job {job['id']} has no task {key}", {"parameter": name})
    return key


def _controlled(
    db: Database, caller: Principal, job_id: str, change: Callable[[Connection, dict[str, Any], JobFlow, int], bool]
) -> dict[str, Any]:
    """Shared frame of retry, continue and revert: lock the job, apply `change`, save, wake the engine."""
    require_object_id(job_id, "jobId")
    now = now_ms()
    with db.write() as conn:
        progress.lock_ancestors(conn, job_id)
        job, groups = _locked_job(conn, caller, job_id)
        large_data.resolve_job(conn, job)  # tasks it starts read full values
        before = job["status"]
        flow = JobFlow.restore(Graph.of(job["workflow"]), job["progress"])
        queued = change(conn, job, flow, now)
        progress.save_job(conn, job, now, caller.account_id)
        queued = progress.job_ended(conn, job, before, now) or queued
    if queued:
        progress.notify_work_queued()
    return job_document(job, groups)


def retry_task(
    db: Database, caller: Principal, job_id: str, task_key: str, variables: dict[str, Any] | None
) -> dict[str, Any]:
    """retryTask: run again a task whose latest iteration ended `error` and whose error stopped the job
    (no error transition), in a job that is `error` (or `running`, when another branch was retried
    first). A new iteration starts with the task's incoming variables resolved again, then overridden by
    `variables`; `metrics.retrying` is true on it. The job goes back to `running`; tasks after the retried
    one that had been skipped are decided again; outcomes recorded while the job was in error are
    settled. `job.error` keeps its history. Answers the job."""
    overrides = dict(variables or {})
    problems = unstorable(overrides, "variables")
    if problems:
        raise Invalid.problems(f"{problems[0]['path']}: {problems[0]['message']}", problems)

    def change(conn: Connection, job: dict[str, Any], flow: JobFlow, now: int) -> bool:
        key = _task_key(job, task_key, "taskId")
        if job["status"] not in (JobStatus.ERROR, JobStatus.RUNNING):
            raise Conflict(
                f"job {job_id} is {job['status']}; a task can be retried only in an errored or running job",
                {"status": job["status"]},
            )
        latest = task_store.latest_iteration(conn, job_id, key)
        if latest is None or latest["status"] != TaskStatus.ERROR:
            state = latest["status"] if latest else "not reached"
            raise Conflict(f"task {key} of job {job_id} did not end in error ({state})", {"status": state})
        reopened = flow.retry(key)
        progress.clear_tasks(conn, job, reopened, now)
        job["progress"][key].pop("stops_job", None)
        if job["status"] != JobStatus.RUNNING:
            job["status"] = job_transition(job["status"], JobStatus.RUNNING).value
        if progress.flow_task(job["workflow"]["tasks"][key]):
            return _restart_flow_task(conn, job, flow, key, now)  # childJob, forEach: variables as declared
        row = progress.new_iteration(job, key, now)
        row["variables"]["incoming"] = {**row["variables"]["incoming"], **overrides}
        row["variables"] = secrets.seal_task_variables(row["variables"], job_id, row["id"])
        row["metrics"]["retrying"] = True
        task_store.insert_tasks(conn, [row])
        entry = job["progress"][key]
        entry.update(iterations=[*entry.get("iterations", []), row["id"]], status=row["status"])
        queued = progress.apply_step(conn, job, flow, flow.settle(), now)
        return queued or row["queue_state"] == "ready"

    return _controlled(db, caller, job_id, change)


def _restart_flow_task(conn: Connection, job: dict[str, Any], flow: JobFlow, key: str, now: int) -> bool:
    """Run a childJob or forEach task (active in `flow`) again through the job flow, which starts its
    children or its loop, and settle the rest."""
    step = flow.settle()
    step.start.insert(0, key)
    return progress.apply_step(conn, job, flow, step, now)


def continue_job(db: Database, caller: Principal, job_id: str, from_task: str) -> dict[str, Any]:
    """continueJobFrom: for a job in `error`, follow the transitions out of `fromTask` again with the
    finish state of its last iteration, as if it had just finished. Every task after `fromTask` is cleared
    (its unfinished iterations are canceled) so the chosen successors run again; the job goes back to
    `running`. 409 when the job is not in error, `fromTask` has not finished, or its finish state has no
    transition to follow. Answers the job."""

    def change(conn: Connection, job: dict[str, Any], flow: JobFlow, now: int) -> bool:
        key = _task_key(job, from_task, "fromTask")
        if job["status"] != JobStatus.ERROR:
            raise Conflict(
                f"job {job_id} is {job['status']}; only a job in error can be continued", {"status": job["status"]}
            )
        region, _active = flow.continue_from(key)
        progress.clear_tasks(conn, job, region, now)
        job["status"] = job_transition(job["status"], JobStatus.RUNNING).value
        return progress.apply_step(conn, job, flow, flow.settle(), now)

    return _controlled(db, caller, job_id, change)


def revert_job(db: Database, caller: Principal, job_id: str, from_task: str, to_task: str) -> dict[str, Any]:
    """revertJob: for a `paused` or `error` job, go back from `fromTask` (its last outcome is `error`) to
    `toTask` (an earlier task that completed: `fromTask` must be reachable from it along standard
    transitions; no revert transition is required). As for revert transitions in Workflow Builder, every
    task from `toTask` forward, `toTask` included, is cleared (unfinished iterations canceled, outputs no
    longer used, iterations kept) and `toTask` runs again; the job goes back to `running`. 400 when
    `toTask` is not before `fromTask`; 409 for a job in another state, a `fromTask` that did not end in
    error, a `toTask` that did not complete, or (paused job) another task that ended in error while paused
    outside the reverted part: resume the job first. Answers the job."""

    def change(conn: Connection, job: dict[str, Any], flow: JobFlow, now: int) -> bool:
        source = _task_key(job, from_task, "fromTask")
        target = _task_key(job, to_task, "toTask")
        if job["status"] not in (JobStatus.PAUSED, JobStatus.ERROR):
            raise Conflict(
                f"job {job_id} is {job['status']}; only a paused or errored job can be reverted",
                {"status": job["status"]},
            )
        region, _active = flow.revert(source, target)
        others = sorted(k for k, e in job["progress"].items() if e.get("stops_job") and k not in region)
        if others:
            raise Conflict(
                f"task(s) {', '.join(others)} of job {job_id} ended in error while it was paused; resume the job "
                "(it goes to error) and then revert or retry",
                {"tasks": others},
            )
        progress.clear_tasks(conn, job, region, now)
        job["status"] = job_transition(job["status"], JobStatus.RUNNING).value
        queued = False
        if target != START and progress.flow_task(job["workflow"]["tasks"][target]):
            return _restart_flow_task(conn, job, flow, target, now)
        if target != START:
            rows = progress.start_tasks(conn, job, [target], now)
            queued = rows[0]["queue_state"] == "ready"
        return progress.apply_step(conn, job, flow, flow.settle(), now) or queued

    return _controlled(db, caller, job_id, change)


# delete -------------------------------------------------------------------------------------------------


def _deletion_denial(job: dict[str, Any]) -> str | None:
    if job["ancestors"] != [job["id"]]:
        return f"job {job['id']} is a child job; delete its root job {job['ancestors'][0]}"
    if job["status"] not in DELETABLE:
        return f"job {job['id']} is {job['status']}; only a complete or canceled job can be deleted"
    return None


def _delete_tree(conn: Connection, job: dict[str, Any]) -> dict[str, int]:
    ids = [job["id"], *(c["id"] for c in job_store.descendants(conn, job["id"], for_update=True))]
    tasks, history = task_store.delete_tasks_of_jobs(conn, ids)
    large = large_data.delete_of_jobs(conn, ids)  # no foreign key: they go here, with their jobs
    jobs = job_store.delete_jobs(conn, ids)
    return {"jobs": jobs, "tasks": tasks, "jobHistory": history, "jobData": 0, "jobDataLargeFiles": large}


def delete_job(db: Database, caller: Principal, job_id: str) -> list[dict[str, Any]]:
    """deleteJob: a root job (`ancestors == [self]`) that is `complete` or `canceled` is deleted with its
    child jobs, their task iterations and the iterations' history. Answers one `{collection,
    deletedCount}` per collection (`jobData` is always 0: opsmgr keeps job variables on the job row;
    `jobDataLargeFiles` counts the large values stored aside, services.large_data). 409 for a child job
    or a job in another state."""
    require_object_id(job_id, "jobId")
    with db.write() as conn:
        job, _ = _locked_job(conn, caller, job_id)
        denial = _deletion_denial(job)
        if denial:
            raise Conflict(denial, {"status": job["status"]})
        counts = _delete_tree(conn, job)
    return [{"collection": c, "deletedCount": counts[c]} for c in DATA_COLLECTIONS]


def delete_jobs(db: Database, caller: Principal, job_ids: list[str]) -> dict[str, Any]:
    """deleteJobs / bulk-delete: delete each qualifying root job as deleteJob does, skipping the others.
    Answers the totals (`jobsDeleted`, `tasksDeleted`, `jobHistoryDeleted`, `jobDataDeleted`,
    `jobDataLargeFilesDeleted`) and `results`, one `{_id, success, message}` per requested job."""
    totals = dict.fromkeys(DATA_COLLECTIONS, 0)

    def delete(conn: Connection, job: dict[str, Any], now: int) -> str:
        denial = _deletion_denial(job)
        if denial:
            raise Conflict(denial)
        counts = _delete_tree(conn, job)
        for name, n in counts.items():
            totals[name] += n
        return f"Deleted {counts['jobs']} job(s) and {counts['tasks']} task(s)"

    results = _bulk(db, caller, job_ids, delete)
    return {**{f"{c}Deleted": totals[c] for c in DATA_COLLECTIONS}, "results": results}


# manual task controller ------------------------------------------------------------------------------------


def manual_controller(db: Database, caller: Principal, job_id: str, task_key: str) -> dict[str, Any]:
    """getManualTaskController: for a manual task of the job, the latest iteration's variables
    (`incoming`, `outgoing`, `error` as a string, `decorators`), its `finish_state` (null while it waits)
    and `TaskController`, the name of the dialog controller: the last part of the task's view (or its
    method name) followed by `Controller`, e.g. `ViewDataController`. 409 for a task that is not manual
    or has not been reached yet."""
    require_object_id(job_id, "jobId")
    require_task_key(task_key, "taskId")
    with db.read() as conn:
        job = job_store.get_job(conn, job_id)
        if job is None or not can_see_job(caller, job_store.job_groups(conn, job_id)):
            raise NotFound(f"job {job_id} not found")
        definition = job["workflow"]["tasks"].get(task_key)
        if definition is None:
            raise NotFound(f"job {job_id} has no task {task_key}", {"parameter": "taskId"})
        if definition.get("type") != "manual":
            raise Conflict(f"task {task_key} of job {job_id} is not a manual task", {"type": definition.get("type")})
        latest = task_store.latest_iteration(conn, job_id, task_key)
    if latest is None:
        raise Conflict(f"task {task_key} of job {job_id} has not been reached yet", {"status": "incomplete"})
    variables = masked_task_variables(latest["variables"] or {})
    error = variables.get("error")
    view = definition.get("view") or ""
    name = view.rstrip("/").rsplit("/", 1)[-1] or definition.get("name") or task_key
    return {
        "variables": {
            "incoming": variables.get("incoming") or {},
            "outgoing": variables.get("outgoing") or {},
            "error": error if isinstance(error, str) else ("" if error is None else json.dumps(error)),
            "decorators": variables.get("decorators") or [],
        },
        "finish_state": latest["finish_state"],
        "TaskController": f"{name}Controller",
    }
