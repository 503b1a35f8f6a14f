"""Rendering of stored rows as Itential documents: the Task (ops-manager-api §3.1) and Job (§3.2).

Times are stored as epoch milliseconds; documents show `metrics.*_time` as epoch ms except
`claim_time`, and `last_updated`/`created` as ISO 8601 strings, as Itential does.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

PLATFORM_VERSION = "opsmgr-0.1.0"


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
        "variables": row["variables"],
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
    """A job row as an Itential Job document."""
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
            **definition,
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
        "error": row["error"],
        "tasks": tasks,
        "transitions": wf["transitions"],
        "variables": row["variables"],
        "groups": groups,
        "watchers": row["watchers"],
        "ancestors": row["ancestors"],
        "parent": row["parent"],
        "created_by": row["created_by"],
        "last_updated_by": row["last_updated_by"],
        "errorHandler": wf.get("errorHandler"),
        "metrics": metrics,
    }
