"""Identifier formats (decisions §1): generation and validation.

Jobs, accounts, groups, roles and workflows use 24 lowercase hex characters (ObjectId-like: a 4-byte
seconds timestamp then 8 random bytes, so ids sort roughly by creation). Task iterations use UUIDv4.
Task keys inside a workflow are 1–4 lowercase hex characters or the two terminators.
"""

from __future__ import annotations

import os
import re
import time
import uuid

from opsmgr.errors import Invalid

OBJECT_ID_RE = re.compile(r"^[0-9a-f]{24}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TASK_KEY_RE = re.compile(r"^[0-9a-f]{1,4}$")
TERMINATORS = ("workflow_start", "workflow_end")


def new_object_id() -> str:
    """A fresh 24-hex id that sorts by creation second."""
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{os.urandom(8).hex()}"


def new_uuid() -> str:
    """A fresh UUIDv4 string."""
    return str(uuid.uuid4())


def is_object_id(value: object) -> bool:
    return isinstance(value, str) and bool(OBJECT_ID_RE.match(value))


def is_task_key(value: object, terminators: bool = True) -> bool:
    if not isinstance(value, str):
        return False
    return bool(TASK_KEY_RE.match(value)) or (terminators and value in TERMINATORS)


def require_object_id(value: str, name: str) -> str:
    """Return `value` or raise Invalid naming the parameter."""
    if not is_object_id(value):
        raise Invalid(f"{name} must be 24 lowercase hex characters, got {value!r}", {"parameter": name})
    return value


def require_uuid(value: str, name: str) -> str:
    if not (isinstance(value, str) and UUID_RE.match(value)):
        raise Invalid(f"{name} must be a UUID, got {value!r}", {"parameter": name})
    return value


def require_task_key(value: str, name: str) -> str:
    if not is_task_key(value):
        raise Invalid(
            f"{name} must be 1-4 lowercase hex characters or workflow_start/workflow_end, got {value!r}",
            {"parameter": name},
        )
    return value
