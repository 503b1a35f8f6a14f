"""retrySettings decisions (workflow-semantics §1.2, §3.5): a pure function of settings, state and count."""

from __future__ import annotations

from typing import Any

import pytest

from opsmgr.domain.retry import RetryPolicy, policy, retry_delay

SETTINGS = {"state": ["error", "failure"], "autoRetry": True, "limit": 3, "delay": 3000}  # as in real exports


def test_a_listed_state_is_retried_until_the_limit() -> None:
    assert [retry_delay(SETTINGS, "error", made) for made in range(5)] == [3000, 3000, 3000, None, None]
    assert retry_delay(SETTINGS, "failure", 0) == 3000


def test_a_state_not_listed_follows_its_transition() -> None:
    assert retry_delay(SETTINGS, "success", 0) is None
    assert retry_delay({**SETTINGS, "state": ["failure"]}, "error", 0) is None


@pytest.mark.parametrize("settings", [
    None, {}, [], "yes",
    {**SETTINGS, "autoRetry": False},
    {**SETTINGS, "autoRetry": "true"},  # only a real true turns it on
    {**SETTINGS, "limit": 0},
    {**SETTINGS, "limit": -1},
    {**SETTINGS, "limit": None},
    {**SETTINGS, "limit": "many"},
    {**SETTINGS, "limit": True},
    {**SETTINGS, "state": 7},
])
def test_settings_that_do_not_retry(settings: Any) -> None:
    assert policy(settings) is None
    assert retry_delay(settings, "error", 0) is None


def test_defaults_where_itential_is_silent() -> None:
    assert policy({"autoRetry": True, "limit": 2}) == RetryPolicy(2, 0, frozenset({"error"}))
    assert policy({"autoRetry": True, "limit": "2", "delay": "250", "state": "failure"}) == RetryPolicy(
        2, 250, frozenset({"failure"}))
    assert policy({"autoRetry": True, "limit": 2.0, "delay": -5}) == RetryPolicy(2, 0, frozenset({"error"}))
    assert policy({"autoRetry": True, "limit": 1, "state": []}) == RetryPolicy(1, 0, frozenset())
    assert retry_delay({"autoRetry": True, "limit": 1, "state": []}, "error", 0) is None
