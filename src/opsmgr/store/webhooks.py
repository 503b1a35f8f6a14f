"""Webhook subscriptions and their delivery attempts (tables `webhook`, `webhook_delivery`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from opsmgr.store.schema import webhook, webhook_delivery


def insert_webhook(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(webhook).values(**row))


def get_webhook(conn: Connection, webhook_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(webhook).where(webhook.c.id == webhook_id)).mappings().first()
    return dict(row) if row else None


def list_webhooks(conn: Connection, enabled_only: bool = False) -> list[dict[str, Any]]:
    stmt = select(webhook).order_by(webhook.c.created, webhook.c.id)
    if enabled_only:
        stmt = stmt.where(webhook.c.enabled.is_(True))
    return [dict(r) for r in conn.execute(stmt).mappings()]


def update_webhook(conn: Connection, webhook_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(webhook).where(webhook.c.id == webhook_id).values(**values))


def delete_webhook(conn: Connection, webhook_id: str) -> None:
    conn.execute(delete(webhook).where(webhook.c.id == webhook_id))


def insert_delivery(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(webhook_delivery).values(**row))


def deliveries(conn: Connection, webhook_id: str, limit: int) -> list[dict[str, Any]]:
    """The latest `limit` attempts of a webhook, newest first."""
    d = webhook_delivery.c
    stmt = select(webhook_delivery).where(d.webhook_id == webhook_id).order_by(d.id.desc()).limit(limit)
    return [dict(r) for r in conn.execute(stmt).mappings()]
