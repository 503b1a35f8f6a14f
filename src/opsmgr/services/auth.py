"""Authentication (decisions §3): passwords, login tokens, OAuth client credentials, bootstrap.

Tokens are 256-bit random strings; only their SHA-256 is stored, so every server process sharing the
database accepts them. Secrets are stored with scrypt (memory-hard). A verified credential is cached
for `auth_cache_seconds` in this process, keyed by a hash of the credential, so Basic auth does not pay
the KDF on every request; logout drops the local cache entry at once, other processes within that TTL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from typing import Any

from opsmgr.config import Settings
from opsmgr.domain.access import ADMIN, BUILTIN_ROLES, Principal
from opsmgr.domain.documents import now_ms
from opsmgr.domain.ids import new_object_id
from opsmgr.errors import Unauthenticated
from opsmgr.store import accounts as store
from opsmgr.store.database import Connection, Database

log = logging.getLogger("opsmgr.auth")

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_secret(secret: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    encoded_salt, encoded_digest = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encoded_salt}${encoded_digest}"


def verify_secret(secret: str, stored: str | None) -> bool:
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    actual = hashlib.scrypt(
        secret.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(actual, base64.b64decode(digest))


def token_hash(tok: str) -> str:
    return hashlib.sha256(tok.encode()).hexdigest()


class AuthCache:
    """Short-lived cache of verified credentials → Principal, per process."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Principal | None:
        entry = self._entries.get(key)
        if entry and entry[0] > time.monotonic():
            return entry[1]
        return None

    def put(self, key: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) > 10_000:
                now = time.monotonic()
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            self._entries[key] = (time.monotonic() + self.ttl, principal)

    def drop(self, key: str) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


def principal_of(conn: Connection, acct: dict[str, Any]) -> Principal:
    roles, groups, methods = store.effective_access(conn, acct["id"])
    return Principal(acct["id"], acct["username"], frozenset(roles), frozenset(groups), frozenset(methods))


def load_principal(db: Database, account_id: str) -> Principal | None:
    with db.read() as conn:
        acct = store.get_account(conn, account_id)
        return principal_of(conn, acct) if acct and not acct["inactive"] else None


def authenticate_token(db: Database, cache: AuthCache, tok: str) -> Principal:
    key = "t:" + token_hash(tok)
    cached = cache.get(key)
    if cached:
        return cached
    with db.read() as conn:
        account_id = store.token_account(conn, key[2:], now_ms())
        acct = store.get_account(conn, account_id) if account_id else None
        if not acct or acct["inactive"]:
            raise Unauthenticated("the token is unknown or has expired; log in again")
        principal = principal_of(conn, acct)
    cache.put(key, principal)
    return principal


def authenticate_password(db: Database, cache: AuthCache, username: str, password: str) -> Principal:
    """Check a username and password (HTTP Basic); a success is cached briefly."""
    key = "b:" + hashlib.sha256(f"{username}\0{password}".encode()).hexdigest()
    cached = cache.get(key)
    if cached:
        return cached
    with db.read() as conn:
        acct = store.account_by_username(conn, username)
        if not acct or acct["inactive"] or acct["kind"] != "user" or not verify_secret(password, acct["secret_hash"]):
            raise Unauthenticated("invalid username or password")
        principal = principal_of(conn, acct)
    cache.put(key, principal)
    return principal


def _issue_token(conn: Connection, account_id: str, ttl: int) -> str:
    tok = secrets.token_urlsafe(32)
    now = now_ms()
    store.insert_token(conn, token_hash(tok), account_id, now, now + ttl * 1000)
    return tok


def login(db: Database, settings: Settings, username: str, password: str) -> str:
    """Verify a user's password and return a new token."""
    with db.read() as conn:
        acct = store.account_by_username(conn, username)
    if not acct or acct["inactive"] or acct["kind"] != "user" or not verify_secret(password, acct["secret_hash"]):
        raise Unauthenticated("invalid username or password")
    with db.write() as conn:
        store.purge_expired_tokens(conn, now_ms())
        store.update_account(conn, acct["id"], {"last_login": now_ms()})
        return _issue_token(conn, acct["id"], settings.token_ttl_seconds)


def logout(db: Database, cache: AuthCache, tok: str) -> None:
    key = token_hash(tok)
    cache.drop("t:" + key)
    with db.write() as conn:
        store.delete_token(conn, key)


def client_credentials(db: Database, settings: Settings, client_id: str, client_secret: str) -> dict[str, Any]:
    """OAuth client-credentials grant for a service account."""
    with db.read() as conn:
        acct = store.account_by_client_id(conn, client_id)
    if not acct or acct["inactive"] or not verify_secret(client_secret, acct["secret_hash"]):
        raise Unauthenticated("invalid client_id or client_secret")
    with db.write() as conn:
        tok = _issue_token(conn, acct["id"], settings.token_ttl_seconds)
    return {"access_token": tok, "token_type": "bearer", "expires_in": settings.token_ttl_seconds}


def ensure_builtin_roles(conn: Connection) -> dict[str, str]:
    """Create any missing built-in role; returns name → id."""
    ids: dict[str, str] = {}
    now = now_ms()
    for name in BUILTIN_ROLES:
        found = store.role_by_name(conn, name)
        if found:
            ids[name] = found["id"]
            continue
        role_id = new_object_id()
        store.insert_role(
            conn,
            {
                "id": role_id,
                "name": name,
                "provenance": "opsmgr",
                "description": f"built-in role {name}",
                "builtin": True,
                "allowed_methods": [],
                "allowed_views": [],
                "created": now,
                "updated": now,
            },
        )
        ids[name] = role_id
    return ids


def bootstrap(db: Database, settings: Settings) -> bool:
    """First start: built-in roles and the `admin` account. True if a new admin was created."""
    with db.write() as conn:
        role_ids = ensure_builtin_roles(conn)
        if store.account_by_username(conn, "admin"):
            created = False
        else:
            now = now_ms()
            admin_id = new_object_id()
            store.insert_account(
                conn,
                {
                    "id": admin_id,
                    "username": "admin",
                    "provenance": "local",
                    "firstname": "admin",
                    "kind": "user",
                    "secret_hash": hash_secret(settings.admin_password),
                    "inactive": False,
                    "created": now,
                    "updated": now,
                },
            )
            store.set_account_roles(conn, admin_id, [role_ids[ADMIN]])
            created = True
        admin = store.account_by_username(conn, "admin")
    if admin and verify_secret("admin", admin["secret_hash"]):
        log.warning("the admin account uses the default password 'admin'; set OPSMGR_ADMIN_PASSWORD or change it")
    return created


def system_principal(db: Database) -> Principal:
    """The `admin` account, on whose behalf the CLI and the demo act."""
    with db.read() as conn:
        acct = store.account_by_username(conn, "admin")
        if acct is None:
            raise Unauthenticated("no admin account yet: run `opsmgr db upgrade` or start the server once")
        return principal_of(conn, acct)
