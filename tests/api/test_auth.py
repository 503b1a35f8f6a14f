"""API tests of authentication (decisions §3): login, logout and whoami; tokens by cookie, query and
Bearer; Basic everywhere; OAuth client credentials; how secrets are stored; inactive accounts."""

from __future__ import annotations

import hashlib
import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from opsmgr.api.app import create_app
from opsmgr.domain.access import METHODS
from opsmgr.services import auth
from opsmgr.store.schema import account, token
from tests.conftest import empty_tables
from tests.helpers import PASSWORD

ADMIN = ("admin", "admin")


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """POST /login; returns the token and leaves the client's cookie jar empty."""
    r = client.post("/login", json={"user": {"username": username, "password": password}})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return r.text


def test_login_returns_the_token_as_text_and_sets_the_cookie(client, world):
    """decisions §3: POST /login → 200, body = the token as plain text, and a `token` cookie of the same value."""
    r = client.post("/login", json={"user": {"username": "alice", "password": PASSWORD}})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text and r.text == r.cookies["token"]
    assert "httponly" in r.headers["set-cookie"].lower()
    client.cookies.clear()


def test_tokens_are_random_and_long(client, world):
    """decisions §3: tokens are random (≥128 bits): every login gets a different, long token."""
    tokens = {login(client, "alice") for _ in range(5)}
    assert len(tokens) == 5
    assert all(len(t) >= 22 for t in tokens)  # ≥128 bits in URL-safe base64


def test_login_failures_are_401(client, world):
    """decisions §3: a wrong password or an unknown user cannot log in (401); a malformed body is 400."""
    for user in ({"username": "alice", "password": "wrong"}, {"username": "nobody", "password": PASSWORD}):
        assert client.post("/login", json={"user": user}).status_code == 401
    assert client.post("/login", json={"username": "alice"}).status_code == 400
    assert "token" not in client.cookies


@pytest.mark.parametrize("how", ["cookie", "query", "bearer"])
def test_token_is_accepted_from_cookie_query_and_bearer(client, world, how):
    """decisions §3: a token is accepted from the `token` cookie, a `token` query parameter or
    `Authorization: Bearer`."""
    tok = login(client, "alice")
    url = "/operations-manager/jobs"
    if how == "cookie":
        client.cookies.set("token", tok)
        r = client.get(url)
        client.cookies.clear()
    elif how == "query":
        r = client.get(url, params={"token": tok})
    else:
        r = client.get(url, headers={"Authorization": f"Bearer {tok}"})
    assert r.status_code == 200, r.text
    assert client.get(url).status_code == 401


def test_login_cookie_works_on_following_requests(client, world):
    """decisions §3: the cookie that /login sets authenticates the client's next requests."""
    r = client.post("/login", json={"user": {"username": "alice", "password": PASSWORD}})
    assert r.status_code == 200
    assert client.get("/whoami").json()["username"] == "alice"
    client.cookies.clear()


def test_basic_is_accepted_on_every_route(client, world):
    """decisions §3: HTTP Basic credentials are accepted on every route (admin is never 401)."""
    for m in METHODS:
        path = m.path
        for name in ("id", "jobId", "accountId", "groupId", "roleId", "clientId", "name"):
            path = path.replace("{" + name + "}", "0123456789abcdef01234567")
        path = path.replace("{taskId}", "a1" if "/jobs/" in path else "00000000-0000-4000-8000-000000000000")
        body = {} if m.verb in ("POST", "PUT", "PATCH") else None
        r = client.request(m.verb, path, json=body, auth=ADMIN)
        assert r.status_code not in (401, 403), (m.name, r.status_code, r.text)
    assert client.get("/whoami", auth=world.auth("alice")).json()["username"] == "alice"


def test_logout_ends_the_token(client, world):
    """decisions §3: POST /logout ends the token: it is refused (401) afterwards, other tokens are not."""
    tok, other = login(client, "alice"), login(client, "alice")
    bearer = {"Authorization": f"Bearer {tok}"}
    assert client.get("/whoami", headers=bearer).status_code == 200
    r = client.post("/logout", headers=bearer)
    assert r.status_code == 200
    assert client.get("/whoami", headers=bearer).status_code == 401
    assert client.get("/operations-manager/jobs", params={"token": tok}).status_code == 401
    assert client.get("/whoami", headers={"Authorization": f"Bearer {other}"}).status_code == 200


def test_logout_by_cookie_ends_the_token(client, world):
    """decisions §3: logging out with the cookie ends that token too, and clears the cookie."""
    tok = login(client, "bob")
    client.cookies.set("token", tok)
    assert client.post("/logout").status_code == 200
    client.cookies.clear()
    assert client.get("/whoami", params={"token": tok}).status_code == 401


def test_whoami_returns_effective_roles_and_groups(client, world):
    """decisions §3–4: /whoami returns the account with its effective roles (its own plus those of its
    groups) and its groups."""
    me = client.get("/whoami", auth=world.auth("alice")).json()
    assert me["username"] == "alice" and me["_id"] == world.ids["alice"]
    assert "operations" in me["roles"]  # alice has no role of her own: it comes from NetOps
    assert [g["name"] for g in me["groups"]] == ["NetOps"]
    carol = client.get("/whoami", auth=world.auth("carol")).json()
    assert carol["roles"] == ["apiread"] and carol["groups"] == []
    tok = login(client, "dave")
    dave = client.get("/whoami", headers={"Authorization": f"Bearer {tok}"}).json()
    assert dave["username"] == "dave" and dave["roles"] == ["operations"]


def test_whoami_without_credentials_is_401(client, world):
    """decisions §2–3: no credentials → 401."""
    assert client.get("/whoami").status_code == 401
    assert client.get("/whoami", auth=("alice", "nope")).status_code == 401


def _service_account(client: TestClient, roles: list[str]) -> dict:
    r = client.post("/oauth/serviceAccounts", json={"name": "robot", "roles": roles}, auth=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_oauth_client_credentials(client, world):
    """decisions §3: POST /oauth/token (form-encoded client_credentials) for an admin-created service
    account → {access_token, token_type: bearer, expires_in}, and the token works as Bearer."""
    sa = _service_account(client, ["operations"])
    form = {"grant_type": "client_credentials", "client_id": sa["client_id"], "client_secret": sa["client_secret"]}
    r = client.post("/oauth/token", data=form)
    assert r.status_code == 200, r.text
    grant = r.json()
    assert set(grant) == {"access_token", "token_type", "expires_in"}
    assert grant["token_type"] == "bearer" and isinstance(grant["expires_in"], int) and grant["expires_in"] > 0
    bearer = {"Authorization": f"Bearer {grant['access_token']}"}
    assert client.get("/operations-manager/jobs", headers=bearer).status_code == 200
    # the service account holds operations only: no authorization writes
    assert client.post("/oauth/serviceAccounts", json={"name": "x"}, headers=bearer).status_code == 403


def test_oauth_token_lifetime_is_the_configured_ttl(client, settings, world):
    """decisions §3: tokens expire after the configured TTL; expires_in says so, as does the login cookie."""
    sa = _service_account(client, [])
    form = {"grant_type": "client_credentials", "client_id": sa["client_id"], "client_secret": sa["client_secret"]}
    assert client.post("/oauth/token", data=form).json()["expires_in"] == settings.token_ttl_seconds
    r = client.post("/login", json={"user": {"username": "alice", "password": PASSWORD}})
    client.cookies.clear()
    assert f"max-age={settings.token_ttl_seconds}" in r.headers["set-cookie"].lower()


def test_service_account_list_hides_secrets_and_delete_ends_its_tokens(client, world):
    """decisions §3: listing service accounts never shows a secret; deleting one ends its tokens."""
    sa = _service_account(client, ["operations"])
    listed = client.get("/oauth/serviceAccounts", auth=ADMIN)
    assert listed.status_code == 200
    assert [x["client_id"] for x in listed.json()["results"]] == [sa["client_id"]]
    assert sa["client_secret"] not in listed.text and "scrypt" not in listed.text
    form = {"grant_type": "client_credentials", "client_id": sa["client_id"], "client_secret": sa["client_secret"]}
    bearer = {"Authorization": f"Bearer {client.post('/oauth/token', data=form).json()['access_token']}"}
    assert client.delete(f"/oauth/serviceAccounts/{sa['client_id']}", auth=ADMIN).status_code == 200
    assert client.get("/operations-manager/jobs", headers=bearer).status_code == 401
    assert client.post("/oauth/token", data=form).status_code == 401


def test_oauth_wrong_secret_or_client_is_401(client, world):
    """decisions §3: a wrong client secret or unknown client id → 401; a wrong grant type → 400."""
    sa = _service_account(client, ["operations"])
    base = {"grant_type": "client_credentials", "client_id": sa["client_id"]}
    assert client.post("/oauth/token", data={**base, "client_secret": "wrong"}).status_code == 401
    assert client.post("/oauth/token", data={**base, "client_id": "nope", "client_secret": "x"}).status_code == 401
    bad_grant = {**base, "grant_type": "password", "client_secret": sa["client_secret"]}
    assert client.post("/oauth/token", data=bad_grant).status_code == 400
    # a service account cannot log in as a user with its secret
    r = client.post("/login", json={"user": {"username": "robot", "password": sa["client_secret"]}})
    assert r.status_code == 401


def test_service_accounts_are_created_by_admin_only(client, world):
    """decisions §3–4: service accounts are created by an admin (authorization role); others → 403."""
    for who in ("alice", "erin", "carol"):
        r = client.post("/oauth/serviceAccounts", json={"name": f"sa-{who}"}, auth=world.auth(who))
        assert r.status_code == 403, (who, r.text)


def test_tokens_are_stored_only_as_hashes(client, db, world):
    """decisions §3: the raw token is never stored; the token table holds its hash."""
    tok = login(client, "alice")
    sa = _service_account(client, [])
    form = {"grant_type": "client_credentials", "client_id": sa["client_id"], "client_secret": sa["client_secret"]}
    oauth_tok = client.post("/oauth/token", data=form).json()["access_token"]
    with db.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(token))]
        accounts = [dict(r._mapping) for r in conn.execute(select(account))]
    stored = repr(rows) + repr(accounts)
    for raw in (tok, oauth_tok):
        assert raw not in stored
        assert hashlib.sha256(raw.encode()).hexdigest() in {r["token_hash"] for r in rows}
    assert sa["client_secret"] not in stored


def test_passwords_are_stored_with_scrypt(client, db, world):
    """decisions §3: passwords (and client secrets) are stored with scrypt, never in plain text."""
    _service_account(client, [])
    with db.engine.connect() as conn:
        rows = conn.execute(select(account.c.username, account.c.secret_hash)).all()
    assert len(rows) >= 7
    for username, secret_hash in rows:
        assert secret_hash.startswith("scrypt$"), username
        assert secret_hash not in (PASSWORD, "admin")
        assert auth.verify_secret("admin" if username == "admin" else PASSWORD, secret_hash) == (username != "robot")


def test_inactive_account_can_no_longer_log_in(client, world):
    """decisions §3: PATCH /authorization/accounts/:id {inactive: true} → that account can no longer log in,
    its tokens and Basic credentials stop working."""
    tok = login(client, "bob")
    assert client.get("/whoami", auth=world.auth("bob")).status_code == 200
    r = client.patch(f"/authorization/accounts/{world.ids['bob']}", json={"inactive": True}, auth=ADMIN)
    assert r.status_code == 200, r.text
    assert client.post("/login", json={"user": {"username": "bob", "password": PASSWORD}}).status_code == 401
    assert client.get("/whoami", auth=world.auth("bob")).status_code == 401
    assert client.get("/whoami", headers={"Authorization": f"Bearer {tok}"}).status_code == 401
    r = client.patch(f"/authorization/accounts/{world.ids['bob']}", json={"inactive": False}, auth=ADMIN)
    assert r.status_code == 200
    login(client, "bob")


def test_expired_token_is_401(client, db, world):
    """decisions §2–3: tokens expire: an expired token → 401."""
    tok = login(client, "alice")
    with db.engine.begin() as conn:
        conn.execute(update(token).where(token.c.token_hash == auth.token_hash(tok)).values(expires=0))
    assert client.get("/whoami", headers={"Authorization": f"Bearer {tok}"}).status_code == 401


def test_tokens_are_shared_by_server_processes_through_the_database(client, settings, db, world):
    """decisions §3: a token issued by one server is accepted by another sharing the database, and a
    logout through one is seen by the other (after its short cache)."""
    tok = login(client, "alice")
    other = create_app(settings.model_copy(update={"auth_cache_seconds": 0}), db, run_engine=False)
    with TestClient(other) as second:
        bearer = {"Authorization": f"Bearer {tok}"}
        assert second.get("/whoami", headers=bearer).json()["username"] == "alice"
        assert client.post("/logout", headers=bearer).status_code == 200
        assert second.get("/whoami", headers=bearer).status_code == 401


def test_basic_does_not_pay_the_kdf_on_every_request(client, world, monkeypatch):
    """decisions §3: verified Basic credentials are cached briefly, so repeated requests do not run the
    KDF again; a wrong password is never served from that cache."""
    calls = []
    real = auth.verify_secret
    monkeypatch.setattr(auth, "verify_secret", lambda s, h: calls.append(1) or real(s, h))
    for _ in range(5):
        assert client.get("/operations-manager/jobs", auth=world.auth("carol")).status_code == 200
    assert len(calls) == 1
    assert client.get("/operations-manager/jobs", auth=("carol", "wrong")).status_code == 401


def test_first_start_creates_admin_with_configured_password(database, settings, caplog):
    """decisions §3: first start on an empty database creates `admin` with OPSMGR_ADMIN_PASSWORD, and
    warns only while the default password is in use."""
    empty_tables(database)
    with caplog.at_level(logging.WARNING, logger="opsmgr.auth"):
        assert auth.bootstrap(database, settings.model_copy(update={"admin_password": "s3cret!"})) is True
        assert auth.bootstrap(database, settings) is False  # the second start keeps the account
    assert "default password" not in caplog.text
    with TestClient(create_app(settings, database, run_engine=False)) as c:
        assert c.get("/whoami", auth=("admin", "s3cret!")).json()["roles"] == ["admin"]
        assert c.get("/whoami", auth=("admin", "admin")).status_code == 401
    empty_tables(database)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="opsmgr.auth"):
        auth.bootstrap(database, settings)
    assert "default password" in caplog.text
    with database.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM account WHERE username = 'admin'")).scalar() == 1


def test_custom_role_allows_exactly_its_methods(client, world):
    """decisions §4: roles are names; a custom role's allowed methods are honoured (and nothing more),
    also when held through a group."""
    r = client.post("/authorization/roles", json={"role": {"name": "jobReader", "allowedMethods": [
        {"name": "getJobs", "provenance": "OperationsManager"}]}}, auth=ADMIN)
    assert r.status_code == 200, r.text
    r = client.post("/authorization/groups", json={"group": {"name": "Readers", "assignedRoles": ["jobReader"],
                                                             "members": []}}, auth=ADMIN)
    assert r.status_code == 200, r.text
    r = client.post("/authorization/accounts", json={"username": "frank", "password": PASSWORD,
                                                     "groups": ["Readers"]}, auth=ADMIN)
    assert r.status_code == 200, r.text
    frank = ("frank", PASSWORD)
    assert client.get("/operations-manager/jobs", auth=frank).status_code == 200
    assert client.get("/operations-manager/tasks", auth=frank).status_code == 403
    assert client.post("/operations-manager/jobs/start", json={}, auth=frank).status_code == 403
