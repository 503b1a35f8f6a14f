"""Our own workflows in Itential's export format (tests/engine/workflows/*.json), imported through
`POST /automation-studio/automations/import` and run end to end through the API (issue #3, first acceptance
point): parallel branches with a join (workflow-semantics §2.6, decisions §6), evaluation success and failure
(§3.6), error transitions (§1.4), an error with no error transition then retry (decisions §6), a revert
transition loop through a manual task (§1.4), childJob in its three loop modes (§2.7), forEach, delay,
restCall against a local HTTP server, encrypted variables (decisions §7) and actor by manual task (§3.5).

Every workflow calls only built-in tasks; the restCall ones reach a small HTTP server on 127.0.0.1.

| file | covers |
|---|---|
| parallel-prechecks.json | four branches, one dying on an evaluation failure, joined by a merge |
| software-compliance.json | evaluation with all/any groups: success and failure paths |
| facts-with-rollback.json | an error transition to a rollback path |
| backup-config.json | restCall error with no error transition: job error, then retry with an override |
| push-with-operator-retry.json | ErrorHandling → evaluation → revert transition back to the failed push |
| site-audit-child.json | the child of the three childJob fixtures |
| site-audit-{single,parallel,sequential}.json | childJob with loopType "", parallel, sequential |
| shutdown-unused-interfaces.json | forEach with current_item bound to a job variable, push, join |
| maintenance-window-wait.json | delay, getTime, calculateTimeDiff |
| register-device.json | restCall POST, query, evaluation on the status code, error path |
| rotate-enable-secret.json | encrypted job variables and a decorated manual-task output |
| approved-maintenance-as-approver.json | actor = manual task key, actor job, getJobs as the actor |
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from opsmgr.api.app import create_app
from opsmgr.config import Settings
from opsmgr.services import secrets
from opsmgr.store.database import Database
from tests.api.test_encrypted_variables import raw_database_text
from tests.engine.test_execution import task_docs
from tests.helpers import World, get_job, http_server, start_job, wait_for_job, wait_until, waiting_task

ADMIN = ("admin", "admin")
FIXTURES = Path(__file__).parent / "workflows"
MASK = "****"


# a device API on 127.0.0.1 --------------------------------------------------------------------------------


class DeviceApi(BaseHTTPRequestHandler):
    """Inventory, backup and device-config endpoints. Records every request in `requests`. A config push
    to a device is refused (409, locked) the first time and accepted after that."""

    requests: list[dict[str, Any]] = []
    pushed: set[str] = set()
    BACKUPS = {"core-rtr-01": ["hostname core-rtr-01", "interface Gi0/1", " description uplink to spine-1"]}

    def _answer(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        self.requests.append({"method": self.command, "path": self.path, "body": raw,
                              "headers": {k.lower(): v for k, v in self.headers.items()}})
        parts = self.path.strip("/").split("/")
        status, answer = 404, {"detail": f"no route {self.command} {self.path}"}
        if self.command == "POST" and parts == ["api", "dcim", "devices"]:
            status, answer = 201, {"id": 42, "name": json.loads(raw)["name"], "status": "planned"}
        elif self.command == "GET" and parts[:2] == ["api", "backups"]:
            lines = self.BACKUPS.get(parts[2])
            status, answer = (200, {"device": parts[2], "lines": lines}) if lines else (
                404, {"detail": f"no backup for {parts[2]}"})
        elif self.command == "POST" and parts[:2] == ["api", "devices"] and parts[3:] == ["config"]:
            if parts[2] in self.pushed:
                status, answer = 200, {"device": parts[2], "committed": True}
            else:
                self.pushed.add(parts[2])
                status, answer = 409, {"detail": "configuration locked by another session"}
        elif self.command == "POST" and parts[:2] == ["api", "devices"] and parts[3:] == ["enable-secret"]:
            status, answer = 200, {"device": parts[2], "rotated": True}  # never echoes the secrets
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with http_server(DeviceApi) as url:
        yield url


@pytest.fixture
def api(server_url: str) -> str:
    DeviceApi.requests.clear()
    DeviceApi.pushed.clear()
    return server_url


@pytest.fixture
def client(db: Database, settings: Settings, tmp_path: Path) -> Iterator[TestClient]:
    """The app with a key file, so the encrypted-variables fixture can run."""
    keyed = settings.model_copy(update={"key_file": str(tmp_path / "fixtures.key")})
    secrets.ensure_key(keyed)
    with TestClient(create_app(keyed, db)) as test_client:
        yield test_client


def fixture_docs() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(FIXTURES.glob("*.json"))}


@pytest.fixture
def imported(client: TestClient, world: World) -> dict[str, dict[str, Any]]:
    """Every fixture workflow, imported in one request through the real import route."""
    docs = fixture_docs()
    r = client.post("/automation-studio/automations/import", json={"automations": list(docs.values())}, auth=ADMIN)
    assert r.status_code == 200, r.text
    assert [item["success"] for item in r.json()["imported"]] == [True] * len(docs)
    return docs


# helpers ------------------------------------------------------------------------------------------------------


def run(client: TestClient, name: str, variables: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return wait_for_job(client, start_job(client, name, variables, **kwargs)["_id"])


def iterations(client: TestClient, job_id: str, key: str) -> list[dict[str, Any]]:
    """The task documents of `key` in `job_id`, oldest first."""
    return sorted(task_docs(client, job_id, key), key=lambda d: d["metrics"]["start_time"])


def finish_states(client: TestClient, job_id: str, key: str) -> list[str]:
    return [d["metrics"]["finish_state"] for d in iterations(client, job_id, key)]


def ran(job: dict[str, Any]) -> set[str]:
    return {k for k, t in job["tasks"].items() if t["iterations"]}


def work(client: TestClient, job_id: str, key: str, who: tuple[str, str], state: str = "success",
         variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """Claim the waiting manual task `key` as `who` and finish it with `state` and `variables`."""
    waiting = waiting_task(client, job_id, key)
    r = client.post(f"/operations-manager/tasks/{waiting['_id']}/claim", json={}, auth=who)
    assert r.status_code == 200, r.text
    body = {"taskData": {"finish_state": state, "variables": variables or {}}}
    r = client.post(f"/operations-manager/jobs/{job_id}/tasks/{key}/finish", json=body, auth=who)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


# the set itself ---------------------------------------------------------------------------------------------


def test_the_fixture_set_is_imported_as_authored(client, imported):
    """At least 12 workflows; the stored documents keep every task and transition as exported."""
    assert len(imported) >= 12
    for doc in imported.values():
        r = client.get(f"/automation-studio/workflows/detailed/{doc['name']}", auth=ADMIN)
        assert r.status_code == 200, r.text
        stored = r.json()
        assert stored["tasks"] == doc["tasks"] and stored["transitions"] == doc["transitions"]
        assert stored["inputSchema"] == doc["inputSchema"] and stored["decorators"] == doc["decorators"]
        assert set(doc["tasks"]) >= {"workflow_start", "workflow_end"} and set(doc["transitions"]) == set(doc["tasks"])


# parallel branches with a join ------------------------------------------------------------------------------


SITE = {"code": "ams1", "maintenance": {"window": "Sun 02:00-04:00 UTC"}}


@pytest.mark.parametrize("role", ["core", "access"])
def test_parallel_prechecks_join_once_after_every_branch(client, imported, role):
    """Four branches from workflow_start; the evaluation branch dies on failure (no failure transition)
    and the merge still runs, once, after the slowest branch (decisions §6 join rule)."""
    job = run(client, "Pre-change checks in parallel", {"device": "core-rtr-01", "role": role, "site_info": SITE})
    assert job["status"] == "complete", job["error"]
    assert job["variables"]["precheck"] == {"reachability": {"reachable": True, "rtt_ms": 4},
                                            "window": "Sun 02:00-04:00 UTC",
                                            "ticket": "Interface cleanup on core-rtr-01"}
    (merge,) = iterations(client, job["_id"], "5e0")
    (slow,) = iterations(client, job["_id"], "1a0")
    assert merge["metrics"]["start_time"] >= slow["metrics"]["end_time"]
    if role == "core":
        assert job["tasks"]["4d0"]["finish_state"] == "success" and job["variables"]["needs_cab"] is True
    else:
        assert job["tasks"]["4d0"]["finish_state"] == "failure" and "needs_cab" not in job["variables"]
        assert job["tasks"]["4d1"]["iterations"] == [] and job["tasks"]["4d1"]["status"] == "incomplete"
    assert not job["error"]


# evaluation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("platform", "running", "target", "compliant"), [
    ("iosxr", 7110, 7100, True),  # both groups hold
    ("junos", 2210, 2240, False),  # the build is too old
    ("eos", 9999, 100, False),  # no platform of the any-group matches
])
def test_software_compliance_evaluation_success_and_failure(client, imported, platform, running, target, compliant):
    job = run(client, "Software compliance gate",
              {"device": "edge-rtr-02", "platform": platform, "running_build": running, "target_build": target})
    assert job["status"] == "complete", job["error"]
    assert job["variables"]["compliant"] is compliant
    assert job["tasks"]["a10"]["finish_state"] == ("success" if compliant else "failure")
    assert ran(job) == ({"a10", "b10"} if compliant else {"a10", "c10", "c11"})
    assert (job["description"] == "Upgrade needed") is not compliant


# error transitions ---------------------------------------------------------------------------------------------


def test_an_error_takes_the_error_transition_to_the_rollback(client, imported):
    job = run(client, "Update interface descriptions with rollback", {"device": "core-rtr-01",
                                                                       "facts_json": '{"hostname": "core-rtr-01"'})
    assert job["status"] == "complete" and not job["error"]
    assert job["tasks"]["f1"]["finish_state"] == "error" and job["tasks"]["f1"]["status"] == "error"
    assert ran(job) == {"f1", "f3", "f4"}
    assert job["variables"]["parse_error"]["message"].startswith("parse: text is not valid JSON")
    assert job["variables"]["rolled_back"] is True and "hostname" not in job["variables"]
    assert job["description"] == "Rolled back: device facts could not be parsed"


def test_without_an_error_the_success_path_runs(client, imported):
    job = run(client, "Update interface descriptions with rollback",
              {"device": "core-rtr-01", "facts_json": '{"hostname": "core-rtr-01", "serial": "FOC1234X"}'})
    assert job["status"] == "complete" and ran(job) == {"f1", "f2"}
    assert job["variables"]["hostname"] == "core-rtr-01" and job["variables"]["facts"]["serial"] == "FOC1234X"
    assert "rolled_back" not in job["variables"] and "parse_error" not in job["variables"]


# an error with no error transition, then retry ---------------------------------------------------------------


def test_an_unhandled_error_stops_the_job_and_retry_completes_it(client, imported, api):
    """decisions §6: the job goes to error with an entry in job.error; retry with a corrected uri
    (variable override) runs a new iteration and the job completes."""
    started = start_job(client, "Back up the running configuration",
                        {"device": "core-rtr-01", "backup_url": f"{api}/api/backups/core-rtr-1"})  # a typo
    job = wait_for_job(client, started["_id"])
    assert job["status"] == "error"
    (entry,) = job["error"]
    assert entry["task"] == "b1" and entry["message"]["icode"] == 404
    assert entry["message"]["response"] == {"detail": "no backup for core-rtr-1"}
    assert job["tasks"]["b1"]["status"] == "error" and ran(job) == {"b1"}

    r = client.post(f"/operations-manager/jobs/{job['_id']}/tasks/b1/retry",
                    json={"variables": {"uri": f"{api}/api/backups/core-rtr-01"}}, auth=ADMIN)
    assert r.status_code == 200, r.text
    job = wait_for_job(client, job["_id"])
    assert job["status"] == "complete"
    assert job["variables"]["config_lines"] == 3 and job["variables"]["backup"]["icode"] == 200
    first, second = iterations(client, job["_id"], "b1")
    assert (first["status"], second["status"]) == ("error", "complete")
    assert second["metrics"]["retrying"] is True
    assert second["variables"]["incoming"]["uri"].endswith("/api/backups/core-rtr-01")
    assert len(job["error"]) == 1  # the history of the stop is kept
    assert [(q["method"], q["path"]) for q in DeviceApi.requests] == [
        ("GET", "/api/backups/core-rtr-1"), ("GET", "/api/backups/core-rtr-01")]


# a revert loop through a manual task --------------------------------------------------------------------------------


def test_a_revert_transition_loops_back_through_the_operator(client, imported, api, world):
    """The push fails (device locked) → ErrorHandling: alice picks retry → evaluation success is a revert
    transition back to the push (workflow-semantics §1.4) → the second push succeeds."""
    url = f"{api}/api/devices/edge-rtr-07/config"
    job = start_job(client, "Push configuration with operator retry",
                    {"device": "edge-rtr-07", "push_url": url, "config": "ntp server 10.0.0.1"})
    work(client, job["_id"], "e2", world.auth("alice"), variables={"response": "retry"})
    job = wait_for_job(client, job["_id"])
    assert job["status"] == "complete", job["error"]
    assert job["variables"]["result"] == "pushed" and job["variables"]["operator_choice"] == "retry"
    assert job["variables"]["push_error"]["icode"] == 409  # from the first round, kept
    assert job["variables"]["push_response"]["response"] == {"device": "edge-rtr-07", "committed": True}
    assert finish_states(client, job["_id"], "e1") == ["error", "success"]
    assert finish_states(client, job["_id"], "e2") == ["success"]
    assert finish_states(client, job["_id"], "e3") == ["success"]
    assert job["tasks"]["e4"]["iterations"] == []
    assert [q["body"] for q in DeviceApi.requests] == ["ntp server 10.0.0.1"] * 2


def test_the_operator_can_abandon_instead(client, imported, api, world):
    url = f"{api}/api/devices/edge-rtr-08/config"
    job = start_job(client, "Push configuration with operator retry",
                    {"device": "edge-rtr-08", "push_url": url, "config": "ntp server 10.0.0.1"})
    work(client, job["_id"], "e2", world.auth("bob"), variables={"response": "failure"})
    job = wait_for_job(client, job["_id"])
    assert job["status"] == "complete" and job["variables"]["result"] == "abandoned"
    assert finish_states(client, job["_id"], "e1") == ["error"] and len(DeviceApi.requests) == 1


# childJob: one child, parallel and sequential loops -------------------------------------------------------------------


SITES = [{"site": "ams1", "devices": ["spine-1", "spine-2"]}, {"site": "fra2", "devices": ["leaf-1"]},
         {"site": "lon3", "devices": ["leaf-2", "leaf-3", "leaf-4"]}]


def child_jobs(client: TestClient, parent: dict[str, Any], ids: list[str]) -> list[dict[str, Any]]:
    """The children named in job_details, fetched through the API, each checked for its family links."""
    children = [get_job(client, i) for i in ids]
    for index, child in enumerate(children):
        assert child["ancestors"] == [parent["_id"], child["_id"]] and child["name"] == "Audit one site"
        assert child["parent"]["job"] == parent["_id"] and child["parent"]["task"] == "d1"
        assert child["parent"]["element"] == (index if len(ids) > 1 else None)
        assert child["status"] == "complete" and child["variables"]["requested_by"] == "noc-automation"
    return children


def test_childjob_single(client, imported):
    job = run(client, "Audit the core site", {"core_site": "ams1", "core_devices": ["spine-1", "spine-2"]})
    assert job["status"] == "complete", job["error"]
    audit = job["variables"]["audit"]
    assert audit["status"] == "complete" and job["variables"]["summary"] == "ams1: audited"
    (child,) = child_jobs(client, job, [audit["_id"]])
    assert child["variables"]["device_count"] == 2 and audit["variables"]["device_count"] == 2
    assert ran(job) == {"d1", "d2"}


@pytest.mark.parametrize("mode", ["parallel", "sequential"])
def test_childjob_loops(client, imported, mode):
    name = {"parallel": "Audit all sites in parallel", "sequential": "Audit all sites one at a time"}[mode]
    job = run(client, name, {"sites": SITES})
    assert job["status"] == "complete", job["error"]
    loop = job["variables"]["audits"]["loop"]
    assert [(e["childJobLoopIndex"], e["site"], e["device_count"], e["status"]) for e in loop] == [
        (0, "ams1", 2, "complete"), (1, "fra2", 1, "complete"), (2, "lon3", 3, "complete")]
    assert job["variables"]["summaries"] == ["ams1: audited", "fra2: audited", "lon3: audited"]
    children = child_jobs(client, job, [e["_id"] for e in loop])
    starts = [c["metrics"]["start_time"] for c in children]
    ends = [c["metrics"]["end_time"] for c in children]
    if mode == "parallel":
        assert max(starts) < min(ends)  # all three ran at once
    else:
        assert starts[1] >= ends[0] and starts[2] >= ends[1]  # one after the other


# forEach ------------------------------------------------------------------------------------------------------------


def test_foreach_builds_commands_per_interface(client, imported):
    interfaces = [{"name": "Gi0/3"}, {"name": "Gi0/7"}, {"name": "Te1/0/1"}]
    job = run(client, "Shut down unused interfaces", {"device": "access-sw-12", "interfaces": interfaces})
    assert job["status"] == "complete", job["error"]
    commands = [f"interface {i['name']}\n shutdown" for i in interfaces]
    assert job["variables"]["commands"] == commands
    assert job["variables"]["config_snippet"] == "\n".join(commands)
    assert job["variables"]["interface"] == {"name": "Te1/0/1"}  # current_item of the last pass
    assert [len(job["tasks"][k]["iterations"]) for k in ("71", "72", "73", "74")] == [1, 3, 3, 1]


# delay --------------------------------------------------------------------------------------------------------------


def test_delay_holds_the_job(client, imported):
    job = run(client, "Wait for the maintenance window", {"device": "core-rtr-01", "wait_seconds": 1})
    assert job["status"] == "complete", job["error"]
    assert job["variables"]["waited_ms"] == 1000
    assert 1000 <= job["variables"]["measured"]["milliseconds"] < 10_000
    assert job["metrics"]["end_time"] - job["metrics"]["start_time"] >= 1000
    (wait,) = iterations(client, job["_id"], "91")
    assert wait["status"] == "complete" and wait["metrics"]["end_time"] - wait["metrics"]["start_time"] >= 1000


# restCall -----------------------------------------------------------------------------------------------------------


def test_restcall_registers_the_device(client, imported, api):
    device = {"name": "leaf-101", "role": "leaf", "site": "ams1"}
    job = run(client, "Register a device in the inventory",
              {"device": device, "inventory_url": f"{api}/api/dcim/devices/"})
    assert job["status"] == "complete", job["error"]
    assert job["variables"]["device_id"] == 42 and job["variables"]["registered"] is True
    assert job["variables"]["inventory_response"] == {
        "icode": 201, "response": {"id": 42, "name": "leaf-101", "status": "planned"}, "headers": {}}
    assert ran(job) == {"c1", "c2", "c3", "c4", "c5"}
    (request,) = DeviceApi.requests
    assert request["method"] == "POST" and json.loads(request["body"]) == device
    assert request["headers"]["accept"] == "application/json"


def test_restcall_error_takes_the_error_path(client, imported, api):
    job = run(client, "Register a device in the inventory",
              {"device": {"name": "leaf-102"}, "inventory_url": f"{api}/api/dcim/racks/"})
    assert job["status"] == "complete" and job["variables"]["registered"] is False
    assert job["variables"]["inventory_error"]["icode"] == 404 and ran(job) == {"c1", "c6"}


# encrypted variables --------------------------------------------------------------------------------------------------


CURRENT, NEW = "Curr3nt-En4ble!", "N3w-En4ble-2026!"


def test_encrypted_variables_reach_the_device_and_nowhere_else(client, imported, api, db):
    """decisions §7: the task gets plaintext (the device sees it), answers show ****, the database holds no
    plaintext of either secret (one from the start variables, one typed by a person)."""
    job = start_job(client, "Rotate the enable secret",
                    {"device": "core-rtr-01", "device_user": "netops-svc", "current_secret": CURRENT,
                     "credentials_url": f"{api}/api/devices/core-rtr-01/enable-secret"})
    assert job["variables"]["current_secret"] == MASK
    finished = work(client, job["_id"], "5a", ADMIN, variables={"new_secret": NEW})
    assert finished["variables"]["outgoing"]["new_secret"] == MASK
    job = wait_for_job(client, job["_id"])
    assert job["status"] == "complete", job["error"]
    assert job["variables"]["current_secret"] == MASK and job["variables"]["new_secret"] == MASK
    assert job["variables"]["rotation"]["response"] == {"device": "core-rtr-01", "rotated": True}
    (request,) = DeviceApi.requests
    assert request["body"] == NEW
    assert request["headers"]["authorization"] == "Basic " + base64.b64encode(f"netops-svc:{CURRENT}".encode()).decode()
    (push,) = iterations(client, job["_id"], "5b")
    assert push["variables"]["incoming"]["password"] == MASK and push["variables"]["incoming"]["body"] == MASK
    raw = raw_database_text(db)
    assert job["_id"] in raw  # the check reads the real data
    assert CURRENT not in raw and NEW not in raw


# actor by manual task ---------------------------------------------------------------------------------------------


def test_tasks_after_the_approval_run_as_the_approver(client, imported, world):
    """workflow-semantics §3.5: actor = the key of a manual task runs the task as the person who worked it;
    actor job as the person who started the job. dave (not in the job's group) cannot work it."""
    job = start_job(client, "Approved maintenance runs as the approver", {"device": "core-rtr-01"},
                    groups=[world.netops], who=world.auth("alice"))
    waiting = waiting_task(client, job["_id"], "aa")
    r = client.post(f"/operations-manager/tasks/{waiting['_id']}/claim", json={}, auth=world.auth("dave"))
    assert r.status_code == 404, r.text  # the job's groups hide it from dave
    work(client, job["_id"], "aa", world.auth("bob"))
    job = wait_for_job(client, job["_id"])
    assert job["status"] == "complete", job["error"]
    (as_approver,) = iterations(client, job["_id"], "ad")
    (as_initiator,) = iterations(client, job["_id"], "ae")
    assert as_approver["metrics"]["user"] == world.ids["bob"]
    assert as_initiator["metrics"]["user"] == world.ids["alice"]
    found = job["variables"]["found"]
    assert [j["_id"] for j in found["data"]] == [job["_id"]] and found["metadata"]["total"] == 1
    assert job["description"] == "Approved maintenance"


def test_a_pure_task_after_the_approval_is_recorded_as_run_by_the_approver(client, imported, world):
    """Regression: pure built-ins run inline (ADR 0008) used to ignore `actor` and record the initiator."""
    job = start_job(client, "Approved maintenance runs as the approver", {"device": "core-rtr-01"},
                    groups=[world.netops], who=world.auth("alice"))
    work(client, job["_id"], "aa", world.auth("bob"))
    job = wait_for_job(client, job["_id"])
    assert job["status"] == "complete"
    (stamp,) = iterations(client, job["_id"], "af")
    assert stamp["metrics"]["user"] == world.ids["bob"]


def test_a_rejected_approval_runs_nothing_as_anyone(client, imported, world):
    job = start_job(client, "Approved maintenance runs as the approver", {"device": "core-rtr-01"},
                    groups=[world.netops], who=world.auth("alice"))
    work(client, job["_id"], "aa", world.auth("bob"), state="failure")
    job = wait_until(lambda: (j := get_job(client, job["_id"]))["status"] == "complete" and j)
    assert ran(job) == {"aa"} and "found" not in job["variables"]
