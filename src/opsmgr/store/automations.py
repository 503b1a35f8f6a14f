"""Automations, their GBAC groups, and triggers (ops-manager-api §3.3-3.4)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, exists, func, insert, not_, or_, select, update

from opsmgr.store.schema import automation, automation_group, trigger, workflow

ACCESS = ("read", "write")


def _one(conn: Connection, stmt: Any) -> dict[str, Any] | None:
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


# automations ---------------------------------------------------------------------------------------------


def _with_component() -> Any:
    """Automation rows with the name of their workflow (`component_name`, None when it is gone)."""
    return select(automation, workflow.c.name.label("component_name")).select_from(
        automation.outerjoin(workflow, workflow.c.id == automation.c.component_id)
    )


def insert_automation(conn: Connection, values: dict[str, Any], gbac: dict[str, list[str]]) -> None:
    conn.execute(insert(automation).values(**values))
    set_gbac(conn, values["id"], gbac)


def get_automation(conn: Connection, automation_id: str, for_update: bool = False) -> dict[str, Any] | None:
    stmt = _with_component().where(automation.c.id == automation_id)
    if for_update:
        stmt = stmt.with_for_update(of=automation)
    return _one(conn, stmt)


def automation_by_name(conn: Connection, name: str) -> dict[str, Any] | None:
    return _one(conn, select(automation).where(automation.c.name == name))


def names_like(conn: Connection, prefix: str) -> list[str]:
    rows = conn.execute(select(automation.c.name).where(automation.c.name.startswith(prefix, autoescape=True)))
    return [r.name for r in rows]


def update_automation(conn: Connection, automation_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(automation).where(automation.c.id == automation_id).values(**values))


def delete_automation(conn: Connection, automation_id: str) -> None:
    conn.execute(delete(trigger).where(trigger.c.action_id == automation_id))
    conn.execute(delete(automation_group).where(automation_group.c.automation_id == automation_id))
    conn.execute(delete(automation).where(automation.c.id == automation_id))


def gbac_of(conn: Connection, automation_ids: Iterable[str]) -> dict[str, dict[str, list[str]]]:
    ids = list(set(automation_ids))
    found: dict[str, dict[str, list[str]]] = {i: {"read": [], "write": []} for i in ids}
    if ids:
        rows = conn.execute(
            select(automation_group)
            .where(automation_group.c.automation_id.in_(ids))
            .order_by(automation_group.c.automation_id, automation_group.c.access, automation_group.c.position)
        )
        for r in rows:
            found[r.automation_id][r.access].append(r.group_id)
    return found


def set_gbac(conn: Connection, automation_id: str, gbac: dict[str, list[str]]) -> None:
    conn.execute(delete(automation_group).where(automation_group.c.automation_id == automation_id))
    rows = [
        {"automation_id": automation_id, "access": access, "group_id": g, "position": i}
        for access in ACCESS
        for i, g in enumerate(dict.fromkeys(gbac.get(access, [])))
    ]
    if rows:
        conn.execute(insert(automation_group), rows)


def visible_clause(automation_id_column: Any, groups: Iterable[str] | None) -> ColumnElement[bool]:
    """Rows whose automation has no GBAC groups or shares one (read or write) with `groups`
    (None: no restriction, admin)."""
    if groups is None:
        return automation_id_column.is_not(None)
    any_group = exists().where(automation_group.c.automation_id == automation_id_column)
    shared = exists().where(
        automation_group.c.automation_id == automation_id_column, automation_group.c.group_id.in_(list(groups))
    )
    return or_(not_(any_group), shared)


def search_automations(
    conn: Connection, where: ColumnElement[bool], order: list[Any], skip: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    total = conn.execute(select(func.count()).select_from(automation).where(where)).scalar_one()
    rows = conn.execute(_with_component().where(where).order_by(*order).offset(skip).limit(limit)).mappings()
    return [dict(r) for r in rows], total


def workflow_names(conn: Connection, workflow_ids: Iterable[str]) -> dict[str, str]:
    ids = list(set(workflow_ids))
    if not ids:
        return {}
    return {r.id: r.name for r in conn.execute(select(workflow.c.id, workflow.c.name).where(workflow.c.id.in_(ids)))}


def workflow_id_by_name(conn: Connection, name: str) -> str | None:
    return conn.execute(select(workflow.c.id).where(workflow.c.name == name)).scalar_one_or_none()


# triggers ------------------------------------------------------------------------------------------------


def insert_trigger(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(trigger).values(**values))


def get_trigger(conn: Connection, trigger_id: str, for_update: bool = False) -> dict[str, Any] | None:
    stmt = select(trigger).where(trigger.c.id == trigger_id)
    if for_update:
        stmt = stmt.with_for_update()
    return _one(conn, stmt)


def enabled_endpoint(conn: Connection, route_name: str) -> dict[str, Any] | None:
    """The enabled endpoint trigger that owns `route_name` (at most one: a partial unique index)."""
    return _one(conn, select(trigger).where(
        trigger.c.route_name == route_name, trigger.c.enabled.is_(True), trigger.c.type == "endpoint"))


def route_names(conn: Connection) -> set[str]:
    rows = conn.execute(select(trigger.c.route_name).where(trigger.c.route_name.is_not(None)))
    return {r.route_name for r in rows}


def triggers_of(conn: Connection, automation_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(trigger).where(trigger.c.action_id == automation_id).order_by(trigger.c.id))
    return [dict(r) for r in rows.mappings()]


def update_trigger(conn: Connection, trigger_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(trigger).where(trigger.c.id == trigger_id).values(**values))


def delete_trigger(conn: Connection, trigger_id: str) -> None:
    conn.execute(delete(trigger).where(trigger.c.id == trigger_id))


def delete_triggers_of(conn: Connection, automation_id: str) -> int:
    return int(conn.execute(delete(trigger).where(trigger.c.action_id == automation_id)).rowcount)


def search_triggers(
    conn: Connection, where: ColumnElement[bool], order: list[Any], skip: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    total = conn.execute(select(func.count()).select_from(trigger).where(where)).scalar_one()
    rows = conn.execute(select(trigger).where(where).order_by(*order).offset(skip).limit(limit)).mappings()
    return [dict(r) for r in rows], total


def due_schedules(conn: Connection, now: int, limit: int = 100) -> list[dict[str, Any]]:
    """Enabled schedule triggers whose stored due time has come: [{id, next_run_at}], oldest first."""
    rows = conn.execute(
        select(trigger.c.id, trigger.c.next_run_at)
        .where(trigger.c.next_run_at <= now, trigger.c.enabled.is_(True), trigger.c.type == "schedule")
        .order_by(trigger.c.next_run_at)
        .limit(limit)
    ).mappings()
    return [dict(r) for r in rows]


def claim_schedule(conn: Connection, trigger_id: str, due: int, next_due: int | None) -> bool:
    """ONE conditional UPDATE moves the due time from `due` to `next_due`; False when another process
    (or a disable, or a reschedule) changed it first. Under concurrency exactly one claimer wins."""
    result = conn.execute(
        update(trigger)
        .where(trigger.c.id == trigger_id, trigger.c.next_run_at == due, trigger.c.enabled.is_(True))
        .values(next_run_at=next_due)
    )
    return int(result.rowcount) == 1


def id_taken(conn: Connection, table_name: str, row_id: str) -> bool:
    table = automation if table_name == "automation" else trigger
    return conn.execute(select(table.c.id).where(table.c.id == row_id)).first() is not None
