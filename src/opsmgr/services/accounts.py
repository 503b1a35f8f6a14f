"""Accounts, groups, roles and service accounts (decisions §3–4; Itential's Authorization API).

Documents follow Itential's shapes: accounts carry `memberOf: [{groupId, aaaManaged}]` and
`assignedRoles: [{roleId}]`, groups carry `assignedRoles`, roles carry `allowedMethods`.
Roles are referred to by name in the CLI and by id in the API.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import Any

from opsmgr.domain.access import BUILTIN_ROLES, METHODS
from opsmgr.domain.documents import iso, now_ms
from opsmgr.domain.ids import is_object_id, new_object_id, require_object_id
from opsmgr.errors import Conflict, Invalid, NotFound
from opsmgr.services.auth import ensure_builtin_roles, hash_secret
from opsmgr.store import accounts as store
from opsmgr.store.database import Connection, Database

USERNAME_MAX = 200


def _problem(path: str, message: str) -> Invalid:
    return Invalid.problems(f"{path}: {message}", [{"path": path, "message": message}])


# documents ---------------------------------------------------------------------------------------


def account_document(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "_id": row["id"],
        "provenance": row["provenance"],
        "username": row["username"],
        "firstname": row["firstname"],
        "email": row["email"],
        "inactive": row["inactive"],
        "memberOf": [{"groupId": g, "aaaManaged": False} for g in store.account_group_ids(conn, row["id"])],
        "assignedRoles": [{"roleId": r} for r in store.account_role_ids(conn, row["id"])],
        "lastLogin": iso(row["last_login"]),
        "_meta": {"created": iso(row["created"]), "updated": iso(row["updated"])},
    }


def group_document(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "_id": row["id"],
        "provenance": row["provenance"],
        "name": row["name"],
        "description": row["description"],
        "memberOf": [],
        "assignedRoles": [{"roleId": r} for r in store.group_role_ids(conn, row["id"])],
        "members": store.group_member_ids(conn, row["id"]),
        "inactive": row["inactive"],
        "_meta": {"created": iso(row["created"]), "updated": iso(row["updated"])},
    }


def role_document(row: dict[str, Any]) -> dict[str, Any]:
    methods = row["allowed_methods"]
    if row["builtin"]:
        methods = [{"name": m.name, "provenance": m.provenance} for m in METHODS if row["name"] in m.roles]
    return {
        "_id": row["id"],
        "provenance": row["provenance"],
        "name": row["name"],
        "description": row["description"],
        "builtin": row["builtin"],
        "allowedMethods": methods,
        "allowedViews": row["allowed_views"],
    }


def group_summaries(db: Database, group_ids: Iterable[str]) -> list[dict[str, Any]]:
    """`{id, provenance, name}` of groups, as whoami shows them."""
    with db.read() as conn:
        rows = [store.get_group(conn, g) for g in group_ids]
    return [{"id": r["id"], "provenance": r["provenance"], "name": r["name"]} for r in rows if r]


# lookups -----------------------------------------------------------------------------------------


def _resolve(
    conn: Connection,
    refs: Iterable[str],
    path: str,
    by_id: Callable[[Connection, str], dict[str, Any] | None],
    by_name: Callable[[Connection, str], dict[str, Any] | None],
    what: str,
    hint: str = "",
) -> list[str]:
    """Ids of the things named in `refs` (each an id or a name), or Invalid naming the first unknown."""
    ids = []
    for ref in refs:
        row = (by_id(conn, ref) if is_object_id(ref) else None) or by_name(conn, ref)
        if row is None:
            raise _problem(path, f"no {what} {ref!r}{hint}")
        ids.append(row["id"])
    return ids


def _role_ids(conn: Connection, refs: Iterable[str], path: str) -> list[str]:
    hint = f"; built-in roles: {', '.join(BUILTIN_ROLES)}"
    return _resolve(conn, refs, path, store.get_role, store.role_by_name, "role", hint)


def _group_ids(conn: Connection, refs: Iterable[str], path: str) -> list[str]:
    return _resolve(conn, refs, path, store.get_group, store.group_by_name, "group")


def _account_ids(conn: Connection, refs: Iterable[str], path: str) -> list[str]:
    return _resolve(conn, refs, path, store.get_account, store.account_by_username, "account")


def _check_name(value: str, path: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > USERNAME_MAX:
        raise _problem(path, f"must be a non-empty string of at most {USERNAME_MAX} characters")
    if value != value.strip():
        raise _problem(path, "must not start or end with white space")
    if "\x00" in value:
        raise _problem(path, "must not contain NUL (\\u0000) characters")
    return value


# accounts ----------------------------------------------------------------------------------------


def create_account(
    db: Database,
    username: str,
    password: str,
    roles: Iterable[str] = (),
    groups: Iterable[str] = (),
    firstname: str | None = None,
    email: str | None = None,
) -> dict[str, Any]:
    """Create a local account with a password, roles and group memberships (names or ids)."""
    _check_name(username, "username")
    if not isinstance(password, str) or len(password) < 1:
        raise _problem("password", "must not be empty")
    secret = hash_secret(password)
    with db.write() as conn:
        ensure_builtin_roles(conn)
        if store.account_by_username(conn, username):
            raise Conflict(f"an account named {username!r} already exists", {"username": username})
        role_ids = _role_ids(conn, roles, "roles")
        group_ids = _group_ids(conn, groups, "groups")
        now = now_ms()
        account_id = new_object_id()
        store.insert_account(
            conn,
            {
                "id": account_id,
                "username": username,
                "provenance": "local",
                "firstname": firstname or username,
                "email": email,
                "kind": "user",
                "secret_hash": secret,
                "inactive": False,
                "created": now,
                "updated": now,
            },
        )
        store.set_account_roles(conn, account_id, role_ids)
        store.set_account_groups(conn, account_id, group_ids)
        row = store.get_account(conn, account_id)
        assert row is not None
        return account_document(conn, row)


def list_accounts(db: Database, skip: int, limit: int) -> dict[str, Any]:
    with db.read() as conn:
        rows, total = store.list_accounts(conn, skip, limit)
        return {"results": [account_document(conn, r) for r in rows], "total": total}


def get_account(db: Database, account_id: str) -> dict[str, Any]:
    require_object_id(account_id, "accountId")
    with db.read() as conn:
        row = store.get_account(conn, account_id)
        if row is None or row["kind"] != "user":
            raise NotFound(f"account {account_id} not found")
        return account_document(conn, row)


def update_account(
    db: Database,
    account_id: str,
    inactive: bool | None = None,
    password: str | None = None,
    roles: list[str] | None = None,
    groups: list[str] | None = None,
    firstname: str | None = None,
    email: str | None = None,
) -> dict[str, Any]:
    require_object_id(account_id, "accountId")
    secret = hash_secret(password) if password else None
    with db.write() as conn:
        row = store.get_account(conn, account_id)
        if row is None or row["kind"] != "user":
            raise NotFound(f"account {account_id} not found")
        values: dict[str, Any] = {"updated": now_ms()}
        if inactive is not None:
            values["inactive"] = inactive
            if inactive:
                store.delete_account_tokens(conn, account_id)
        if secret:
            values["secret_hash"] = secret
        if firstname is not None:
            values["firstname"] = firstname
        if email is not None:
            values["email"] = email
        store.update_account(conn, account_id, values)
        if roles is not None:
            store.set_account_roles(conn, account_id, _role_ids(conn, roles, "roles"))
        if groups is not None:
            store.set_account_groups(conn, account_id, _group_ids(conn, groups, "groups"))
        updated = store.get_account(conn, account_id)
        assert updated is not None
        return account_document(conn, updated)


def force_logout(db: Database, account_id: str) -> None:
    require_object_id(account_id, "accountId")
    with db.write() as conn:
        if store.get_account(conn, account_id) is None:
            raise NotFound(f"account {account_id} not found")
        store.delete_account_tokens(conn, account_id)


# groups ------------------------------------------------------------------------------------------


def create_group(
    db: Database,
    name: str,
    description: str = "",
    roles: Iterable[str] = (),
    members: Iterable[str] = (),
    inactive: bool = False,
) -> dict[str, Any]:
    _check_name(name, "name")
    with db.write() as conn:
        ensure_builtin_roles(conn)
        if store.group_by_name(conn, name):
            raise Conflict(f"a group named {name!r} already exists", {"name": name})
        role_ids = _role_ids(conn, roles, "assignedRoles")
        member_ids = _account_ids(conn, members, "members")
        now = now_ms()
        group_id = new_object_id()
        store.insert_group(
            conn,
            {"id": group_id, "name": name, "provenance": "local", "description": description or "",
             "inactive": inactive, "created": now, "updated": now},
        )
        store.set_group_roles(conn, group_id, role_ids)
        for account_id in member_ids:
            store.add_group_member(conn, group_id, account_id)
        row = store.get_group(conn, group_id)
        assert row is not None
        return group_document(conn, row)


def list_groups(db: Database, skip: int, limit: int) -> dict[str, Any]:
    with db.read() as conn:
        rows, total = store.list_groups(conn, skip, limit)
        return {"results": [group_document(conn, r) for r in rows], "total": total}


def get_group(db: Database, group_id: str) -> dict[str, Any]:
    require_object_id(group_id, "groupId")
    with db.read() as conn:
        row = store.get_group(conn, group_id)
        if row is None:
            raise NotFound(f"group {group_id} not found")
        return group_document(conn, row)


def update_group(
    db: Database,
    group_id: str,
    name: str | None = None,
    description: str | None = None,
    roles: list[str] | None = None,
    members: list[str] | None = None,
    inactive: bool | None = None,
) -> dict[str, Any]:
    require_object_id(group_id, "groupId")
    with db.write() as conn:
        row = store.get_group(conn, group_id)
        if row is None:
            raise NotFound(f"group {group_id} not found")
        values: dict[str, Any] = {"updated": now_ms()}
        if name is not None:
            _check_name(name, "name")
            other = store.group_by_name(conn, name)
            if other and other["id"] != group_id:
                raise Conflict(f"a group named {name!r} already exists", {"name": name})
            values["name"] = name
        if description is not None:
            values["description"] = description
        if inactive is not None:
            values["inactive"] = inactive
        store.update_group(conn, group_id, values)
        if roles is not None:
            store.set_group_roles(conn, group_id, _role_ids(conn, roles, "assignedRoles"))
        if members is not None:
            wanted = set(_account_ids(conn, members, "members"))
            for account_id in store.group_member_ids(conn, group_id):
                if account_id not in wanted:
                    store.set_account_groups(
                        conn, account_id, [g for g in store.account_group_ids(conn, account_id) if g != group_id]
                    )
            for account_id in wanted:
                store.add_group_member(conn, group_id, account_id)
        updated = store.get_group(conn, group_id)
        assert updated is not None
        return group_document(conn, updated)


def delete_group(db: Database, group_id: str) -> dict[str, Any]:
    require_object_id(group_id, "groupId")
    with db.write() as conn:
        row = store.get_group(conn, group_id)
        if row is None:
            raise NotFound(f"group {group_id} not found")
        store.delete_group(conn, group_id)
    return {"status": "OK", "message": f"Successfully deleted {group_id}."}


def add_member(db: Database, group: str, username: str) -> None:
    with db.write() as conn:
        [group_id] = _group_ids(conn, [group], "group")
        [account_id] = _account_ids(conn, [username], "username")
        store.add_group_member(conn, group_id, account_id)


# roles -------------------------------------------------------------------------------------------


def _methods(value: Any) -> list[dict[str, str]]:
    known = {m.name: m for m in METHODS}
    methods = []
    for item in value or []:
        name = item.get("name") if isinstance(item, dict) else item
        if name not in known:
            raise _problem("allowedMethods", f"unknown method {name!r}; GET /authorization/methods lists them")
        methods.append({"name": name, "provenance": known[name].provenance})
    return methods


def create_role(
    db: Database, name: str, description: str = "", allowed_methods: Any = None, allowed_views: Any = None
) -> dict[str, Any]:
    _check_name(name, "name")
    methods = _methods(allowed_methods)
    with db.write() as conn:
        ensure_builtin_roles(conn)
        if store.role_by_name(conn, name):
            raise Conflict(f"a role named {name!r} already exists", {"name": name})
        now = now_ms()
        row = {
            "id": new_object_id(), "name": name, "provenance": "Custom", "description": description or "",
            "builtin": False, "allowed_methods": methods, "allowed_views": list(allowed_views or []),
            "created": now, "updated": now,
        }
        store.insert_role(conn, row)
    return role_document(row)


def list_roles(db: Database, skip: int, limit: int) -> dict[str, Any]:
    with db.read() as conn:
        rows, total = store.list_roles(conn, skip, limit)
    return {"results": [role_document(r) for r in rows], "total": total}


def get_role(db: Database, role_id: str) -> dict[str, Any]:
    require_object_id(role_id, "roleId")
    with db.read() as conn:
        row = store.get_role(conn, role_id)
    if row is None:
        raise NotFound(f"role {role_id} not found")
    return role_document(row)


def update_role(
    db: Database, role_id: str, description: str | None = None, allowed_methods: Any = None,
    allowed_views: Any = None,
) -> dict[str, Any]:
    require_object_id(role_id, "roleId")
    methods = _methods(allowed_methods) if allowed_methods is not None else None
    with db.write() as conn:
        row = store.get_role(conn, role_id)
        if row is None:
            raise NotFound(f"role {role_id} not found")
        if row["builtin"] and (methods is not None or allowed_views is not None):
            raise Conflict(f"built-in role {row['name']} cannot be changed")
        values: dict[str, Any] = {"updated": now_ms()}
        if description is not None:
            values["description"] = description
        if methods is not None:
            values["allowed_methods"] = methods
        if allowed_views is not None:
            values["allowed_views"] = list(allowed_views)
        store.update_role(conn, role_id, values)
        row.update(values)
    return role_document(row)


def delete_role(db: Database, role_id: str) -> dict[str, Any]:
    require_object_id(role_id, "roleId")
    with db.write() as conn:
        row = store.get_role(conn, role_id)
        if row is None:
            raise NotFound(f"role {role_id} not found")
        if row["builtin"]:
            raise Conflict(f"built-in role {row['name']} cannot be deleted")
        store.delete_role(conn, role_id)
    return {"status": "success", "message": f"Role {row['name']} deleted"}


# service accounts --------------------------------------------------------------------------------


def create_service_account(
    db: Database, name: str, roles: Iterable[str] = (), groups: Iterable[str] = (), description: str = ""
) -> dict[str, Any]:
    """A client-credentials account; the secret is shown once, in this answer only."""
    _check_name(name, "name")
    client_id = secrets.token_hex(12)
    client_secret = secrets.token_urlsafe(32)
    secret_hash = hash_secret(client_secret)
    with db.write() as conn:
        ensure_builtin_roles(conn)
        if store.account_by_username(conn, name):
            raise Conflict(f"an account named {name!r} already exists", {"name": name})
        role_ids = _role_ids(conn, roles, "roles")
        group_ids = _group_ids(conn, groups, "groups")
        now = now_ms()
        account_id = new_object_id()
        store.insert_account(
            conn,
            {"id": account_id, "username": name, "provenance": "oauth", "firstname": description or name,
             "kind": "service", "client_id": client_id, "secret_hash": secret_hash, "inactive": False,
             "created": now, "updated": now},
        )
        store.set_account_roles(conn, account_id, role_ids)
        store.set_account_groups(conn, account_id, group_ids)
    return {"_id": account_id, "name": name, "client_id": client_id, "client_secret": client_secret,
            "roles": list(roles), "groups": list(groups)}


def list_service_accounts(db: Database, skip: int, limit: int) -> dict[str, Any]:
    with db.read() as conn:
        rows, total = store.list_accounts(conn, skip, limit, kind="service")
        results = [
            {"_id": r["id"], "name": r["username"], "client_id": r["client_id"], "inactive": r["inactive"],
             "assignedRoles": [{"roleId": x} for x in store.account_role_ids(conn, r["id"])],
             "memberOf": [{"groupId": g} for g in store.account_group_ids(conn, r["id"])]}
            for r in rows
        ]
    return {"results": results, "total": total}


def delete_service_account(db: Database, client_id: str) -> dict[str, Any]:
    with db.write() as conn:
        row = store.account_by_client_id(conn, client_id)
        if row is None:
            raise NotFound(f"service account {client_id} not found")
        store.delete_account(conn, row["id"])
    return {"status": "OK", "message": f"Successfully deleted {client_id}."}
