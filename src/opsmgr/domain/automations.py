"""Automations (ops-manager-api §3.3, §5.4): body rules, GBAC, documents, and the field-pair search of
`GET /automations` and `GET /triggers` (§4.7). Pure: no I/O.

GBAC of an automation (`gbac: {read: [groupId], write: [groupId]}`):
- who sees and runs it (and its triggers): admin, everyone with the route's role when both lists are
  empty, else members of a read or a write group;
- who edits it (update, delete, export, clone, and writes on its triggers): admin, everyone when both
  lists are empty, else members of a write group.
An automation the caller cannot see is a 404 (never leak existence); one the caller sees but may not
edit is a 403.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opsmgr.domain import search
from opsmgr.domain.access import Principal
from opsmgr.domain.documents import iso
from opsmgr.domain.ids import is_object_id
from opsmgr.errors import Invalid

COMPONENT_TYPES = ("workflows",)
CREATE_FIELDS = ("name", "description", "componentType", "componentId", "gbac")
SERVER_FIELDS = ("_id", "componentName", "created", "createdBy", "lastUpdated", "lastUpdatedBy", "triggers")


@dataclass(frozen=True)
class Gbac:
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()

    @property
    def open(self) -> bool:
        return not self.read and not self.write

    def as_dict(self) -> dict[str, list[str]]:
        return {"read": list(self.read), "write": list(self.write)}


def can_see(principal: Principal, gbac: Gbac) -> bool:
    return principal.is_admin or gbac.open or bool(principal.groups & (set(gbac.read) | set(gbac.write)))


def can_edit(principal: Principal, gbac: Gbac) -> bool:
    return principal.is_admin or gbac.open or bool(principal.groups & set(gbac.write))


def fail(problems: list[dict[str, str]], what: str = "the request") -> Invalid:
    """One Invalid naming the first problem(s) and carrying all of them."""
    summary = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return Invalid.problems(f"{what} is invalid: {summary}{more}", problems)


def _text(body: Mapping[str, Any], key: str, path: str, out: list[dict[str, str]], required: bool = False) -> None:
    if key not in body or body[key] is None:
        if required:
            out.append({"path": f"{path}{key}", "message": f"{key} is required"})
        return
    value = body[key]
    if not isinstance(value, str):
        out.append({"path": f"{path}{key}", "message": f"{key} must be a string"})
    elif required and not value.strip():
        out.append({"path": f"{path}{key}", "message": f"{key} must not be empty"})
    elif "\x00" in value:
        out.append({"path": f"{path}{key}", "message": f"{key} must not contain NUL characters"})


def check_gbac(value: Any, path: str, allow_objects: bool = False) -> list[dict[str, str]]:
    """`gbac` must be `{read: [...], write: [...]}` with both arrays (ops-manager-api §3.3). Items are
    group ids, or (import only) group objects `{name, ...}` / ids."""
    if not isinstance(value, dict):
        return [{"path": path, "message": "gbac must be an object {read: [groupId], write: [groupId]}"}]
    out: list[dict[str, str]] = []
    for key in value:
        if key not in ("read", "write"):
            out.append({"path": f"{path}.{key}", "message": f"{key} is not an allowed property of gbac"})
    for key in ("read", "write"):
        items = value.get(key)
        if not isinstance(items, list):
            out.append({"path": f"{path}.{key}", "message": f"gbac.{key} is required and must be an array"})
            continue
        for i, item in enumerate(items):
            if is_object_id(item):
                continue
            if allow_objects and isinstance(item, dict) and (is_object_id(item.get("_id")) or
                                                             isinstance(item.get("name"), str)):
                continue
            expected = "a group id or a group object with a name" if allow_objects else "a 24-hex group id"
            out.append({"path": f"{path}.{key}.{i}", "message": f"must be {expected}"})
    return out


def check_body(body: Any, partial: bool, path: str = "", import_: bool = False) -> list[dict[str, str]]:
    """Problems of a create (`partial=False`) or PATCH (`partial=True`) body, as `{path, message}`."""
    if not isinstance(body, dict):
        return [{"path": path.rstrip(".") or "body", "message": "must be an object"}]
    out: list[dict[str, str]] = []
    allowed = CREATE_FIELDS + (SERVER_FIELDS if import_ else ())
    for key in body:
        if key not in allowed:
            out.append({"path": f"{path}{key}", "message": f"{key} is not an allowed property"})
    _text(body, "name", path, out, required=not partial)
    if partial and "name" in body and body["name"] is None:
        out.append({"path": f"{path}name", "message": "name must be a string"})
    _text(body, "description", path, out)
    ctype = body.get("componentType")
    if ctype is not None and ctype not in COMPONENT_TYPES:
        out.append({"path": f"{path}componentType", "message": "componentType must be \"workflows\" or null"})
    cid = body.get("componentId")
    if cid not in (None, "") and not is_object_id(cid):
        out.append({"path": f"{path}componentId", "message": "componentId must be a workflow _id (24-hex) or null"})
    if "gbac" in body and not (import_ and body["gbac"] is None):
        out += check_gbac(body["gbac"], f"{path}gbac", allow_objects=import_)
    return out


def component_id(body: Mapping[str, Any]) -> str | None:
    cid = body.get("componentId")
    return cid if isinstance(cid, str) and cid else None


def automation_document(row: Mapping[str, Any], gbac: Gbac, component_name: str | None) -> dict[str, Any]:
    return {
        "_id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "componentType": row["component_type"],
        "componentId": row["component_id"],
        "componentName": component_name,
        "gbac": gbac.as_dict(),
        "created": iso(row["created"]),
        "createdBy": row["created_by"],
        "lastUpdated": iso(row["last_updated"]),
        "lastUpdatedBy": row["last_updated_by"],
    }


def clone_name(name: str, taken: Iterable[str]) -> str:
    """`<name> (copy)`, then `<name> (copy 2)`, ... : the first one not in `taken`."""
    used = set(taken)
    candidate = f"{name} (copy)"
    n = 2
    while candidate in used:
        candidate = f"{name} (copy {n})"
        n += 1
    return candidate


# field-pair search (ops-manager-api §4.7) -----------------------------------------------------------------

PAIRS = {"equals": "equals", "contains": "contains", "startsWith": "starts-with"}
RANGE_PAIRS = {"greaterThan": "gt", "lessThan": "lt"}


def _bad(param: str, message: str) -> Invalid:
    return Invalid.problems(f"{param}: {message}", [{"path": param, "message": message}])


def parse_pairs(
    params: Iterable[tuple[str, str]],
    fields: Mapping[str, search.Field],
    default_sort: str = "name",
    ranges: bool = False,
    flags: Mapping[str, search.Field] | None = None,
) -> search.Query:
    """Parse `equals`+`equalsField` style pairs (and `limit`, `skip`, `order`, `sort`) into a Query.

    `ranges` enables `greaterThan`/`lessThan` (+ field; date fields take ISO strings or epoch ms).
    `flags` are plain `name=value` filters (triggers: `enabled`, `actionId`). Bracket syntax, unknown
    parameters, a value without its field or a field without its value are 400s naming the parameter."""
    flags = flags or {}
    operators = {**PAIRS, **(RANGE_PAIRS if ranges else {})}
    query = search.Query(sort=fields[default_sort])
    values: dict[str, str] = {}
    for key, raw in params:
        if "[" in key or "]" in key:
            raise _bad(key, "bracket syntax is not supported here; use e.g. equals=<value>&equalsField=<field>")
        if key in values:
            raise _bad(key, "given more than once")
        values[key] = raw
    for key, raw in values.items():
        if search.apply_paging(query, key, raw, fields, min_limit=0, list_known=True):
            continue
        if key in flags:
            query.conditions.append(search.Condition("equals", flags[key], search.convert(key, flags[key], raw)))
        elif key in operators:
            field_param = f"{key}Field"
            if field_param not in values:
                raise _bad(field_param, f"{key} needs {field_param} naming the field to compare")
            name = values[field_param]
            if name not in fields:
                raise _bad(field_param, f"unknown field {name!r}; known: {', '.join(sorted(fields))}")
            spec = fields[name]
            op = operators[key]
            if op in ("contains", "starts-with") and spec.type != "str":
                raise _bad(field_param, f"{key} applies to text fields only, not {name!r}")
            if op in ("gt", "lt") and spec.type not in ("date", "int"):
                raise _bad(field_param, f"{key} applies to date fields only, not {name!r}")
            query.conditions.append(search.Condition(op, spec, search.convert(key, spec, raw)))
        elif key.endswith("Field") and key[: -len("Field")] in operators:
            if key[: -len("Field")] not in values:
                raise _bad(key[: -len("Field")], f"{key} is given without {key[: -len('Field')]}")
        elif key in search.AUTH_PARAMS:
            continue
        else:
            raise _bad(key, "unknown query parameter")
    return query


def page_metadata(query: search.Query, total: int, page_size: int) -> dict[str, Any]:
    """§3.7 pagination; `limit=0` asks for the total only (no next page)."""
    meta = search.page_metadata(query, total, page_size)
    if query.limit == 0:
        meta["nextPageSkip"] = None
        meta["previousPageSkip"] = None
    return meta
