"""bench/assignment.py --quick end to end: push beside pull, no case assigned twice."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bench.lib.db import ROOT, STAR_PATH

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.mark.skipif(not STAR_PATH.is_file(), reason=f"the STAR dataset is not at {STAR_PATH}")
def test_quick_run_reports_push_beside_pull_with_no_double_assignment(tmp_path: Path) -> None:
    # given the test's PostgreSQL server and Redis
    server = urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path="/postgres"))
    figures = tmp_path / "figures.json"

    # when the quick run measures both phases
    done = subprocess.run(
        [sys.executable, "bench/assignment.py", "--quick", "--database-url", server,
         "--database-name", "handoff_benchtest_assignment", "--redis-url",
         os.environ["REDIS_URL"], "--json", str(figures)],
        cwd=ROOT, capture_output=True, text=True, timeout=150, check=False,
    )  # fmt: skip

    # then the report has both columns, no case assigned twice, offers on the sockets
    assert figures.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    assert "push (offers)" in done.stdout and "pull (take-next)" in done.stdout
    found = json.loads(figures.read_text())
    for phase in (found["push"], found["pull"]):
        assert phase["created"] == phase["sent"] == 40
        assert phase["assigned_twice"] == phase["accepted_twice"] == 0
        assert phase["agents_over_capacity"] == phase["client_twice"] == 0
        assert 0 < phase["jain"] <= 1
        assert math.isfinite(phase["assigned_ms"]["p50"])
    assert math.isfinite(found["push"]["offer_ms"]["p50"])
    double = next(v for v in found["verdict"] if v["what"].startswith("zero double"))
    assert double["pass"]
