"""The smoke mode of `benchmarks/search.py` (issue #4): a small seed, a live `opsmgr serve`, every query
of the benchmark answered over HTTP without an error and with the totals the seed implies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_search_benchmark_smoke() -> None:
    """2,000 tasks over 200 jobs on a temporary SQLite file: the benchmark's own database, not the suite's."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "search.py"), "--tasks", "2000", "--requests", "10",
         "--clients", "2"],
        capture_output=True, text=True, timeout=180, cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    queries = report["queries"]
    assert report["workable_route"] == "/operations-manager/tasks/workable"
    assert all(isinstance(q, dict) and q["errors"] == 0 for q in queries.values()), queries
    assert queries["tasks_of_job"]["total"] == 10
    assert queries["admin_deep_page"]["total"] == 2000
    assert queries["deep_page"]["total"] < 2000  # GBAC: a member of one group sees part of the tasks
    assert report["targets"]["no_errors"] and report["server_rss_mb"] > 0
