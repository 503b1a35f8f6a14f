"""`dereference` of search answers (ops-manager-api §4.6): expand references in a page of documents.

Tasks: `job` (the full job), `child-job-output` (a childJob task's child jobs' variables at
`variables.outgoing.job_details.output`, or `.loop` for a loop), `accounts.metrics.owner` (the owner's
account). Jobs: `tasks` (each task's `iterations` ids become task documents), `accounts.createdBy`
(`created_by` becomes the account). Each kind is one batch read for the whole page, never one per
document, and only what the caller may see is expanded (a child job in a group the caller is not in
stays an id). Encrypted values stay masked: documents are built by domain.documents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opsmgr.domain.access import Principal, can_see_job
from opsmgr.domain.documents import job_document, task_document
from opsmgr.store import jobs as job_store
from opsmgr.store import search as store
from opsmgr.store.database import Connection

TASK_REFS = ("job", "child-job-output", "accounts.metrics.owner")
JOB_REFS = ("tasks", "accounts.createdBy")


def _accounts(conn: Connection, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Account summaries as Itential expands a user reference (no secrets)."""
    return {
        i: {
            "_id": r["id"],
            "provenance": r["provenance"],
            "username": r["username"],
            "firstname": r["firstname"],
            "email": r["email"],
            "inactive": r["inactive"],
            "memberOf": [{"groupId": g, "aaaManaged": False} for g in r["group_ids"]],
        }
        for i, r in store.accounts_by_ids(conn, ids).items()
    }


def _visible_jobs(conn: Connection, caller: Principal, ids: list[str]) -> dict[str, dict[str, Any]]:
    rows = store.jobs_by_ids(conn, ids)
    groups = job_store.groups_of_jobs(conn, list(rows))
    return {i: job_document(r, groups[i]) for i, r in rows.items() if can_see_job(caller, groups[i])}


def _child_output(runtime: Mapping[str, Any], children: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    ids = [c for c in runtime.get("children") or [] if c]
    if runtime.get("loopType"):
        loop = [{**children[c]["variables"], "_id": c, "status": children[c]["status"], "childJobLoopIndex": i}
                for i, c in enumerate(ids) if c in children]
        return {"loop": loop}
    child = children.get(ids[0]) if ids else None
    if child is None:
        return {}
    return {"_id": child["_id"], "status": child["status"], "output": child["variables"]}


def tasks(
    conn: Connection, caller: Principal, rows: Sequence[Mapping[str, Any]], refs: Sequence[str]
) -> list[dict[str, Any]]:
    """Task documents for `rows`, with `refs` expanded."""
    docs = [task_document(r) for r in rows]
    if "job" in refs:
        found = _visible_jobs(conn, caller, [r["job_id"] for r in rows])
        for doc, row in zip(docs, rows, strict=True):
            if row["job_id"] in found:
                doc["job"] = found[row["job_id"]]
    if "child-job-output" in refs:
        runtimes = [r["runtime"] if isinstance(r.get("runtime"), Mapping) else {} for r in rows]
        children = _visible_jobs(conn, caller, [c for rt in runtimes for c in rt.get("children") or [] if c])
        for doc, runtime in zip(docs, runtimes, strict=True):
            if runtime.get("children"):
                variables = dict(doc["variables"])
                outgoing = dict(variables.get("outgoing") or {})
                outgoing["job_details"] = {**(outgoing.get("job_details") or {}), **_child_output(runtime, children)}
                variables["outgoing"] = outgoing
                doc["variables"] = variables
    if "accounts.metrics.owner" in refs:
        accounts = _accounts(conn, [r["owner"] for r in rows if r["owner"]])
        for doc, row in zip(docs, rows, strict=True):
            if row["owner"] in accounts:
                doc["metrics"]["owner"] = accounts[row["owner"]]
    return docs


def jobs(
    conn: Connection, rows: Sequence[Mapping[str, Any]], groups: Mapping[str, list[str]], refs: Sequence[str]
) -> list[dict[str, Any]]:
    """Job documents for `rows` (already visible to the caller), with `refs` expanded."""
    docs = [job_document(r, groups[r["id"]]) for r in rows]
    if "tasks" in refs:
        ids = [i for d in docs for t in d["tasks"].values() for i in t["iterations"]]
        found = store.tasks_by_ids(conn, ids)
        for doc in docs:
            for entry in doc["tasks"].values():
                entry["iterations"] = [task_document(found[i]) for i in entry["iterations"] if i in found]
    if "accounts.createdBy" in refs:
        accounts = _accounts(conn, [r["created_by"] for r in rows if r["created_by"]])
        for doc, row in zip(docs, rows, strict=True):
            if row["created_by"] in accounts:
                doc["created_by"] = accounts[row["created_by"]]
    return docs
