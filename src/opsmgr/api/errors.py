"""THE table from domain exceptions to HTTP statuses (decisions §2), and the handlers that apply it.

Every error answer is the envelope `{message, data: null, metadata}`. Unexpected exceptions become a
500 with a request id that is also in the server log, never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from opsmgr.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    OpsmgrError,
    StoreBusy,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger("opsmgr.api")

STATUS: dict[type[OpsmgrError], int] = {
    Invalid: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    StoreBusy: 503,
    Unavailable: 503,
}


def error_body(message: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"message": message, "data": None, "metadata": metadata or {}}


def status_of(exc: OpsmgrError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        head, rest = parts[0], parts[1:]
        return ".".join(rest) if head == "body" and rest else ".".join(rest) or head
    return ".".join(parts)


def validation_problems(exc: RequestValidationError) -> list[dict[str, str]]:
    problems = []
    for err in exc.errors():
        path = _location(tuple(err.get("loc", ())))
        message = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            message = "unexpected property"
        elif err.get("type") == "json_invalid":
            # its loc is ("body", <character offset>): the offset is no field of the body
            path, message = "", f"the body is not valid JSON ({err.get('ctx', {}).get('error', 'syntax error')})"
        problems.append({"path": path, "message": message})
    return problems


def install(app: FastAPI) -> None:
    @app.exception_handler(OpsmgrError)
    async def _domain(request: Request, exc: OpsmgrError) -> JSONResponse:
        status = status_of(exc)
        headers = {"Retry-After": "1"} if status == 503 else None
        if status == 401:
            headers = {"WWW-Authenticate": 'Basic realm="opsmgr"'}
        return JSONResponse(error_body(exc.message, exc.details), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = validation_problems(exc)
        first = problems[0] if problems else {"path": "", "message": "invalid request"}
        message = f"invalid request: {first['path'] or 'body'}: {first['message']}"
        return JSONResponse(error_body(message, {"errors": problems}), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}"
        return JSONResponse(error_body(message), status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = request.scope.get("state", {}).get("request_id", "-")
        log.exception("request %s failed: %s %s", request_id, request.method, request.url.path)
        return JSONResponse(
            error_body(f"internal error; quote request id {request_id} when reporting it", {"requestId": request_id}),
            status_code=500,
        )
