"""Operations Manager job routes (ops-manager-api §5.1, decisions §2, §4, §9): start, read, search."""

from __future__ import annotations

import pytest

from tests.helpers import approval_workflow, create_workflow, get_job, start_job, task, wait_for_job, workflow

ADMIN = ("admin", "admin")
MISSING_JOB = "0" * 24
PAGE_KEYS = {"skip", "limit", "total", "nextPageSkip", "previousPageSkip", "currentPageSize"}


def quick(name: str = "quick") -> dict:
    return workflow(name, {"a1": task("stub")},
                    {"workflow_start": {"a1": "success"}, "a1": {"workflow_end": "success"}})


def jobs(client, params=None, who=ADMIN):
    r = client.get("/operations-manager/jobs", params=params or {}, auth=who)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"message", "data", "metadata"}
    return body["data"], body["metadata"]


def post_start(client, body, who=ADMIN):
    return client.post("/operations-manager/jobs/start", json=body, auth=who)


# start --------------------------------------------------------------------------------------------------


def test_start_answers_with_the_running_job(client):
    create_workflow(client, approval_workflow())
    r = post_start(client, {"workflow": "approve", "options": {"description": "why", "variables": {"v": 1}}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"message", "data", "metadata"}
    job = body["data"]
    assert job["status"] == "running" and job["name"] == "approve" and job["description"] == "why"
    assert job["variables"]["v"] == 1 and len(job["_id"]) == 24
    assert job["groups"] == [] and job["type"] == "automation"


def test_start_without_options(client):
    create_workflow(client, quick())
    r = post_start(client, {"workflow": "quick"})
    assert r.status_code == 200, r.text
    assert wait_for_job(client, r.json()["data"]["_id"])["status"] == "complete"


def test_unknown_workflow_is_a_400_naming_workflow(client):
    r = post_start(client, {"workflow": "nope", "options": {}})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["data"] is None and "nope" in body["message"]
    assert [p["path"] for p in body["metadata"]["errors"]] == ["workflow"]


@pytest.mark.parametrize(
    "body,path",
    [
        ({"workflow": "quick", "extra": 1}, "extra"),
        ({"workflow": "quick", "options": {"variables": {}, "colour": "red"}}, "options.colour"),
        ({"workflow": "quick", "variables": {}}, "variables"),
        ({"options": {}}, "workflow"),
        ({"workflow": ""}, "workflow"),
        ({"workflow": "quick", "options": {"variables": []}}, "options.variables"),
        ({"workflow": "quick", "options": {"groups": "x"}}, "options.groups"),
    ],
)
def test_start_body_is_validated(client, body, path):
    create_workflow(client, quick())
    r = post_start(client, body)
    assert r.status_code == 400, r.text
    assert path in [p["path"] for p in r.json()["metadata"]["errors"]]
    assert jobs(client)[1]["total"] == 0


@pytest.mark.parametrize("group", ["not-a-group", "ABCDEFABCDEFABCDEFABCDEF", MISSING_JOB])
def test_bad_group_ids_are_a_400(client, world, group):
    create_workflow(client, quick())
    r = post_start(client, {"workflow": "quick", "options": {"groups": [world.netops, group]}})
    assert r.status_code == 400, r.text
    errors = r.json()["metadata"]["errors"]
    assert errors and all(p["path"] == "options.groups" for p in errors)
    assert group in r.json()["message"]
    assert jobs(client)[1]["total"] == 0


def test_start_requires_a_write_role(client, world):
    create_workflow(client, quick())
    assert post_start(client, {"workflow": "quick"}, who=world.auth("carol")).status_code == 403
    assert client.post("/operations-manager/jobs/start", json={"workflow": "quick"}).status_code == 401
    assert post_start(client, {"workflow": "quick"}, who=world.auth("erin")).status_code == 200


def test_a_job_with_groups_is_visible_only_to_members(client, world):
    create_workflow(client, approval_workflow())
    job = start_job(client, "approve", groups=[world.netops])
    assert job["groups"] == [world.netops]
    url = f"/operations-manager/jobs/{job['_id']}"
    for who in ("alice", "bob", "admin"):
        assert client.get(url, auth=world.auth(who)).status_code == 200, who
    for who in ("dave", "carol"):
        r = client.get(url, auth=world.auth(who))
        assert r.status_code == 404, who
        assert r.json()["data"] is None
    open_job = start_job(client, "approve")
    assert client.get(f"/operations-manager/jobs/{open_job['_id']}", auth=world.auth("dave")).status_code == 200
    # searches filter rather than refuse
    seen = {j["_id"] for j in jobs(client, who=world.auth("dave"))[0]}
    assert seen == {open_job["_id"]}
    assert {j["_id"] for j in jobs(client, who=world.auth("alice"))[0]} == {job["_id"], open_job["_id"]}


def test_get_job_ids(client):
    assert client.get(f"/operations-manager/jobs/{MISSING_JOB}", auth=ADMIN).status_code == 404
    r = client.get("/operations-manager/jobs/nope", auth=ADMIN)
    assert r.status_code == 400 and "id" in r.json()["message"]


def test_get_job_projection(client):
    create_workflow(client, quick())
    job = start_job(client, "quick")
    r = client.get(f"/operations-manager/jobs/{job['_id']}", params={"include": "name,status"}, auth=ADMIN)
    assert r.status_code == 200 and set(r.json()["data"]) == {"_id", "name", "status"}
    r = client.get(f"/operations-manager/jobs/{job['_id']}", params={"equals[name]": "x"}, auth=ADMIN)
    assert r.status_code == 400


# search -------------------------------------------------------------------------------------------------


@pytest.fixture
def several(client):
    """Three running approval jobs and two complete quick jobs."""
    create_workflow(client, approval_workflow())
    create_workflow(client, quick())
    running = [start_job(client, "approve")["_id"] for _ in range(3)]
    done = [start_job(client, "quick")["_id"] for _ in range(2)]
    for job_id in done:
        wait_for_job(client, job_id)
    return running, done


def test_equals_status_and_name(client, several):
    running, done = several
    data, meta = jobs(client, {"equals[status]": "running"})
    assert sorted(j["_id"] for j in data) == sorted(running) and meta["total"] == 3
    data, meta = jobs(client, {"equals[name]": "quick"})
    assert sorted(j["_id"] for j in data) == sorted(done)
    data, _ = jobs(client, {"equals[name]": "quick", "equals[status]": "running"})
    assert data == []


def test_in_status(client, several):
    running, done = several
    data, meta = jobs(client, {"in[status]": "running,complete"})
    assert meta["total"] == 5
    data, meta = jobs(client, {"in[status]": "complete,error"})
    assert sorted(j["_id"] for j in data) == sorted(done)
    data, meta = jobs(client, {"not-in[status]": "complete"})
    assert sorted(j["_id"] for j in data) == sorted(running)


def test_paging_metadata(client, several):
    data, meta = jobs(client, {"limit": "2"})
    assert set(meta) == PAGE_KEYS
    assert meta == {"skip": 0, "limit": 2, "total": 5, "nextPageSkip": 2, "previousPageSkip": None,
                    "currentPageSize": 2}
    seen = [j["_id"] for j in data]
    data, meta = jobs(client, {"limit": "2", "skip": "2"})
    assert meta["nextPageSkip"] == 4 and meta["previousPageSkip"] == 0 and meta["currentPageSize"] == 2
    seen += [j["_id"] for j in data]
    data, meta = jobs(client, {"limit": "2", "skip": "4"})
    assert meta["nextPageSkip"] is None and meta["previousPageSkip"] == 2 and meta["currentPageSize"] == 1
    seen += [j["_id"] for j in data]
    assert len(set(seen)) == 5  # stable pages, no repeats
    data, meta = jobs(client)
    assert meta["limit"] == 25 and meta["currentPageSize"] == 5
    data, meta = jobs(client, {"skip": "10"})
    assert data == [] and meta["currentPageSize"] == 0 and meta["total"] == 5


def test_sort_and_order(client, several):
    data, _ = jobs(client, {"sort": "name", "order": "1"})
    names = [j["name"] for j in data]
    assert names == sorted(names) and names[0] == "approve"
    data, _ = jobs(client, {"sort": "name", "order": "-1"})
    assert data[0]["name"] == "quick"
    data, _ = jobs(client, {"sort": "metrics.start_time", "order": "-1"})
    starts = [j["metrics"]["start_time"] for j in data]
    assert starts == sorted(starts, reverse=True)
    data, _ = jobs(client, {"sort": "_id"})
    assert [j["_id"] for j in data] == sorted(j["_id"] for j in data)


@pytest.mark.parametrize(
    "params",
    [
        {"bogus[status]": "running"},
        {"equals[colour]": "red"},
        {"equals": "x"},
        {"limit": "501"},
        {"limit": "0"},
        {"limit": "many"},
        {"skip": "-1"},
        {"order": "2"},
        {"sort": "colour"},
        {"gt[metrics.start_time]": "yesterday"},
        {"contains[metrics.start_time]": "1"},
    ],
)
def test_bad_search_parameters_are_a_400(client, params):
    r = client.get("/operations-manager/jobs", params=params, auth=ADMIN)
    assert r.status_code == 400, (params, r.text)
    body = r.json()
    assert body["data"] is None and body["metadata"]["errors"][0]["path"] == next(iter(params))


def test_limit_500_is_allowed(client, several):
    assert jobs(client, {"limit": "500"})[1]["limit"] == 500


def test_search_projection_and_dates(client, several):
    data, _ = jobs(client, {"include": "name", "equals[name]": "quick"})
    assert all(set(j) == {"_id", "name"} for j in data)
    first = get_job(client, several[0][0])
    data, _ = jobs(client, {"gte[metrics.start_time]": str(first["metrics"]["start_time"])})
    assert len(data) == 5
    data, _ = jobs(client, {"lt[metrics.start_time]": "2000-01-01T00:00:00Z"})
    assert data == []


def test_unstorable_start_values_are_a_400_not_a_500(client):
    create_workflow(client, quick())
    for body, path in (
        ({"workflow": "quick", "options": {"variables": {"x": "a\u0000b"}}}, "options.variables.x"),
        ({"workflow": "quick", "options": {"description": "a\u0000"}}, "options.description"),
        ({"workflow": "quick", "options": {"type": "t" * 100}}, "options.type"),
        ({"workflow": "q\u0000"}, "workflow"),
    ):
        r = post_start(client, body)
        assert r.status_code == 400, (body, r.text)
        assert path in [p["path"] for p in r.json()["metadata"]["errors"]]
    r = client.post("/operations-manager/jobs/start", auth=ADMIN, headers={"content-type": "application/json"},
                    content=b'{"workflow": "quick", "options": {"variables": {"x": NaN}}}')
    assert r.status_code == 400, r.text
    assert client.get("/operations-manager/jobs", params={"equals[name]": "a\u0000"}, auth=ADMIN).status_code == 400
    assert jobs(client)[1]["total"] == 0


@pytest.mark.parametrize("job_type", ["automation", "resource:action", "resource:compliance"])
def test_start_accepts_the_documented_job_types(client, job_type):
    create_workflow(client, quick())
    r = post_start(client, {"workflow": "quick", "options": {"type": job_type}})
    assert r.status_code == 200 and r.json()["data"]["type"] == job_type
