"""Applying task outcomes to jobs: the one place where JobFlow decisions are written to the store.

Used by manual finishes (services.tasks) and by the engine (services.engine), always inside the
caller's transaction. The job row is read FOR UPDATE, so outcomes of parallel branches of one job are
applied one after the other on PostgreSQL (SQLite serializes every write transaction anyway).

`job.progress` keeps, per task key: `phase` and `finish_state` (for JobFlow), `status` (as shown),
`iterations` (ids of its task documents), `outgoing` and `error` (for `$var.<key>.x` references).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opsmgr.domain.ids import new_uuid
from opsmgr.domain.jobflow import JobFlow, Phase, Step
from opsmgr.domain.states import JobStatus, TaskStatus, job_transition, task_transition
from opsmgr.domain.variables import job_target, parse_reference, promote, resolve_incoming
from opsmgr.domain.workflow import Graph
from opsmgr.errors import Invalid, NotFound
from opsmgr.services import events, large_data, secrets
from opsmgr.store import jobs as job_store
from opsmgr.store import tasks as task_store
from opsmgr.store.database import Connection

_listeners: list[Callable[[], None]] = []


def on_work_queued(listener: Callable[[], None]) -> Callable[[], None]:
    """Register a callback run after new automatic work was queued (the engine's wake-up)."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def notify_work_queued() -> None:
    for listener in list(_listeners):
        listener()


@dataclass(frozen=True)
class InlineResult:
    """What a task run inline produced (the fields of the engine's Outcome that services apply)."""

    finish_state: str
    outputs: dict[str, Any]
    error: Any = None
    job_variables: dict[str, Any] | None = None
    job_description: str | None = None
    server_id: str | None = None  # the node that ran it (metrics.server_id)


# (task row, job) -> result, or None when the task cannot finish right now (it must wait, or it is not
# a pure task): then it goes through the work queue as usual
InlineRunner = Callable[[Mapping[str, Any], Mapping[str, Any]], InlineResult | None]
INLINE_BUDGET = 100  # tasks run inline per transaction; the rest of a long chain continues via the queue
_inline: list[InlineRunner] = []


def use_inline_runner(runner: InlineRunner) -> Callable[[], None]:
    """Let pure tasks that become ready run inside the transaction that made them ready (ADR 0008).

    The engine registers its runner while it runs; a process without engine workers queues everything."""
    _inline.append(runner)
    return lambda: _inline.remove(runner)


def _inline_candidate(job: Mapping[str, Any], definition: Mapping[str, Any]) -> bool:
    """Manual tasks, tasks that retry by themselves and anything touching encrypted values never run inline."""
    if not _inline or definition.get("type") == "manual":
        return False
    if (definition.get("retrySettings") or {}).get("autoRetry"):
        return False
    declared = definition.get("variables") or {}
    return not job["workflow"].get("decorators") and not declared.get("decorators")


def task_outputs(progress: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What `$var.<taskKey>.<name>` can see: each task's outgoing variables plus its `error`."""
    return {k: {**(v.get("outgoing") or {}), "error": v.get("error")} for k, v in progress.items()}


def _merge_progress(flow: JobFlow, progress: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key, state in flow.snapshot().items():
        entry = dict(progress.get(key, {}))
        if "loop" not in state:
            entry.pop("loop", None)
        entry.update(state)
        if state["phase"] == Phase.SKIPPED:
            entry["status"] = TaskStatus.INCOMPLETE.value
        merged[key] = entry
    return merged


def new_iteration(job: Mapping[str, Any], key: str, now: int) -> dict[str, Any]:
    """A task document row for one execution of task `key` of `job`, with incoming resolved."""
    definition = job["workflow"]["tasks"][key]
    declared = definition.get("variables") or {}
    row_id = new_uuid()
    manual = definition.get("type") == "manual"
    variables = {
        "incoming": _resolve(declared.get("incoming") or {}, job),
        "outgoing": {name: None for name in (declared.get("outgoing") or {})},
        "decorators": list(declared.get("decorators") or []),
        "error": None,
    }
    row = {
        "id": row_id,
        "job_id": job["id"],
        "task_key": key,
        "name": definition.get("name", key),
        "app": definition.get("app", "WorkFlowEngine"),
        "type": definition.get("type") or "automatic",
        "status": TaskStatus.RUNNING.value if manual else TaskStatus.SCHEDULED.value,
        "location": definition.get("location") or "Application",
        "view": definition.get("view") if manual else None,
        "owner": None,
        "groups": list(definition.get("groups") or []),
        # a value that came from an encrypted variable is still encrypted; the task's decorators add theirs
        "variables": secrets.seal_task_variables(variables, job["id"], row_id),
        "metrics": {"user": job["created_by"], "server_id": None, "retrying": False},
        "start_time": now,
        "claim_time": None,
        "end_time": None,
        "finish_state": None,
        "last_updated": now,
        "queue_state": None if manual else "ready",
        "due_at": None if manual else now,
        "lease_until": None,
        "runtime": None,
    }
    if "visibility" in job:  # the job row's access key (store.jobs), so inserting needs no lookup
        row["visibility"] = job["visibility"]
    return row


def _resolve(declared: Mapping[str, Any], job: Mapping[str, Any]) -> dict[str, Any]:
    """The incoming values of a task. Encrypted job variables and task outputs come through as they are
    stored (still encrypted); a `#/pointer` into an encrypted value takes the part and encrypts it again."""
    outputs = task_outputs(job["progress"])
    incoming = resolve_incoming(declared, job["variables"], outputs)
    for name, value in declared.items():
        ref = parse_reference(value) if isinstance(value, str) else None
        if ref is None or ref[2] is None:
            continue
        source, variable, pointer = ref[0], ref[1], ref[2]
        found = (job["variables"] if source == "job" else outputs.get(source, {})).get(variable)
        try:
            incoming[name] = secrets.pick(found, pointer, job["id"])
        except (secrets.SecretError, secrets.KeyFileError):
            incoming[name] = found  # still encrypted: the task fails when it is leased, saying why
        except Invalid:
            pass  # not an RFC 6901 pointer: as resolved above
    return incoming


def start_tasks(conn: Connection, job: dict[str, Any], keys: list[str], now: int) -> list[dict[str, Any]]:
    """Create the iterations of `keys` and note them in `job['progress']` (not yet saved)."""
    rows = [new_iteration(job, key, now) for key in keys]
    for row in rows:
        _note_iteration(job, row)
    task_store.insert_tasks(conn, rows)
    return rows


def _note_iteration(job: dict[str, Any], row: Mapping[str, Any]) -> None:
    entry = job["progress"].setdefault(row["task_key"], {})
    entry["iterations"] = [*entry.get("iterations", []), row["id"]]
    entry["status"] = row["status"]


ENGINE_APP = "WorkFlowEngine"
CHILD_JOB, FOR_EACH = "childJob", "forEach"
FINAL_JOB_STATUSES = (JobStatus.COMPLETE.value, JobStatus.ERROR.value, JobStatus.CANCELED.value)


def flow_task(definition: Mapping[str, Any]) -> str | None:
    """`childJob` or `forEach` when the task is run by the job flow itself rather than by a worker."""
    if definition.get("app", ENGINE_APP) != ENGINE_APP or definition.get("type") == "manual":
        return None
    name = definition.get("name")
    return name if name in (CHILD_JOB, FOR_EACH) else None


def finish_row(job: Mapping[str, Any], row: dict[str, Any], result: InlineResult, now: int) -> None:
    """Turn an iteration row (in memory) into its finished form."""
    row["variables"] = secrets.seal_task_variables(
        {**row["variables"], "outgoing": dict(result.outputs), "error": result.error}, job["id"], row["id"]
    )
    row.update(
        status=TaskStatus.ERROR.value if result.finish_state == "error" else TaskStatus.COMPLETE.value,
        finish_state=result.finish_state, end_time=now, last_updated=now, queue_state=None, due_at=None,
    )


def _waiting(row: dict[str, Any]) -> None:
    """The iteration waits for the job flow (its children, its loop): running, never leased."""
    row.update(status=TaskStatus.RUNNING.value, queue_state=None, due_at=None)


def _run_inline(conn: Connection, job: dict[str, Any], row: dict[str, Any], now: int) -> InlineResult | None:
    """Run a ready task now if it is pure; on success the row is turned into its finished form."""
    definition = job["workflow"]["tasks"][row["task_key"]]
    if not _inline_candidate(job, definition):
        return None
    if definition.get("actor") not in (None, "", "job"):  # it runs as someone else: record who
        from opsmgr.services.engine import resolve_actor  # the engine's use cases build on this module

        actor, _why = resolve_actor(conn, job, row["task_key"])
        if actor is None:
            return None  # the queue ends it in error, saying why (services.engine)
        row["metrics"] = {**row["metrics"], "user": actor["_id"]}
    result = _inline[-1](row, job)
    if result is None:
        return None
    error = secrets.redact(result.error)
    row["variables"] = secrets.seal_task_variables(
        {**row["variables"], "outgoing": result.outputs, "error": error}, job["id"], row["id"]
    )
    row["metrics"] = {**row["metrics"], "server_id": result.server_id}
    row.update(
        status=TaskStatus.ERROR.value if result.finish_state == "error" else TaskStatus.COMPLETE.value,
        finish_state=result.finish_state, end_time=now, last_updated=now, queue_state=None, due_at=None,
    )
    return InlineResult(result.finish_state, row["variables"]["outgoing"], error, result.job_variables,
                        result.job_description)


def cancel_iterations(
    conn: Connection, jobs: list[dict[str, Any]], now: int, keys: Iterable[str] | None = None
) -> list[dict[str, Any]]:
    """Cancel the unfinished iterations of `jobs` (of task `keys` only, if given) through the task state
    machine, and show them canceled in each job's progress (not saved here). Returns the canceled rows."""
    by_id = {j["id"]: j for j in jobs}
    waiting = task_store.waiting_iterations(conn, list(by_id), keys)
    for row in waiting:
        task_transition(row["status"], TaskStatus.CANCELED)
    task_store.cancel_iterations(conn, [r["id"] for r in waiting], now)
    for row in waiting:
        entry = by_id[row["job_id"]]["progress"].setdefault(row["task_key"], {})
        if row["id"] in entry.get("iterations", []):
            entry["status"] = TaskStatus.CANCELED.value
    return waiting


def clear_tasks(conn: Connection, job: dict[str, Any], keys: Iterable[str], now: int) -> None:
    """Clear tasks a revert goes back over (a revert transition or the revert control): their unfinished
    iterations are canceled (with the child jobs of a waiting childJob), they show `incomplete`, and their
    outputs are no longer visible to `$var.<key>` (the iterations keep them: data is saved, not used)."""
    from opsmgr.services import childjobs  # childjobs uses this module

    keys = list(keys)
    canceled = cancel_iterations(conn, [job], now, keys)
    childjobs.cancel_children(conn, job, [r["id"] for r in canceled], now)
    for key in keys:
        entry = job["progress"].setdefault(key, {})
        entry.update(status=TaskStatus.INCOMPLETE.value, outgoing={}, error=None)
        entry.pop("stops_job", None)


def apply_step(
    conn: Connection, job: dict[str, Any], flow: JobFlow, step: Step, now: int, budget: list[int] | None = None
) -> bool:
    with events.batch(conn):  # the events of a chain of inline tasks: one insert
        return _apply_step(conn, job, flow, step, now, budget)


def _apply_step(
    conn: Connection, job: dict[str, Any], flow: JobFlow, step: Step, now: int, budget: list[int] | None = None
) -> bool:
    """Start the tasks a step asks for, or end the job; returns True if automatic work was queued.

    The step was just computed for a running job. Pure tasks it makes ready run inline (ADR 0008; at
    most INLINE_BUDGET per transaction, shared through `budget`), and each of their outcomes is applied
    at once, in order, exactly as if it had been recorded in a transaction of its own: the step it leads
    to is handled before the next outcome is applied."""
    from opsmgr.services import childjobs  # childjobs uses this module

    budget = budget if budget is not None else [INLINE_BUDGET]
    queued = False
    finished: list[tuple[str, InlineResult]] = []
    loops: list[tuple[str, dict[str, Any]]] = []
    if step.cleared:
        clear_tasks(conn, job, step.cleared, now)
    for loop_key, index in step.passes:
        _set_current_item(job, loop_key, index)
    if step.start:
        rows = []
        for key in step.start:
            row = new_iteration(job, key, now)
            kind = flow_task(job["workflow"]["tasks"][key])
            result: InlineResult | None = None
            if kind == CHILD_JOB:
                _waiting(row)
                iteration = len((job["progress"].get(key) or {}).get("iterations") or [])
                result, started = childjobs.start_children(conn, job, row, iteration, now, budget)
                queued = queued or started
                if result is not None:
                    finish_row(job, row, result, now)
            elif kind == FOR_EACH:
                _waiting(row)
                loops.append((key, row))
            elif budget[0] > 0:
                result = _run_inline(conn, job, row, now)
                if result is not None:
                    budget[0] -= 1
            if result is not None:
                finished.append((key, result))
            _note_iteration(job, row)
            rows.append(row)
        task_store.insert_tasks(conn, rows)
        events.tasks_finished(conn, job, rows)  # those run inline or ended at once: one insert
        queued = queued or any(r["queue_state"] == "ready" for r in rows)
    if step.complete:
        job["status"] = job_transition(job["status"], JobStatus.COMPLETE).value
        job["end_time"] = now
        # branches still waiting can no longer matter once workflow_end ran
        canceled = task_store.cancel_waiting(conn, job["id"], now)
        for task_id in canceled:
            _note_canceled(job, task_id)
        childjobs.cancel_children(conn, job, canceled, now)
    elif step.error:
        job["status"] = job_transition(job["status"], JobStatus.ERROR).value
        job["error"] = [*(job["error"] or []), {"task": "job", "message": step.error, "timestamp": now}]
    job["progress"] = _merge_progress(flow, job["progress"])
    if step.complete:
        job["progress"]["workflow_end"]["status"] = TaskStatus.COMPLETE.value
    for loop_key in step.loops_done:
        _end_loop(conn, job, loop_key, now)
    for key, row in loops:
        items = row["variables"]["incoming"].get("data_array")
        if not isinstance(items, list):
            result = InlineResult("error", {}, {"message": f"forEach {key}: data_array must be an array, "
                                                           f"got {type(items).__name__}"})
            finish_row(job, row, result, now)
            task_store.update_task(conn, row["id"], {k: row[k] for k in (
                "variables", "status", "finish_state", "end_time", "last_updated", "queue_state", "due_at")})
            events.tasks_finished(conn, job, [row])
            finished.append((key, result))
            continue
        job["progress"][key]["loop_items"] = items
        queued = apply_step(conn, job, flow, flow.begin_loop(key, len(items)), now, budget) or queued
    for key, result in finished:
        follow = _apply_outcome(job, flow, key, result.finish_state, result.outputs, result.error, now,
                                result.job_variables, result.job_description)
        if follow is not None:
            queued = apply_step(conn, job, flow, follow, now, budget) or queued
    return queued


def _set_current_item(job: dict[str, Any], key: str, index: int) -> None:
    """A forEach pass begins: its `current_item` is the item's value (for `$var.<forEach>.current_item`
    inside the body, and for a job variable its outgoing names)."""
    entry = job["progress"].setdefault(key, {})
    items = entry.get("loop_items") or []
    item = items[index] if 0 <= index < len(items) else None
    entry["outgoing"] = {"current_item": item}
    declared = job["workflow"]["tasks"][key].get("variables") or {}
    promoted = promote(declared.get("outgoing") or {}, {"current_item": item})
    if promoted:
        job["variables"] = {**job["variables"], **promoted}
        job["variables"] = secrets.seal_job_variables(job)


def _end_loop(conn: Connection, job: dict[str, Any], key: str, now: int) -> None:
    """A forEach finished its last pass (or had nothing to loop over): its iteration completes."""
    entry = job["progress"].setdefault(key, {})
    entry.update(status=TaskStatus.COMPLETE.value, finish_state="success", error=None)
    entry.setdefault("outgoing", {"current_item": None})
    iterations = entry.get("iterations") or []
    if not iterations:
        return
    row = task_store.get_task(conn, iterations[-1])
    if row is None or row["status"] != TaskStatus.RUNNING.value:
        return
    finish_row(job, row, InlineResult("success", entry["outgoing"]), now)
    task_store.update_task(conn, row["id"], {k: row[k] for k in (
        "variables", "status", "finish_state", "end_time", "last_updated", "queue_state", "due_at")})
    events.tasks_finished(conn, job, [row])


def _note_canceled(job: dict[str, Any], task_id: str) -> None:
    for entry in job["progress"].values():
        if task_id in entry.get("iterations", []):
            entry["status"] = TaskStatus.CANCELED.value


def save_job(conn: Connection, job: dict[str, Any], now: int, by: str | None) -> None:
    events.job_saved(conn, job, by)  # a status change is an event, in this transaction
    # large values go to job_data; the job (and answers made from it) now hold references, like its row
    job["variables"], job["progress"] = large_data.stored_form(conn, job)
    job_store.update_job(
        conn,
        job["id"],
        {
            "status": job["status"],
            "variables": job["variables"],
            "progress": job["progress"],
            "error": job["error"],
            "end_time": job["end_time"],
            "description": job["description"],
            "last_updated": now,
            "last_updated_by": by,
        },
    )


def record_outcome(
    conn: Connection,
    job_id: str,
    key: str,
    finish_state: str,
    outgoing: Mapping[str, Any],
    error: Any,
    now: int,
    by: str | None,
    job_variables: Mapping[str, Any] | None = None,
    job_description: str | None = None,
) -> bool:
    """Apply a finished task's results to its job and move the job on. True if work was queued.

    `outgoing` is as stored on the task iteration (encrypted at its decorators' pointers); job variables
    at the workflow's decorators' pointers are encrypted before the job is saved.

    `job_variables` are set directly (newVariable, push…); `job_description` replaces the job's description.
    """
    lock_ancestors(conn, job_id)
    job = job_store.get_job(conn, job_id, for_update=True)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return record_on(conn, job, key, finish_state, outgoing, error, now, by, job_variables, job_description)


def record_on(
    conn: Connection,
    job: dict[str, Any],
    key: str,
    finish_state: str,
    outgoing: Mapping[str, Any],
    error: Any,
    now: int,
    by: str | None,
    job_variables: Mapping[str, Any] | None = None,
    job_description: str | None = None,
) -> bool:
    """record_outcome on a job row already read FOR UPDATE. When the job ends this way and is a child
    job, its parent's childJob task learns of it in the same transaction."""
    large_data.resolve_job(conn, job)  # the engine works on full values
    job["progress"] = dict(job["progress"])
    job["variables"] = dict(job["variables"])
    before = job["status"]
    flow = JobFlow.restore(Graph.of(job["workflow"]), job["progress"])
    step = _apply_outcome(job, flow, key, finish_state, outgoing, error, now, job_variables, job_description)
    queued = apply_step(conn, job, flow, step, now) if step is not None else False
    save_job(conn, job, now, by)
    return job_ended(conn, job, before, now) or queued


def lock_ancestors(conn: Connection, job_id: str) -> None:
    """On PostgreSQL, lock the ancestors of a child job root first, before the job itself: a child's
    outcome may finish its parent's task, and cancel locks a parent before its children, so every
    transaction takes job rows top-down (ids of descendants are later than their ancestors')."""
    if conn.dialect.name != "postgresql":
        return
    row = job_store.get_job(conn, job_id)
    for ancestor in (row or {}).get("ancestors", [job_id])[:-1]:
        job_store.get_job(conn, ancestor, for_update=True)


def job_ended(conn: Connection, job: dict[str, Any], before: str, now: int) -> bool:
    """Tell the parent of a child job that just reached complete, error or canceled. True if work was
    queued."""
    if not job.get("parent") or job["status"] == before or job["status"] not in FINAL_JOB_STATUSES:
        return False
    from opsmgr.services import childjobs

    return childjobs.child_ended(conn, job, now)


def _apply_outcome(
    job: dict[str, Any],
    flow: JobFlow,
    key: str,
    finish_state: str,
    outgoing: Mapping[str, Any],
    error: Any,
    now: int,
    job_variables: Mapping[str, Any] | None,
    job_description: str | None,
) -> Step | None:
    """Apply one outcome to the job in memory; the step to take next, or None when the job takes none."""
    definition = job["workflow"]["tasks"][key]
    declared = definition.get("variables") or {}

    entry = dict(job["progress"].get(key, {}))
    entry.update(outgoing=dict(outgoing), error=error, finish_state=finish_state)
    entry["status"] = TaskStatus.ERROR.value if finish_state == "error" else TaskStatus.COMPLETE.value
    job["progress"][key] = entry

    job["variables"].update(promote(declared.get("outgoing") or {}, outgoing))
    if job_variables:
        job["variables"].update(job_variables)
    if job_description is not None:
        job["description"] = job_description
    error_target = job_target(declared.get("error"))
    if error is not None and error_target:
        job["variables"][error_target] = error
    job["variables"] = secrets.seal_job_variables(job)

    if job["status"] != JobStatus.RUNNING:
        # paused or errored: remember the outcome; resume/retry/continue/revert settle what follows. An error
        # with no error transition is reported at once; in a paused job it also stops the job on resume.
        flow.phases[key], flow.finish_states[key] = Phase.DONE, finish_state
        if finish_state == "error" and not flow.has_error_path(key):
            job["error"] = [*(job["error"] or []), {"task": key, "message": error, "timestamp": now}]
            if job["status"] == JobStatus.PAUSED:
                entry["stops_job"] = True
        job["progress"] = _merge_progress(flow, job["progress"])
        return None
    if finish_state == "error" and not flow.has_error_path(key):
        flow.failed(key)
        job["status"] = job_transition(job["status"], JobStatus.ERROR).value
        job["error"] = [*(job["error"] or []), {"task": key, "message": error, "timestamp": now}]
        job["progress"] = _merge_progress(flow, job["progress"])
        return None
    return flow.finished(key, finish_state)
