"""Several processes, one scrape (observability/exposition.py): prometheus-client's
multiprocess mode adds up the histograms of every process that shares PROMETHEUS_MULTIPROC_DIR,
dead ones included, and the socket gauge of the live ones only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from observability.exposition import forget_dead_processes, scrape

ROOT = Path(__file__).resolve().parents[2]

# A stand-in for one uvicorn worker or Celery child: observes, says so, then holds on until told.
WORKER = """
import sys
from observability.instruments import ASSESS_SECONDS, INTAKE_SECONDS, WEBSOCKET_CONNECTIONS
for seconds in map(float, sys.argv[1].split(",")):
    INTAKE_SECONDS.observe(seconds)
ASSESS_SECONDS.observe(0.004)
WEBSOCKET_CONNECTIONS.inc(int(sys.argv[2]))
print("ready", flush=True)
sys.stdin.readline()
"""


def worker(directory: Path, intakes: str, sockets: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER, intakes, str(sockets)],
        cwd=ROOT,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def stop(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=30)


def samples(monkeypatch: Any, directory: Path) -> dict[tuple[str, str | None], float]:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    body, content_type = scrape()
    assert content_type.startswith("text/plain")
    return {
        (sample.name, sample.labels.get("le")): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_every_process_histograms_add_up_and_only_live_sockets_count(tmp_path, monkeypatch):
    # given: two workers; the second exits (a restarted uvicorn worker) with one socket open
    first = worker(tmp_path, "0.02,0.02", sockets=2)
    second = worker(tmp_path, "0.3", sockets=1)
    stop(second)
    try:
        # when
        seen = samples(monkeypatch, tmp_path)
    finally:
        stop(first)

    # then: all three intakes, in their buckets; the dead worker's socket is not open any more
    assert seen[("desk_intake_seconds_count", None)] == 3
    assert seen[("desk_intake_seconds_sum", None)] == pytest.approx(0.34)
    assert seen[("desk_intake_seconds_bucket", "0.025")] == 2
    assert seen[("desk_intake_seconds_bucket", "0.25")] == 2
    assert seen[("desk_intake_seconds_bucket", "0.5")] == 3
    assert seen[("desk_assess_seconds_count", None)] == 2
    assert seen[("desk_websocket_connections", None)] == 2

    # and once the first is gone too: its intakes stay counted, its sockets do not
    after = samples(monkeypatch, tmp_path)
    assert after[("desk_intake_seconds_count", None)] == 3
    # (no live process wrote the gauge here; a desk's scraping worker always has, at 0)
    assert after.get(("desk_websocket_connections", None), 0) == 0


def test_only_dead_processes_live_gauges_are_forgotten(tmp_path):
    alive = tmp_path / f"gauge_livesum_{os.getpid()}.db"
    dead_pid = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    dead = tmp_path / f"gauge_livesum_{dead_pid}.db"
    histogram = tmp_path / f"histogram_{dead_pid}.db"
    for path in (alive, dead, histogram):
        path.write_bytes(b"")

    assert forget_dead_processes(str(tmp_path)) == [int(dead_pid)]
    assert alive.exists() and histogram.exists() and not dead.exists()
