"""Who may do what: the role table for every route and the group-based data rules (decisions §4).

`METHODS` is the single role table (the equivalent of Itential's per-method role lists). Every API
route is declared here with its verb, path and allowed roles; the API checks it through one dependency,
`GET /authorization/methods` returns it, and a test proves the app has no route missing from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ADMIN = "admin"
BUILTIN_ROLES: tuple[str, ...] = ("admin", "apiread", "apiwrite", "engineering", "operations", "authorization")

READ = frozenset({"admin", "apiread", "engineering", "operations"})
WRITE = frozenset({"admin", "apiwrite", "engineering", "operations"})
DESIGN_READ = READ
DESIGN_WRITE = frozenset({"admin", "apiwrite", "engineering"})
AUTOMATION_EXPORT = frozenset({"admin", "apiread", "engineering"})
AUTHZ_READ = frozenset(BUILTIN_ROLES)
AUTHZ_WRITE = frozenset({"admin", "authorization"})


@dataclass(frozen=True)
class Method:
    """One API method: its name (as in Itential's method registry), route and the roles allowed."""

    name: str
    verb: str
    path: str
    roles: frozenset[str]
    provenance: str


def _m(name: str, verb: str, path: str, roles: frozenset[str], provenance: str) -> Method:
    return Method(name, verb, path, roles, provenance)


_OM = "OperationsManager"
_AUTH = "Authorization"
_STUDIO = "AutomationStudio"
_WFE = "WorkFlowEngine"

METHODS: tuple[Method, ...] = (
    # Operations Manager: jobs
    _m("getJobs", "GET", "/operations-manager/jobs", READ, _OM),
    _m("getJob", "GET", "/operations-manager/jobs/{id}", READ, _OM),
    _m("startJob", "POST", "/operations-manager/jobs/start", WRITE, _OM),
    _m("finishManualTask", "POST", "/operations-manager/jobs/{jobId}/tasks/{taskId}/finish", WRITE, _OM),
    # Operations Manager: job controls (issue #3)
    _m("cancelJobs", "POST", "/operations-manager/jobs/cancel", WRITE, _OM),
    _m("pauseJobs", "POST", "/operations-manager/jobs/pause", WRITE, _OM),
    _m("resumeJobs", "POST", "/operations-manager/jobs/resume", WRITE, _OM),
    _m("watchJobs", "POST", "/operations-manager/jobs/watch", WRITE, _OM),
    _m("unwatchJobs", "POST", "/operations-manager/jobs/unwatch", WRITE, _OM),
    _m("watchJob", "POST", "/operations-manager/jobs/{jobId}/watch", WRITE, _OM),
    _m("unwatchJob", "POST", "/operations-manager/jobs/{jobId}/unwatch", WRITE, _OM),
    _m("addWatchersToJob", "POST", "/operations-manager/jobs/{jobId}/add-watchers", WRITE, _OM),
    _m("addJobGroup", "POST", "/operations-manager/jobs/{jobId}/groups", WRITE, _OM),
    _m("replaceJobGroups", "PUT", "/operations-manager/jobs/{jobId}/groups", WRITE, _OM),
    _m("deleteJobGroups", "DELETE", "/operations-manager/jobs/{jobId}/groups", WRITE, _OM),
    _m("deleteJobGroup", "DELETE", "/operations-manager/jobs/{jobId}/groups/{groupId}", WRITE, _OM),
    _m("continueJobFrom", "POST", "/operations-manager/jobs/{jobId}/continue", WRITE, _OM),
    _m("revertJob", "POST", "/operations-manager/jobs/{jobId}/revert", WRITE, _OM),
    _m("retryTask", "POST", "/operations-manager/jobs/{jobId}/tasks/{taskId}/retry", WRITE, _OM),
    _m("getManualTaskController", "GET", "/operations-manager/jobs/{jobId}/tasks/{taskId}/manual-controller", READ,
       _OM),
    _m("deleteJob", "DELETE", "/operations-manager/jobs/{jobId}", WRITE, _OM),
    _m("deleteJobs", "POST", "/operations-manager/jobs/delete", WRITE, _OM),
    _m("bulkDeleteJobs", "POST", "/operations-manager/jobs/bulk-delete", WRITE, _OM),
    # Operations Manager: tasks
    _m("getTasks", "GET", "/operations-manager/tasks", READ, _OM),
    _m("getWorkableTasks", "GET", "/operations-manager/tasks/workable", READ, _OM),
    _m("getRetryableTasks", "GET", "/operations-manager/tasks/retryable", READ, _OM),
    _m("getTask", "GET", "/operations-manager/tasks/{id}", READ, _OM),
    _m("getTaskHistory", "GET", "/operations-manager/tasks/{taskId}/history", READ, _OM),
    _m("claimTask", "POST", "/operations-manager/tasks/{taskId}/claim", WRITE, _OM),
    _m("releaseTask", "POST", "/operations-manager/tasks/{taskId}/release", WRITE, _OM),
    _m("assignTask", "POST", "/operations-manager/tasks/{taskId}/assign", WRITE, _OM),
    _m("finishTask", "POST", "/operations-manager/tasks/{taskId}/finish", WRITE, _OM),
    # Operations Manager: events (ops-manager-api §5.3; the stream is issue #3 scope 7)
    _m("getEvents", "GET", "/operations-manager/events", READ, _OM),
    _m("streamEvents", "GET", "/operations-manager/events/stream", READ, _OM),
    _m("getEventDefinition", "GET", "/operations-manager/events/{source:path}/{topic}", READ, _OM),
    # webhooks (ours: Itential has none): admin only, they see every event
    _m("getWebhooks", "GET", "/operations-manager/webhooks", frozenset({ADMIN}), _OM),
    _m("createWebhook", "POST", "/operations-manager/webhooks", frozenset({ADMIN}), _OM),
    _m("getWebhook", "GET", "/operations-manager/webhooks/{id}", frozenset({ADMIN}), _OM),
    _m("updateWebhook", "PUT", "/operations-manager/webhooks/{id}", frozenset({ADMIN}), _OM),
    _m("deleteWebhook", "DELETE", "/operations-manager/webhooks/{id}", frozenset({ADMIN}), _OM),
    _m("getWebhookDeliveries", "GET", "/operations-manager/webhooks/{id}/deliveries", frozenset({ADMIN}), _OM),
    _m("exportLargeData", "GET", "/operations-manager/large-data/{id}", READ, _OM),
    # Operations Manager: automations and triggers (issue #5)
    _m("getAutomations", "GET", "/operations-manager/automations", READ, _OM),
    _m("createAutomation", "POST", "/operations-manager/automations", DESIGN_WRITE, _OM),
    _m("importAutomations", "PUT", "/operations-manager/automations", DESIGN_WRITE, _OM),
    _m("getAutomation", "GET", "/operations-manager/automations/{id}", READ, _OM),
    _m("updateAutomation", "PATCH", "/operations-manager/automations/{id}", DESIGN_WRITE, _OM),
    _m("deleteAutomation", "DELETE", "/operations-manager/automations/{id}", DESIGN_WRITE, _OM),
    _m("exportAutomation", "GET", "/operations-manager/automations/{id}/export", AUTOMATION_EXPORT, _OM),
    _m("cloneAutomation", "POST", "/operations-manager/automations/clone", DESIGN_WRITE, _OM),
    _m("getTriggers", "GET", "/operations-manager/triggers", READ, _OM),
    _m("createTrigger", "POST", "/operations-manager/triggers", WRITE, _OM),
    _m("importTriggers", "PUT", "/operations-manager/triggers", WRITE, _OM),
    _m("getTrigger", "GET", "/operations-manager/triggers/{id}", READ, _OM),
    _m("updateTrigger", "PATCH", "/operations-manager/triggers/{id}", WRITE, _OM),
    _m("deleteTrigger", "DELETE", "/operations-manager/triggers/{id}", WRITE, _OM),
    _m("exportTrigger", "GET", "/operations-manager/triggers/{id}/export", READ, _OM),
    _m("deleteTriggersByActionId", "DELETE", "/operations-manager/triggers/action/{id}", WRITE, _OM),
    _m("runEndpointTriggerWithPost", "POST", "/operations-manager/triggers/endpoint/{routeName}", WRITE, _OM),
    _m("runManualTrigger", "POST", "/operations-manager/triggers/manual/{id}/run", WRITE, _OM),
    # Workflow Engine: aggregate metrics (workflow-semantics §6)
    _m("getJobMetrics", "GET", "/workflow_engine/jobs/metrics", READ, _WFE),
    _m("getTaskMetrics", "GET", "/workflow_engine/tasks/metrics", READ, _WFE),
    # Automation Studio: workflows
    _m("searchWorkflows", "GET", "/automation-studio/workflows", DESIGN_READ, _STUDIO),
    _m("getWorkflowDetailed", "GET", "/automation-studio/workflows/detailed/{name}", DESIGN_READ, _STUDIO),
    _m("createWorkflow", "POST", "/automation-studio/automations", DESIGN_WRITE, _STUDIO),
    _m("importWorkflows", "POST", "/automation-studio/automations/import", DESIGN_WRITE, _STUDIO),
    _m("updateWorkflow", "PUT", "/automation-studio/automations/{id}", DESIGN_WRITE, _STUDIO),
    _m("deleteWorkflow", "DELETE", "/automation-studio/automations/{id}", DESIGN_WRITE, _STUDIO),
    # Authorization (Itential's method names; POST /authorization/accounts is ours: local accounts)
    _m("getAccounts", "GET", "/authorization/accounts", AUTHZ_READ, _AUTH),
    _m("getAccount", "GET", "/authorization/accounts/{accountId}", AUTHZ_READ, _AUTH),
    _m("createAccount", "POST", "/authorization/accounts", AUTHZ_WRITE, _AUTH),
    _m("updateAccount", "PATCH", "/authorization/accounts/{accountId}", AUTHZ_WRITE, _AUTH),
    _m("forceLogout", "POST", "/authorization/accounts/{accountId}/forceLogout", AUTHZ_WRITE, _AUTH),
    _m("getGroups", "GET", "/authorization/groups", AUTHZ_READ, _AUTH),
    _m("getGroup", "GET", "/authorization/groups/{groupId}", AUTHZ_READ, _AUTH),
    _m("createGroup", "POST", "/authorization/groups", AUTHZ_WRITE, _AUTH),
    _m("updateGroup", "PATCH", "/authorization/groups/{groupId}", AUTHZ_WRITE, _AUTH),
    _m("deleteGroup", "DELETE", "/authorization/groups/{groupId}", AUTHZ_WRITE, _AUTH),
    _m("getRoles", "GET", "/authorization/roles", AUTHZ_READ, _AUTH),
    _m("getRole", "GET", "/authorization/roles/{roleId}", AUTHZ_READ, _AUTH),
    _m("createRole", "POST", "/authorization/roles", AUTHZ_WRITE, _AUTH),
    _m("updateRole", "PATCH", "/authorization/roles/{roleId}", AUTHZ_WRITE, _AUTH),
    _m("deleteRole", "DELETE", "/authorization/roles/{roleId}", AUTHZ_WRITE, _AUTH),
    _m("getMethods", "GET", "/authorization/methods", AUTHZ_READ, _AUTH),
    _m("getViews", "GET", "/authorization/views", AUTHZ_READ, _AUTH),
    # OAuth service accounts (client credentials), created by an admin
    _m("getServiceAccounts", "GET", "/oauth/serviceAccounts", AUTHZ_WRITE, "OAuth"),
    _m("createServiceAccount", "POST", "/oauth/serviceAccounts", AUTHZ_WRITE, "OAuth"),
    _m("deleteServiceAccount", "DELETE", "/oauth/serviceAccounts/{clientId}", AUTHZ_WRITE, "OAuth"),
)

METHODS_BY_NAME: dict[str, Method] = {m.name: m for m in METHODS}

# Routes that need no role: health and authentication itself (whoami needs valid credentials only).
PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/health"),
        ("POST", "/login"),
        ("POST", "/logout"),
        ("GET", "/whoami"),
        ("POST", "/oauth/token"),
    }
)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: account id, username, effective roles and group ids, and the extra
    methods that custom roles allow."""

    account_id: str
    username: str
    roles: frozenset[str]
    groups: frozenset[str]
    methods: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    def may_call(self, method_name: str) -> bool:
        """True when one of the caller's roles is allowed on the method."""
        return bool(self.roles & METHODS_BY_NAME[method_name].roles) or method_name in self.methods


def can_see_job(principal: Principal, job_groups: Iterable[str]) -> bool:
    """Decisions §4: a job with no groups is visible to all readers, else to members and admin."""
    groups = set(job_groups)
    return not groups or principal.is_admin or bool(groups & principal.groups)


def work_denial(principal: Principal, task_groups: Iterable[str], job_groups: Iterable[str]) -> str | None:
    """Why `principal` may not work a manual task, or None when they may (decisions §4).

    The task's own groups decide if it has any, else the job's groups, else any write role will do.
    """
    if principal.is_admin:
        return None
    groups = set(task_groups) or set(job_groups)
    if groups:
        if groups & principal.groups:
            return None
        return "not a member of any group allowed to work this task"
    if principal.roles & WRITE:
        return None
    return "has no role that may work tasks"
