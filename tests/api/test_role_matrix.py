"""The route × role matrix, generated from the single role table `opsmgr.domain.access.METHODS`
(decisions §4): every route is declared there (or public) and checks exactly its entry; and every
built-in role gets 403 exactly where the table says it is not allowed, never 401 or 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # FastAPI before nested included routers
    iter_route_contexts = None  # type: ignore[assignment]

from opsmgr.api.app import create_app
from opsmgr.config import Settings
from opsmgr.domain.access import BUILTIN_ROLES, METHODS, PUBLIC_ROUTES, Method
from opsmgr.services import accounts, auth
from opsmgr.store.database import Database
from tests.conftest import empty_tables
from tests.helpers import PASSWORD

DOC_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
OBJECT_ID = "0123456789abcdef01234567"
TASK_UUID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def matrix_client(database: Database) -> Iterator[TestClient]:
    """One app for the whole module, with one account per built-in role holding only that role.

    The `db` fixture empties the tables per test; this module needs the accounts only, and its calls
    name unknown ids, so one setup serves every (method, role) pair."""
    empty_tables(database)
    settings = Settings(database_url=database.url, admin_password="admin")
    auth.bootstrap(database, settings)
    for role in BUILTIN_ROLES:
        accounts.create_account(database, f"only-{role}", PASSWORD, [role], [])
    with TestClient(create_app(settings, database, run_engine=False)) as client:
        yield client
    empty_tables(database)


def api_routes(app) -> list[Any]:
    """Every APIRoute of the app with its full path. FastAPI ≥0.160 keeps included routers nested in
    `app.routes`; `iter_route_contexts` flattens them (older versions flatten at include time)."""
    contexts = iter_route_contexts(app.routes) if iter_route_contexts else app.routes
    routes = [c for c in contexts if isinstance(getattr(c, "original_route", c), APIRoute)]
    assert routes, "the app has no API routes: the route walk is broken"
    return [r for r in routes if r.path not in DOC_ROUTES]


def declared_methods(route: Any) -> list[str]:
    """The method names of the `require(...)` dependencies of a route."""
    return [d.call.method_name for d in route.dependant.dependencies if hasattr(d.call, "method_name")]


def test_every_route_is_public_or_in_the_role_table(matrix_client):
    """decisions §4: the table lives in one place: every API route is public or has exactly one entry in
    METHODS (same verb and path) and depends on require(<that method>)."""
    by_route = {}
    for m in METHODS:
        assert (m.verb, m.path) not in by_route, f"two METHODS entries for {m.verb} {m.path}"
        by_route[(m.verb, m.path)] = m
    assert len({m.name for m in METHODS}) == len(METHODS)
    for route in api_routes(matrix_client.app):
        for verb in route.methods - {"HEAD", "OPTIONS"}:
            key = (verb, route.path)
            if key in PUBLIC_ROUTES:
                assert declared_methods(route) == [], key
                continue
            assert key in by_route, f"route {verb} {route.path} is neither public nor in METHODS"
            assert declared_methods(route) == [by_route[key].name], key


def test_every_role_table_entry_is_a_route(matrix_client):
    """decisions §4: every METHODS entry (and every public route) exists in the app."""
    served = {(verb, r.path) for r in api_routes(matrix_client.app) for verb in r.methods}
    for m in METHODS:
        assert (m.verb, m.path) in served, f"METHODS has {m.name} ({m.verb} {m.path}) but the app has no such route"
    assert served >= PUBLIC_ROUTES


def test_role_table_is_served_by_get_authorization_methods(matrix_client):
    """decisions §4: GET /authorization/methods returns the table."""
    r = matrix_client.get("/authorization/methods", auth=("admin", "admin"))
    assert r.status_code == 200
    served = {(x["name"], x["route"]["verb"], x["route"]["path"], tuple(x["roles"])) for x in r.json()["results"]}
    assert served == {(m.name, m.verb, m.path, tuple(sorted(m.roles))) for m in METHODS}


def concrete_path(m: Method) -> str:
    """The route's path with well-formed ids that name nothing."""
    path = m.path
    if "/tasks/{taskId}" in path:
        path = path.replace("{taskId}", "a1" if "/jobs/" in path else TASK_UUID)
    if path.startswith("/operations-manager/tasks/{id}"):
        path = path.replace("{id}", TASK_UUID)
    for name in ("id", "jobId", "accountId", "groupId", "roleId"):
        path = path.replace("{" + name + "}", OBJECT_ID)
    path = path.replace("{clientId}", "no-such-client").replace("{name}", "no-such-workflow")
    path = path.replace("{routeName}", "no-such-route")
    path = path.replace("{source:path}", "%40itential%2Fapp-operations_manager").replace("{topic}", "noSuchTopic")
    assert "{" not in path, path
    return path


@pytest.mark.parametrize("role", BUILTIN_ROLES)
@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
def test_role_may_call_method_iff_the_table_allows_it(matrix_client, method, role):
    """decisions §4: a user holding only `role` gets 403 on `method` iff the role table does not allow it;
    never 401 or 500 (an allowed call may answer 400/404/409 for the unknown ids and empty body)."""
    body = {} if method.verb in ("POST", "PUT", "PATCH") else None
    r = matrix_client.request(method.verb, concrete_path(method), json=body, auth=(f"only-{role}", PASSWORD))
    assert r.status_code not in (401, 500), r.text
    if role in method.roles:
        assert r.status_code != 403, r.text
        assert r.status_code in (200, 400, 404, 409), r.text
    else:
        assert r.status_code == 403, r.text
        assert method.name in r.json()["message"]
