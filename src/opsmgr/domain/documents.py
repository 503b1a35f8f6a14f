"""Rendering of stored rows as Itential documents: the Task (ops-manager-api §3.1) and Job (§3.2).

Times are stored as epoch milliseconds; documents show `metrics.*_time` as epoch ms except
`claim_time`, and `last_updated`/`created` as ISO 8601 strings, as Itential does.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from opsmgr.domain import pointers

PLATFORM_VERSION = "opsmgr-0.1.0"
MASK = "****"  # how every answer shows an encrypted value (decisions §7)
SEALED = "$enc"  # the tag of a stored ciphertext object (services.secrets)


def now_ms() -> int:
    return int(time.time() * 1000)


def unstorable(value: Any, path: str = "") -> list[dict[str, str]]:
    """`{path, message}` for each part of a JSON value that a database cannot store: text holding a NUL
    character (PostgreSQL rejects it) and the non-JSON numbers NaN and Infinity."""
    problems: list[dict[str, str]] = []
    if isinstance(value, str):
        if "\x00" in value:
            problems.append({"path": path, "message": "text must not contain NUL (\\u0000) characters"})
    elif isinstance(value, float):
        if not math.isfinite(value):
            problems.append({"path": path, "message": f"{value} is not a JSON number"})
    elif isinstance(value, Mapping):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                problems.append({"path": sub, "message": "a key must not contain NUL (\\u0000) characters"})
            problems.extend(unstorable(item, sub))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            problems.extend(unstorable(item, f"{path}.{i}" if path else str(i)))
    return problems


def is_sealed(value: Any) -> bool:
    """A value encrypted at rest: `{"$enc": "v1", "nonce": ..., "data": ...}`."""
    return isinstance(value, Mapping) and SEALED in value


def masked(value: Any, at: Iterable[str] = ()) -> Any:
    """`value` with every encrypted value, and whatever is at the pointers `at`, shown as `"****"`."""
    value = _mask_sealed(value)
    for pointer in at:
        if pointer:  # "" would hide the whole document
            value = pointers.replace(value, pointer, lambda v: v if v is None else MASK)
    return value


def _mask_sealed(value: Any) -> Any:
    """`value` with encrypted values masked; the very same object when it holds none (answers are built
    for every search result, most of them without secrets)."""
    if is_sealed(value):
        return MASK
    if isinstance(value, Mapping):
        items = {k: _mask_sealed(v) for k, v in value.items()}
        return value if all(items[k] is v for k, v in value.items()) else items
    if isinstance(value, list):
        elements = [_mask_sealed(v) for v in value]
        return value if all(a is b for a, b in zip(elements, value, strict=True)) else elements
    return value


def masked_task_variables(variables: Any) -> Any:
    """A task iteration's `variables` as answers show them: masked at its own decorators' pointers."""
    if not isinstance(variables, Mapping):
        return variables
    return masked(variables, pointers.encryption_pointers(variables.get("decorators")))


def _masked_definition(definition: Mapping[str, Any]) -> dict[str, Any]:
    """A task definition of a workflow snapshot: literal values at its decorators' pointers are masked;
    a `$var` reference there is shown (it names where the value comes from, it is not the value)."""
    variables = definition.get("variables")
    if not isinstance(variables, Mapping):
        return dict(definition)
    at = [
        p for p in pointers.encryption_pointers(variables.get("decorators"))
        if not (isinstance(v := pointers.get(variables, p), str) and v.startswith("$var."))
    ]
    return {**definition, "variables": masked(variables, at)}


def job_pointers(decorators: Any, base: str = "/variables") -> list[str]:
    """The workflow (job) decorators' pointers below `base`, made relative to it."""
    rest = (pointers.under(p, base) for p in pointers.encryption_pointers(decorators))
    return [r for r in rest if r]


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def task_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """A task iteration row (joined with its job summary) as an Itential Task document."""
    extra = row["metrics"] or {}
    metrics: dict[str, Any] = {
        "start_time": row["start_time"],
        "end_time": row["end_time"],
        "server_id": extra.get("server_id"),
        "finish_state": row["finish_state"],
        "run_time": (row["end_time"] - row["start_time"]) if row["end_time"] is not None else None,
        "retrying": extra.get("retrying", False),
        "user": extra.get("user"),
        "owner": row["owner"] or "",
    }
    if row["claim_time"] is not None:
        metrics["claim_time"] = iso(row["claim_time"])
    return {
        "_id": row["id"],
        "location": row["location"],
        "view": row["view"],
        "status": row["status"],
        "app": row["app"],
        "name": row["name"],
        "variables": masked_task_variables(row["variables"]),
        "last_updated": iso(row["last_updated"]),
        "encodingVersion": 1,
        "job": {
            "_id": row["job_id"],
            "task": row["task_key"],
            "name": row.get("job_name"),
            "description": row.get("job_description"),
            "ancestors": row.get("job_ancestors"),
        },
        "incomingRefs": [],
        "groups": list(row["groups"] or []),
        "type": row["type"],
        "metrics": metrics,
    }


def history_entry(row: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """One `{action, by, from, to, at}` entry of a task's history, with usernames alongside ids."""
    entry = {
        "action": row["action"],
        "by": row["by"],
        "from": row["from_owner"],
        "to": row["to_owner"],
        "at": iso(row["at"]),
        "byUsername": names.get(row["by"]),
    }
    if row.get("detail"):
        entry["detail"] = row["detail"]
    return entry


def job_uuid(job_id: str) -> str:
    """The job's `uuid` (ops-manager-api §3.2), derived from its id so it never changes."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"opsmgr:job:{job_id}"))


_RUNTIME_STATUS = {"pending": "incomplete", "skipped": "incomplete", "active": "running", "done": "complete"}


def job_document(row: Mapping[str, Any], groups: list[str]) -> dict[str, Any]:
    """A job row as an Itential Job document (plus `trigger` when an automation trigger started it)."""
    doc = _job_document(row, groups)
    if row.get("trigger"):
        doc["trigger"] = row["trigger"]
    return doc


def _job_document(row: Mapping[str, Any], groups: list[str]) -> dict[str, Any]:
    wf: Mapping[str, Any] = row["workflow"]
    progress: Mapping[str, Any] = row["progress"]
    tasks: dict[str, Any] = {}
    decided = 0
    for key, definition in wf["tasks"].items():
        state = progress.get(key, {})
        phase = state.get("phase", "pending")
        decided += phase in ("done", "skipped")
        status = state.get("status") or _RUNTIME_STATUS[phase]
        tasks[key] = {
            **_masked_definition(definition),
            "status": status,
            "finish_state": state.get("finish_state"),
            "iterations": list(state.get("iterations", [])),
            "metrics": {"finish_state": state.get("finish_state")},
        }
    metrics: dict[str, Any] = {
        "start_time": row["start_time"],
        "user": row["created_by"],
        "progress": round(decided / max(1, len(tasks)), 4),
    }
    if row["end_time"] is not None and row["status"] != "error":
        metrics["end_time"] = row["end_time"]
    return {
        "_id": row["id"],
        "uuid": job_uuid(row["id"]),
        "font_size": wf.get("font_size", 12),
        "type": row["type"],
        "created": iso(row["created"]),
        "last_updated": iso(row["last_updated"]),
        "createdVersion": PLATFORM_VERSION,
        "lastUpdatedVersion": PLATFORM_VERSION,
        "canvasVersion": wf.get("canvasVersion", 3),
        "encodingVersion": 1,
        "migrationVersion": wf.get("migrationVersion", 3),
        "name": row["name"],
        "description": row["description"],
        "preAutomationTime": wf.get("preAutomationTime", 0),
        "sla": wf.get("sla", 0),
        "decorators": wf.get("decorators", []),
        "status": row["status"],
        "tags": wf.get("tags", []),
        "error": masked(row["error"]),
        "tasks": tasks,
        "transitions": wf["transitions"],
        "variables": masked(row["variables"], job_pointers(wf.get("decorators"))),
        "groups": groups,
        "watchers": row["watchers"],
        "ancestors": row["ancestors"],
        "parent": row["parent"],
        "created_by": row["created_by"],
        "last_updated_by": row["last_updated_by"],
        "errorHandler": wf.get("errorHandler"),
        "metrics": metrics,
    }
