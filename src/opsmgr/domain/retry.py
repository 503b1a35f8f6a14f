"""Automatic task retry (workflow-semantics §1.2 `retrySettings`, §3.5 "Retry Task").

`retrySettings` is `null` or `{"autoRetry": bool, "limit": int, "delay": ms, "state": [finish states]}`.
When an engine-run task ends in one of `state`, `autoRetry` is true and fewer than `limit` retries were
made, the task runs again after `delay` milliseconds as a new iteration instead of following a transition.
Once the limit is reached the outcome is recorded as usual.

Where Itential says nothing, our choices: a missing `state` means `["error"]`; a missing or malformed
`limit` means no retry; a missing, negative or malformed `delay` means 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opsmgr.domain.values import integer

DEFAULT_STATES = ("error",)


@dataclass(frozen=True)
class RetryPolicy:
    limit: int
    delay_ms: int
    states: frozenset[str]


def policy(settings: Any) -> RetryPolicy | None:
    """The retry policy of a task's `retrySettings`, or None when it does not retry automatically."""
    if not isinstance(settings, Mapping) or settings.get("autoRetry") is not True:
        return None
    limit = integer(settings.get("limit"))
    if limit is None or limit <= 0:
        return None
    delay = integer(settings.get("delay"))
    states = settings.get("state")
    if states is None:
        states = DEFAULT_STATES
    elif isinstance(states, str):
        states = [states]
    elif not isinstance(states, list | tuple):
        return None
    return RetryPolicy(limit, max(delay or 0, 0), frozenset(str(s) for s in states))


def retry_delay(settings: Any, finish_state: str, retries_made: int) -> int | None:
    """Milliseconds to wait before running the task again, or None to record the outcome as usual."""
    rule = policy(settings)
    if rule is None or finish_state not in rule.states or retries_made >= rule.limit:
        return None
    return rule.delay_ms
