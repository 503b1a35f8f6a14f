"""The `--demo` data set (issue #2 scope 7): who is who, the workflow, three claimable tasks."""

from __future__ import annotations

from fastapi.testclient import TestClient

from opsmgr.engine.registry import default_registry
from opsmgr.services import demo


def test_demo_seeds_people_workflow_and_three_claimable_tasks(db, client: TestClient) -> None:
    assert demo.seed(db, default_registry().known()) is True
    assert demo.seed(db, default_registry().known()) is False  # only on a database without it
    who = {name: client.get("/whoami", auth=(name, "demo")).json() for name in ("alice", "bob", "carol", "dave")}
    assert who["alice"]["roles"] == ["operations"] and who["alice"]["groups"][0]["name"] == "NetOps"
    assert who["bob"]["groups"][0]["name"] == "NetOps"
    assert who["carol"]["roles"] == ["apiread"] and who["carol"]["groups"] == []
    assert who["dave"]["roles"] == ["operations"] and who["dave"]["groups"] == []

    wf = client.get("/automation-studio/workflows/detailed/Approve and configure", auth=("admin", "admin")).json()
    assert wf["tasks"]["a1"]["groups"] == [who["alice"]["groups"][0]["id"]]

    r = client.get("/operations-manager/tasks", params={"equals[type]": "manual", "equals[status]": "running"},
                   auth=("alice", "demo"))
    tasks = r.json()["data"]
    assert len(tasks) == 3 and {t["metrics"]["owner"] for t in tasks} == {""}
    task_id = tasks[0]["_id"]
    assert client.post(f"/operations-manager/tasks/{task_id}/claim", json={}, auth=("carol", "demo")).status_code == 403
    assert client.post(f"/operations-manager/tasks/{task_id}/claim", json={}, auth=("dave", "demo")).status_code == 403
    assert client.post(f"/operations-manager/tasks/{task_id}/claim", json={}, auth=("alice", "demo")).status_code == 200
    r = client.post(f"/operations-manager/jobs/{tasks[0]['job']['_id']}/tasks/a1/finish",
                    json={"taskData": {"finish_state": "success", "variables": {}}}, auth=("alice", "demo"))
    assert r.status_code == 200
