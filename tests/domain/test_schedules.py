"""Schedule arithmetic with explicit times (domain.schedules): first run, repeats, one-shots, and
missed runs `none` vs `last`."""

from __future__ import annotations

from opsmgr.domain.schedules import Plan, following, occurrences_between, plan

T0 = 1_800_000_000_000  # firstRunAt
MIN = 60_000


def sched(interval: int | None = MIN, missed: str = "none") -> dict:
    return {"firstRunAt": T0, "repeatInterval": interval, "processMissedRuns": missed}


def test_nothing_before_the_due_time():
    assert plan(sched(), T0, T0 - 1) == Plan([], T0, 0)


def test_first_run_then_the_next_due_time():
    assert plan(sched(), T0, T0) == Plan([T0], T0 + MIN, 0)
    assert plan(sched(), T0, T0 + 900) == Plan([T0], T0 + MIN, 0)  # a poll a little late is on time


def test_repeats_each_due_time_once():
    assert plan(sched(), T0 + 3 * MIN, T0 + 3 * MIN + 10) == Plan([T0 + 3 * MIN], T0 + 4 * MIN, 0)


def test_due_times_inside_the_grace_all_fire():
    p = plan(sched(1000), T0, T0 + 2500, grace_ms=5000)
    assert p == Plan([T0, T0 + 1000, T0 + 2000], T0 + 3000, 0)


def test_missed_runs_none_skips_them_all():
    p = plan(sched(MIN, "none"), T0, T0 + 10 * MIN + 30_000)
    assert p == Plan([], T0 + 11 * MIN, 11)


def test_missed_runs_last_fires_the_most_recent_once():
    p = plan(sched(MIN, "last"), T0, T0 + 10 * MIN + 30_000)
    assert p == Plan([T0 + 10 * MIN], T0 + 11 * MIN, 10)


def test_missed_last_plus_an_on_time_run():
    # due times T0..T0+10min missed; T0+11min is 2 s old: on time
    p = plan(sched(MIN, "last"), T0, T0 + 11 * MIN + 2000)
    assert p == Plan([T0 + 10 * MIN, T0 + 11 * MIN], T0 + 12 * MIN, 10)


def test_one_shot_fires_once_then_is_done():
    assert plan(sched(None), T0, T0 + 10) == Plan([T0], None, 0)
    assert plan(sched(None, "none"), T0, T0 + MIN) == Plan([], None, 1)
    assert plan(sched(None, "last"), T0, T0 + MIN) == Plan([T0], None, 0)


def test_huge_gaps_are_arithmetic():
    year = 365 * 86_400_000
    p = plan(sched(1000, "last"), T0, T0 + year)
    assert p.fire == [T0 + year - k * 1000 for k in (5, 4, 3, 2, 1, 0)]
    assert p.next == T0 + year + 1000 and p.missed == year // 1000 - 5


def test_helpers():
    assert occurrences_between(T0, 10, T0 - 5, T0 + 25) == [T0, T0 + 10, T0 + 20]
    assert occurrences_between(T0, 10, T0 + 1, T0 + 9) == []
    assert occurrences_between(T0, None, T0, T0) == [T0]
    assert following(T0, 10, T0 - 1) == T0
    assert following(T0, 10, T0) == T0 + 10
    assert following(T0, None, T0) is None
