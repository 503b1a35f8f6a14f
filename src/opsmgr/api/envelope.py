"""The Operations Manager response envelope `{message, data, metadata}` (decisions §2)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse


def ok(message: str, data: Any, metadata: dict[str, Any] | None = None, status: int = 200) -> JSONResponse:
    return JSONResponse({"message": message, "data": data, "metadata": metadata or {}}, status_code=status)
