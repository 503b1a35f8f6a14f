"""String tasks: stringConcat, split, parse, numberToString, stringLength, substring.

Names from the docs.itential.com task references:
- `stringConcat` ("concat (string)"): `str`, `stringN` (string or array of strings) → `combinedStrings`.
- `split`: `str`, `separator` (omitted → one element; `""` → characters), `limit` → `splitArray`.
- `parse`: `text` (a JSON string) → `textObject` (field names from §3.6 [S]; no reference page found).
- `numberToString`: `num`, `radix` (2–36, default 10) → `numToString`.
- `stringLength` ("length (string)"): `str` → `length`, counted in UTF-16 code units as JavaScript does.
- `substring`: `str`, `indexStart`, `indexEnd` (optional) → `response`, with JavaScript's rules (negative
  → 0, past the end → the length, start > end swaps them).
"""

from __future__ import annotations

import json
import string as _string
from typing import Any

from opsmgr.engine.library import bad, integer, type_name
from opsmgr.engine.registry import Outcome, TaskContext

DIGITS = _string.digits + _string.ascii_lowercase


def js_string(value: Any) -> str | None:
    """How JavaScript writes a primitive into a string; None for objects and arrays."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    return None


async def string_concat(ctx: TaskContext) -> Outcome:
    """`str` followed by `stringN` (a string or the strings of an array, in order)."""
    first = ctx.incoming.get("str")
    if not isinstance(first, str):
        return bad("stringConcat", "str", f"must be a string, got {type_name(first)}")
    rest = ctx.incoming.get("stringN")
    parts = rest if isinstance(rest, list) else [rest]
    texts = []
    for i, part in enumerate(parts):
        text = js_string(part) if part is not None else None
        if text is None:
            where = f"stringN[{i}]" if isinstance(rest, list) else "stringN"
            return bad("stringConcat", where, f"must be a string, got {type_name(part)}")
        texts.append(text)
    return Outcome(outputs={"combinedStrings": first + "".join(texts)})


async def split(ctx: TaskContext) -> Outcome:
    """`str` split at each `separator`, at most `limit` pieces."""
    text = ctx.incoming.get("str")
    if not isinstance(text, str):
        return bad("split", "str", f"must be a string, got {type_name(text)}")
    separator = ctx.incoming.get("separator")
    if separator is not None and not isinstance(separator, str):
        return bad("split", "separator", f"must be a string, got {type_name(separator)}")
    raw_limit = ctx.incoming.get("limit")
    limit = None if raw_limit in (None, "") else integer(raw_limit)
    if raw_limit not in (None, "") and (limit is None or limit < 0):
        return bad("split", "limit", f"must be a non-negative integer, got {raw_limit!r}")
    if separator is None:
        pieces = [text]
    elif separator == "":
        pieces = list(text)
    else:
        pieces = text.split(separator)
    if limit is not None:
        pieces = pieces[:limit]
    return Outcome(outputs={"splitArray": pieces})


async def parse(ctx: TaskContext) -> Outcome:
    """The value of the JSON text `text`."""
    text = ctx.incoming.get("text")
    if not isinstance(text, str):
        return bad("parse", "text", f"must be a string of JSON, got {type_name(text)}")
    try:
        value = json.loads(text)
    except ValueError as exc:
        return bad("parse", "text", f"is not valid JSON ({exc})")
    return Outcome(outputs={"textObject": value})


def _in_radix(number: int, radix: int) -> str:
    if number == 0:
        return "0"
    sign, number = ("-", -number) if number < 0 else ("", number)
    digits = []
    while number:
        number, rest = divmod(number, radix)
        digits.append(DIGITS[rest])
    return sign + "".join(reversed(digits))


async def number_to_string(ctx: TaskContext) -> Outcome:
    """`num` written in base `radix` (default 10)."""
    num = ctx.incoming.get("num")
    if isinstance(num, bool) or not isinstance(num, int | float):
        return bad("numberToString", "num", f"must be a number, got {type_name(num)}")
    raw_radix = ctx.incoming.get("radix")
    radix = 10 if raw_radix in (None, "") else integer(raw_radix)
    if radix is None or not 2 <= radix <= 36:
        return bad("numberToString", "radix", f"must be an integer from 2 to 36, got {raw_radix!r}")
    if radix == 10:
        return Outcome(outputs={"numToString": js_string(num)})
    if isinstance(num, float) and not num.is_integer():
        return bad("numberToString", "num", f"must be a whole number to write in base {radix}, got {num!r}")
    return Outcome(outputs={"numToString": _in_radix(int(num), radix)})


async def string_length(ctx: TaskContext) -> Outcome:
    """The number of characters in `str` (UTF-16 code units, as in JavaScript)."""
    text = ctx.incoming.get("str")
    if not isinstance(text, str):
        return bad("stringLength", "str", f"must be a string, got {type_name(text)}")
    return Outcome(outputs={"length": len(text.encode("utf-16-le")) // 2})


async def substring(ctx: TaskContext) -> Outcome:
    """The characters of `str` from `indexStart` up to (not including) `indexEnd`."""
    text = ctx.incoming.get("str")
    if not isinstance(text, str):
        return bad("substring", "str", f"must be a string, got {type_name(text)}")
    start = integer(ctx.incoming.get("indexStart"))
    if start is None:
        return bad("substring", "indexStart", f"must be an integer, got {ctx.incoming.get('indexStart')!r}")
    raw_end = ctx.incoming.get("indexEnd")
    end = len(text) if raw_end in (None, "") else integer(raw_end)
    if end is None:
        return bad("substring", "indexEnd", f"must be an integer, got {raw_end!r}")
    start, end = (min(max(i, 0), len(text)) for i in (start, end))
    if start > end:
        start, end = end, start
    return Outcome(outputs={"response": text[start:end]})
