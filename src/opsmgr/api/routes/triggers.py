"""Operations Manager trigger routes (ops-manager-api §5.5): CRUD, import/export, and the manual and
endpoint runs (each answers the started job)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse

from opsmgr.api.deps import require, state
from opsmgr.api.envelope import ok
from opsmgr.api.routes.automations import _object
from opsmgr.domain.access import Principal
from opsmgr.errors import Invalid
from opsmgr.services import triggers

router = APIRouter(prefix="/operations-manager", tags=["triggers"])


@router.get("/triggers")
async def get_triggers(request: Request, caller: Principal = Depends(require("getTriggers"))) -> JSONResponse:
    st = state(request)
    docs, meta = await st.run(triggers.search_triggers, st.db, caller, list(request.query_params.multi_items()))
    return ok("Successfully retrieved search results", docs, meta)


@router.post("/triggers")
async def create_trigger(
    request: Request, body: Any = Body(None), caller: Principal = Depends(require("createTrigger"))
) -> JSONResponse:
    st = state(request)
    return ok("Successfully created the requested item", await st.run(triggers.create_trigger, st.db, caller, body))


@router.put("/triggers")
async def import_triggers(
    request: Request, body: Any = Body(None), caller: Principal = Depends(require("importTriggers"))
) -> JSONResponse:
    st = state(request)
    items = _object(body, "triggers").get("triggers")
    if not isinstance(items, list):
        raise Invalid.problems("triggers is required and must be an array",
                               [{"path": "triggers", "message": "required, an array"}])
    results = await st.run(triggers.import_triggers, st.db, caller, items)
    done = sum(1 for r in results if r["success"])
    return ok(f"Successfully imported {done} of {len(results)} documents", results)


@router.get("/triggers/{id}")
async def get_trigger(id: str, request: Request, caller: Principal = Depends(require("getTrigger"))) -> JSONResponse:
    st = state(request)
    return ok("Successfully retrieved trigger", await st.run(triggers.get_trigger, st.db, caller, id))


@router.patch("/triggers/{id}")
async def update_trigger(
    id: str, request: Request, body: Any = Body(None), caller: Principal = Depends(require("updateTrigger"))
) -> JSONResponse:
    st = state(request)
    return ok("Successfully updated trigger", await st.run(triggers.update_trigger, st.db, caller, id, body))


@router.delete("/triggers/{id}")
async def delete_trigger(id: str, request: Request, caller: Principal = Depends(require("deleteTrigger"))
                         ) -> JSONResponse:
    st = state(request)
    return ok("Successfully deleted trigger", await st.run(triggers.delete_trigger, st.db, caller, id))


@router.get("/triggers/{id}/export")
async def export_trigger(id: str, request: Request, caller: Principal = Depends(require("exportTrigger"))
                         ) -> JSONResponse:
    st = state(request)
    return ok("Successfully exported trigger", await st.run(triggers.export_trigger, st.db, caller, id))


@router.delete("/triggers/action/{id}")
async def delete_triggers_by_action_id(
    id: str, request: Request, caller: Principal = Depends(require("deleteTriggersByActionId"))
) -> JSONResponse:
    st = state(request)
    count = await st.run(triggers.delete_triggers_of, st.db, caller, id)
    return ok(f"Successfully deleted {count} trigger(s)", {"deleted": count})


@router.post("/triggers/endpoint/{routeName}")
async def run_endpoint_trigger(
    routeName: str, request: Request, body: Any = Body(None),
    caller: Principal = Depends(require("runEndpointTriggerWithPost")),
) -> JSONResponse:
    st = state(request)
    job = await st.run(triggers.run_endpoint, st.db, caller, routeName, body, st.known_tasks)
    return ok("Successfully started job", job)


@router.post("/triggers/manual/{id}/run")
async def run_manual_trigger(
    id: str, request: Request, body: Any = Body(None), caller: Principal = Depends(require("runManualTrigger"))
) -> JSONResponse:
    st = state(request)
    body = _object({} if body is None else body, "formData", "runtimeOptions")
    form = body.get("formData", {})
    if not isinstance(form, dict):
        raise Invalid.problems("formData must be an object", [{"path": "formData", "message": "must be an object"}])
    if not isinstance(body.get("runtimeOptions", {}), dict):
        raise Invalid.problems("runtimeOptions must be an object",
                               [{"path": "runtimeOptions", "message": "must be an object"}])
    job = await st.run(triggers.run_manual, st.db, caller, id, form, st.known_tasks)
    return ok("Successfully started job", job)
