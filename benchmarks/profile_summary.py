"""Summarize a py-spy raw profile (collapsed stacks, `--format raw`) into where the time goes.

    .venv/bin/python benchmarks/profile_summary.py PROFILE.txt [--top 25]

Prints one JSON object: total samples; the share of samples per layer (the innermost frame that belongs
to a known layer decides: opsmgr's own packages by sub-package, SQLAlchemy, the sqlite3/psycopg driver,
FastAPI/Starlette/Pydantic, uvicorn/asyncio, JSON); and the top functions by self time and by inclusive
time. With `--gil`, samples are taken only from the thread holding the GIL, so shares are shares of the
one core Python can use.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

# (label, pattern on the frame's file path), innermost-first match; order matters (first match wins)
LAYERS: list[tuple[str, str]] = [
    ("sqlite3 driver (C calls, fsync)", r"(^|/)sqlite3/|aiosqlite"),
    ("psycopg driver", r"psycopg"),
    ("SQLAlchemy", r"sqlalchemy/"),
    ("JSON encode/decode", r"(^|/)json/|orjson"),
    ("Pydantic", r"pydantic"),
    ("FastAPI/Starlette", r"fastapi/|starlette/"),
    ("uvicorn/asyncio/anyio", r"uvicorn/|asyncio/|anyio/|uvloop|httptools"),
    ("opsmgr.store", r"opsmgr/store/"),
    ("opsmgr.services", r"opsmgr/services/"),
    ("opsmgr.engine", r"opsmgr/engine/"),
    ("opsmgr.domain", r"opsmgr/domain/"),
    ("opsmgr.api", r"opsmgr/api/"),
    ("threading/idle", r"threading\.py|concurrent/"),
]
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def parse(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    """(frames outermost-first as (function, file), sample count) per line of a raw profile."""
    stacks = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for raw in stack.split(";"):
            m = _FRAME.match(raw.strip())
            frames.append((m["func"], m["file"]) if m else (raw.strip(), ""))
        stacks.append((frames, int(count)))
    return stacks


def layer_of(frames: list[tuple[str, str]]) -> str:
    for _func, file in reversed(frames):
        for label, pattern in LAYERS:
            if re.search(pattern, file):
                return label
    return "other"


def short(func: str, file: str) -> str:
    if "site-packages/" in file:
        file = file.split("site-packages/", 1)[1]
    elif "/src/" in file:
        file = file.split("/src/", 1)[1]
    return f"{func} ({file})"


def summarize(path: Path, top: int) -> dict[str, object]:
    stacks = parse(path)
    total = sum(n for _, n in stacks) or 1
    layers: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, n in stacks:
        layers[layer_of(frames)] += n
        if frames:
            own[short(*frames[-1])] += n
        for name in {short(*f) for f in frames}:
            inclusive[name] += n

    def pct(counter: Counter[str], k: int) -> list[list[object]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(k)]

    return {"samples": total, "layers_pct": dict(pct(layers, len(LAYERS) + 1)),  # type: ignore[arg-type]
            "self_pct_top": pct(own, top), "inclusive_pct_top": pct(inclusive, top)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(json.dumps(summarize(args.profile, args.top), indent=1))


if __name__ == "__main__":
    main()
