"""GET /operations-manager/large-data/:id (exportLargeData, ops-manager-api §5.3): a large job variable or
task output stored aside, answered as the value itself (no envelope)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from opsmgr.api.deps import require, state
from opsmgr.domain.access import Principal
from opsmgr.services import large_data

router = APIRouter(prefix="/operations-manager", tags=["jobs"])


@router.get("/large-data/{id}")
async def export_large_data(id: str, request: Request, caller: Principal = Depends(require("exportLargeData"))
                            ) -> JSONResponse:
    st = state(request)
    return JSONResponse(await st.run(large_data.get_large_data, st.db, caller, id))
