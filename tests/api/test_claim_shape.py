"""A claim response has the shape of Itential's "Claim a task" example (ops-manager-api §3.1, §5.2):
the same keys at every level, values aside."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.api.manual_support import claim, success, waiting_job

EXAMPLE = Path(__file__).parent / "fixtures" / "itential_claim_task_example.json"

# Workflow-defined contents, not part of the document's shape: the task's own inputs and outputs.
FREE_FORM = {"data.variables.incoming", "data.variables.outgoing"}
# Itential's manual-controller shape of `variables` also carries `error`; ours always does. This is the
# one key we allow beyond the "Claim a task" example.
ALLOWED_EXTRA = {"data.variables": {"error"}}


def key_differences(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Where the key sets of two documents differ, recursing into objects present in both."""
    if not (isinstance(ours, dict) and isinstance(theirs, dict)) or path in FREE_FORM:
        return []
    problems = []
    extra = set(ours) - set(theirs) - ALLOWED_EXTRA.get(path, set())
    missing = set(theirs) - set(ours)
    if extra:
        problems.append(f"{path or '<top>'}: keys Itential does not have: {sorted(extra)}")
    if missing:
        problems.append(f"{path or '<top>'}: keys missing: {sorted(missing)}")
    for key in set(ours) & set(theirs):
        problems += key_differences(ours[key], theirs[key], f"{path}.{key}" if path else key)
    return problems


def test_example_fixture_has_the_documented_keys():
    """ops-manager-api §3.1: the reference fixture lists the keys of Itential's Task document."""
    example = json.loads(EXAMPLE.read_text())
    assert list(example) == ["message", "data", "metadata"]
    assert list(example["data"]) == ["_id", "location", "view", "status", "app", "name", "variables", "last_updated",
                                     "encodingVersion", "job", "incomingRefs", "groups", "type", "metrics"]
    assert list(example["data"]["variables"]) == ["incoming", "outgoing", "decorators"]
    assert list(example["data"]["job"]) == ["_id", "task", "name", "description", "ancestors"]
    assert list(example["data"]["metrics"]) == ["start_time", "claim_time", "end_time", "server_id", "finish_state",
                                                "run_time", "retrying", "user", "owner"]


def test_claim_response_has_the_keys_of_itentials_example(client, world):
    """decisions §2, ops-manager-api §5.2: a claim answers the envelope with a Task whose keys match
    Itential's "Claim a task" example at every level (plus `variables.error`, see ALLOWED_EXTRA)."""
    _, t = waiting_job(client, [world.netops])
    r = claim(client, t["_id"], world.auth("alice"))
    success(r)
    ours = r.json()
    assert key_differences(ours, json.loads(EXAMPLE.read_text())) == []
    assert set(ours["data"]["variables"]) == {"incoming", "outgoing", "decorators", "error"}


def test_key_comparison_notices_differences():
    """The comparison itself: a missing or extra key at any depth is reported."""
    example = json.loads(EXAMPLE.read_text())
    broken = json.loads(EXAMPLE.read_text())
    del broken["data"]["metrics"]["claim_time"]
    broken["data"]["job"]["extra"] = 1
    assert sorted(key_differences(broken, example)) == [
        "data.job: keys Itential does not have: ['extra']", "data.metrics: keys missing: ['claim_time']"]
