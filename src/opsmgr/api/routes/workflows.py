"""Automation Studio workflow routes (ops-manager-api Appendix A). Answers are not enveloped."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from opsmgr.api.deps import require, state
from opsmgr.domain.access import Principal
from opsmgr.services import workflows

router = APIRouter(tags=["workflows"])


class CreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    automation: dict[str, Any]


class ImportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    automations: list[Any]


class UpdateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    update: dict[str, Any]


@router.get("/automation-studio/workflows")
async def search_workflows(request: Request, _: Principal = Depends(require("searchWorkflows"))) -> JSONResponse:
    st = state(request)
    return JSONResponse(await st.run(workflows.search_workflows, st.db, list(request.query_params.multi_items())))


@router.get("/automation-studio/workflows/detailed/{name}")
async def get_workflow_detailed(
    name: str, request: Request, _: Principal = Depends(require("getWorkflowDetailed"))
) -> JSONResponse:
    st = state(request)
    return JSONResponse(await st.run(workflows.get_workflow_by_name, st.db, name))


@router.post("/automation-studio/automations")
async def create_workflow(
    body: CreateBody, request: Request, caller: Principal = Depends(require("createWorkflow"))
) -> JSONResponse:
    st = state(request)
    created = await st.run(workflows.create_workflow, st.db, caller, body.automation, st.known_tasks)
    return JSONResponse({"created": created, "edit": f"/automation-studio/#/edit?automation={created['_id']}"})


@router.post("/automation-studio/automations/import")
async def import_workflows(
    body: ImportBody, request: Request, caller: Principal = Depends(require("importWorkflows"))
) -> JSONResponse:
    st = state(request)
    imported = await st.run(workflows.import_workflows, st.db, caller, body.automations, st.known_tasks)
    return JSONResponse({"imported": [{"success": True, "data": w} for w in imported]})


@router.put("/automation-studio/automations/{id}")
async def update_workflow(
    id: str, body: UpdateBody, request: Request, caller: Principal = Depends(require("updateWorkflow"))
) -> JSONResponse:
    st = state(request)
    return JSONResponse(await st.run(workflows.update_workflow, st.db, caller, id, body.update, st.known_tasks))


@router.delete("/automation-studio/automations/{id}")
async def delete_workflow(
    id: str, request: Request, _: Principal = Depends(require("deleteWorkflow"))
) -> JSONResponse:
    st = state(request)
    deleted = await st.run(workflows.delete_workflow, st.db, id)
    return JSONResponse({"message": f"deleted workflow {deleted['name']}", "deleted": deleted})
