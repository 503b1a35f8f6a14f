"""Accounts, groups, roles, memberships and login tokens."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from opsmgr.store.schema import account, account_role, group, group_member, group_role, role, token


def _one(conn: Connection, stmt: Any) -> dict[str, Any] | None:
    row = conn.execute(stmt).mappings().first()
    return dict(row) if row else None


# roles -------------------------------------------------------------------------------------------


def insert_role(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(role).values(**values))


def get_role(conn: Connection, role_id: str) -> dict[str, Any] | None:
    return _one(conn, select(role).where(role.c.id == role_id))


def role_by_name(conn: Connection, name: str) -> dict[str, Any] | None:
    return _one(conn, select(role).where(role.c.name == name))


def roles_by_names(conn: Connection, names: Iterable[str]) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(role).where(role.c.name.in_(list(names)))).mappings()]


def list_roles(conn: Connection, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    total = conn.execute(select(func.count()).select_from(role)).scalar_one()
    rows = conn.execute(select(role).order_by(role.c.name, role.c.id).offset(skip).limit(limit)).mappings()
    return [dict(r) for r in rows], total


def update_role(conn: Connection, role_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(role).where(role.c.id == role_id).values(**values))


def delete_role(conn: Connection, role_id: str) -> None:
    conn.execute(delete(role).where(role.c.id == role_id))


# accounts ----------------------------------------------------------------------------------------


def insert_account(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(account).values(**values))


def get_account(conn: Connection, account_id: str) -> dict[str, Any] | None:
    return _one(conn, select(account).where(account.c.id == account_id))


def account_by_username(conn: Connection, username: str) -> dict[str, Any] | None:
    return _one(conn, select(account).where(account.c.username == username))


def account_by_client_id(conn: Connection, client_id: str) -> dict[str, Any] | None:
    return _one(conn, select(account).where(account.c.client_id == client_id))


def usernames(conn: Connection, ids: Iterable[str]) -> dict[str, str]:
    ids = [i for i in set(ids) if i]
    if not ids:
        return {}
    rows = conn.execute(select(account.c.id, account.c.username).where(account.c.id.in_(ids)))
    return {r.id: r.username for r in rows}


def list_accounts(
    conn: Connection, skip: int, limit: int, kind: str = "user"
) -> tuple[list[dict[str, Any]], int]:
    where = account.c.kind == kind
    total = conn.execute(select(func.count()).select_from(account).where(where)).scalar_one()
    rows = conn.execute(
        select(account).where(where).order_by(account.c.username, account.c.id).offset(skip).limit(limit)
    ).mappings()
    return [dict(r) for r in rows], total


def update_account(conn: Connection, account_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(account).where(account.c.id == account_id).values(**values))


def delete_account(conn: Connection, account_id: str) -> None:
    conn.execute(delete(account).where(account.c.id == account_id))


def account_role_ids(conn: Connection, account_id: str) -> list[str]:
    rows = conn.execute(select(account_role.c.role_id).where(account_role.c.account_id == account_id))
    return [r.role_id for r in rows]


def set_account_roles(conn: Connection, account_id: str, role_ids: Iterable[str]) -> None:
    conn.execute(delete(account_role).where(account_role.c.account_id == account_id))
    rows = [{"account_id": account_id, "role_id": r} for r in dict.fromkeys(role_ids)]
    if rows:
        conn.execute(insert(account_role), rows)


def account_group_ids(conn: Connection, account_id: str) -> list[str]:
    rows = conn.execute(select(group_member.c.group_id).where(group_member.c.account_id == account_id))
    return [r.group_id for r in rows]


def set_account_groups(conn: Connection, account_id: str, group_ids: Iterable[str]) -> None:
    conn.execute(delete(group_member).where(group_member.c.account_id == account_id))
    rows = [{"account_id": account_id, "group_id": g} for g in dict.fromkeys(group_ids)]
    if rows:
        conn.execute(insert(group_member), rows)


def effective_access(conn: Connection, account_id: str) -> tuple[set[str], set[str], set[str]]:
    """(role names, group ids, extra method names) of an account: its own roles plus those of its
    active groups; extra methods are those that custom roles allow."""
    group_ids = {
        r.group_id
        for r in conn.execute(
            select(group_member.c.group_id)
            .join(group, group.c.id == group_member.c.group_id)
            .where(and_(group_member.c.account_id == account_id, group.c.inactive.is_(False)))
        )
    }
    own = select(role.c.name, role.c.allowed_methods).join(account_role, account_role.c.role_id == role.c.id).where(
        account_role.c.account_id == account_id
    )
    rows = list(conn.execute(own))
    if group_ids:
        via_groups = select(role.c.name, role.c.allowed_methods).join(
            group_role, group_role.c.role_id == role.c.id
        ).where(group_role.c.group_id.in_(group_ids))
        rows += list(conn.execute(via_groups))
    names = {r.name for r in rows}
    methods = {m["name"] for r in rows for m in (r.allowed_methods or []) if isinstance(m, dict)}
    return names, group_ids, methods


# groups ------------------------------------------------------------------------------------------


def insert_group(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(insert(group).values(**values))


def get_group(conn: Connection, group_id: str) -> dict[str, Any] | None:
    return _one(conn, select(group).where(group.c.id == group_id))


def group_by_name(conn: Connection, name: str) -> dict[str, Any] | None:
    return _one(conn, select(group).where(group.c.name == name))


def existing_group_ids(conn: Connection, ids: Iterable[str]) -> set[str]:
    ids = list(set(ids))
    if not ids:
        return set()
    return {r.id for r in conn.execute(select(group.c.id).where(group.c.id.in_(ids)))}


def list_groups(conn: Connection, skip: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    total = conn.execute(select(func.count()).select_from(group)).scalar_one()
    rows = conn.execute(select(group).order_by(group.c.name, group.c.id).offset(skip).limit(limit)).mappings()
    return [dict(r) for r in rows], total


def update_group(conn: Connection, group_id: str, values: dict[str, Any]) -> None:
    conn.execute(update(group).where(group.c.id == group_id).values(**values))


def delete_group(conn: Connection, group_id: str) -> None:
    conn.execute(delete(group).where(group.c.id == group_id))


def group_role_ids(conn: Connection, group_id: str) -> list[str]:
    return [r.role_id for r in conn.execute(select(group_role.c.role_id).where(group_role.c.group_id == group_id))]


def set_group_roles(conn: Connection, group_id: str, role_ids: Iterable[str]) -> None:
    conn.execute(delete(group_role).where(group_role.c.group_id == group_id))
    rows = [{"group_id": group_id, "role_id": r} for r in dict.fromkeys(role_ids)]
    if rows:
        conn.execute(insert(group_role), rows)


def group_member_ids(conn: Connection, group_id: str) -> list[str]:
    rows = conn.execute(select(group_member.c.account_id).where(group_member.c.group_id == group_id))
    return [r.account_id for r in rows]


def add_group_member(conn: Connection, group_id: str, account_id: str) -> None:
    exists = conn.execute(
        select(group_member.c.group_id).where(
            and_(group_member.c.group_id == group_id, group_member.c.account_id == account_id)
        )
    ).first()
    if not exists:
        conn.execute(insert(group_member).values(group_id=group_id, account_id=account_id))


# tokens ------------------------------------------------------------------------------------------


def insert_token(conn: Connection, token_hash: str, account_id: str, created: int, expires: int) -> None:
    conn.execute(
        insert(token).values(token_hash=token_hash, account_id=account_id, created=created, expires=expires)
    )


def token_account(conn: Connection, token_hash: str, now: int) -> str | None:
    row = conn.execute(
        select(token.c.account_id).where(and_(token.c.token_hash == token_hash, token.c.expires > now))
    ).first()
    return row.account_id if row else None


def delete_token(conn: Connection, token_hash: str) -> None:
    conn.execute(delete(token).where(token.c.token_hash == token_hash))


def delete_account_tokens(conn: Connection, account_id: str) -> None:
    conn.execute(delete(token).where(token.c.account_id == account_id))


def purge_expired_tokens(conn: Connection, now: int) -> None:
    conn.execute(delete(token).where(token.c.expires <= now))


def count_accounts(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(account)).scalar_one())
