"""The `childJob` task (workflow-semantics §2.7, §3.6): start child jobs and finish when they have ended.

A childJob task is run by the job flow itself, never by a worker: when it becomes ready
(`progress.apply_step`), its child jobs are created in the same transaction and its iteration stays
`running` (never leased). When a child job reaches `complete`, `error` or `canceled`
(`progress.job_ended`), the parent's iteration is looked up from the child's `parent`
`{job, task, iteration, element}`; once every child has ended, the childJob task's outcome is applied
to the parent job in that same transaction. Nothing waits in memory: the children's ids, and for a
sequential loop the variables of the children still to start, are kept on the iteration (`runtime`).

Incoming: `workflow` (name), `variables: {childVar: {task, value}}` (`task` is `job`, `static` or a task
key), `data_array`, `loopType` (`""` one child, `parallel`, `sequential`). Outgoing `job_details`:

- one child: `{_id, status, variables}` where `variables` are the child's job variables;
- a loop: `{loop: [{status, childJobLoopIndex, _id, ...child job variables}]}`, in `data_array` order.

The task succeeds when every child completed. A child in `error` or `canceled` makes it end in `error`
(its error transition is followed), with `job_details` as above in its outgoing variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsmgr.domain.jobflow import JobFlow
from opsmgr.domain.states import JobStatus
from opsmgr.domain.workflow import Graph
from opsmgr.services import events, large_data, progress
from opsmgr.store import jobs as job_store
from opsmgr.store import tasks as task_store
from opsmgr.store import workflows as workflow_store
from opsmgr.store.database import Connection

LOOP_TYPES = ("", "parallel", "sequential")


def _reference(ref: Any, job: Mapping[str, Any], outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """A `{task, value}` reference (`variable` is accepted too); anything else is taken as it is."""
    if not isinstance(ref, Mapping) or "task" not in ref:
        return ref
    name = ref.get("value", ref.get("variable"))
    source = ref.get("task")
    if source == "static":
        return name
    if source == "job":
        return job["variables"].get(str(name))
    return (outputs.get(str(source)) or {}).get(str(name))


def _error(message: str, **extra: Any) -> progress.InlineResult:
    return progress.InlineResult("error", dict(extra), {"message": message, **extra})


def start_children(
    conn: Connection, job: dict[str, Any], row: dict[str, Any], iteration: int, now: int,
    budget: list[int] | None = None,
) -> tuple[progress.InlineResult | None, bool]:
    """Start the child jobs of the childJob iteration `row` (not stored yet; `iteration` is its index among
    the task's iterations). Returns (the task's result if it can finish at once, work was queued). The
children's pure tasks share the parent transaction's inline `budget`."""
    key = row["task_key"]
    incoming = row["variables"]["incoming"]
    name = incoming.get("workflow")
    loop_type = incoming.get("loopType") or ""
    if not isinstance(name, str) or not name:
        return _error(f"childJob {key}: workflow must be the name of a workflow, got {name!r}"), False
    if loop_type not in LOOP_TYPES:
        return _error(f"childJob {key}: loopType must be one of '', parallel, sequential; got {loop_type!r}"), False
    if "\x00" in name or workflow_store.workflow_by_name(conn, name) is None:
        return _error(f"childJob {key}: no workflow named {name!r}"), False
    declared = incoming.get("variables") or {}
    if not isinstance(declared, Mapping):
        return _error(f"childJob {key}: variables must be an object of {{task, value}} references"), False
    outputs = progress.task_outputs(job["progress"])
    base = {str(k): _reference(v, job, outputs) for k, v in declared.items()}
    if loop_type:
        items = incoming.get("data_array")
        if items is None:
            items = []
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            return _error(f"childJob {key}: with loopType {loop_type!r}, data_array must be an array of objects"), False
        pending = [{**base, **item} for item in items]
    else:
        pending = [base]
    row["runtime"] = {"workflow": name, "loopType": loop_type, "children": [], "pending": pending,
                      "iteration": iteration}
    if loop_type != "sequential":  # one child, or all of them at once
        queued = False
        for _ in range(len(pending)):
            queued = _start_next(conn, job, row, budget) or queued
        result, more = _advance(conn, job, row, budget)
        return result, queued or more
    return _advance(conn, job, row, budget)


def _start_next(conn: Connection, parent: dict[str, Any], row: dict[str, Any], budget: list[int] | None) -> bool:
    """Create and start the next pending child job of `row`; True if it queued work."""
    runtime = row["runtime"]
    variables = runtime["pending"].pop(0)
    element = len(runtime["children"]) if runtime["loopType"] else None
    wf = workflow_store.workflow_by_name(conn, runtime["workflow"])
    now = row["last_updated"]
    if wf is None:  # deleted meanwhile: nothing to start (the task ends in error, see _advance)
        runtime["children"].append(None)
        return False
    from opsmgr.services.jobs import new_job  # jobs uses progress, which uses this module

    child = new_job(
        wf["document"], wf["name"], None, parent["type"], variables, parent["created_by"], parent["initiator"],
        now, parent={"job": parent["id"], "task": row["task_key"], "iteration": runtime["iteration"],
                     "element": element},
        ancestors=list(parent["ancestors"]),
    )
    runtime["children"].append(child["id"])
    groups = job_store.job_groups(conn, parent["id"])
    child["visibility"] = job_store.visibility_key(groups)  # its iterations carry it (store.tasks.insert_tasks)
    job_store.insert_job(conn, large_data.stored_row(conn, child), groups)
    events.record(conn, "jobStarted", child, by=parent["created_by"])  # payload job.parent names the parent
    flow = JobFlow.new(Graph.of(wf["document"]))
    queued = progress.apply_step(conn, child, flow, flow.start(), now, budget)
    progress.save_job(conn, child, now, parent["created_by"])
    return queued


def _advance(
    conn: Connection, parent: dict[str, Any], row: dict[str, Any], budget: list[int] | None = None
) -> tuple[progress.InlineResult | None, bool]:
    """Where the children of `row` stand: start the next one of a sequential loop when the previous one
    ended; the task's result once all have ended, else None. Also returns whether work was queued."""
    runtime = row["runtime"]
    queued = False
    while True:
        children = [job_store.get_job(conn, c) if c else None for c in runtime["children"]]
        if any(c is not None and c["status"] not in progress.FINAL_JOB_STATUSES for c in children):
            return None, queued
        if runtime["pending"]:
            queued = _start_next(conn, parent, row, budget) or queued
            continue
        large_data.resolve_jobs(conn, children)  # job_details carries the children's full variables
        return _result(row, children), queued


def _details(child: Mapping[str, Any]) -> dict[str, Any]:
    return {"_id": child["id"], "status": child["status"], "variables": child["variables"]}


def _result(row: Mapping[str, Any], children: list[dict[str, Any] | None]) -> progress.InlineResult:
    runtime = row["runtime"]
    name = runtime["workflow"]
    if any(c is None for c in children):
        return _error(f"childJob {row['task_key']}: no workflow named {name!r}")
    ended = [c for c in children if c is not None]
    if runtime["loopType"]:
        loop = [{**c["variables"], "_id": c["id"], "status": c["status"], "childJobLoopIndex": i}
                for i, c in enumerate(ended)]
        details: dict[str, Any] = {"loop": loop}
        failed = [f"{i} ({c['status']})" for i, c in enumerate(ended) if c["status"] != JobStatus.COMPLETE]
        if failed:
            return _error(f"childJob {row['task_key']}: child jobs of workflow {name!r} did not complete: "
                          + ", ".join(failed), job_details=details)
        return progress.InlineResult("success", {"job_details": details})
    if not ended:
        return _error(f"childJob {row['task_key']}: no child job was started")
    child = ended[0]
    details = _details(child)
    if child["status"] == JobStatus.COMPLETE:
        return progress.InlineResult("success", {"job_details": details})
    how = "was canceled" if child["status"] == JobStatus.CANCELED else "ended in error"
    return _error(f"child job {child['id']} of workflow {name!r} {how}", job_details=details)


def child_ended(conn: Connection, child: dict[str, Any], now: int) -> bool:
    """Child job `child` (saved) just ended: move its parent's childJob task on. True if work was queued."""
    link = child["parent"]
    parent = job_store.get_job(conn, link["job"], for_update=True)
    if parent is None:
        return False
    iterations = (parent["progress"].get(link["task"]) or {}).get("iterations") or []
    index = link.get("iteration")
    if not isinstance(index, int) or not 0 <= index < len(iterations):
        return False
    row = task_store.get_task(conn, iterations[index])
    if row is None or row["status"] != "running" or not isinstance(row.get("runtime"), dict):
        return False  # already finished, or canceled with its job
    row["runtime"] = {**row["runtime"], "children": list(row["runtime"]["children"]),
                      "pending": list(row["runtime"]["pending"])}
    row["last_updated"] = now
    parent["progress"] = {k: dict(v) for k, v in parent["progress"].items()}
    parent["variables"] = dict(parent["variables"])
    result, queued = _advance(conn, parent, row)
    if result is None:
        task_store.update_task(conn, row["id"], {"runtime": row["runtime"], "last_updated": now})
        return queued
    progress.finish_row(parent, row, result, now)
    task_store.update_task(conn, row["id"], {k: row[k] for k in (
        "variables", "status", "finish_state", "end_time", "last_updated", "queue_state", "due_at", "runtime")})
    events.tasks_finished(conn, parent, [row])
    return progress.record_on(conn, parent, link["task"], result.finish_state, row["variables"]["outgoing"],
                              result.error, now, None) or queued


def cancel_children(conn: Connection, job: Mapping[str, Any], task_ids: list[str], now: int) -> int:
    """Cancel the child jobs (with theirs) of childJob iterations of `job` that were just canceled (the
    job completed while they waited, or a continue/revert cleared them). Returns how many were canceled."""
    canceled = set(task_ids)
    if not canceled:
        return 0
    from opsmgr.services.jobs import CANCELABLE, cancel_locked

    count = 0
    for child in job_store.descendants(conn, job["id"], for_update=True):
        link = child.get("parent") or {}
        if link.get("job") != job["id"] or child["status"] not in CANCELABLE:
            continue
        iterations = (job["progress"].get(link.get("task")) or {}).get("iterations") or []
        index = link.get("iteration")
        if isinstance(index, int) and 0 <= index < len(iterations) and iterations[index] in canceled:
            current = job_store.get_job(conn, child["id"], for_update=True)  # a sibling's cascade may have run
            if current is not None and current["status"] in CANCELABLE:
                cancel_locked(conn, current, now, None)
                count += 1
    return count
