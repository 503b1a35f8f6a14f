"""Automation use cases (ops-manager-api §5.4): create, read, search, update, delete, import, export, clone.

GBAC (domain.automations): invisible automations are 404s and are filtered out of searches in SQL (totals
count visible ones only); visible but not editable is a 403.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opsmgr.domain import automations as rules
from opsmgr.domain import search
from opsmgr.domain import triggers as trigger_rules
from opsmgr.domain.access import Principal
from opsmgr.domain.automations import Gbac
from opsmgr.domain.documents import now_ms
from opsmgr.domain.ids import is_object_id, new_object_id, require_object_id
from opsmgr.errors import Conflict, Forbidden, Invalid, NotFound
from opsmgr.store import accounts as account_store
from opsmgr.store import automations as store
from opsmgr.store import search as compile
from opsmgr.store.database import Connection, Database
from opsmgr.store.schema import automation as automation_table

AUTOMATION_FIELDS = {
    f.name: f
    for f in (
        search.Field("_id", "id"),
        search.Field("name", "name"),
        search.Field("description", "description"),
        search.Field("componentType", "component_type"),
        search.Field("componentId", "component_id"),
        search.Field("createdBy", "created_by"),
        search.Field("lastUpdatedBy", "last_updated_by"),
        search.Field("created", "created", "date"),
        search.Field("lastUpdated", "last_updated", "date"),
    )
}


def gbac_from(stored: Mapping[str, list[str]]) -> Gbac:
    return Gbac(tuple(stored.get("read", [])), tuple(stored.get("write", [])))


def document(row: Mapping[str, Any], gbac: Gbac) -> dict[str, Any]:
    return rules.automation_document(row, gbac, row.get("component_name"))


def visible(conn: Connection, caller: Principal, automation_id: str, for_update: bool = False
            ) -> tuple[dict[str, Any], Gbac]:
    """The automation and its GBAC, or NotFound when it does not exist or the caller may not see it."""
    row = store.get_automation(conn, automation_id, for_update)
    gbac = gbac_from(store.gbac_of(conn, [automation_id])[automation_id]) if row else Gbac()
    if row is None or not rules.can_see(caller, gbac):
        raise NotFound(f"automation {automation_id} not found")
    return row, gbac


def editable(conn: Connection, caller: Principal, automation_id: str) -> tuple[dict[str, Any], Gbac]:
    """Like `visible`, and Forbidden unless the caller is in a write group (or admin, or no GBAC)."""
    row, gbac = visible(conn, caller, automation_id, for_update=True)
    if not rules.can_edit(caller, gbac):
        raise Forbidden(f"{caller.username} is not in a write group of automation {row['name']!r}")
    return row, gbac


def _check_groups(conn: Connection, gbac: Mapping[str, list[str]], path: str) -> None:
    problems = []
    for access in ("read", "write"):
        ids = gbac.get(access, [])
        missing = set(ids) - account_store.existing_group_ids(conn, ids)
        problems += [{"path": f"{path}.{access}", "message": f"no such group: {g}"} for g in sorted(missing)]
    if problems:
        raise rules.fail(problems, "gbac")


def _check_component(conn: Connection, body: Mapping[str, Any], path: str = "") -> str | None:
    cid = rules.component_id(body)
    if cid is None:
        return None
    if cid not in store.workflow_names(conn, [cid]):
        raise rules.fail([{"path": f"{path}componentId", "message": f"no workflow with _id {cid}"}])
    return cid


def _unique_name(conn: Connection, name: str, automation_id: str | None = None) -> None:
    other = store.automation_by_name(conn, name)
    if other and other["id"] != automation_id:
        raise Conflict(f"an automation named {name!r} already exists", {"name": name, "_id": other["id"]})


def _insert(conn: Connection, caller: Principal, body: Mapping[str, Any], gbac: dict[str, list[str]],
            component: str | None, automation_id: str | None = None) -> dict[str, Any]:
    _unique_name(conn, body["name"])
    now = now_ms()
    row = {
        "id": automation_id or new_object_id(),
        "name": body["name"],
        "description": body.get("description") or "",
        "component_type": body.get("componentType") or ("workflows" if component else None),
        "component_id": component,
        "created": now,
        "created_by": caller.account_id,
        "last_updated": now,
        "last_updated_by": caller.account_id,
    }
    store.insert_automation(conn, row, gbac)
    return row


def _reload(conn: Connection, automation_id: str) -> dict[str, Any]:
    row = store.get_automation(conn, automation_id)
    assert row is not None
    return document(row, gbac_from(store.gbac_of(conn, [automation_id])[automation_id]))


def create_automation(db: Database, caller: Principal, body: Any) -> dict[str, Any]:
    problems = rules.check_body(body, partial=False)
    if problems:
        raise rules.fail(problems, "the automation")
    gbac = body.get("gbac") or {"read": [], "write": []}
    with db.write() as conn:
        _check_groups(conn, gbac, "gbac")
        component = _check_component(conn, body)
        row = _insert(conn, caller, body, gbac, component)
        return _reload(conn, row["id"])


def get_automation(db: Database, caller: Principal, automation_id: str) -> dict[str, Any]:
    require_object_id(automation_id, "id")
    with db.read() as conn:
        row, gbac = visible(conn, caller, automation_id)
    return document(row, gbac)


def search_automations(
    db: Database, caller: Principal, params: Iterable[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    query = rules.parse_pairs(params, AUTOMATION_FIELDS)
    where = compile.where_clause(automation_table, query) & store.visible_clause(
        automation_table.c.id, None if caller.is_admin else caller.groups
    )
    with db.read() as conn:
        rows, total = store.search_automations(
            conn, where, compile.order_by(automation_table, query), query.skip, query.limit
        )
        gbacs = store.gbac_of(conn, [r["id"] for r in rows])
    docs = [document(r, gbac_from(gbacs[r["id"]])) for r in rows]
    return docs, rules.page_metadata(query, total, len(docs))


def update_automation(db: Database, caller: Principal, automation_id: str, patch: Any) -> dict[str, Any]:
    require_object_id(automation_id, "id")
    problems = rules.check_body(patch, partial=True)
    if problems:
        raise rules.fail(problems, "the update")
    with db.write() as conn:
        row, _ = editable(conn, caller, automation_id)
        values: dict[str, Any] = {}
        if "name" in patch and patch["name"] != row["name"]:
            _unique_name(conn, patch["name"], automation_id)
            values["name"] = patch["name"]
        if "description" in patch:
            values["description"] = patch["description"] or ""
        if "componentType" in patch:
            values["component_type"] = patch["componentType"]
        if "componentId" in patch:
            values["component_id"] = _check_component(conn, patch)
        if "gbac" in patch:
            _check_groups(conn, patch["gbac"], "gbac")
            store.set_gbac(conn, automation_id, patch["gbac"])
        values.update(last_updated=now_ms(), last_updated_by=caller.account_id)
        store.update_automation(conn, automation_id, values)
        return _reload(conn, automation_id)


def delete_automation(db: Database, caller: Principal, automation_id: str) -> tuple[dict[str, Any], int]:
    """Delete an automation and its triggers; returns the deleted automation and how many triggers went."""
    require_object_id(automation_id, "id")
    with db.write() as conn:
        row, gbac = editable(conn, caller, automation_id)
        count = len(store.triggers_of(conn, automation_id))
        store.delete_automation(conn, automation_id)
    return document(row, gbac), count


def _group_objects(conn: Connection, ids: list[str]) -> list[dict[str, Any]]:
    out = []
    for gid in ids:
        group = account_store.get_group(conn, gid)
        if group is not None:
            out.append({"_id": group["id"], "name": group["name"], "provenance": group["provenance"],
                        "description": group["description"]})
    return out


def export_automation(db: Database, caller: Principal, automation_id: str) -> dict[str, Any]:
    """The portable form (§3.3): groups as objects, the workflow by name, no componentId, its triggers."""
    require_object_id(automation_id, "id")
    now = now_ms()
    with db.read() as conn:
        row, gbac = visible(conn, caller, automation_id)
        triggers = [trigger_rules.export_document(trigger_rules.trigger_document(t, now))
                    for t in store.triggers_of(conn, automation_id)]
        groups = {"read": _group_objects(conn, list(gbac.read)), "write": _group_objects(conn, list(gbac.write))}
    return {
        "_id": row["id"],
        "name": row["name"],
        "description": row["description"],
        "componentType": row["component_type"],
        "componentName": row.get("component_name"),
        "gbac": groups,
        "triggers": triggers,
    }


# import -----------------------------------------------------------------------------------------------------


def _resolve_groups(conn: Connection, gbac: Any, path: str) -> dict[str, list[str]]:
    """Group ids for an imported `gbac` whose items are ids or group objects (matched by `_id`, then name)."""
    if gbac is None:
        return {"read": [], "write": []}
    out: dict[str, list[str]] = {"read": [], "write": []}
    problems = []
    for access in ("read", "write"):
        for i, item in enumerate(gbac[access]):
            gid = item if isinstance(item, str) else item.get("_id")
            if isinstance(gid, str) and is_object_id(gid) and account_store.get_group(conn, gid):
                out[access].append(gid)
                continue
            name = item.get("name") if isinstance(item, dict) else None
            group = account_store.group_by_name(conn, name) if isinstance(name, str) else None
            if group is None:
                shown = name if name else gid
                problems.append({"path": f"{path}.{access}.{i}", "message": f"no such group: {shown}"})
            else:
                out[access].append(group["id"])
    if problems:
        raise rules.fail(problems, "gbac")
    return out


def _import_component(conn: Connection, item: Mapping[str, Any]) -> str | None:
    name = item.get("componentName")
    if isinstance(name, str) and name:
        wid = store.workflow_id_by_name(conn, name)
        if wid is None:
            raise rules.fail([{"path": "componentName", "message": f"no workflow named {name!r}"}])
        return wid
    return _check_component(conn, item)


def _import_one(conn: Connection, caller: Principal, item: Any) -> dict[str, Any]:
    body = {k: v for k, v in item.items() if k != "triggers"} if isinstance(item, dict) else item
    problems = rules.check_body(body, partial=False, import_=True)
    triggers = item.get("triggers", []) if isinstance(item, dict) else []
    if not isinstance(triggers, list):
        problems.append({"path": "triggers", "message": "triggers must be an array"})
    else:
        for i, t in enumerate(triggers):
            t = {**t, "actionId": t.get("actionId") or "0" * 24} if isinstance(t, dict) else t
            problems += trigger_rules.check(t, f"triggers.{i}.", import_=True)
    if problems:
        raise rules.fail(problems, "the automation")
    wanted = body.get("_id")
    if wanted and store.id_taken(conn, "automation", wanted):
        raise Conflict(f"an automation with _id {wanted} already exists", {"_id": wanted})
    gbac = _resolve_groups(conn, body.get("gbac"), "gbac")
    component = _import_component(conn, body)
    row = _insert(conn, caller, body, gbac, component, wanted)
    from opsmgr.services import triggers as trigger_service  # the two modules use each other

    for t in triggers:
        clean = trigger_rules.normalized({**t, "actionId": row["id"]})
        wanted_trigger = t.get("_id")
        if wanted_trigger and store.id_taken(conn, "trigger", wanted_trigger):
            wanted_trigger = None  # the trigger keeps its automation; a clash of ids just gets a new one
        trigger_service.insert(conn, caller, clean, wanted_trigger)
    return _reload(conn, row["id"])


def import_automations(db: Database, caller: Principal, items: list[Any]) -> list[dict[str, Any]]:
    """Import each automation (with its triggers) on its own: `[{success, data}]` in the given order; a
    failed one has `data: null` and a `message` (plus `errors`), and changes nothing."""
    results: list[dict[str, Any]] = []
    with db.write() as conn:
        for item in items:
            try:
                with conn.begin_nested():
                    results.append({"success": True, "data": _import_one(conn, caller, item)})
            except (Invalid, Conflict) as exc:
                results.append({"success": False, "data": None, "message": exc.message, **exc.details})
    return results


# clone ------------------------------------------------------------------------------------------------------


def clone_automation(
    db: Database, caller: Principal, automation_id: str, name: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Copy an automation and its triggers. API triggers of the copy start disabled under a new route
    name; `metadata.automaticChanges` says so in words, `metadata.triggerCloneResults` per trigger."""
    require_object_id(automation_id, "id")
    if name is not None:
        problems = rules.check_body({"name": name}, partial=False)
        if problems:
            raise rules.fail(problems, "the clone")
    from opsmgr.services import triggers as trigger_service

    changes: list[str] = []
    results: list[dict[str, Any]] = []
    with db.write() as conn:
        row, gbac = visible(conn, caller, automation_id)
        if name is None:
            name = rules.clone_name(row["name"], store.names_like(conn, row["name"]))
            changes.append(f"automation name set to {name!r}")
        body = {"name": name, "description": row["description"], "componentType": row["component_type"]}
        new = _insert(conn, caller, body, gbac.as_dict(), row["component_id"])
        routes = store.route_names(conn)
        for source in store.triggers_of(conn, automation_id):
            doc = {**trigger_rules.stored(source), "actionId": new["id"]}
            if doc["type"] == "endpoint":
                old_route = doc["routeName"]
                doc["routeName"] = trigger_rules.cloned_route_name(old_route, routes)
                routes.add(doc["routeName"])
                changes.append(f"trigger {doc['name']!r}: routeName {old_route!r} renamed to {doc['routeName']!r}")
                if doc["enabled"]:
                    doc["enabled"] = False
                    changes.append(f"trigger {doc['name']!r}: disabled (API triggers of a clone start disabled)")
            created = trigger_service.insert(conn, caller, doc)
            results.append({"success": True, "sourceId": source["id"], "data": created})
        clone = _reload(conn, new["id"])
    return clone, {"automaticChanges": changes, "triggerCloneResults": results}
