"""Time tasks: getTime, calculateTimeDiff.

- `getTime`: no inputs → `time` (the reference name other tasks use for its output, per the
  convertTimeToEpoch/calculateTimeDiff docs). Its shape is our choice, made to feed calculateTimeDiff:
  `{"time": "<ISO 8601 UTC, ms>", "formatString": "YYYY-MM-DDTHH:mm:ss.SSSZ", "epoch": <ms>}`. It reads
  the engine's clock (`ctx.now_ms`), so it stays a pure function of its context.
- `calculateTimeDiff`: `firstTime`, `secondTime` → `timeDiff` = firstTime − secondTime as
  `{milliseconds, seconds, minutes, hours, days, months, years}` (docs). Each time is `{time,
  formatString}` (docs; `formatString` uses moment.js tokens: YYYY YY MM M DD D HH H hh h mm m ss s S…
  A a Z ZZ X x and `[literal]`), or, as our extension, an ISO 8601 string or epoch milliseconds. A time
  without a zone is UTC. Months and years are days / 30.436875 and days / 365.2425, which reproduces the
  docs' example (30 days → 0.98565 months, 0.0821372 years).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from opsmgr.engine.library import bad, type_name
from opsmgr.engine.registry import Outcome, TaskContext

ISO_FORMAT = "YYYY-MM-DDTHH:mm:ss.SSSZ"
_TOKENS = re.compile(r"\[[^\]]*\]|YYYY|YY|MM|M|DD|D|HH|H|hh|h|mm|m|ss|s|S+|A|a|ZZ|Z|X|x")
_PATTERNS = {
    "YYYY": r"(?P<year>\d{4})", "YY": r"(?P<year2>\d{2})", "MM": r"(?P<month>\d{2})", "M": r"(?P<month>\d{1,2})",
    "DD": r"(?P<day>\d{2})", "D": r"(?P<day>\d{1,2})", "HH": r"(?P<hour>\d{2})", "H": r"(?P<hour>\d{1,2})",
    "hh": r"(?P<hour12>\d{2})", "h": r"(?P<hour12>\d{1,2})", "mm": r"(?P<minute>\d{2})", "m": r"(?P<minute>\d{1,2})",
    "ss": r"(?P<second>\d{2})", "s": r"(?P<second>\d{1,2})", "A": r"(?P<ampm>AM|PM)", "a": r"(?P<ampm>am|pm)",
    "ZZ": r"(?P<zone>Z|[+-]\d{2}:?\d{2})", "Z": r"(?P<zone>Z|[+-]\d{2}:?\d{2})",
    "X": r"(?P<unix>-?\d+(?:\.\d+)?)", "x": r"(?P<unixms>-?\d+)",
}


def _pattern(format_string: str) -> re.Pattern[str]:
    parts, pos = [], 0
    for match in _TOKENS.finditer(format_string):
        parts.append(re.escape(format_string[pos:match.start()]))
        token = match.group(0)
        if token.startswith("["):
            parts.append(re.escape(token[1:-1]))
        elif token.startswith("S"):
            parts.append(rf"(?P<fraction>\d{{{len(token)}}})")
        else:
            parts.append(_PATTERNS[token])
        pos = match.end()
    parts.append(re.escape(format_string[pos:]))
    try:
        return re.compile("".join(parts) + r"\Z")
    except re.error as exc:  # a token used twice
        raise ValueError(f"formatString {format_string!r} is not supported ({exc})") from None


def _zone(text: str | None) -> timezone:
    if not text or text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def parse_formatted(text: str, format_string: str) -> datetime:
    """Read `text` written in the moment.js format `format_string`."""
    match = _pattern(format_string).match(text.strip())
    if not match:
        raise ValueError(f"time {text!r} does not match formatString {format_string!r}")
    got = {k: v for k, v in match.groupdict().items() if v is not None}
    if "unixms" in got:
        return datetime.fromtimestamp(int(got["unixms"]) / 1000, UTC)
    if "unix" in got:
        return datetime.fromtimestamp(float(got["unix"]), UTC)
    year = int(got["year"]) if "year" in got else 2000 + int(got.get("year2", "70")) if "year2" in got else 1970
    hour = int(got.get("hour", 0))
    if "hour12" in got:
        hour = int(got["hour12"]) % 12 + (12 if got.get("ampm", "").lower() == "pm" else 0)
    fraction = got.get("fraction", "")
    micro = int((fraction + "000000")[:6]) if fraction else 0
    return datetime(year, int(got.get("month", 1)), int(got.get("day", 1)), hour, int(got.get("minute", 0)),
                    int(got.get("second", 0)), micro, tzinfo=_zone(got.get("zone")))


def to_datetime(value: Any) -> datetime:
    """A time input: `{time, formatString}`, an ISO 8601 string, or epoch milliseconds."""
    if isinstance(value, Mapping):
        text, fmt = value.get("time"), value.get("formatString")
        if isinstance(text, int | float) and not isinstance(text, bool):
            return datetime.fromtimestamp(text / 1000, UTC)
        if not isinstance(text, str):
            raise ValueError(f"needs a time string in 'time', got {type_name(text)}")
        if fmt is None or fmt == "":
            return to_datetime(text)
        if not isinstance(fmt, str):
            raise ValueError(f"formatString must be a string, got {type_name(fmt)}")
        return parse_formatted(text, fmt)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 time") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    raise ValueError(f"must be {{time, formatString}}, an ISO 8601 string or epoch ms, got {type_name(value)}")


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


async def get_time(ctx: TaskContext) -> Outcome:
    """The current time (the engine's clock when the task ran)."""
    return Outcome(outputs={"time": {"time": iso(ctx.now_ms), "formatString": ISO_FORMAT, "epoch": ctx.now_ms}})


def _tidy(number: float) -> int | float:
    return int(number) if float(number).is_integer() else number


async def calculate_time_diff(ctx: TaskContext) -> Outcome:
    """`firstTime` − `secondTime` in several units."""
    moments = []
    for name in ("firstTime", "secondTime"):
        try:
            moments.append(to_datetime(ctx.incoming.get(name)))
        except (ValueError, OverflowError, OSError) as exc:
            return bad("calculateTimeDiff", name, str(exc))
    delta = moments[0] - moments[1]
    ms = delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000
    days = ms / 86_400_000
    diff = {
        "milliseconds": ms,
        "seconds": _tidy(ms / 1000),
        "minutes": _tidy(ms / 60_000),
        "hours": _tidy(ms / 3_600_000),
        "days": _tidy(days),
        "months": _tidy(days / 30.436875),
        "years": _tidy(days / 365.2425),
    }
    return Outcome(outputs={"timeDiff": diff})
