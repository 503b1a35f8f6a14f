"""Workflow documents (Automation Studio)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from opsmgr.store.schema import workflow


def _one(conn: Connection, stmt: Any) -> dict[str, Any] | None:
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


def insert_workflow(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(workflow).values(**values))


def get_workflow(conn: Connection, workflow_id: str) -> dict[str, Any] | None:
    return _one(conn, select(workflow).where(workflow.c.id == workflow_id))


def workflow_by_name(conn: Connection, name: str) -> dict[str, Any] | None:
    return _one(conn, select(workflow).where(workflow.c.name == name))


def update_workflow(conn: Connection, workflow_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(workflow).where(workflow.c.id == workflow_id).values(**values))


def delete_workflow(conn: Connection, workflow_id: str) -> int:
    return conn.execute(delete(workflow).where(workflow.c.id == workflow_id)).rowcount


def search_workflows(
    conn: Connection, where: Any, order: list[Any], skip: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    total = conn.execute(select(func.count()).select_from(workflow).where(where)).scalar_one()
    rows = conn.execute(select(workflow).where(where).order_by(*order).offset(skip).limit(limit)).mappings()
    return [dict(r) for r in rows], total
