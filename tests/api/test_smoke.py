"""A first end-to-end path through the API (decisions §5): claim → finish → the job completes."""

from tests.helpers import approval_workflow, create_workflow, start_job, wait_for_job, waiting_task


def test_claim_then_finish_completes_the_job(client, world):
    create_workflow(client, approval_workflow(groups=[world.netops]))
    job = start_job(client, "approve")
    t = waiting_task(client, job["_id"], "a1")
    r = client.post(f"/operations-manager/tasks/{t['_id']}/claim", json={}, auth=world.auth("alice"))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["metrics"]["owner"] == world.ids["alice"]
    r = client.post(
        f"/operations-manager/jobs/{job['_id']}/tasks/a1/finish",
        json={"taskData": {"finish_state": "success", "variables": {"note": "fine"}}},
        auth=world.auth("alice"),
    )
    assert r.status_code == 200, r.text
    done = wait_for_job(client, job["_id"])
    assert done["status"] == "complete"
    assert done["variables"]["approved"] is True
