"""Operations Manager job routes (ops-manager-api §5.1): start, read, search, and the job controls
(cancel, pause, resume, watch, groups, retry, continue, revert, delete, manual-task controller)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from opsmgr.api.deps import require, state
from opsmgr.api.envelope import ok
from opsmgr.domain.access import Principal
from opsmgr.services import jobs

router = APIRouter(prefix="/operations-manager", tags=["jobs"])


ObjectId = Annotated[str, Field(pattern=r"^[0-9a-f]{24}$")]
TaskKey = Annotated[str, Field(pattern=r"^([0-9a-f]{1,4}|workflow_start|workflow_end)$")]


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
    docs, meta = await st.run(jobs.search_jobs, st.db, caller, list(request.query_params.multi_items()))
    return ok("Successfully retrieved search results", docs, meta)


@router.post("/jobs/start")
async def start_job(
    body: StartBody, request: Request, caller: Principal = Depends(require("startJob"))
) -> JSONResponse:
    st = state(request)
    o = body.options
    doc = await st.run(
        jobs.start_job, st.db, caller, body.workflow, o.description, o.type, o.variables, o.groups, st.known_tasks
    )
    return ok("Successfully started job", doc)


@router.get("/jobs/{id}")
async def get_job(id: str, request: Request, caller: Principal = Depends(require("getJob"))) -> JSONResponse:
    st = state(request)
    doc = await st.run(jobs.get_job, st.db, caller, id, list(request.query_params.multi_items()))
    return ok("Successfully retrieved job", doc)


# job controls (issue #3) ----------------------------------------------------------------------------


class JobIdsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    jobIds: list[ObjectId]


class OptionalJobIdsBody(BaseModel):
    """watch/unwatch: `jobIds` is optional in Itential's schema; none means no job."""

    model_config = ConfigDict(extra="forbid")
    jobIds: list[ObjectId] = Field(default_factory=list)


class UserIdsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    userIds: list[ObjectId] = Field(min_length=1)


class GroupIdBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    groupId: ObjectId


class GroupsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    groups: list[ObjectId]


class RetryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    variables: dict[str, Any] = Field(default_factory=dict)


class ContinueBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fromTask: TaskKey


class RevertBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fromTask: TaskKey
    toTask: TaskKey


def _outcome(done: str, results: list[dict[str, Any]]) -> str:
    ok_count = sum(1 for r in results if r["success"])
    return f"{done} {ok_count} of {len(results)} jobs"


@router.post("/jobs/cancel")
async def cancel_jobs(
    body: JobIdsBody, request: Request, caller: Principal = Depends(require("cancelJobs"))
) -> JSONResponse:
    st = state(request)
    results = await st.run(jobs.cancel_jobs, st.db, caller, body.jobIds)
    return ok(_outcome("Canceled", results), results)


@router.post("/jobs/pause")
async def pause_jobs(
    body: JobIdsBody, request: Request, caller: Principal = Depends(require("pauseJobs"))
) -> JSONResponse:
    st = state(request)
    results = await st.run(jobs.pause_jobs, st.db, caller, body.jobIds)
    return ok(_outcome("Paused", results), results)


@router.post("/jobs/resume")
async def resume_jobs(
    body: JobIdsBody, request: Request, caller: Principal = Depends(require("resumeJobs"))
) -> JSONResponse:
    st = state(request)
    results = await st.run(jobs.resume_jobs, st.db, caller, body.jobIds)
    return ok(_outcome("Resumed", results), results)


@router.post("/jobs/watch")
async def watch_jobs(
    request: Request,
    body: OptionalJobIdsBody | None = Body(default=None),
    caller: Principal = Depends(require("watchJobs")),
) -> JSONResponse:
    st = state(request)
    ids = body.jobIds if body else []
    results = await st.run(jobs.watch_jobs, st.db, caller, ids, True)
    return ok(_outcome("Watching", results), results)


@router.post("/jobs/unwatch")
async def unwatch_jobs(
    request: Request,
    body: OptionalJobIdsBody | None = Body(default=None),
    caller: Principal = Depends(require("unwatchJobs")),
) -> JSONResponse:
    st = state(request)
    ids = body.jobIds if body else []
    results = await st.run(jobs.watch_jobs, st.db, caller, ids, False)
    return ok(_outcome("Stopped watching", results), results)


@router.post("/jobs/delete")
async def delete_jobs(
    body: JobIdsBody, request: Request, caller: Principal = Depends(require("deleteJobs"))
) -> JSONResponse:
    st = state(request)
    data = await st.run(jobs.delete_jobs, st.db, caller, body.jobIds)
    return ok(_outcome("Deleted", data["results"]), data["results"])


@router.post("/jobs/bulk-delete")
async def bulk_delete_jobs(
    body: JobIdsBody, request: Request, caller: Principal = Depends(require("bulkDeleteJobs"))
) -> JSONResponse:
    st = state(request)
    data = await st.run(jobs.delete_jobs, st.db, caller, body.jobIds)
    return ok(_outcome("Deleted", data["results"]), data)


@router.delete("/jobs/{jobId}")
async def delete_job(jobId: str, request: Request, caller: Principal = Depends(require("deleteJob"))) -> JSONResponse:
    st = state(request)
    data = await st.run(jobs.delete_job, st.db, caller, jobId)
    return ok("Successfully deleted the job and everything under it", data)


@router.post("/jobs/{jobId}/watch")
async def watch_job(jobId: str, request: Request, caller: Principal = Depends(require("watchJob"))) -> JSONResponse:
    st = state(request)
    return ok("Watching job", await st.run(jobs.watch_job, st.db, caller, jobId, True))


@router.post("/jobs/{jobId}/unwatch")
async def unwatch_job(
    jobId: str, request: Request, caller: Principal = Depends(require("unwatchJob"))
) -> JSONResponse:
    st = state(request)
    return ok("Stopped watching job", await st.run(jobs.watch_job, st.db, caller, jobId, False))


@router.post("/jobs/{jobId}/add-watchers")
async def add_watchers(
    jobId: str, body: UserIdsBody, request: Request, caller: Principal = Depends(require("addWatchersToJob"))
) -> JSONResponse:
    st = state(request)
    return ok("Added watchers", await st.run(jobs.add_watchers, st.db, caller, jobId, body.userIds))


@router.post("/jobs/{jobId}/groups")
async def add_job_group(
    jobId: str, body: GroupIdBody, request: Request, caller: Principal = Depends(require("addJobGroup"))
) -> JSONResponse:
    st = state(request)
    return ok("Added group to job", await st.run(jobs.add_job_group, st.db, caller, jobId, body.groupId))


@router.put("/jobs/{jobId}/groups")
async def replace_job_groups(
    jobId: str, body: GroupsBody, request: Request, caller: Principal = Depends(require("replaceJobGroups"))
) -> JSONResponse:
    st = state(request)
    data = await st.run(jobs.replace_job_groups, st.db, caller, jobId, body.groups)
    return ok("Replaced the groups of the job", data)


@router.delete("/jobs/{jobId}/groups")
async def delete_job_groups(
    jobId: str, request: Request, caller: Principal = Depends(require("deleteJobGroups"))
) -> JSONResponse:
    st = state(request)
    return ok("Removed every group from the job", await st.run(jobs.delete_job_groups, st.db, caller, jobId))


@router.delete("/jobs/{jobId}/groups/{groupId}")
async def delete_job_group(
    jobId: str, groupId: str, request: Request, caller: Principal = Depends(require("deleteJobGroup"))
) -> JSONResponse:
    st = state(request)
    data = await st.run(jobs.delete_job_group, st.db, caller, jobId, groupId)
    return ok("Removed group from job", data)


@router.post("/jobs/{jobId}/continue")
async def continue_job(
    jobId: str, body: ContinueBody, request: Request, caller: Principal = Depends(require("continueJobFrom"))
) -> JSONResponse:
    st = state(request)
    data = await st.run(jobs.continue_job, st.db, caller, jobId, body.fromTask)
    return ok(f"Continued job from task {body.fromTask}", data)


@router.post("/jobs/{jobId}/revert")
async def revert_job(
    jobId: str, body: RevertBody, request: Request, caller: Principal = Depends(require("revertJob"))
) -> JSONResponse:
    st = state(request)
    data = await st.run(jobs.revert_job, st.db, caller, jobId, body.fromTask, body.toTask)
    return ok(f"Reverted job from task {body.fromTask} to task {body.toTask}", data)


@router.post("/jobs/{jobId}/tasks/{taskId}/retry")
async def retry_task(
    jobId: str,
    taskId: str,
    request: Request,
    body: RetryBody | None = Body(default=None),
    caller: Principal = Depends(require("retryTask")),
) -> JSONResponse:
    st = state(request)
    variables = body.variables if body else {}
    data = await st.run(jobs.retry_task, st.db, caller, jobId, taskId, variables)
    return ok(f"Retrying task {taskId}", data)


@router.get("/jobs/{jobId}/tasks/{taskId}/manual-controller")
async def get_manual_task_controller(
    jobId: str, taskId: str, request: Request, caller: Principal = Depends(require("getManualTaskController"))
) -> JSONResponse:
    st = state(request)
    data = await st.run(jobs.manual_controller, st.db, caller, jobId, taskId)
    return ok("Successfully retrieved the manual task controller", data)
