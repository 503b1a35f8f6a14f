"""Unit tests of the role table and the group rules (decisions §4), `opsmgr.domain.access`. No database."""

from __future__ import annotations

import pytest

from opsmgr.domain.access import (
    BUILTIN_ROLES,
    METHODS,
    METHODS_BY_NAME,
    PUBLIC_ROUTES,
    Principal,
    can_see_job,
    work_denial,
)

READ = {"admin", "apiread", "engineering", "operations"}
WRITE = {"admin", "apiwrite", "engineering", "operations"}
DESIGN_WRITE = {"admin", "apiwrite", "engineering"}
AUTHZ_WRITE = {"admin", "authorization"}
G1, G2, G3 = "a" * 24, "b" * 24, "c" * 24


def who(*roles: str, groups: tuple[str, ...] = (), methods: tuple[str, ...] = ()) -> Principal:
    return Principal("f" * 24, "someone", frozenset(roles), frozenset(groups), frozenset(methods))


def expected_roles(verb: str, path: str) -> set[str] | None:
    """The roles decisions §4 allows on a route, from its table (None where the table is silent)."""
    if path.startswith("/operations-manager/webhooks"):  # ours, not in the table: they see every event (ADR 0010)
        return {"admin"}
    if path.startswith("/operations-manager/automations"):  # automations: design writes; export without operations
        if path.endswith("/export"):
            return {"admin", "apiread", "engineering"}
        return READ if verb == "GET" else DESIGN_WRITE
    if path.startswith("/operations-manager/"):
        return READ if verb == "GET" else WRITE
    if path.startswith("/automation-studio/"):
        return READ if verb == "GET" else DESIGN_WRITE
    if path.startswith("/workflow_engine/") and verb == "GET":  # metrics: reads of jobs and tasks
        return READ
    if path.startswith(("/authorization/", "/oauth/")) and verb != "GET":
        return AUTHZ_WRITE
    return None


def test_the_table_is_well_formed():
    """decisions §4: one entry per method name and per route; only built-in role names; admin everywhere."""
    assert len({m.name for m in METHODS}) == len(METHODS) == len(METHODS_BY_NAME)
    assert len({(m.verb, m.path) for m in METHODS}) == len(METHODS)
    assert not {(m.verb, m.path) for m in METHODS} & PUBLIC_ROUTES
    for m in METHODS:
        assert m.roles <= set(BUILTIN_ROLES), m.name
        assert "admin" in m.roles, m.name
        assert m.verb in {"GET", "POST", "PUT", "PATCH", "DELETE"}


def test_builtin_roles():
    """decisions §4: the six built-in roles."""
    assert set(BUILTIN_ROLES) == {"admin", "apiread", "apiwrite", "engineering", "operations", "authorization"}


@pytest.mark.parametrize("method", METHODS, ids=[m.name for m in METHODS])
def test_each_method_allows_the_roles_of_decisions_table(method):
    """decisions §4: each route allows exactly the roles of its row in the table."""
    expected = expected_roles(method.verb, method.path)
    if expected is None:  # authorization reads: the table is silent; every built-in role may read them
        assert method.path.startswith(("/authorization/", "/oauth/")) and method.verb == "GET"
        assert method.roles >= AUTHZ_WRITE
        return
    assert set(method.roles) == expected


def test_service_accounts_are_listed_by_admins_only():
    """decisions §3: service accounts (client ids) are an admin's business, reading them too."""
    assert set(METHODS_BY_NAME["getServiceAccounts"].roles) == AUTHZ_WRITE


@pytest.mark.parametrize("role", BUILTIN_ROLES)
def test_may_call_follows_the_table(role):
    """decisions §4: a principal may call a method iff one of its roles is allowed on it."""
    p = who(role)
    for m in METHODS:
        assert p.may_call(m.name) == (role in m.roles), (role, m.name)


def test_roles_combine_and_custom_methods_add():
    """decisions §4: effective roles are the union; a custom role's allowed methods add to them."""
    p = who("apiread", "apiwrite")
    assert p.may_call("getJobs") and p.may_call("claimTask")
    assert not p.may_call("createAccount")
    assert who(methods=("createAccount",)).may_call("createAccount")
    assert not who().may_call("getJobs")
    assert who("admin").is_admin and not who("authorization").is_admin


def test_can_see_job():
    """decisions §4 GBAC: no groups → every reader; else members of one of them and admin."""
    assert can_see_job(who("apiread"), [])
    assert not can_see_job(who("apiread"), [G1])
    assert can_see_job(who("apiread", groups=(G1,)), [G1, G2])
    assert can_see_job(who("operations", groups=(G2,)), [G1, G2])
    assert not can_see_job(who("operations", groups=(G3,)), [G1, G2])
    assert can_see_job(who("admin"), [G1])


def test_work_denial_task_groups_decide_first():
    """decisions §4: a task's own groups decide who may work it, overriding the job's groups."""
    member_of_job_only = who("operations", groups=(G1,))
    assert work_denial(member_of_job_only, [G2], [G1]) is not None
    assert work_denial(who("operations", groups=(G2,)), [G2], [G1]) is None
    assert work_denial(who("apiread", groups=(G2,)), [G2], []) is None  # group membership decides


def test_work_denial_job_groups_when_the_task_has_none():
    """decisions §4: with no task groups, the job's groups decide."""
    assert work_denial(who("operations", groups=(G1,)), [], [G1, G2]) is None
    reason = work_denial(who("operations", groups=(G3,)), [], [G1, G2])
    assert reason and "group" in reason


def test_work_denial_without_groups_needs_a_write_role():
    """decisions §4: no task groups and no job groups → anyone with a write role."""
    for role in WRITE:
        assert work_denial(who(role), [], []) is None
    for role in set(BUILTIN_ROLES) - WRITE:
        reason = work_denial(who(role), [], [])
        assert reason and "role" in reason


def test_admin_may_always_work():
    """decisions §4: admin may always work a task."""
    assert work_denial(who("admin"), [G1], [G2]) is None
    assert work_denial(who("admin"), [], [G2]) is None
