"""When a schedule trigger fires (ops-manager-api §3.4): pure arithmetic over its schedule fields.

A schedule is due at `firstRunAt`, then every `repeatInterval` ms (none: once). The store keeps the
next due time not yet fired (`trigger.next_run_at`); the scheduler asks `plan` what to fire now.

A due time is *on time* while it is less than `grace_ms` old: the scheduler was running and fires it
(one job per due time). Older due times passed while no scheduler ran: they are *missed*, and
`processMissedRuns` decides: `none` skips them all, `last` fires the most recent of them once. Either
way the next due time is the first one after `now`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GRACE_MS = 5_000  # a due time older than this when the scheduler sees it was missed


@dataclass(frozen=True)
class Plan:
    fire: list[int]  # due times to start a job for now, oldest first
    next: int | None  # the next due time after now (None: a one-shot schedule that is done)
    missed: int  # due times skipped


def occurrences_between(first: int, interval: int | None, start: int, end: int) -> list[int]:
    """Due times t with start <= t <= end (an interval of None or 0: only `first`)."""
    if not interval:
        return [first] if start <= first <= end else []
    if end < first:
        return []
    k = 0 if start <= first else -(-(start - first) // interval)  # the first index with t >= start
    out = []
    t = first + k * interval
    while t <= end:
        out.append(t)
        t += interval
    return out


def following(first: int, interval: int | None, after: int) -> int | None:
    """The first due time strictly after `after`."""
    if after < first:
        return first
    if not interval:
        return None
    return first + ((after - first) // interval + 1) * interval


def plan(schedule: Mapping[str, Any], due: int, now: int, grace_ms: int = GRACE_MS) -> Plan:
    """What to fire at `now` for a schedule whose next unfired due time is `due`.

    `schedule` holds `firstRunAt`, `repeatInterval` (ms or None) and `processMissedRuns`."""
    first = int(schedule["firstRunAt"])
    interval = schedule.get("repeatInterval") or None
    if due > now:
        return Plan([], due, 0)
    # due times from `due` to `now`: the on-time ones are fired, the rest were missed. Counting the
    # missed ones is arithmetic, so a year-old per-second schedule costs nothing.
    on_time_from = max(due, now - grace_ms + 1)
    on_time = occurrences_between(first, interval, on_time_from, now)
    if due < on_time_from:
        missed_last_end = on_time_from - 1
        if interval:
            last_missed = first + ((missed_last_end - first) // interval) * interval if missed_last_end >= first \
                else None
            if last_missed is not None and last_missed < due:
                last_missed = None
            missed = 0 if last_missed is None else (last_missed - due) // interval + 1
        else:
            last_missed = first if due <= first <= missed_last_end else None
            missed = 1 if last_missed is not None else 0
    else:
        last_missed, missed = None, 0
    fire = list(on_time)
    if last_missed is not None and schedule.get("processMissedRuns") == "last":
        fire.insert(0, last_missed)
        missed -= 1
    return Plan(fire, following(first, interval, now), missed)
