"""Request dependencies: the application state, the authenticated caller, and the role check.

Credentials are read, in order, from `Authorization: Bearer|Basic`, the `token` query parameter and the
`token` cookie (decisions §3). `require(name)` checks the caller's roles against the single role table
(`opsmgr.domain.access.METHODS`); each route names its method there.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Request

from opsmgr.config import Settings
from opsmgr.domain.access import METHODS_BY_NAME, Principal
from opsmgr.errors import Forbidden, Unauthenticated
from opsmgr.services import auth
from opsmgr.store.database import Database

T = TypeVar("T")


@dataclass
class AppState:
    settings: Settings
    db: Database
    cache: auth.AuthCache
    known_tasks: frozenset[tuple[str, str]]
    extras: dict[str, Any] = field(default_factory=dict)
    _limiter: anyio.CapacityLimiter | None = None

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking service function on one of `db_threads` threads: one hop per use case.

        Few threads on purpose: each holds the GIL while it turns rows into documents, and 40 of them
        (anyio's default) starve the event loop thread, which shows as tail latency on every route.
        Requests beyond the limit wait in the loop, in order."""
        if self._limiter is None:  # created lazily: it belongs to the running event loop
            self._limiter = anyio.CapacityLimiter(self.settings.db_threads)
        return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=self._limiter)


def state(request: Request) -> AppState:
    return request.app.state.opsmgr


def request_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("token") or request.cookies.get("token")


async def current_principal(request: Request) -> Principal:
    st = state(request)
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            username, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthenticated("malformed Basic credentials") from None
        if not sep:
            raise Unauthenticated("malformed Basic credentials")
        key = "b:" + hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()
        cached = st.cache.get(key)
        if cached is not None:
            return cached
        return await st.run(auth.authenticate_password, st.db, st.cache, username, password)
    tok = request_token(request)
    if not tok:
        raise Unauthenticated("authentication required: log in, or send Basic or Bearer credentials")
    cached = st.cache.get("t:" + auth.token_hash(tok))
    if cached is not None:
        return cached
    return await st.run(auth.authenticate_token, st.db, st.cache, tok)


def require(method_name: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the caller and checks the roles of `method_name`."""
    method = METHODS_BY_NAME[method_name]

    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.may_call(method.name):
            raise Forbidden(
                f"{principal.username} lacks a role for {method.name}; allowed: {', '.join(sorted(method.roles))}"
            )
        return principal

    dependency.method_name = method_name  # type: ignore[attr-defined]
    return dependency
