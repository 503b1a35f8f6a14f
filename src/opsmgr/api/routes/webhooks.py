"""Webhook routes (issue #3 scope 7; ours, Itential has none): admins configure subscriptions to the event
outbox and look at their delivery attempts (services.webhooks)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse

from opsmgr.api.deps import require, state
from opsmgr.api.envelope import ok
from opsmgr.domain.access import Principal
from opsmgr.services import webhooks

router = APIRouter(prefix="/operations-manager", tags=["webhooks"])


@router.get("/webhooks")
async def get_webhooks(request: Request, caller: Principal = Depends(require("getWebhooks"))) -> JSONResponse:
    st = state(request)
    return ok("Successfully retrieved webhooks", await st.run(webhooks.list_webhooks, st.db))


@router.post("/webhooks")
async def create_webhook(
    request: Request, body: Any = Body(None), caller: Principal = Depends(require("createWebhook"))
) -> JSONResponse:
    st = state(request)
    return ok("Successfully created the webhook", await st.run(webhooks.create_webhook, st.db, caller, body))


@router.get("/webhooks/{id}")
async def get_webhook(id: str, request: Request, caller: Principal = Depends(require("getWebhook"))) -> JSONResponse:
    st = state(request)
    return ok("Successfully retrieved the webhook", await st.run(webhooks.get_webhook, st.db, id))


@router.put("/webhooks/{id}")
async def update_webhook(
    id: str, request: Request, body: Any = Body(None), caller: Principal = Depends(require("updateWebhook"))
) -> JSONResponse:
    st = state(request)
    return ok("Successfully updated the webhook", await st.run(webhooks.update_webhook, st.db, caller, id, body))


@router.delete("/webhooks/{id}")
async def delete_webhook(
    id: str, request: Request, caller: Principal = Depends(require("deleteWebhook"))
) -> JSONResponse:
    st = state(request)
    return ok("Successfully deleted the webhook", await st.run(webhooks.delete_webhook, st.db, id))


@router.get("/webhooks/{id}/deliveries")
async def get_deliveries(
    id: str, request: Request, limit: str | None = None, caller: Principal = Depends(require("getWebhookDeliveries"))
) -> JSONResponse:
    """The latest delivery attempts of a webhook, newest first (`?limit=`, default 100)."""
    st = state(request)
    return ok("Successfully retrieved deliveries", await st.run(webhooks.deliveries, st.db, id, limit))
