"""Authorization routes (Itential's "Authorization" API: accounts, groups, roles, methods, views) and
OAuth service accounts. Lists answer `{results, total}` as Itential does; not enveloped."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from opsmgr.api.deps import require, state
from opsmgr.domain.access import METHODS, Principal
from opsmgr.services import accounts

router = APIRouter(tags=["authorization"])
Skip = Query(0, ge=0)
Limit = Query(100, ge=1, le=1000)


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1)
    firstname: str | None = None
    email: str | None = None
    roles: list[str] = Field(default_factory=list, description="role names or ids")
    groups: list[str] = Field(default_factory=list, description="group names or ids")


class AccountUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inactive: bool | None = None
    password: str | None = Field(default=None, min_length=1)
    firstname: str | None = None
    email: str | None = None
    roles: list[str] | None = None
    groups: list[str] | None = None


class RoleRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roleId: str


class GroupFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    description: str | None = None
    provenance: str | None = None
    assignedRoles: list[RoleRef | str] | None = None
    members: list[str] | None = Field(default=None, description="usernames or account ids")
    inactive: bool | None = None
    memberOf: list[Any] | None = None


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group: GroupFields


class GroupUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group: GroupFields


class RoleFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    provenance: str | None = None
    description: str | None = None
    allowedMethods: list[Any] | None = None
    allowedViews: list[Any] | None = None


class RoleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: RoleFields


class ServiceAccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    roles: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)


def _role_refs(refs: list[RoleRef | str] | None) -> list[str] | None:
    if refs is None:
        return None
    return [r.roleId if isinstance(r, RoleRef) else r for r in refs]


@router.get("/authorization/accounts")
async def get_accounts(
    request: Request, skip: int = Skip, limit: int = Limit, _: Principal = Depends(require("getAccounts"))
) -> JSONResponse:
    st = state(request)
    return JSONResponse(await st.run(accounts.list_accounts, st.db, skip, limit))


@router.post("/authorization/accounts")
async def create_account(
    body: AccountCreate, request: Request, _: Principal = Depends(require("createAccount"))
) -> JSONResponse:
    st = state(request)
    doc = await st.run(
        accounts.create_account, st.db, body.username, body.password, body.roles, body.groups,
        body.firstname, body.email,
    )
    return JSONResponse(doc)


@router.get("/authorization/accounts/{accountId}")
async def get_account(
    accountId: str, request: Request, _: Principal = Depends(require("getAccount"))
) -> JSONResponse:
    st = state(request)
    return JSONResponse(await st.run(accounts.get_account, st.db, accountId))


@router.patch("/authorization/accounts/{accountId}")
async def update_account(
    accountId: str, body: AccountUpdate, request: Request, _: Principal = Depends(require("updateAccount"))
) -> JSONResponse:
    st = state(request)
    doc = await st.run(
        accounts.update_account, st.db, accountId, body.inactive, body.password, body.roles, body.groups,
        body.firstname, body.email,
    )
    st.cache.clear()  # roles or state changed: stop honouring cached credentials in this process
    return JSONResponse(doc)


@router.post("/authorization/accounts/{accountId}/forceLogout")
async def force_logout(
    accountId: str, request: Request, _: Principal = Depends(require("forceLogout"))
) -> JSONResponse:
    st = state(request)
    await st.run(accounts.force_logout, st.db, accountId)
    st.cache.clear()
    return JSONResponse({"status": "OK", "message": f"logged out every session of {accountId}"})


@router.get("/authorization/groups")
async def get_groups(
    request: Request, skip: int = Skip, limit: int = Limit, _: Principal = Depends(require("getGroups"))
) -> JSONResponse:
    st = state(request)
    return JSONResponse(await st.run(accounts.list_groups, st.db, skip, limit))


@router.post("/authorization/groups")
async def create_group(
    body: GroupCreate, request: Request, _: Principal = Depends(require("createGroup"))
) -> JSONResponse:
    st = state(request)
    g = body.group
    doc = await st.run(
        accounts.create_group, st.db, g.name or "", g.description or "", _role_refs(g.assignedRoles) or [],
        g.members or [], bool(g.inactive),
    )
    return JSONResponse({"status": "OK", "message": "Group created", "data": doc})


@router.get("/authorization/groups/{groupId}")
async def get_group(groupId: str, request: Request, _: Principal = Depends(require("getGroup"))) -> JSONResponse:
    st = state(request)
    return JSONResponse(await st.run(accounts.get_group, st.db, groupId))


@router.patch("/authorization/groups/{groupId}")
async def update_group(
    groupId: str, body: GroupUpdate, request: Request, _: Principal = Depends(require("updateGroup"))
) -> JSONResponse:
    st = state(request)
    g = body.group
    doc = await st.run(
        accounts.update_group, st.db, groupId, g.name, g.description, _role_refs(g.assignedRoles), g.members, g.inactive
    )
    st.cache.clear()
    return JSONResponse(doc)


@router.delete("/authorization/groups/{groupId}")
async def delete_group(
    groupId: str, request: Request, _: Principal = Depends(require("deleteGroup"))
) -> JSONResponse:
    st = state(request)
    result = await st.run(accounts.delete_group, st.db, groupId)
    st.cache.clear()
    return JSONResponse(result)


@router.get("/authorization/roles")
async def get_roles(
    request: Request, skip: int = Skip, limit: int = Limit, _: Principal = Depends(require("getRoles"))
) -> JSONResponse:
    st = state(request)
    return JSONResponse(await st.run(accounts.list_roles, st.db, skip, limit))


@router.post("/authorization/roles")
async def create_role(body: RoleBody, request: Request, _: Principal = Depends(require("createRole"))) -> JSONResponse:
    st = state(request)
    r = body.role
    doc = await st.run(
        accounts.create_role, st.db, r.name or "", r.description or "", r.allowedMethods, r.allowedViews
    )
    return JSONResponse({"status": "success", "message": "Role created", "data": doc})


@router.get("/authorization/roles/{roleId}")
async def get_role(roleId: str, request: Request, _: Principal = Depends(require("getRole"))) -> JSONResponse:
    st = state(request)
    return JSONResponse(await st.run(accounts.get_role, st.db, roleId))


@router.patch("/authorization/roles/{roleId}")
async def update_role(
    roleId: str, body: RoleBody, request: Request, _: Principal = Depends(require("updateRole"))
) -> JSONResponse:
    st = state(request)
    r = body.role
    doc = await st.run(accounts.update_role, st.db, roleId, r.description, r.allowedMethods, r.allowedViews)
    st.cache.clear()
    return JSONResponse(doc)


@router.delete("/authorization/roles/{roleId}")
async def delete_role(roleId: str, request: Request, _: Principal = Depends(require("deleteRole"))) -> JSONResponse:
    st = state(request)
    result = await st.run(accounts.delete_role, st.db, roleId)
    st.cache.clear()
    return JSONResponse(result)


@router.get("/authorization/methods")
async def get_methods(_: Principal = Depends(require("getMethods"))) -> JSONResponse:
    """The single role table: every method, its route and the roles allowed on it."""
    results = [
        {
            "provenance": m.provenance,
            "name": m.name,
            "route": {"path": m.path, "verb": m.verb, "fullPath": m.path},
            "roles": sorted(m.roles),
            "deprecated": False,
        }
        for m in METHODS
    ]
    return JSONResponse({"results": results, "total": len(results)})


@router.get("/authorization/views")
async def get_views(_: Principal = Depends(require("getViews"))) -> JSONResponse:
    views = [{"provenance": "WorkFlowEngine", "path": "/workflow_engine/task/ViewData"}]
    return JSONResponse({"results": views, "total": len(views)})


@router.get("/oauth/serviceAccounts")
async def get_service_accounts(
    request: Request, skip: int = Skip, limit: int = Limit, _: Principal = Depends(require("getServiceAccounts"))
) -> JSONResponse:
    st = state(request)
    return JSONResponse(await st.run(accounts.list_service_accounts, st.db, skip, limit))


@router.post("/oauth/serviceAccounts")
async def create_service_account(
    body: ServiceAccountCreate, request: Request, _: Principal = Depends(require("createServiceAccount"))
) -> JSONResponse:
    st = state(request)
    doc = await st.run(
        accounts.create_service_account, st.db, body.name, body.roles, body.groups, body.description
    )
    return JSONResponse(doc)


@router.delete("/oauth/serviceAccounts/{clientId}")
async def delete_service_account(
    clientId: str, request: Request, _: Principal = Depends(require("deleteServiceAccount"))
) -> JSONResponse:
    st = state(request)
    result = await st.run(accounts.delete_service_account, st.db, clientId)
    st.cache.clear()
    return JSONResponse(result)
