"""Triggers (ops-manager-api §3.4, §5.5): the `oneOf` validation of the four variants, their stored form,
the document, schedule arithmetic and how a run turns data into job variables. Pure: no I/O.

Validation works like Itential's draft-07 `oneOf` over `trigger-create`, but names the failing field:
`type` picks the variant (missing or unknown `type` is the error), then the common and the
variant's fields are checked; a property that neither allows is an error naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from opsmgr.domain import jsonschema_lite
from opsmgr.domain.documents import iso
from opsmgr.domain.ids import is_object_id

TYPES = ("endpoint", "eventSystem", "manual", "schedule")
ROUTE_NAME_RE = re.compile(r"^[A-Za-z0-9._~-]{1,200}$")
REPEAT_UNITS = {"minute": 60_000, "hour": 3_600_000, "day": 86_400_000, "week": 604_800_000}
MISSED_RUNS = ("none", "last")
WRAPPER_VARIABLE = "formData"  # legacyWrapper: true puts the data in this one job variable

Problems = list[dict[str, str]]
Check = Callable[[Any], str | None]  # a message when the value is wrong


def _string(v: Any) -> str | None:
    if not isinstance(v, str):
        return "must be a string"
    return "must not contain NUL characters" if "\x00" in v else None


def _nonempty(v: Any) -> str | None:
    return _string(v) or (None if v.strip() else "must not be empty")


def _opt_string(v: Any) -> str | None:
    return None if v is None else _string(v)


def _bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _object(v: Any) -> str | None:
    return None if isinstance(v, dict) else "must be an object"


def _opt_object_id(v: Any) -> str | None:
    return None if v is None or is_object_id(v) else "must be a 24-hex id or null"


def _object_id(v: Any) -> str | None:
    return None if is_object_id(v) else "must be a 24-hex id"


def _int(low: int, nullable: bool = False) -> Check:
    def check(v: Any) -> str | None:
        if v is None and nullable:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            return f"must be an integer >= {low}" + (" or null" if nullable else "")
        return None

    return check


def _enum(*values: Any, nullable: bool = False) -> Check:
    def check(v: Any) -> str | None:
        if (v is None and nullable) or v in values:
            return None
        shown = ", ".join(repr(x) for x in values) + (" or null" if nullable else "")
        return f"must be one of {shown}"

    return check


def _route_name(v: Any) -> str | None:
    if not isinstance(v, str) or not ROUTE_NAME_RE.match(v):
        return "must be 1-200 characters of letters, digits, '.', '_', '~' or '-' (it is a URL path segment)"
    return None


def _schema(v: Any) -> str | None:
    if v is None:
        return None
    problems = jsonschema_lite.check_schema(v, "schema")
    return "; ".join(f"{p['path']}: {p['message']}" for p in problems) if problems else None


# name -> (check, required on create, default when absent)
COMMON: dict[str, tuple[Check, bool, Any]] = {
    "name": (_nonempty, True, None),
    "description": (_opt_string, False, ""),
    "type": (_enum(*TYPES), True, None),
    "enabled": (_bool, False, True),
    "actionType": (_enum("automations"), False, "automations"),
    "actionId": (_object_id, True, None),
    "options": (_object, False, {}),
    "migrationVersion": (_int(0), False, 1),
}
_FORM: dict[str, tuple[Check, bool, Any]] = {
    "formId": (_opt_object_id, False, None),
    "formData": (_object, False, {}),
    "formSchemaHash": (_opt_string, False, None),
    "legacyWrapper": (_bool, False, True),
}
VARIANTS: dict[str, dict[str, tuple[Check, bool, Any]]] = {
    "endpoint": {
        "routeName": (_route_name, True, None),
        "verb": (_enum("POST"), False, "POST"),
        "schema": (_schema, False, None),
        "jst": (_opt_object_id, False, None),
    },
    "eventSystem": {
        "source": (_nonempty, True, None),
        "topic": (_nonempty, True, None),
        "schema": (_schema, False, None),
        "jst": (_opt_object_id, False, None),
        "legacyWrapper": (_bool, False, True),
    },
    "manual": dict(_FORM),
    "schedule": {
        "firstRunAt": (_int(0), True, None),
        "repeatUnit": (_enum(*REPEAT_UNITS, nullable=True), False, None),
        "repeatFrequency": (_int(1, nullable=True), False, None),
        "repeatInterval": (_int(1, nullable=True), False, None),
        "processMissedRuns": (_enum(*MISSED_RUNS), False, "none"),
        **_FORM,
    },
}
# server-kept fields: accepted (and ignored) on import, refused on create and update
SERVER_FIELDS = ("_id", "created", "createdBy", "lastUpdated", "lastUpdatedBy", "lastExecuted", "nextRunAt")
COLUMNS = ("name", "description", "type", "enabled", "actionType", "actionId")


def check(body: Any, path: str = "", import_: bool = False) -> Problems:
    """Problems of a trigger create (or import) body; [] when it is one valid variant."""
    where = path.rstrip(".") or "body"
    if not isinstance(body, dict):
        return [{"path": where, "message": "a trigger must be an object"}]
    kind = body.get("type")
    if kind not in TYPES:
        message = "type is required" if "type" not in body else f"type must be one of {', '.join(TYPES)}"
        return [{"path": f"{path}type", "message": message}]
    spec = {**COMMON, **VARIANTS[kind]}
    out: Problems = []
    for key in body:
        if key not in spec and not (import_ and key in SERVER_FIELDS):
            out.append({"path": f"{path}{key}", "message": f"{key} is not an allowed property of a {kind} trigger"})
    if import_ and "_id" in body and not is_object_id(body["_id"]):
        out.append({"path": f"{path}_id", "message": "must be a 24-hex id"})
    for key, (checker, required, _) in spec.items():
        if key not in body:
            if required:
                out.append({"path": f"{path}{key}", "message": f"{key} is required for a {kind} trigger"})
            continue
        problem = checker(body[key])
        if problem:
            out.append({"path": f"{path}{key}", "message": f"{key} {problem}"})
    if kind == "schedule" and not out:
        out += _check_repeat(body, path)
    return out


def _check_repeat(body: Mapping[str, Any], path: str) -> Problems:
    unit, freq, interval = body.get("repeatUnit"), body.get("repeatFrequency"), body.get("repeatInterval")
    if unit is None or freq is None:
        if (unit is None) != (freq is None):
            missing = "repeatFrequency" if freq is None else "repeatUnit"
            return [{"path": f"{path}{missing}", "message": "repeatUnit and repeatFrequency go together"}]
        return []
    if interval is not None and interval != REPEAT_UNITS[unit] * freq:
        return [{"path": f"{path}repeatInterval",
                 "message": f"repeatInterval must be {REPEAT_UNITS[unit] * freq} ms ({freq} {unit}) or absent"}]
    return []


def check_patch(kind: str, patch: Any) -> Problems:
    """A PATCH may change any field of its variant but not `type` (nor server-kept fields)."""
    if not isinstance(patch, dict):
        return [{"path": "body", "message": "must be an object"}]
    spec = {**COMMON, **VARIANTS[kind]}
    out: Problems = []
    for key in patch:
        if key == "type" and patch[key] != kind:
            out.append({"path": "type", "message": f"type cannot be changed (this is a {kind} trigger)"})
        elif key not in spec:
            out.append({"path": key, "message": f"{key} is not an allowed property of a {kind} trigger"})
    return out


def normalized(body: Mapping[str, Any]) -> dict[str, Any]:
    """The valid body with defaults filled in and only known fields kept (the stored trigger)."""
    kind = body["type"]
    out: dict[str, Any] = {}
    for key, (_, _, default) in {**COMMON, **VARIANTS[kind]}.items():
        value = body.get(key, default)
        out[key] = dict(value) if isinstance(value, dict) else value
    if out.get("description") is None:
        out["description"] = ""
    if kind == "schedule" and out["repeatUnit"] is not None:
        out["repeatInterval"] = REPEAT_UNITS[out["repeatUnit"]] * out["repeatFrequency"]
    return out


def split(doc: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stored trigger as (column values, JSON document of the rest)."""
    columns = {
        "name": doc["name"],
        "description": doc["description"],
        "type": doc["type"],
        "enabled": doc["enabled"],
        "action_type": doc["actionType"],
        "action_id": doc["actionId"],
        "route_name": doc.get("routeName") if doc["type"] == "endpoint" else None,
    }
    rest = {k: v for k, v in doc.items() if k not in COLUMNS}
    return columns, rest


def stored(row: Mapping[str, Any]) -> dict[str, Any]:
    """The stored trigger (as `normalized` made it) from a row."""
    return {
        "name": row["name"],
        "description": row["description"],
        "type": row["type"],
        "enabled": row["enabled"],
        "actionType": row["action_type"],
        "actionId": row["action_id"],
        **row["document"],
    }


def next_run_at(doc: Mapping[str, Any], now: int) -> int | None:
    """When a schedule runs next: `firstRunAt` until it passes, then every `repeatInterval` ms; None
    for a one-shot schedule in the past (or a disabled one)."""
    if doc.get("type") != "schedule" or not doc.get("enabled", True):
        return None
    first = int(doc["firstRunAt"])
    if now < first:
        return first
    interval = doc.get("repeatInterval")
    if not interval:
        return None
    return first + ((now - first) // interval + 1) * interval


def trigger_document(row: Mapping[str, Any], now: int) -> dict[str, Any]:
    doc = stored(row)
    out: dict[str, Any] = {
        "_id": row["id"],
        **doc,
        "lastExecuted": row["last_executed"],
        "created": iso(row["created"]),
        "createdBy": row["created_by"],
        "lastUpdated": iso(row["last_updated"]),
        "lastUpdatedBy": row["last_updated_by"],
    }
    if doc["type"] == "schedule":
        # the stored due time the scheduler will fire next (migration 0003); computed for older rows
        out["nextRunAt"] = row["next_run_at"] if "next_run_at" in row else next_run_at(doc, now)
    return out


EXPORT_DROPS = ("lastExecuted", "nextRunAt", "created", "createdBy", "lastUpdated", "lastUpdatedBy")


def export_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A portable trigger: what it does, not when or by whom it was saved or run."""
    return {k: v for k, v in doc.items() if k not in EXPORT_DROPS}


def job_variables(data: Mapping[str, Any], legacy_wrapper: bool) -> dict[str, Any]:
    """legacyWrapper false: each field is a job variable; true: one variable `formData` holds them all."""
    return {WRAPPER_VARIABLE: dict(data)} if legacy_wrapper else dict(data)


def cloned_route_name(route: str, taken: set[str]) -> str:
    candidate = f"{route}-copy"
    n = 2
    while candidate in taken or len(candidate) > 200:
        candidate = f"{route[:180]}-copy{n}"
        n += 1
    return candidate
