"""Operations Manager job routes (ops-manager-api §5.1)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from opsmgr.api.deps import call, require, state
from opsmgr.api.envelope import ok
from opsmgr.domain.access import Principal
from opsmgr.services import jobs

router = APIRouter(prefix="/operations-manager", tags=["jobs"])


class StartOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = None
    type: Literal["automation", "resource:action", "resource:compliance"] = "automation"
    variables: dict[str, Any] = Field(default_factory=dict)
    groups: list[str] = Field(default_factory=list)


class StartBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workflow: str = Field(min_length=1)
    options: StartOptions = Field(default_factory=StartOptions)


@router.get("/jobs")
async def get_jobs(request: Request, caller: Principal = Depends(require("getJobs"))) -> JSONResponse:
    st = state(request)
    docs, meta = await call(jobs.search_jobs, st.db, caller, list(request.query_params.multi_items()))
    return ok("Successfully retrieved search results", docs, meta)


@router.post("/jobs/start")
async def start_job(
    body: StartBody, request: Request, caller: Principal = Depends(require("startJob"))
) -> JSONResponse:
    st = state(request)
    o = body.options
    doc = await call(
        jobs.start_job, st.db, caller, body.workflow, o.description, o.type, o.variables, o.groups, st.known_tasks
    )
    return ok("Successfully started job", doc)


@router.get("/jobs/{id}")
async def get_job(id: str, request: Request, caller: Principal = Depends(require("getJob"))) -> JSONResponse:
    st = state(request)
    doc = await call(jobs.get_job, st.db, caller, id, list(request.query_params.multi_items()))
    return ok("Successfully retrieved job", doc)
