"""Job use cases: start a job from a workflow, read one, search them."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from opsmgr.domain import search
from opsmgr.domain.access import Principal, can_see_job
from opsmgr.domain.documents import job_document, now_ms, unstorable
from opsmgr.domain.ids import is_object_id, new_object_id, require_object_id
from opsmgr.domain.jobflow import JobFlow
from opsmgr.domain.states import JobStatus
from opsmgr.domain.workflow import Graph, validate
from opsmgr.errors import Invalid, NotFound
from opsmgr.services import progress
from opsmgr.store import accounts as account_store
from opsmgr.store import jobs as job_store
from opsmgr.store import search as compile
from opsmgr.store import workflows as workflow_store
from opsmgr.store.database import Database
from opsmgr.store.schema import job as job_table

JOB_FIELDS = {
    f.name: f
    for f in (
        search.Field("_id", "id"),
        search.Field("name", "name"),
        search.Field("description", "description"),
        search.Field("status", "status"),
        search.Field("type", "type"),
        search.Field("metrics.start_time", "start_time", "date"),
        search.Field("metrics.end_time", "end_time", "date"),
        search.Field("created", "created", "date"),
        search.Field("last_updated", "last_updated", "date"),
        search.Field("created_by", "created_by"),
    )
}


def start_job(
    db: Database,
    caller: Principal,
    workflow_name: str,
    description: str | None,
    job_type: str,
    variables: dict[str, Any],
    groups: list[str],
    known_tasks: Collection[tuple[str, str]],
) -> dict[str, Any]:
    """Start a job of the named workflow; the job takes a snapshot of the workflow (decisions §6)."""
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
        problems = validate(document, known_tasks)
        if problems:
            raise Invalid.problems(f"workflow {workflow_name!r} cannot run: it has problems", problems)
        job_id = new_object_id()
        job: dict[str, Any] = {
            "id": job_id,
            "name": wf["name"],
            "description": description,
            "type": job_type,
            "status": JobStatus.RUNNING.value,
            "workflow": {k: v for k, v in document.items() if k not in ("_id", "errors", "warnings")},
            "variables": {**variables, "_id": job_id, "initiator": caller.username},
            "progress": {},
            "error": None,
            "watchers": [],
            "ancestors": [job_id],
            "parent": None,
            "created": now,
            "created_by": caller.account_id,
            "last_updated": now,
            "last_updated_by": caller.account_id,
            "start_time": now,
            "end_time": None,
            "initiator": caller.username,
        }
        flow = JobFlow.new(Graph.of(document))
        step = flow.start()
        job_store.insert_job(conn, job, groups)
        queued = progress.apply_step(conn, job, flow, step, now)
        progress.save_job(conn, job, now, caller.account_id)
    if queued:
        progress.notify_work_queued()
    return job_document(job, list(dict.fromkeys(groups)))


def get_job(
    db: Database, caller: Principal, job_id: str, params: Iterable[tuple[str, str]] = ()
) -> dict[str, Any]:
    require_object_id(job_id, "id")
    projection = search.parse_projection(params)
    with db.read() as conn:
        job = job_store.get_job(conn, job_id)
        groups = job_store.job_groups(conn, job_id) if job else []
    if job is None or not can_see_job(caller, groups):
        raise NotFound(f"job {job_id} not found")
    return search.project(job_document(job, groups), projection.include, projection.exclude)


def search_jobs(
    db: Database, caller: Principal, params: Iterable[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    query = search.parse(params, JOB_FIELDS, default_sort="name")
    where = compile.where_clause(job_table, query) & job_store.visible_clause(
        job_table.c.id, None if caller.is_admin else caller.groups
    )
    with db.read() as conn:
        rows, total = job_store.search_jobs(conn, where, compile.order_by(job_table, query), query.skip, query.limit)
        groups = job_store.groups_of_jobs(conn, [r["id"] for r in rows])
    docs = [search.project(job_document(r, groups[r["id"]]), query.include, query.exclude) for r in rows]
    return docs, search.page_metadata(query, total, len(docs))
