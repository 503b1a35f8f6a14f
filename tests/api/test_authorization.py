"""Authorization routes (issue #2 scope 2; decisions §3–4): accounts, groups, roles, methods."""

from __future__ import annotations

from opsmgr.domain.access import METHODS

ADMIN = ("admin", "admin")


def test_create_account_with_password_roles_and_groups_then_log_in(client, world):
    r = client.post(
        "/authorization/accounts",
        json={"username": "frank", "password": "pa55", "roles": ["apiread"], "groups": ["NetOps"]},
        auth=ADMIN,
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["username"] == "frank"
    assert doc["memberOf"] == [{"groupId": world.netops, "aaaManaged": False}]
    assert len(doc["assignedRoles"]) == 1
    who = client.get("/whoami", auth=("frank", "pa55")).json()
    assert set(who["roles"]) == {"apiread", "operations"}
    assert who["groups"][0]["name"] == "NetOps"


def test_create_account_validation_names_the_field(client, world):
    r = client.post("/authorization/accounts", json={"username": "x", "password": "p", "bogus": 1}, auth=ADMIN)
    assert r.status_code == 400
    assert r.json()["metadata"]["errors"][0]["path"] == "bogus"
    r = client.post("/authorization/accounts", json={"username": "x", "password": "p", "roles": ["nope"]},
                    auth=ADMIN)
    assert r.status_code == 400 and "nope" in r.json()["message"]
    r = client.post("/authorization/accounts", json={"username": "alice", "password": "p"}, auth=ADMIN)
    assert r.status_code == 409


def test_account_writes_need_admin_or_authorization_role(client, world):
    body = {"username": "gina", "password": "p"}
    assert client.post("/authorization/accounts", json=body, auth=world.auth("erin")).status_code == 403
    assert client.post("/authorization/accounts", json=body, auth=world.auth("alice")).status_code == 403
    client.post("/authorization/accounts", json={"username": "hal", "password": "p", "roles": ["authorization"]},
                auth=ADMIN)
    assert client.post("/authorization/accounts", json=body, auth=("hal", "p")).status_code == 200


def test_list_and_get_accounts(client, world):
    r = client.get("/authorization/accounts", params={"limit": 2}, auth=world.auth("carol"))
    assert r.status_code == 200
    assert r.json()["total"] == 6 and len(r.json()["results"]) == 2
    r = client.get(f"/authorization/accounts/{world.ids['bob']}", auth=ADMIN)
    assert r.json()["username"] == "bob"
    assert client.get("/authorization/accounts/" + "0" * 24, auth=ADMIN).status_code == 404
    assert client.get("/authorization/accounts/nothex", auth=ADMIN).status_code == 400


def test_deactivating_an_account_ends_its_sessions(client, world):
    tok = client.post("/login", json={"user": {"username": "bob", "password": "pw"}}).text
    assert client.get("/whoami", headers={"authorization": f"Bearer {tok}"}).status_code == 200
    r = client.patch(f"/authorization/accounts/{world.ids['bob']}", json={"inactive": True}, auth=ADMIN)
    assert r.status_code == 200 and r.json()["inactive"] is True
    assert client.get("/whoami", headers={"authorization": f"Bearer {tok}"}).status_code == 401
    assert client.post("/login", json={"user": {"username": "bob", "password": "pw"}}).status_code == 401


def test_group_crud_and_membership(client, world):
    r = client.post("/authorization/groups",
                    json={"group": {"name": "Approvers", "description": "d", "assignedRoles": ["operations"],
                                    "members": ["carol"]}}, auth=ADMIN)
    assert r.status_code == 200, r.text
    group = r.json()["data"]
    assert group["members"] == [world.ids["carol"]]
    assert "operations" in client.get("/whoami", auth=world.auth("carol")).json()["roles"]
    r = client.patch(f"/authorization/groups/{group['_id']}", json={"group": {"members": []}}, auth=ADMIN)
    assert r.status_code == 200 and r.json()["members"] == []
    assert client.get(f"/authorization/groups/{group['_id']}", auth=ADMIN).json()["name"] == "Approvers"
    dup = client.post("/authorization/groups", json={"group": {"name": "NetOps"}}, auth=ADMIN)
    assert dup.status_code == 409
    assert client.delete(f"/authorization/groups/{group['_id']}", auth=ADMIN).status_code == 200
    assert client.get(f"/authorization/groups/{group['_id']}", auth=ADMIN).status_code == 404


def test_custom_role_grants_exactly_its_methods(client, world):
    r = client.post("/authorization/roles",
                    json={"role": {"name": "task-reader", "description": "", "allowedMethods": [{"name": "getTasks"}]}},
                    auth=ADMIN)
    assert r.status_code == 200, r.text
    role_id = r.json()["data"]["_id"]
    client.post("/authorization/accounts", json={"username": "ivy", "password": "p", "roles": ["task-reader"]},
                auth=ADMIN)
    assert client.get("/operations-manager/tasks", auth=("ivy", "p")).status_code == 200
    assert client.get("/operations-manager/jobs", auth=("ivy", "p")).status_code == 403
    bad = client.post("/authorization/roles", json={"role": {"name": "r2", "allowedMethods": ["nope"]}}, auth=ADMIN)
    assert bad.status_code == 400
    builtin = client.get("/authorization/roles", auth=ADMIN).json()["results"]
    admin_role = next(r for r in builtin if r["name"] == "admin")
    assert client.delete(f"/authorization/roles/{admin_role['_id']}", auth=ADMIN).status_code == 409
    assert client.delete(f"/authorization/roles/{role_id}", auth=ADMIN).status_code == 200


def test_methods_route_serves_the_role_table(client, world):
    r = client.get("/authorization/methods", auth=world.auth("carol"))
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == len(METHODS)
    claim = next(m for m in body["results"] if m["name"] == "claimTask")
    assert claim["route"] == {"path": "/operations-manager/tasks/{taskId}/claim", "verb": "POST",
                              "fullPath": "/operations-manager/tasks/{taskId}/claim"}
    assert claim["roles"] == ["admin", "apiwrite", "engineering", "operations"]


def test_a_nul_character_in_a_name_is_a_400_on_both_databases(client, world):
    r = client.post("/authorization/accounts", json={"username": "a\u0000b", "password": "p"}, auth=ADMIN)
    assert r.status_code == 400 and r.json()["metadata"]["errors"][0]["path"] == "username"
    r = client.post("/authorization/groups", json={"group": {"name": "g\u0000"}}, auth=ADMIN)
    assert r.status_code == 400
