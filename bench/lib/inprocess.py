"""Requests served in this process (bench/pages.py, bench/metrics.py): timed round robin while
the machine is quiet, and one request profiled: its queries, their time, where they came from."""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    status: int = 200
    bytes: int = 0
    queries: int = 0
    sql_ms: float = 0.0
    statements: list[str] = field(default_factory=list)
    slowest: list[tuple[str, float, str]] = field(default_factory=list)  # source, ms, sql
    split: dict[str, float] = field(default_factory=dict)
    samples: list[float] = field(default_factory=list, repr=False)
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    max_ms: float = 0.0
    mean_ms: float = 0.0


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
    (status, ms). Measured in chunks of ten rounds; a chunk during which other processes used
    more than ``quiet_threshold`` cores is dropped and measured again once the machine is quiet,
    for up to ``wait_budget`` seconds in all. Returns the CPU used in the chunks kept."""
    for _ in range(warmup):
        for item in items:
            get(item)
    deadline = time.monotonic() + wait_budget
    kept = dropped = 0
    seconds = 0.0
    totals = dict.fromkeys(("client_cores", "postgres_cores", "other_cores", "machine_cores"), 0.0)
    while kept < rounds:
        chunk_rounds = min(CHUNK_ROUNDS, rounds - kept)
        chunk: dict[str, list[float]] = {item.name: [] for item in items}
        before = snapshot([], database)
        for _ in range(chunk_rounds):
            for item in items:
                status, elapsed = get(item)
                if status != item.status:
                    raise RuntimeError(
                        f"{item.path or item.name} answered {status} while measuring"
                    )
                chunk[item.name].append(elapsed)
        after = snapshot([], database)
        use = cpu_use(before, after)
        if use["other_cores"] > quiet_threshold and time.monotonic() < deadline:
            dropped += chunk_rounds
            print(f"  dropped {chunk_rounds} rounds: others used {use['other_cores']:.2f} cores")
            wait_for_quiet(max(deadline - time.monotonic(), 0.0), database, quiet_threshold)
            continue
        for item in items:
            item.samples.extend(chunk[item.name])
        wall = after.at - before.at
        for key in totals:
            totals[key] += use[key] * wall
        seconds += wall
        kept += chunk_rounds
        print(f"  {kept}/{rounds} rounds", flush=True)
    for item in items:
        ordered = sorted(item.samples)
        item.p50_ms = round(percentile(ordered, 50), 2)
        item.p95_ms = round(percentile(ordered, 95), 2)
        item.max_ms = round(ordered[-1], 2)
        item.mean_ms = round(sum(ordered) / len(ordered), 2)
    cpu: dict[str, Any] = {k: round(v / seconds, 3) if seconds else 0.0 for k, v in totals.items()}
    return cpu | {"rounds_dropped": dropped, "wait_exhausted": time.monotonic() >= deadline}


def shape(sql_text: str) -> str:
    """A statement's verb and table, for the reports' lists of queries."""
    text = " ".join(sql_text.split())
    verb = text.split(" ", 1)[0].upper()
    if verb == "WITH":  # the intake's one-statement insert of a case and its rows
        verb = "INSERT (CTE)"
    table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', text, re.IGNORECASE)
    upper = text.upper()
    suffix = ""
    if verb == "SELECT":
        for marker, label in (
            ("FILTER (WHERE", "queue figures"), ("COUNT(", "count"), ("FOR UPDATE", "for update"),
            ("'RESOLVED'", "previous contact"), ("FIRST_CLAIMED_AT", "recent claims"),
        ):  # fmt: skip
            if marker in upper:
                suffix = f" ({label})"
                break
    return f"{verb} {table.group(1) if table else ''}{suffix}".strip()


def profile(item: Item, request: Callable[[], Any], source: Callable[[Any, str], str]) -> Any:
    """One request under CaptureQueriesContext: its statements, each one's time and source
    (``source(stack, sql)``), the slowest, and how its time splits between SQL, Python inside
    Django's templates and the rest. Returns the request's answer."""
    from django.db import close_old_connections, connection
    from django.template.backends import django as django_templates
    from django.test.utils import CaptureQueriesContext

    timings: list[tuple[float, float, str]] = []  # (start, ms, source) of each statement
    renders: list[tuple[float, float]] = []  # outermost template renders
    depth = [0]

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        where = source(traceback.extract_stack(), sql)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((started, (time.perf_counter() - started) * 1000, where))

    original = django_templates.Template.render

    def render(self: Any, context: Any = None, request: Any = None) -> Any:
        depth[0] += 1
        started = time.perf_counter()
        try:
            return original(self, context, request)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                renders.append((started, time.perf_counter()))

    django_templates.Template.render = render  # type: ignore[method-assign]
    try:
        with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timed):
            started = time.perf_counter()
            answer = request()
            total = (time.perf_counter() - started) * 1000
    finally:
        django_templates.Template.render = original  # type: ignore[method-assign]
    close_old_connections()
    # BEGIN / COMMIT are captured but never pass the execute wrapper: count statements only.
    queries = [q for q in captured.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)]
    item.queries = len(queries)
    item.statements = [shape(q["sql"]) for q in queries]
    item.sql_ms = round(sum(ms for _, ms, _ in timings), 2)
    render_ms = sum((end - start) * 1000 for start, end in renders)
    in_render = sum(ms for at, ms, _ in timings if any(s <= at <= e for s, e in renders))
    item.split = {
        "total_ms": round(total, 2),
        "sql_ms": item.sql_ms,
        "templates_ms": round(render_ms - in_render, 2),
        "other_python_ms": round(total - item.sql_ms - (render_ms - in_render), 2),
    }
    if len(timings) == len(queries):
        ranked = sorted(range(len(queries)), key=lambda i: -timings[i][1])
        item.slowest = [(timings[i][2], round(timings[i][1], 2), queries[i]["sql"]) for i in ranked]
    return answer
