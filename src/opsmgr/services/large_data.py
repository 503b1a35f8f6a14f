"""Large data: job variables and task outputs too big to keep on the job row (issue #3 scope 1).

Itential keeps big variable values in GridFS and serves them by `GET /operations-manager/large-data/:id`
(ops-manager-api §5.3, workflow-semantics §2.4). Here a top-level job variable (`/variables/x`), or a top-level
outgoing variable of a task as the job keeps it for `$var.<task>.x` (`/progress/<task>/outgoing/x`), whose
compact UTF-8 JSON is larger than `large_data_bytes` becomes a row of `job_data`; the stored job row holds
`{"$largeData": "<id>", "size": <bytes>}` in its place, and so do the job documents the API returns.

The engine works on full values: `resolve_job` puts them back into a job read from the store (one query, and
none when the row holds no reference), and `save_job`/`start_job` store the job through `stored_form`, which
writes only values that are new (a value put back by `resolve_job` and still there keeps its row) and deletes
the rows of values that were replaced. A reference resolves only to a row of its own job, so a reference
written into a job's input cannot read another job's data. Values are stored exactly as the job row would
hold them: an encrypted value is stored encrypted (decisions §7), and `get_large_data` shows it as `"****"`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from opsmgr.config import Settings
from opsmgr.domain.access import Principal, can_see_job
from opsmgr.domain.documents import masked, now_ms
from opsmgr.domain.ids import new_object_id, require_object_id
from opsmgr.domain.pointers import escape
from opsmgr.errors import NotFound
from opsmgr.store import jobs as job_store
from opsmgr.store import large_data as store
from opsmgr.store.database import Connection, Database

REF = "$largeData"
KNOWN = "_large_data"  # on a job dict: what resolve_job put back, {place: (id, value, size)}; never stored

_limit: int | None = None
_ESCAPED = json.JSONEncoder(check_circular=False, separators=(",", ":"))  # ASCII: never fewer chars than UTF-8 bytes


def configure(settings: Settings) -> None:
    """Use the threshold of `settings` in this process (else the environment's, read when first needed)."""
    global _limit
    _limit = settings.large_data_bytes


def limit() -> int:
    global _limit
    if _limit is None:
        _limit = Settings().large_data_bytes
    return _limit


def is_reference(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 2 and isinstance(value.get(REF), str) and "size" in value


def size_of(value: Any) -> int:
    """Bytes of the compact UTF-8 JSON text of `value`."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _maps(job: Mapping[str, Any]) -> Iterator[tuple[str | None, str, Mapping[str, Any]]]:
    """(task key or None, place prefix, map) for the job's variables and each task's outgoing variables."""
    variables = job.get("variables")
    if isinstance(variables, Mapping):
        yield None, "/variables/", variables
    for key, entry in (job.get("progress") or {}).items():
        outgoing = entry.get("outgoing") if isinstance(entry, Mapping) else None
        if isinstance(outgoing, Mapping) and outgoing:
            yield key, f"/progress/{escape(key)}/outgoing/", outgoing


def resolve_job(conn: Connection, job: dict[str, Any]) -> None:
    """Put the full values back into `job` (read from the store) where it holds references to its large data.
    Copies what it changes; a job without references costs no query."""
    if not _holds_reference(job):
        return
    found = [(key, name, value[REF]) for key, _, values in _maps(job) for name, value in values.items()
             if is_reference(value)]
    rows = store.values_of(conn, job["id"], {ref for _, _, ref in found})
    known: dict[str, tuple[str, Any, int]] = job.setdefault(KNOWN, {})
    variables = dict(job["variables"])
    progress = dict(job["progress"])
    for key, name, ref in found:
        if ref not in rows:
            continue  # not this job's: stays as it is
        value = rows[ref]
        if key is None:
            size = variables[name]["size"]
            variables[name] = value
            known["/variables/" + escape(name)] = (ref, value, size)
        else:
            entry = progress[key] = dict(progress[key])
            outgoing = entry["outgoing"] = dict(entry["outgoing"])
            size = outgoing[name]["size"]
            outgoing[name] = value
            known[f"/progress/{escape(key)}/outgoing/{escape(name)}"] = (ref, value, size)
    job["variables"], job["progress"] = variables, progress


def _holds_reference(job: Mapping[str, Any]) -> bool:
    """A quick look for a reference (this runs on every task outcome)."""
    for value in (job.get("variables") or {}).values():
        if type(value) is dict and REF in value:
            return True
    for entry in (job.get("progress") or {}).values():
        outgoing = entry.get("outgoing")
        if outgoing and type(outgoing) is dict:
            for value in outgoing.values():
                if type(value) is dict and REF in value:
                    return True
    return False


def resolve_jobs(conn: Connection, jobs: list[dict[str, Any] | None]) -> None:
    for job in jobs:
        if job is not None:
            resolve_job(conn, job)


def stored_form(conn: Connection, job: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The job's `variables` and `progress` as the job row stores them: each large value replaced by a
    reference to its `job_data` row, written now unless `resolve_job` read it and it is still in place; rows
    of values replaced since are deleted. `job` itself is not changed (its KNOWN places are updated)."""
    threshold = limit()
    known: dict[str, tuple[str, Any, int]] = job.get(KNOWN) or {}
    variables, progress = job["variables"], job["progress"]
    if not known and _all_small(job, threshold):
        return variables, progress  # the usual case: one C-speed serialization, no query
    now = now_ms()
    rows: list[dict[str, Any]] = []
    kept: dict[str, tuple[str, Any, int]] = {}
    live: set[str] = set()
    new_progress: dict[str, Any] | None = None
    for key, prefix, values in list(_maps(job)):
        changed: dict[str, Any] = {}
        for name, value in values.items():
            place = prefix + escape(name)
            before = known.get(place)
            if is_reference(value):
                live.add(value[REF])  # as read, or as a save of this same job wrote it
                if before is not None and before[0] == value[REF]:
                    kept[place] = before
                continue
            if before is not None and before[1] is value:
                ref, size = before[0], before[2]
            else:
                measured = _large_size(value, threshold)
                if measured is None:
                    continue
                ref, size = new_object_id(), measured
                task_id = None if key is None else ((progress[key].get("iterations") or [None])[-1])
                rows.append({"id": ref, "job_id": job["id"], "task_id": task_id, "name": place, "value": value,
                             "size": size, "created": now})
            kept[place] = (ref, value, size)
            live.add(ref)
            changed[name] = {REF: ref, "size": size}
        if not changed:
            continue
        if key is None:
            variables = {**values, **changed}
        else:
            new_progress = new_progress if new_progress is not None else dict(progress)
            new_progress[key] = {**progress[key], "outgoing": {**values, **changed}}
    store.insert_values(conn, rows)
    store.delete_ids(conn, sorted({ref for ref, _, _ in known.values()} - live))
    job[KNOWN] = kept
    return variables, (new_progress if new_progress is not None else progress)


def _all_small(job: Mapping[str, Any], threshold: int) -> bool:
    """True when no value of the job can be large: the ASCII-escaped JSON of all of them together (never
    shorter than the UTF-8 JSON of any one) fits under the threshold."""
    outgoing = [e.get("outgoing") for e in (job.get("progress") or {}).values()]
    return len(_ESCAPED.encode([job.get("variables"), outgoing])) <= threshold


def _large_size(value: Any, threshold: int) -> int | None:
    """The size of `value` if it is above the threshold, else None (scalars are never measured)."""
    if value is None or isinstance(value, bool | int | float):
        return None
    if isinstance(value, str) and 6 * len(value) + 2 <= threshold:
        return None
    size = size_of(value)
    return size if size > threshold else None


def stored_row(conn: Connection, job: dict[str, Any]) -> dict[str, Any]:
    """A new job (not yet stored) as its row is inserted; `job` keeps its full values."""
    variables, progress = stored_form(conn, job)
    return {**{k: v for k, v in job.items() if k != KNOWN}, "variables": variables, "progress": progress}


def delete_of_jobs(conn: Connection, job_ids: list[str]) -> int:
    """Delete the large data of jobs being deleted; returns how many values."""
    return store.delete_of_jobs(conn, job_ids)


def get_large_data(db: Database, caller: Principal, data_id: str) -> Any:
    """exportLargeData: the stored value itself, to a caller who may see its job (else 404, as for the job);
    encrypted parts show as `"****"` (decisions §7)."""
    require_object_id(data_id, "id")
    with db.read() as conn:
        row = store.get_value(conn, data_id)
        groups = job_store.job_groups(conn, row["job_id"]) if row else []
    if row is None or not can_see_job(caller, groups):
        raise NotFound(f"large data {data_id} not found")
    return masked(row["value"])
