"""Workflow documents (Automation Studio routes): create, import, update, delete, read, search.

Every write validates the whole document first (domain.workflow.validate) and stores nothing when any
problem is found; an import is all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from opsmgr.domain import search
from opsmgr.domain.access import Principal
from opsmgr.domain.documents import PLATFORM_VERSION, iso, now_ms
from opsmgr.domain.ids import new_object_id, require_object_id
from opsmgr.domain.workflow import validate
from opsmgr.errors import Conflict, Invalid, NotFound
from opsmgr.store import search as compile
from opsmgr.store import workflows as store
from opsmgr.store.database import Connection, Database
from opsmgr.store.schema import workflow as workflow_table

WORKFLOW_FIELDS = search.fields(
    search.Field("_id", "id"),
    search.Field("name", "name"),
    search.Field("created", "created", "date"),
    search.Field("last_updated", "last_updated", "date"),
    search.Field("created_by", "created_by"),
    search.Field("last_updated_by", "last_updated_by"),
    # fields of the stored document (JSON; not sortable), and dotted paths below `tasks` / `inputSchema`
    search.Field("description", "document", "json", ("description",)),
    search.Field("type", "document", "json", ("type",)),
    search.Field("tasks.*", "document", "json", ("tasks",)),
    search.Field("inputSchema.*", "document", "json", ("inputSchema",)),
)
SERVER_FIELDS = ("_id", "created", "created_by", "last_updated", "last_updated_by", "createdVersion",
                 "lastUpdatedVersion", "errors", "warnings")


def _checked(doc: object, known: Collection[tuple[str, str]], prefix: str = "") -> dict[str, Any]:
    problems = validate(doc, known)
    if problems:
        if prefix:
            problems = [{"path": f"{prefix}.{p['path']}".rstrip("."), "message": p["message"]} for p in problems]
        summary = "; ".join(f"{p['path']}: {p['message']}" for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise Invalid.problems(f"the workflow is invalid: {summary}{more}", problems)
    assert isinstance(doc, Mapping)
    return {k: v for k, v in doc.items() if k not in SERVER_FIELDS}


def _document(row: Mapping[str, Any]) -> dict[str, Any]:
    """The stored workflow as Automation Studio shows it."""
    return {
        **row["document"],
        "_id": row["id"],
        "created": iso(row["created"]),
        "created_by": row["created_by"],
        "createdVersion": PLATFORM_VERSION,
        "last_updated": iso(row["last_updated"]),
        "last_updated_by": row["last_updated_by"],
        "lastUpdatedVersion": PLATFORM_VERSION,
        "encodingVersion": 1,
    }


def _insert(conn: Connection, caller: Principal, doc: dict[str, Any]) -> dict[str, Any]:
    if store.workflow_by_name(conn, doc["name"]):
        raise Conflict(f"workflow with name {doc['name']!r} already exists", {"name": doc["name"]})
    now = now_ms()
    row = {
        "id": new_object_id(),
        "name": doc["name"],
        "document": doc,
        "created": now,
        "created_by": caller.account_id,
        "last_updated": now,
        "last_updated_by": caller.account_id,
    }
    store.insert_workflow(conn, row)
    return _document(row)


def create_workflow(
    db: Database, caller: Principal, doc: object, known: Collection[tuple[str, str]]
) -> dict[str, Any]:
    clean = _checked(doc, known, "automation")
    with db.write() as conn:
        return _insert(conn, caller, clean)


def import_workflows(
    db: Database, caller: Principal, docs: list[object], known: Collection[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Import several workflows, all or none; a given `_id` is replaced by a new one."""
    problems: list[dict[str, str]] = []
    clean: list[dict[str, Any]] = []
    for i, doc in enumerate(docs):
        try:
            clean.append(_checked(doc, known, f"automations.{i}"))
        except Invalid as exc:
            problems.extend(exc.details["errors"])
    names = [d["name"] for d in clean]
    dupes = sorted({n for n in names if names.count(n) > 1})
    problems.extend({"path": "automations", "message": f"name {n!r} appears more than once"} for n in dupes)
    if problems:
        raise Invalid.problems(f"{len(problems)} problem(s) in the import; nothing was imported", problems)
    with db.write() as conn:
        return [_insert(conn, caller, doc) for doc in clean]


def update_workflow(
    db: Database, caller: Principal, workflow_id: str, doc: object, known: Collection[tuple[str, str]]
) -> dict[str, Any]:
    """Replace a workflow document; running jobs keep their snapshot."""
    require_object_id(workflow_id, "id")
    clean = _checked(doc, known, "update")
    with db.write() as conn:
        row = store.get_workflow(conn, workflow_id)
        if row is None:
            raise NotFound(f"workflow {workflow_id} not found")
        other = store.workflow_by_name(conn, clean["name"])
        if other and other["id"] != workflow_id:
            raise Conflict(f"workflow with name {clean['name']!r} already exists", {"name": clean["name"]})
        now = now_ms()
        values = {"name": clean["name"], "document": clean, "last_updated": now, "last_updated_by": caller.account_id}
        store.update_workflow(conn, workflow_id, values)
        row.update(values)
    return _document(row)


def delete_workflow(db: Database, workflow_id: str) -> dict[str, Any]:
    require_object_id(workflow_id, "id")
    with db.write() as conn:
        row = store.get_workflow(conn, workflow_id)
        if row is None:
            raise NotFound(f"workflow {workflow_id} not found")
        store.delete_workflow(conn, workflow_id)
    return _document(row)


def get_workflow_by_name(db: Database, name: str) -> dict[str, Any]:
    with db.read() as conn:
        row = None if "\x00" in name else store.workflow_by_name(conn, name)
    if row is None:
        raise NotFound(f"workflow {name!r} not found")
    return _document(row)


def search_workflows(db: Database, params: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A page of workflows in Automation Studio's shape: `{items, total, skip, limit, ...}`."""
    query = search.parse(params, WORKFLOW_FIELDS, default_sort="name", extra_params=("exclude-project-members",))
    with db.read() as conn:
        rows, total = store.search_workflows(
            conn,
            compile.where_clause(workflow_table, query),
            compile.order_by(workflow_table, query),
            query.skip,
            query.limit,
        )
    items = [search.project(_document(r), query.include, query.exclude) for r in rows]
    meta = search.page_metadata(query, total, len(items))
    return {
        "items": items,
        "total": total,
        "skip": query.skip,
        "limit": query.limit,
        "count": len(items),
        "end": query.skip + len(items),
        "next": meta["nextPageSkip"],
        "previous": meta["previousPageSkip"],
    }
