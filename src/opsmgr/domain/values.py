"""Lenient readings of values that come from workflow JSON (numbers written as strings, floats as ints)."""

from __future__ import annotations

from typing import Any


def integer(value: Any) -> int | None:
    """An int from an int, an integral float or a numeric string; None otherwise (bool is not a number)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None
