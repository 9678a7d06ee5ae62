"""Requests served in this process (bench/pages.py, bench/metrics.py): the bench database and
Django set up here, a timed round robin while the machine is quiet, one request profiled (its
statements and their time), and the table and verdicts both print."""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.lib import db, report
from bench.lib.procs import cpu_use, snapshot, wait_for_quiet
from bench.lib.stats import percentile

CHUNK_ROUNDS = 10
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


@dataclass
class Item:
    """One page (or the baseline) and its figures."""

    name: str
    path: str
    baseline: bool = False
    held: bool = False  # held to the targets
    status: int = 200
    bytes: int = 0
    queries: int = 0
    sql_ms: float = 0.0
    samples: list[float] = field(default_factory=list, repr=False)
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    max_ms: float = 0.0
    cpu_ms: float = 0.0  # this process's CPU per request (mean): steadier than wall time


@contextlib.contextmanager
def django_here(args: Any) -> Iterator[dict[str, Any]]:
    """The bench database prepared for pages requested here, one at a time (a small pool, the
    in-memory layer, static files from the manifest as in production), Django set up; yields
    the machine's description."""
    with tempfile.TemporaryDirectory(prefix="handoff-bench-static-") as static_root:
        url = db.database_url(args.database_url, args.database_name)
        env = db.environment(url, settings=args.settings, pool=(1, 4), STATIC_ROOT=static_root)
        machine = report.machine(db.prepare(args, env, static_root))
        db.setup_django()
        yield machine


def measure(
    items: list[Any],
    get: Callable[[Any], tuple[int, float]],
    rounds: int,
    warmup: int,
    database: str,
    quiet_threshold: float = 0.3,
    wait_budget: float = 0.0,
) -> dict[str, Any]:
    """Round robin over the items (so drift touches them all alike), ``get(item)`` returning
    (status, ms); this process's CPU per request is timed around it. Measured in chunks of ten
    rounds; a chunk during which other processes used more than ``quiet_threshold`` cores is
    dropped and measured again once the machine is quiet, for up to ``wait_budget`` seconds in
    all. Returns the CPU used in the chunks kept."""
    for _ in range(warmup):
        for item in items:
            get(item)
    deadline = time.monotonic() + wait_budget
    kept = dropped = 0
    seconds = 0.0
    totals = dict.fromkeys(("client_cores", "postgres_cores", "other_cores", "machine_cores"), 0.0)
    while kept < rounds:
        chunk_rounds = min(CHUNK_ROUNDS, rounds - kept)
        chunk: dict[str, list[tuple[float, float]]] = {item.name: [] for item in items}
        before = snapshot([], database)
        for _ in range(chunk_rounds):
            for item in items:
                cpu_started = time.process_time()
                status, elapsed = get(item)
                used = (time.process_time() - cpu_started) * 1000
                if status != item.status:
                    raise RuntimeError(
                        f"{item.path or item.name} answered {status} while measuring"
                    )
                chunk[item.name].append((elapsed, used))
        after = snapshot([], database)
        use = cpu_use(before, after)
        if use["other_cores"] > quiet_threshold and time.monotonic() < deadline:
            dropped += chunk_rounds
            print(f"  dropped {chunk_rounds} rounds: others used {use['other_cores']:.2f} cores")
            wait_for_quiet(max(deadline - time.monotonic(), 0.0), database, quiet_threshold)
            continue
        for item in items:
            item.samples.extend(elapsed for elapsed, _ in chunk[item.name])
            item.cpu_ms += sum(used for _, used in chunk[item.name])
        wall = after.at - before.at
        for key in totals:
            totals[key] += use[key] * wall
        seconds += wall
        kept += chunk_rounds
        print(f"  {kept}/{rounds} rounds", flush=True)
    for item in items:
        ordered = sorted(item.samples)
        item.p50_ms, item.p95_ms = (round(percentile(ordered, pct), 2) for pct in (50, 95))
        item.max_ms, item.cpu_ms = round(ordered[-1], 2), round(item.cpu_ms / len(ordered), 2)
    cpu: dict[str, Any] = {k: round(v / seconds, 3) if seconds else 0.0 for k, v in totals.items()}
    return cpu | {"rounds_dropped": dropped, "wait_exhausted": time.monotonic() >= deadline}


def profile(item: Item, request: Callable[[], Any]) -> Any:
    """One request with every statement it runs counted and timed (transaction control aside);
    returns its answer."""
    from django.db import close_old_connections, connection

    timings: list[float] = []

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            if not sql.startswith(TRANSACTION_CONTROL):
                timings.append(time.perf_counter() - started)

    with connection.execute_wrapper(timed):
        answer = request()
    close_old_connections()
    item.queries, item.sql_ms = len(timings), round(sum(timings) * 1000, 2)
    return answer


def lines(items: list[Item], cpu: dict[str, Any], p95_target: float, ratio: float) -> list[str]:
    """The items' table beside the baseline, the CPU while measuring, each held item's verdict:
    p95 under ``p95_target`` ms and, when ``ratio`` is given, at most that times the baseline's."""
    base = next(item for item in items if item.baseline)
    found = [
        f"cpu    : while measuring, this process {cpu['client_cores']:.2f} cores, PostgreSQL "
        f"{cpu['postgres_cores']:.2f}, other processes {cpu['other_cores']:.2f} (before: "
        f"{cpu['other_cores_before']:.2f}); {cpu['rounds_dropped']} rounds measured again",
        "",
        *report.table(
            "item<26|path<42|status>7|KB>8.1f|queries>8|sql ms>8.1f|p50 ms>9.2f|p95 ms>9.2f"
            "|max ms>9.2f|cpu ms>8.2f|p50/base>9.1f|p95/base>9.1f|<12",
            [(i.name, i.path, i.status, i.bytes / 1024, i.queries, i.sql_ms, i.p50_ms, i.p95_ms,
              i.max_ms, i.cpu_ms, i.p50_ms / base.p50_ms, i.p95_ms / base.p95_ms,
              " (baseline)" if i.baseline else "") for i in items],
        ),
        "",
        f"baseline: {base.name}; targets: p95 < {p95_target:.0f} ms"
        + (f" and <= {ratio:.0f}x the baseline's p95 ({base.p95_ms:.2f} ms)" if ratio else ""),
    ]  # fmt: skip
    for item in items:
        if item.held:
            times = item.p95_ms / base.p95_ms if base.p95_ms else math.inf
            found.append(
                f"{item.name:<22} p95 {item.p95_ms:8.2f} ms "
                f"{report.verdict(item.p95_ms < p95_target)}; {times:5.1f}x the baseline's p95"
                + (f" {report.verdict(times <= ratio)}" if ratio else "")
            )
    return found


def finish(
    title: str, figures: dict[str, Any], describe: list[str], p95_target: float, ratio: float,
    path: Path | None,
) -> int:  # fmt: skip
    """Print the report (what ran, the items' table and verdicts, the notes) and write the
    figures when asked; the exit status: 0 when every held item meets its targets."""
    items, cpu = [Item(**item) for item in figures["items"]], figures["cpu"]
    text = report.header(title, figures, *describe) + lines(items, cpu, p95_target, ratio)
    text += report.notes(figures["notes"], {"measuring": cpu["other_cores"]})
    base = next(item for item in items if item.baseline)
    passed = all(i.p95_ms < p95_target and (not ratio or i.p95_ms <= ratio * base.p95_ms)
                 for i in items if i.held)  # fmt: skip
    return report.finish("\n".join(text), figures, path, passed)
