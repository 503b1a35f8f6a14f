"""The FastAPI application: routers, the error table, request logging, and the embedded engine."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from opsmgr import __version__
from opsmgr.api import errors
from opsmgr.api.deps import AppState
from opsmgr.api.routes import (
    auth,
    authorization,
    automations,
    events,
    jobs,
    metrics,
    tasks,
    triggers,
    webhooks,
    workflows,
)
from opsmgr.api.routes import large_data as large_data_routes
from opsmgr.config import Settings
from opsmgr.engine.registry import Registry, default_registry
from opsmgr.engine.runtime import Engine
from opsmgr.services import large_data as large_data_service
from opsmgr.services import secrets
from opsmgr.services.auth import AuthCache
from opsmgr.store.database import Database

access_log = logging.getLogger("opsmgr.access")


class RequestLog:
    """Pure ASGI middleware: a request id per request and one log line when it ends."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:12]
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    '%s "%s %s" %d %.1fms', request_id, scope["method"], scope["path"], status,
                    (time.perf_counter() - started) * 1000,
                )


def create_app(
    settings: Settings | None = None,
    db: Database | None = None,
    registry: Registry | None = None,
    run_engine: bool = True,
) -> FastAPI:
    settings = settings or Settings()
    db = db or Database(settings.database_url, pool_size=settings.db_pool_size)
    registry = registry or default_registry()
    secrets.configure(settings)  # the key of encrypted variables, read when first needed (decisions §7)
    large_data_service.configure(settings)  # the size above which a variable is stored aside
    engine = Engine(db, settings, registry)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if run_engine and settings.engine_workers > 0:
            await engine.start()
        try:
            yield
        finally:
            await engine.stop()

    app = FastAPI(
        title="opsmgr",
        version=__version__,
        description="Operations manager with people in the loop; Itential Operations Manager compatible API.",
        lifespan=lifespan,
    )
    app.state.opsmgr = AppState(settings, db, AuthCache(settings.auth_cache_seconds), registry.known())
    app.state.engine = engine
    errors.install(app)
    for module in (auth, authorization, jobs, tasks, workflows, metrics, automations, triggers, events, webhooks):
        app.include_router(module.router)
    app.include_router(large_data_routes.router)
    app.add_middleware(RequestLog)
    return app
