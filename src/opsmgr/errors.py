"""Domain exceptions: the only error vocabulary below the API layer.

Each class names a situation, not an HTTP status; `opsmgr.api.errors` holds the one table that turns
them into responses. `details` carries what a client needs to act (validation problems, the holder of
a claim) and ends up in the response `metadata`.
"""

from __future__ import annotations

from typing import Any


class OpsmgrError(Exception):
    """Base of every expected failure of a use case."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class Invalid(OpsmgrError):
    """Input is malformed or breaks a rule of the data (→ 400)."""

    @classmethod
    def problems(cls, message: str, problems: list[dict[str, str]]) -> Invalid:
        """An Invalid carrying a list of `{path, message}` problems."""
        return cls(message, {"errors": problems})


class Unauthenticated(OpsmgrError):
    """No credentials, bad credentials or an expired token (→ 401)."""


class Forbidden(OpsmgrError):
    """Authenticated, but not allowed to do this (→ 403)."""


class NotFound(OpsmgrError):
    """No such thing, or the caller may not know it exists (→ 404)."""


class Conflict(OpsmgrError):
    """The current state does not allow the action (→ 409)."""


class StoreBusy(OpsmgrError):
    """The database stayed locked past the retry budget (→ 503 with Retry-After)."""


class Unavailable(OpsmgrError):
    """A server-side prerequisite is unusable (e.g. the encryption key file) → 503 saying what to fix;
    not the caller's fault, and not a crash."""
