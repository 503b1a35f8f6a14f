"""Operations Manager task routes: read, search, the workable/retryable views, claim, release, assign, finish,
history (decisions §5, §9)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from opsmgr.api.deps import require, state
from opsmgr.api.envelope import ok
from opsmgr.domain.access import Principal
from opsmgr.services import tasks

router = APIRouter(prefix="/operations-manager", tags=["tasks"])


class EmptyBody(BaseModel):
    """Claim and release take `{}`; any property is a 400."""

    model_config = ConfigDict(extra="forbid")


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    userId: str = Field(pattern=r"^[0-9a-f]{24}$")


class TaskData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    finish_state: str = "success"
    variables: dict[str, Any] = Field(default_factory=dict)


class FinishBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    taskData: TaskData = Field(default_factory=TaskData)


@router.get("/tasks")
async def get_tasks(request: Request, caller: Principal = Depends(require("getTasks"))) -> JSONResponse:
    st = state(request)
    docs, meta = await st.run(tasks.search_tasks, st.db, caller, list(request.query_params.multi_items()))
    return ok("Successfully retrieved search results", docs, meta)


# the views are declared before /tasks/{id} so that route does not take "workable" for an id
@router.get("/tasks/workable")
async def get_workable_tasks(
    request: Request, caller: Principal = Depends(require("getWorkableTasks"))
) -> JSONResponse:
    st = state(request)
    docs, meta = await st.run(tasks.workable_tasks, st.db, caller, list(request.query_params.multi_items()))
    return ok("Successfully retrieved search results", docs, meta)


@router.get("/tasks/retryable")
async def get_retryable_tasks(
    request: Request, caller: Principal = Depends(require("getRetryableTasks"))
) -> JSONResponse:
    st = state(request)
    docs, meta = await st.run(tasks.retryable_tasks, st.db, caller, list(request.query_params.multi_items()))
    return ok("Successfully retrieved search results", docs, meta)


@router.get("/tasks/{id}")
async def get_task(id: str, request: Request, caller: Principal = Depends(require("getTask"))) -> JSONResponse:
    st = state(request)
    doc = await st.run(tasks.get_task, st.db, caller, id, list(request.query_params.multi_items()))
    return ok("Successfully retrieved task", doc)


@router.get("/tasks/{taskId}/history")
async def get_task_history(
    taskId: str, request: Request, caller: Principal = Depends(require("getTaskHistory"))
) -> JSONResponse:
    st = state(request)
    return ok("Successfully retrieved task history", await st.run(tasks.task_history, st.db, caller, taskId))


@router.post("/tasks/{taskId}/claim")
async def claim_task(
    taskId: str,
    request: Request,
    body: EmptyBody | None = Body(default=None),
    caller: Principal = Depends(require("claimTask")),
) -> JSONResponse:
    st = state(request)
    return ok("Successfully claimed task", await st.run(tasks.claim_task, st.db, caller, taskId))


@router.post("/tasks/{taskId}/release")
async def release_task(
    taskId: str,
    request: Request,
    body: EmptyBody | None = Body(default=None),
    caller: Principal = Depends(require("releaseTask")),
) -> JSONResponse:
    st = state(request)
    return ok("Successfully released task", await st.run(tasks.release_task, st.db, caller, taskId))


@router.post("/tasks/{taskId}/assign")
async def assign_task(
    taskId: str, body: AssignBody, request: Request, caller: Principal = Depends(require("assignTask"))
) -> JSONResponse:
    st = state(request)
    return ok("Successfully assigned task", await st.run(tasks.assign_task, st.db, caller, taskId, body.userId))


@router.post("/tasks/{taskId}/finish")
async def finish_task_by_id(
    taskId: str,
    request: Request,
    body: FinishBody = Body(default_factory=FinishBody),
    caller: Principal = Depends(require("finishTask")),
) -> JSONResponse:
    st = state(request)
    doc = await st.run(
        tasks.finish_task, st.db, caller, body.taskData.finish_state, body.taskData.variables, task_id=taskId
    )
    return ok("Successfully finished task", doc)


@router.post("/jobs/{jobId}/tasks/{taskId}/finish")
async def finish_manual_task(
    jobId: str,
    taskId: str,
    request: Request,
    body: FinishBody = Body(default_factory=FinishBody),
    caller: Principal = Depends(require("finishManualTask")),
) -> JSONResponse:
    st = state(request)
    doc = await st.run(
        tasks.finish_task,
        st.db,
        caller,
        body.taskData.finish_state,
        body.taskData.variables,
        job_id=jobId,
        task_key=taskId,
    )
    return ok("Successfully finished task", doc)
