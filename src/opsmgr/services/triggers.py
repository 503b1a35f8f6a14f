"""Trigger use cases (ops-manager-api §5.5): create, read, search, update, delete, import, export, and the
manual and endpoint runs that start a job of the automation's workflow.

A trigger inherits the GBAC of its automation: seeing (and running) it needs read access to the
automation, changing it needs write access. A route name belongs to at most one enabled endpoint trigger
(409 otherwise; a partial unique index backs the check against races).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from opsmgr.domain import automations as automation_rules
from opsmgr.domain import jsonschema_lite, search
from opsmgr.domain import triggers as rules
from opsmgr.domain.access import Principal
from opsmgr.domain.documents import now_ms
from opsmgr.domain.ids import new_object_id, require_object_id
from opsmgr.errors import Conflict, Invalid, NotFound
from opsmgr.services import automations, jobs, progress
from opsmgr.store import automations as store
from opsmgr.store import search as compile
from opsmgr.store.database import Connection, Database, InTransaction
from opsmgr.store.schema import trigger as trigger_table

TRIGGER_FIELDS = {
    f.name: f
    for f in (
        search.Field("_id", "id"),
        search.Field("name", "name"),
        search.Field("description", "description"),
        search.Field("type", "type"),
        search.Field("routeName", "route_name"),
        search.Field("actionId", "action_id"),
        search.Field("actionType", "action_type"),
        search.Field("enabled", "enabled", "bool"),
        search.Field("createdBy", "created_by"),
        search.Field("lastUpdatedBy", "last_updated_by"),
        search.Field("created", "created", "date"),
        search.Field("lastUpdated", "last_updated", "date"),
        search.Field("lastExecuted", "last_executed", "date"),
    )
}
# a change of one of these recomputes a schedule's stored due time (trigger.next_run_at)
SCHEDULE_KEYS = ("enabled", "firstRunAt", "repeatInterval", "repeatUnit", "repeatFrequency")
FLAGS = {"enabled": TRIGGER_FIELDS["enabled"], "actionId": TRIGGER_FIELDS["actionId"]}


def _route_free(conn: Connection, doc: Mapping[str, Any], trigger_id: str | None) -> None:
    if doc["type"] != "endpoint" or not doc["enabled"]:
        return
    owner = store.enabled_endpoint(conn, doc["routeName"])
    if owner and owner["id"] != trigger_id:
        raise Conflict(
            f"routeName {doc['routeName']!r} is already used by the enabled endpoint trigger {owner['name']!r}",
            {"routeName": doc["routeName"], "triggerId": owner["id"]},
        )


def insert(conn: Connection, caller: Principal, doc: Mapping[str, Any], trigger_id: str | None = None
           ) -> dict[str, Any]:
    """Store a normalized trigger (its automation already checked) and return its document."""
    _route_free(conn, doc, None)
    columns, rest = rules.split(doc)
    now = now_ms()
    row = {
        "id": trigger_id or new_object_id(),
        **columns,
        "document": rest,
        "last_executed": None,
        "created": now,
        "created_by": caller.account_id,
        "last_updated": now,
        "last_updated_by": caller.account_id,
        "next_run_at": rules.next_run_at(doc, now),
    }
    store.insert_trigger(conn, row)
    return rules.trigger_document(row, now)


def _checked(body: Any, path: str = "", import_: bool = False) -> dict[str, Any]:
    problems = rules.check(body, path, import_)
    if problems:
        raise automation_rules.fail(problems, "the trigger")
    return rules.normalized(body)


def _action(conn: Connection, caller: Principal, automation_id: str, path: str = "actionId") -> None:
    """The caller may change triggers of this automation; an unknown or invisible one is a 400 on actionId."""
    try:
        automations.editable(conn, caller, automation_id)
    except NotFound:
        raise automation_rules.fail([{"path": path, "message": f"no automation with _id {automation_id}"}]
                                    ) from None


def create_trigger(db: Database, caller: Principal, body: Any) -> dict[str, Any]:
    doc = _checked(body)
    with db.write() as conn:
        _action(conn, caller, doc["actionId"])
        return insert(conn, caller, doc)


def _visible(conn: Connection, caller: Principal, trigger_id: str, for_update: bool = False) -> dict[str, Any]:
    row = store.get_trigger(conn, trigger_id, for_update)
    if row is not None:
        try:
            automations.visible(conn, caller, row["action_id"])
        except NotFound:
            row = None
    if row is None:
        raise NotFound(f"trigger {trigger_id} not found")
    return row


def _editable(conn: Connection, caller: Principal, trigger_id: str) -> dict[str, Any]:
    row = _visible(conn, caller, trigger_id, for_update=True)
    automations.editable(conn, caller, row["action_id"])
    return row


def get_trigger(db: Database, caller: Principal, trigger_id: str) -> dict[str, Any]:
    require_object_id(trigger_id, "id")
    with db.read() as conn:
        row = _visible(conn, caller, trigger_id)
    return rules.trigger_document(row, now_ms())


def export_trigger(db: Database, caller: Principal, trigger_id: str) -> dict[str, Any]:
    return rules.export_document(get_trigger(db, caller, trigger_id))


def search_triggers(
    db: Database, caller: Principal, params: Iterable[tuple[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    pairs = list(params)
    for key, raw in pairs:
        if key == "actionId":
            require_object_id(raw, "actionId")
    query = automation_rules.parse_pairs(pairs, TRIGGER_FIELDS, ranges=True, flags=FLAGS)
    where = compile.where_clause(trigger_table, query) & store.visible_clause(
        trigger_table.c.action_id, None if caller.is_admin else caller.groups
    )
    with db.read() as conn:
        rows, total = store.search_triggers(conn, where, compile.order_by(trigger_table, query), query.skip,
                                            query.limit)
    now = now_ms()
    docs = [rules.trigger_document(r, now) for r in rows]
    return docs, automation_rules.page_metadata(query, total, len(docs))


def update_trigger(db: Database, caller: Principal, trigger_id: str, patch: Any) -> dict[str, Any]:
    require_object_id(trigger_id, "id")
    with db.write() as conn:
        row = _editable(conn, caller, trigger_id)
        problems = rules.check_patch(row["type"], patch)
        if problems:
            raise automation_rules.fail(problems, "the update")
        doc = _checked({**rules.stored(row), **patch})
        if doc["actionId"] != row["action_id"]:
            _action(conn, caller, doc["actionId"])
        _route_free(conn, doc, trigger_id)
        columns, rest = rules.split(doc)
        now = now_ms()
        values = {**columns, "document": rest, "last_updated": now, "last_updated_by": caller.account_id}
        before = rules.stored(row)
        if any(before.get(k) != doc.get(k) for k in SCHEDULE_KEYS):
            # enabled, re-enabled or rescheduled: due from now on (no backfill); disabled: never
            values["next_run_at"] = rules.next_run_at(doc, now)
        store.update_trigger(conn, trigger_id, values)
        row.update(values)
    return rules.trigger_document(row, now)


def delete_trigger(db: Database, caller: Principal, trigger_id: str) -> dict[str, Any]:
    require_object_id(trigger_id, "id")
    with db.write() as conn:
        row = _editable(conn, caller, trigger_id)
        store.delete_trigger(conn, trigger_id)
    return rules.trigger_document(row, now_ms())


def delete_triggers_of(db: Database, caller: Principal, automation_id: str) -> int:
    """Delete every trigger of one automation; returns how many."""
    require_object_id(automation_id, "id")
    with db.write() as conn:
        automations.editable(conn, caller, automation_id)
        return store.delete_triggers_of(conn, automation_id)


def import_triggers(db: Database, caller: Principal, items: list[Any]) -> list[dict[str, Any]]:
    """Import each trigger on its own: `[{success, data}]`; a failure has `data: null` and a `message`.
    A given `_id` is kept when free (a taken one is a failure: import does not overwrite)."""
    results: list[dict[str, Any]] = []
    with db.write() as conn:
        for i, item in enumerate(items):
            try:
                with conn.begin_nested():
                    doc = _checked(item, "", import_=True)
                    _action(conn, caller, doc["actionId"])
                    wanted = item.get("_id")
                    if wanted and store.id_taken(conn, "trigger", wanted):
                        raise Conflict(f"triggers.{i}: a trigger with _id {wanted} already exists", {"_id": wanted})
                    results.append({"success": True, "data": insert(conn, caller, doc, wanted)})
            except (Invalid, Conflict, NotFound) as exc:
                results.append({"success": False, "data": None, "message": exc.message, **exc.details})
    return results


# runs -------------------------------------------------------------------------------------------------------


def _run(
    db: Database,
    caller: Principal,
    row: Mapping[str, Any],
    data: Mapping[str, Any],
    legacy_wrapper: bool,
    known_tasks: Collection[tuple[str, str]],
) -> dict[str, Any]:
    """Start the automation's workflow for a trigger; the job records the trigger (not in its variables).
    One transaction: the automation read, the job start and `lastExecuted` commit together."""
    if not row["enabled"]:
        raise Conflict(f"trigger {row['name']!r} is disabled", {"triggerId": row["id"]})
    with db.write() as conn:
        automation, gbac = automations.visible(conn, caller, row["action_id"])
        names = store.workflow_names(conn, [automation["component_id"]] if automation["component_id"] else [])
        workflow_name = names.get(automation["component_id"] or "")
        if workflow_name is None:
            raise Conflict(f"automation {automation['name']!r} has no workflow to run",
                           {"automationId": automation["id"]})
        origin = {"automationId": automation["id"], "triggerId": row["id"], "type": row["type"],
                  "triggeredBy": caller.username}
        groups = list(dict.fromkeys([*gbac.read, *gbac.write]))
        job = jobs.start_job(InTransaction(db, conn), caller, workflow_name, automation["description"] or None,
                             "automation", rules.job_variables(data, legacy_wrapper), groups, known_tasks,
                             trigger=origin)
        store.update_trigger(conn, row["id"], {"last_executed": now_ms()})
    progress.notify_work_queued()  # start_job's own wake-up came before this COMMIT
    return job


def run_manual(
    db: Database, caller: Principal, trigger_id: str, form_data: Mapping[str, Any],
    known_tasks: Collection[tuple[str, str]],
) -> dict[str, Any]:
    """Run a manual trigger: its `formData` defaults overlaid with the given `formData`."""
    require_object_id(trigger_id, "id")
    with db.read() as conn:
        row = _visible(conn, caller, trigger_id)
    if row["type"] != "manual":
        raise NotFound(f"trigger {trigger_id} is not a manual trigger")
    doc = rules.stored(row)
    data = {**(doc.get("formData") or {}), **form_data}
    return _run(db, caller, row, data, bool(doc.get("legacyWrapper", True)), known_tasks)


def run_endpoint(
    db: Database, caller: Principal, route_name: str, body: Any, known_tasks: Collection[tuple[str, str]]
) -> dict[str, Any]:
    """Run the enabled endpoint trigger that owns `route_name`; the body must satisfy its `schema`."""
    with db.read() as conn:
        row = store.enabled_endpoint(conn, route_name) if "\x00" not in route_name else None
        if row is not None:
            try:
                automations.visible(conn, caller, row["action_id"])
            except NotFound:
                row = None
        disabled = None if row else _disabled_endpoint(conn, caller, route_name)
    if row is None:
        if disabled is not None:
            raise Conflict(f"the endpoint trigger {disabled['name']!r} for route {route_name!r} is disabled",
                           {"triggerId": disabled["id"]})
        raise NotFound(f"no endpoint trigger with routeName {route_name!r}")
    doc = rules.stored(row)
    if doc.get("schema") is not None:
        problems = jsonschema_lite.validate(body, doc["schema"])
        if problems:
            shown = "; ".join(f"{p['path'] or '(body)'}: {p['message']}" for p in problems[:5])
            raise Invalid.problems(f"the body does not match the trigger's schema: {shown}", problems)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise Invalid.problems("the body must be a JSON object (its fields become job variables)",
                               [{"path": "body", "message": "must be an object"}])
    return _run(db, caller, row, body, False, known_tasks)


def _disabled_endpoint(conn: Connection, caller: Principal, route_name: str) -> dict[str, Any] | None:
    """A visible, disabled endpoint trigger with this route name (so the caller gets 409, not 404)."""
    params = [("equals", route_name), ("equalsField", "routeName"), ("limit", "1")]
    query = automation_rules.parse_pairs(params, TRIGGER_FIELDS, flags=FLAGS)
    where = compile.where_clause(trigger_table, query) & store.visible_clause(
        trigger_table.c.action_id, None if caller.is_admin else caller.groups
    ) & (trigger_table.c.type == "endpoint")
    rows, _ = store.search_triggers(conn, where, compile.order_by(trigger_table, query), 0, 1)
    return rows[0] if rows else None
