"""Workflow Engine metrics routes (workflow-semantics §6). Answers are `{results, skip, limit, total}`,
not enveloped, as Itential's."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from opsmgr.api.deps import require, state
from opsmgr.domain.access import Principal
from opsmgr.services import metrics

router = APIRouter(tags=["metrics"])


@router.get("/workflow_engine/jobs/metrics")
async def job_metrics(request: Request, caller: Principal = Depends(require("getJobMetrics"))) -> JSONResponse:
    st = state(request)
    return JSONResponse(await st.run(metrics.job_metrics, st.db, caller, list(request.query_params.multi_items())))


@router.get("/workflow_engine/tasks/metrics")
async def task_metrics(request: Request, caller: Principal = Depends(require("getTaskMetrics"))) -> JSONResponse:
    st = state(request)
    return JSONResponse(await st.run(metrics.task_metrics, st.db, caller, list(request.query_params.multi_items())))
