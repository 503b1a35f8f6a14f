"""Operations Manager automation routes (ops-manager-api §5.4). Bodies are checked by the domain rules,
which name the failing field (decisions §2)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse

from opsmgr.api.deps import require, state
from opsmgr.api.envelope import ok
from opsmgr.domain.access import Principal
from opsmgr.errors import Invalid
from opsmgr.services import automations

router = APIRouter(prefix="/operations-manager", tags=["automations"])


def _object(body: Any, *keys: str) -> dict[str, Any]:
    """The body as an object whose listed keys (if any) are the only ones allowed."""
    if not isinstance(body, dict):
        raise Invalid.problems("the body must be a JSON object", [{"path": "body", "message": "must be an object"}])
    extra = [k for k in body if keys and k not in keys]
    if extra:
        raise Invalid.problems(f"{extra[0]} is not an allowed property of the body",
                               [{"path": k, "message": f"{k} is not an allowed property"} for k in extra])
    return body


@router.get("/automations")
async def get_automations(request: Request, caller: Principal = Depends(require("getAutomations"))) -> JSONResponse:
    st = state(request)
    docs, meta = await st.run(automations.search_automations, st.db, caller, list(request.query_params.multi_items()))
    return ok("Successfully retrieved search results", docs, meta)


@router.post("/automations")
async def create_automation(
    request: Request, body: Any = Body(None), caller: Principal = Depends(require("createAutomation"))
) -> JSONResponse:
    st = state(request)
    doc = await st.run(automations.create_automation, st.db, caller, body)
    return ok("Successfully created the requested item", doc)


@router.put("/automations")
async def import_automations(
    request: Request, body: Any = Body(None), caller: Principal = Depends(require("importAutomations"))
) -> JSONResponse:
    st = state(request)
    body = _object(body, "automations", "options")
    items = body.get("automations")
    if not isinstance(items, list):
        raise Invalid.problems("automations is required and must be an array",
                               [{"path": "automations", "message": "required, an array"}])
    if not isinstance(body.get("options", {}), dict):
        raise Invalid.problems("options must be an object", [{"path": "options", "message": "must be an object"}])
    results = await st.run(automations.import_automations, st.db, caller, items)
    done = sum(1 for r in results if r["success"])
    return ok(f"Successfully imported {done} of {len(results)} documents", results)


@router.post("/automations/clone")
async def clone_automation(
    request: Request, body: Any = Body(None), caller: Principal = Depends(require("cloneAutomation"))
) -> JSONResponse:
    st = state(request)
    body = _object(body, "id", "name")
    if "id" not in body or not isinstance(body["id"], str):
        raise Invalid.problems("id is required: the _id of the automation to clone",
                               [{"path": "id", "message": "required, a 24-hex automation id"}])
    clone, meta = await st.run(automations.clone_automation, st.db, caller, body["id"], body.get("name"))
    return ok("Successfully cloned the automation", clone, meta)


@router.get("/automations/{id}")
async def get_automation(id: str, request: Request, caller: Principal = Depends(require("getAutomation"))
                         ) -> JSONResponse:
    st = state(request)
    return ok("Successfully retrieved automation", await st.run(automations.get_automation, st.db, caller, id))


@router.patch("/automations/{id}")
async def update_automation(
    id: str, request: Request, body: Any = Body(None), caller: Principal = Depends(require("updateAutomation"))
) -> JSONResponse:
    st = state(request)
    doc = await st.run(automations.update_automation, st.db, caller, id, body)
    return ok("Successfully updated automation", doc)


@router.delete("/automations/{id}")
async def delete_automation(
    id: str, request: Request, caller: Principal = Depends(require("deleteAutomation"))
) -> JSONResponse:
    st = state(request)
    doc, count = await st.run(automations.delete_automation, st.db, caller, id)
    return ok(f"Successfully deleted automation and {count} trigger(s)", doc, {"deletedTriggers": count})


@router.get("/automations/{id}/export")
async def export_automation(
    id: str, request: Request, caller: Principal = Depends(require("exportAutomation"))
) -> JSONResponse:
    st = state(request)
    return ok("Successfully exported automation", await st.run(automations.export_automation, st.db, caller, id))
