"""Aggregate job and task metrics, per workflow and per (workflow, task) (workflow-semantics §6).

`GET /workflow_engine/jobs/metrics` and `GET /workflow_engine/tasks/metrics` answer, without the
envelope, `{results, skip, limit, total}`. Only jobs the caller may see count (decisions §4). The
database does the arithmetic (store/metrics.py); this module checks the query parameters and shapes
the documents.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opsmgr.domain import search
from opsmgr.domain.access import Principal
from opsmgr.errors import Invalid
from opsmgr.store import metrics as store
from opsmgr.store.database import Database

MAX_LIMIT = 100
DEFAULT_LIMIT = 25
DATE_FIELDS = ("metrics.startDate",)
ENDED_JOB_STATUSES = ("complete", "error", "canceled")


@dataclass(frozen=True)
class Spec:
    """The public names a metrics route accepts: field name -> store key, for filters and for sort."""

    filters: Mapping[str, str]
    sorts: Mapping[str, str]


JOB_SPEC = Spec(
    filters={"workflow.name": "workflow"},
    sorts={
        "workflow.name": "workflow",
        "jobsComplete": "jobs_complete",
        "totalRunTime": "total_run_time",
        "averageRunTime": "average_run_time",
    },
)
TASK_SPEC = Spec(
    filters={"workflow.name": "workflow", "taskId": "task_key", "name": "name", "app": "app", "taskType": "type"},
    sorts={"workflow.name": "workflow", "taskId": "task_key", "name": "name", "app": "app", "taskType": "type"},
)
PARAMS = (
    "skip", "limit", "order", "sort", "greaterThanEquals", "greaterThanEqualsField", "contains", "containsField",
    "equals", "equalsField",
)


def _bad(param: str, message: str) -> Invalid:
    return Invalid.problems(f"{param}: {message}", [{"path": param, "message": message}])


def _int(param: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise _bad(param, f"must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise _bad(param, f"must be between {low} and {high}, got {value}")
    return value


def _choice(param: str, raw: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    if raw not in allowed:
        raise _bad(param, f"must be one of {', '.join(allowed)}; got {raw!r}")
    return raw


def _text(param: str, raw: str) -> str:
    if "\x00" in raw:
        raise _bad(param, "must not contain NUL characters")
    return raw


def parse(params: Iterable[tuple[str, str]], spec: Spec, caller: Principal) -> store.Filter:
    """The store filter for these query parameters, or Invalid naming the first bad one."""
    given: dict[str, str] = {}
    for key, raw in params:
        if key in search.AUTH_PARAMS:
            continue
        if key not in PARAMS:
            raise _bad(key, f"unknown query parameter; expected one of {', '.join(PARAMS)}")
        if key in given:
            raise _bad(key, "given more than once")
        given[key] = raw

    def operand(op: str, field_param: str) -> tuple[str, str] | None:
        if op not in given:
            if field_param in given:
                raise _bad(op, f"is required when {field_param} is given")
            return None
        name = _choice(field_param, given.get(field_param, "workflow.name"), spec.filters)
        return spec.filters[name], _text(op, given[op])

    since = None
    if "greaterThanEquals" in given:
        _choice("greaterThanEqualsField", given.get("greaterThanEqualsField", DATE_FIELDS[0]), DATE_FIELDS)
        raw = given["greaterThanEquals"]
        since = search.convert("greaterThanEquals", search.Field("metrics.startDate", "start_time", "date"), raw)
    elif "greaterThanEqualsField" in given:
        raise _bad("greaterThanEquals", "is required when greaterThanEqualsField is given")
    order = 1
    if "order" in given:
        order = int(_choice("order", given["order"], ("1", "-1")))
    return store.Filter(
        groups=None if caller.is_admin else frozenset(caller.groups),
        since=since,
        equals=operand("equals", "equalsField"),
        contains=operand("contains", "containsField"),
        sort=spec.sorts[_choice("sort", given.get("sort", "workflow.name"), spec.sorts)],
        order=order,
        skip=_int("skip", given["skip"], 0, 10**9) if "skip" in given else 0,
        limit=_int("limit", given["limit"], 1, MAX_LIMIT) if "limit" in given else DEFAULT_LIMIT,
    )


def stable_id(*parts: str) -> str:
    """A 24-hex id derived from the group's key, the same on every call and every database."""
    return hashlib.sha1(json.dumps(parts).encode(), usedforsecurity=False).hexdigest()[:24]


def _average(total: int, n: int) -> int | None:
    return round(total / n) if n else None


def _job_result(row: Mapping[str, Any]) -> dict[str, Any]:
    total, timed = row["time_complete"], row["timed_complete"]
    metrics = []
    for status in store.JOB_STATUSES:
        if not row[f"n_{status}"]:
            continue
        ended = status in ENDED_JOB_STATUSES
        metrics.append({
            "status": status,
            "count": row[f"n_{status}"],
            "totalRunTime": row[f"time_{status}"] if ended else None,
            "averageRunTime": _average(row[f"time_{status}"], row[f"timed_{status}"]) if ended else None,
        })
    return {
        "_id": stable_id(row["workflow"]),
        "workflow": {"name": row["workflow"]},
        "jobsComplete": row["n_complete"],
        "totalRunTime": total,
        "averageRunTime": _average(total, timed),
        "jobsByStatus": {s: row[f"n_{s}"] for s in store.JOB_STATUSES},
        "metrics": metrics,
    }


def _task_result(row: Mapping[str, Any]) -> dict[str, Any]:
    metrics = [
        {
            "finish_state": state,
            "count": row[f"fs_n_{state}"],
            "totalRunTime": row[f"fs_time_{state}"],
            "averageRunTime": _average(row[f"fs_time_{state}"], row[f"fs_timed_{state}"]),
        }
        for state in store.FINISH_STATES
        if row[f"fs_n_{state}"]
    ]
    return {
        "_id": stable_id(row["workflow"], row["task_key"], row["app"], row["name"], row["type"]),
        "taskId": row["task_key"],
        "taskType": row["type"],
        "name": row["name"],
        "app": row["app"],
        "workflow": {"name": row["workflow"]},
        "runs": row["runs"],
        "tasksByStatus": {s: row[f"n_{s}"] for s in store.TASK_STATUSES},
        "metrics": metrics,
    }


def job_metrics(db: Database, caller: Principal, params: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Per workflow: complete-job count and run times, counts by status, per-status run times."""
    f = parse(params, JOB_SPEC, caller)
    with db.read() as conn:
        rows, total = store.job_metrics(conn, f)
    return {"results": [_job_result(r) for r in rows], "skip": f.skip, "limit": f.limit, "total": total}


def task_metrics(db: Database, caller: Principal, params: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Per (workflow, task): iteration counts by status, and count and run times per finish state."""
    f = parse(params, TASK_SPEC, caller)
    with db.read() as conn:
        rows, total = store.task_metrics(conn, f)
    return {"results": [_task_result(r) for r in rows], "skip": f.skip, "limit": f.limit, "total": total}
