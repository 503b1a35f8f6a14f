"""Login, logout, whoami, OAuth client credentials and health (decisions §3)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict

from opsmgr.api.deps import current_principal, request_token, state
from opsmgr.domain.access import METHODS, Principal
from opsmgr.errors import Invalid
from opsmgr.services import accounts, auth

router = APIRouter(tags=["authentication"])


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str
    password: str


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: Credentials


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.post("/login", response_class=PlainTextResponse)
async def login(body: LoginBody, request: Request) -> PlainTextResponse:
    """Returns the token as plain text and sets it as the `token` cookie."""
    st = state(request)
    tok = await st.run(auth.login, st.db, st.settings, body.user.username, body.user.password)
    response = PlainTextResponse(tok)
    response.set_cookie(
        "token", tok, httponly=True, samesite="lax", max_age=st.settings.token_ttl_seconds
    )
    return response


@router.post("/logout", response_class=PlainTextResponse)
async def logout(request: Request) -> PlainTextResponse:
    st = state(request)
    tok = request_token(request)
    if tok:
        await st.run(auth.logout, st.db, st.cache, tok)
    response = PlainTextResponse("logged out")
    response.delete_cookie("token")
    return response


@router.get("/whoami")
async def whoami(request: Request, principal: Principal = Depends(current_principal)) -> JSONResponse:
    """The caller's account with effective roles, groups and the methods those roles allow."""
    st = state(request)
    groups = await st.run(accounts.group_summaries, st.db, sorted(principal.groups)) if principal.groups else []
    methods: dict[str, list[str]] = {}
    for m in METHODS:
        if m.roles & principal.roles:
            methods.setdefault(m.provenance, []).append(m.name)
    body: dict[str, Any] = {
        "id": principal.account_id,
        "_id": principal.account_id,
        "provenance": "local",
        "username": principal.username,
        "firstname": principal.username,
        "groups": groups,
        "roles": sorted(principal.roles),
        "methods": methods,
        "routes": [],
    }
    return JSONResponse(body)


@router.post("/oauth/token")
async def oauth_token(
    request: Request,
    grant_type: str = Form(...),
    client_id: str = Form(...),
    client_secret: str = Form(...),
) -> JSONResponse:
    if grant_type != "client_credentials":
        raise Invalid.problems(
            "grant_type must be client_credentials", [{"path": "grant_type", "message": "unsupported grant type"}]
        )
    st = state(request)
    return JSONResponse(await st.run(auth.client_credentials, st.db, st.settings, client_id, client_secret))
