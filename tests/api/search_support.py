"""A random but fixed data set of jobs and task iterations, inserted straight through the store, and a
plain-Python evaluator of the search syntax over it: the oracle of the search property tests
(decisions §4, §9; docs/api.md "Searching"). It is written from the documented rules, not from the code."""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from opsmgr.store import jobs as job_store
from opsmgr.store import tasks as task_store
from opsmgr.store.database import Database
from tests.helpers import World

OTHER_GROUP = "b" * 24
ALPHABET = "aAbZ%_\\'\" é☃-.,"
WORDS = ["Core", "router", "site", "A", "lab", "dry-run", "ÉTÉ", "été", "50%", "a_b", "x"]
NAMES = ["alpha", "Alpha", "al%pha", "a_b", "b", "beta", "é", "Zed", "z", "☃", "al"]
SEALED = {"$enc": "v1", "nonce": "bm9uY2U=", "data": "c2VjcmV0", "at": "/variables/secret", "key": "k"}
START = 1_700_000_000_000
ABSENT = object()


@dataclass
class Data:
    jobs: list[dict[str, Any]] = field(default_factory=list)  # job rows + "groups"
    tasks: list[dict[str, Any]] = field(default_factory=list)  # task rows


def _variables(rng: random.Random) -> dict[str, Any]:
    pool: dict[str, Any] = {
        "a": {"b": rng.choice(["x", "X", "1", 1, 1.5, True, None, [1], {"c": "d"}])},
        "n": rng.choice([0, 1, 2, -1, 1.5, 2.0, "1", "2", True, False, None]),
        "flag": rng.choice([True, False, "true", 1]),
        "s": rng.choice(NAMES),
        "arr": [rng.choice(NAMES)],
        "nul": None,
        "0": {"x": rng.choice(["p", "q"])},
        "secret": dict(SEALED),
        "date": rng.choice(["2024-01-01", "2024-06-30T12:00:00Z", "2023-12-31"]),
    }
    return {k: v for k, v in pool.items() if rng.random() < 0.7}


def seed(db: Database, world: World, n_jobs: int = 36, seed_value: int = 4) -> Data:
    rng = random.Random(seed_value)
    data = Data()
    users = [world.ids["alice"], world.ids["dave"], world.ids["admin"], None]
    with db.write() as conn:
        for i in range(n_jobs):
            job_id = f"{i + 1:024x}"
            start = START + rng.choice([0, 1000, 1000, 2500, 99_999]) + i % 3
            end = rng.choice([None, start + rng.randint(1, 5000)])
            row = {
                "id": job_id,
                "name": rng.choice(NAMES),
                "description": rng.choice([None, " ".join(rng.sample(WORDS, rng.randint(1, 4)))]),
                "type": rng.choice(["automation", "resource:action"]),
                "status": rng.choice(["running", "complete", "error", "canceled", "paused"]),
                "workflow": {"tasks": {}, "transitions": {}},
                "variables": _variables(rng),
                "progress": {},
                "error": None,
                "watchers": rng.choice([[], [world.ids["alice"]], [world.ids["alice"], world.ids["dave"]]]),
                "ancestors": [job_id],
                "parent": None,
                "created": start,
                "created_by": rng.choice(users),
                "last_updated": start + rng.randint(0, 3),
                "last_updated_by": rng.choice(users),
                "start_time": start,
                "end_time": end,
                "initiator": "test",
                "trigger": None,
            }
            groups = rng.choice([[], [], [world.netops], [OTHER_GROUP], [world.netops, OTHER_GROUP]])
            job_store.insert_job(conn, row, groups)
            data.jobs.append({**row, "groups": groups})
            tasks = []
            for k in range(rng.randint(0, 5)):
                manual = rng.random() < 0.4
                t_start = start + rng.choice([0, 10, 10, 20])
                t_end = rng.choice([None, t_start + 7])
                tasks.append({
                    "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "job_id": job_id,
                    "task_key": f"{k + 1:x}",
                    "name": rng.choice(NAMES),
                    "app": rng.choice(["WorkFlowEngine", "Adapter%", "app_x"]),
                    "type": "manual" if manual else rng.choice(["automatic", "operation"]),
                    "status": rng.choice(["running", "running", "complete", "error", "incomplete", "canceled"]),
                    "location": "Application",
                    "view": rng.choice([None, "/workflow_engine/task/ViewData"]) if manual else None,
                    "owner": rng.choice([None, None, world.ids["alice"], world.ids["dave"]]),
                    "groups": rng.choice([[], [], [world.netops], [OTHER_GROUP]]),
                    "variables": {"incoming": {"x": rng.choice([*NAMES, 3, 3.5, True])},
                                  "outgoing": {"y": rng.choice([None, "ok", 7, {"$enc": "v1", "data": "ok"}])},
                                  "decorators": []},
                    "metrics": {"user": rng.choice(users), "server_id": rng.choice([None, "node-1", "node-2"]),
                                "retrying": rng.choice([True, False])},
                    "start_time": t_start,
                    "claim_time": rng.choice([None, t_start + 3]),
                    "end_time": t_end,
                    "finish_state": rng.choice([None, "success", "failure", "error"]),
                    "last_updated": t_start + rng.randint(0, 2),
                    "queue_state": None, "due_at": None, "lease_until": None, "runtime": None,
                })
            task_store.insert_tasks(conn, tasks)
            data.tasks.extend(tasks)
    return data


# the oracle ----------------------------------------------------------------------------------------------

JOB_COLUMNS = {
    "_id": ("id", "str"), "name": ("name", "str"), "description": ("description", "str"),
    "status": ("status", "str"), "type": ("type", "str"), "metrics.start_time": ("start_time", "date"),
    "metrics.end_time": ("end_time", "date"), "metrics.user": ("created_by", "str"),
    "created": ("created", "date"), "last_updated": ("last_updated", "date"), "created_by": ("created_by", "str"),
    "last_updated_by": ("last_updated_by", "str"),
}
JOB_JSON = {"variables": "variables"}
JOB_LISTS = {"groups": "groups", "watchers": "watchers", "ancestors": "ancestors"}
TASK_LISTS = {"groups": "groups"}
TASK_COLUMNS = {
    "_id": ("id", "str"), "name": ("name", "str"), "app": ("app", "str"), "status": ("status", "str"),
    "type": ("type", "str"), "location": ("location", "str"), "view": ("view", "str"),
    "job._id": ("job_id", "str"), "job.task": ("task_key", "str"), "metrics.owner": ("owner", "str"),
    "metrics.finish_state": ("finish_state", "str"), "metrics.start_time": ("start_time", "date"),
    "metrics.end_time": ("end_time", "date"), "metrics.claim_time": ("claim_time", "date"),
    "last_updated": ("last_updated", "date"),
}
TASK_JSON = {"variables": "variables", "metrics": "metrics"}
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def date_ms(raw: str) -> int:
    if re.fullmatch(r"-?[0-9]{1,15}", raw):
        return int(raw)
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


def number(raw: str) -> float | None:
    if not _NUMBER.fullmatch(raw):
        return None
    value = float(raw)
    return value if value not in (float("inf"), float("-inf")) else None


def json_at(root: Any, path: list[str]) -> Any:
    """The value at `path`, or ABSENT; nothing inside an encrypted (or stored-aside) value is reachable."""
    value = root
    for i, part in enumerate(path):
        if i > 0 and isinstance(value, dict) and ("$enc" in value or "$largeData" in value):
            return ABSENT
        if not isinstance(value, dict) or part not in value:
            return ABSENT
        value = value[part]
    return value


def json_equals(value: Any, raw: str) -> bool:
    if isinstance(value, bool):
        return raw == ("true" if value else "false")
    if isinstance(value, str):
        return value == raw
    if isinstance(value, int | float):
        n = number(raw)
        return n is not None and value == n
    return False


def _cmp(op: str, a: Any, b: Any) -> bool:
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]


def _text(op: str, value: Any, raw: str) -> bool:
    if not isinstance(value, str):
        return False
    return {"contains": raw in value, "starts-with": value.startswith(raw), "ends-with": value.endswith(raw)}[op]


def ascii_lower(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def text_search(description: str | None, raw: str) -> bool:
    """MongoDB-like: every phrase, at least one word (when words are given), no negated term."""
    if description is None:
        return False
    words, phrases, excluded = [], [], []
    for neg, phrase, word in re.findall(r'(-?)"([^"]*)"?|(\S+)', raw):
        if word:
            if word.startswith("-") and len(word) > 1:
                excluded.append(word[1:])
            else:
                words.append(word)
        elif phrase.strip():
            (excluded if neg else phrases).append(" ".join(phrase.split()))
    text = ascii_lower(description)
    has = [ascii_lower(t) in text for t in (*phrases,)]
    return (all(has) and (not words or any(ascii_lower(w) in text for w in words))
            and not any(ascii_lower(x) in text for x in excluded))


def matches(row: dict[str, Any], op: str, name: str, raw: str, columns: dict, json_roots: dict,
            text_fields: tuple[str, ...] = (), lists: dict | None = None) -> bool:
    if lists and name in lists:  # a list of ids: equals = holds it; exists = not empty
        held = row[lists[name]]
        if op == "exists":
            return bool(held) == (raw.lower() in ("true", "1"))
        inside = any(v in held for v in ([raw] if op == "equals" else raw.split(",")))
        return not inside if op == "not-in" else inside
    if name in columns:
        column, kind = columns[name]
        value = row[column]
        if op == "contains" and name in text_fields:
            return text_search(value, raw)
        if op == "exists":
            return (value is not None) == (raw.lower() in ("true", "1"))
        convert = date_ms if kind == "date" else (lambda r: r)
        if op == "equals":
            return value is not None and value == convert(raw)
        if op in ("in", "not-in"):
            inside = value is not None and value in [convert(p) for p in raw.split(",")]
            return inside if op == "in" else not inside
        if op in ("gt", "gte", "lt", "lte"):
            return value is not None and _cmp(op, value, convert(raw))
        return _text(op, value, raw)
    prefix, *path = name.split(".")
    if name.split(".")[0] == "metrics" and name in columns:
        raise AssertionError(name)
    value = json_at(row[json_roots[prefix]], path)
    if op == "exists":
        return (value is not ABSENT) == (raw.lower() in ("true", "1"))
    if op == "equals":
        return json_equals(value, raw)
    if op in ("in", "not-in"):
        inside = any(json_equals(value, p) for p in raw.split(","))
        return inside if op == "in" else not inside
    if op in ("gt", "gte", "lt", "lte"):
        n = number(raw)
        if n is not None:
            return isinstance(value, int | float) and not isinstance(value, bool) and _cmp(op, value, n)
        return isinstance(value, str) and _cmp(op, value, raw)
    return _text(op, value, raw)


def ordered(rows: list[dict[str, Any]], column: str, order: int) -> list[dict[str, Any]]:
    """Sort by `column`, nulls lowest, then by id; descending reverses both (decisions §9 tie-break)."""
    def key(r: dict[str, Any]) -> tuple:
        v = r[column]
        return (0, "", r["id"]) if v is None else (1, v, r["id"])
    return sorted(rows, key=key, reverse=order == -1)
