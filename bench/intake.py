"""Intake throughput and latency over HTTP beside a one-row insert baseline (bench/README.md)."""

from __future__ import annotations

import asyncio
import itertools
import math
import secrets
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib import db, http, procs, report
from bench.lib.stats import summary

BASELINE_PATH = "/bench/insert"
RATIO_TARGET = 0.6
P99_TARGET_MS = 100.0
OPEN_LOOP_CONNECTIONS = 256
BASELINE_TABLE = "CREATE TABLE IF NOT EXISTS bench_baseline (id bigserial PRIMARY KEY, \
external_id text NOT NULL, body jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"


@dataclass
class Phase:
    name: str
    path: str
    headers: dict[str, str]
    mode: str  # "closed" or "open"
    duration: float
    warmup: float
    concurrency: int
    workers: int
    rate: float = 0.0
    label: str = ""
    drain: float = 10.0


@dataclass
class Result:
    name: str
    path: str
    mode: str
    label: str
    concurrency: int
    target_rate: float
    duration: float
    sent: int = 0
    ok: int = 0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    error_sample: str = ""
    rate: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    send_lag_p99_ms: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    connections_per_worker: list[int] = field(default_factory=list)


# --- the load generator, in a process of its own -----------------------------------------------


async def load_setup(
    base_url: str, templates: list[db.Template], run_id: str, server: list[int], database: str
) -> dict[str, Any]:
    sequence = itertools.count()

    async def run(spec: Phase) -> Result:
        transport = http.Transport(
            base_url, spec.concurrency if spec.mode == "closed" else OPEN_LOOP_CONNECTIONS
        )
        latencies: list[float] = []
        lags: list[float] = []
        statuses: Counter[str] = Counter()
        sample = [""]
        last = [0.0]

        async def send(tag: str, started: float, record: bool) -> None:
            number = next(sequence)
            payload = db.body(templates[number % len(templates)], f"bench-{run_id}-{tag}-{number}")
            lag = time.perf_counter() - started
            try:
                status, content = await transport.request("POST", spec.path, spec.headers, payload)
                detail = content.decode(errors="replace")
            except http.ERRORS as exc:
                status, detail = type(exc).__name__, str(exc)  # type: ignore[assignment]
            if record:
                latencies.append(time.perf_counter() - started)
                lags.append(lag)
                statuses[str(status)] += 1
                last[0] = time.perf_counter()
                if not str(status).startswith("2") and not sample[0]:
                    sample[0] = f"{status}: {detail[:300]}"

        async def closed(seconds: float, tag: str, record: bool) -> None:
            deadline = time.perf_counter() + seconds

            async def client() -> None:
                while (started := time.perf_counter()) < deadline:
                    await send(tag, started, record)

            await asyncio.gather(*(client() for _ in range(spec.concurrency)))

        async def opened(seconds: float, tag: str, record: bool) -> None:
            async def one(_: int, scheduled: float) -> None:
                await send(tag, scheduled, record)

            never = await procs.open_loop(spec.rate, seconds, one, spec.drain)
            if record:  # at least this late: a request never answered has no true latency
                now = time.perf_counter()
                latencies.extend(now - scheduled for _, scheduled in never)
                statuses["unfinished"] += len(never)

        phase = closed if spec.mode == "closed" else opened
        try:
            spread = await transport.balance(spec.concurrency, spec.workers)
            if spec.warmup > 0:
                await phase(spec.warmup, f"{spec.name}-warm", False)
            before = procs.snapshot(server, database)
            started = time.perf_counter()
            await phase(spec.duration, spec.name, True)
            after = procs.snapshot(server, database)
        finally:
            transport.close()
        ok = sum(n for status, n in statuses.items() if status.startswith("2"))
        elapsed = max((last[0] or after.at) - started, 1e-9)
        return Result(
            spec.name, spec.path, spec.mode, spec.label,
            spec.concurrency if spec.mode == "closed" else 0, round(spec.rate, 1), spec.duration,
            sent=len(latencies), ok=ok, errors=len(latencies) - ok, statuses=dict(statuses),
            error_sample=sample[0], rate=round(ok / elapsed, 1),
            latency_ms=summary(latencies, 1000, (50, 99)), cpu=procs.cpu_use(before, after),
            send_lag_p99_ms=summary(lags, 1000)["p99"],
            connections_per_worker=spread,
        )  # fmt: skip

    return {"run": run}


# --- the report -------------------------------------------------------------------------------


def render(figures: dict[str, Any]) -> str:
    config, verdict = figures["config"], figures["verdict"]
    f = report.fmt
    lines = report.header(
        "intake benchmark", figures,
        "server  : uvicorn handoff_site.asgi:application, {workers} workers, loop {loop}, http "
        "{http}, psycopg pool {pool_min}-{pool_max} per worker, layer {layer}".format(**config),
        "client  : 1 separate process, {client_loop}, raw HTTP/1.1 on asyncio streams, keep-alive "
        "connections; {packages} STAR packages, body {body} bytes".format(**config),
        "",
        f"{'CPU ms/request':>107}  {'cores busy':>15}",
    )  # fmt: skip
    phases = [Result(**phase) for phase in figures["phases"]]
    lines += report.table(
        "endpoint<31|load<26|ok/s>9,.1f|p50 ms>9,.1f|p99 ms>9,.1f|max ms>9,.1f|errors>8"
        "|  server>9.2f|pg>7.2f|  client>9.2f|machine>8.2f",
        [(f"{p.name} POST {p.path}", f"closed, {p.concurrency} clients" if p.mode == "closed"
          else f"open {p.target_rate:,.0f}/s={p.label}", p.rate, *p.latency_ms.values(), p.errors,
          p.cpu["server_cores"] * 1000 / p.rate if p.rate else math.nan,
          p.cpu["postgres_cores"] * 1000 / p.rate if p.rate else math.nan,
          p.cpu["client_cores"], p.cpu["machine_cores"]) for p in phases],
    )  # fmt: skip
    lines.append("")
    for p in phases:
        which = f"{p.name} {p.mode}" + (f" ({p.label})" if p.label else "")
        if p.errors:
            lines.append(f"errors in {which}: {p.statuses}; first: {p.error_sample}")
        lines.append(f"{which}: connections per worker {p.connections_per_worker}")
        if p.mode == "open":
            lines.append(
                f"  {p.sent:,} requests scheduled over {p.duration:.0f} s, latency from the "
                f"scheduled send time; client send lag p99 {f(p.send_lag_p99_ms)} ms"
            )
    lines.append(
        f"intake / baseline throughput: {verdict['ratio']:.2f} (target >= {RATIO_TARGET}) "
        + report.verdict(verdict["ratio_pass"])
    )
    lines.append(
        f"intake p99 at half the baseline's throughput ({verdict['half_load_rate']:,.0f}/s, "
        f"achieved {verdict['half_load_achieved']:,.0f}/s): {f(verdict['half_load_p99_ms'])}"
        f" ms (target < {P99_TARGET_MS:.0f} ms, no errors) " + report.verdict(verdict["p99_pass"])
    )
    notes = [
        "The load generator shares the cores ('client'); open-loop latency counts from the "
        "scheduled send time. CPU ms/request = cores busy / ok/s. The integration has no "
        "callback URL; every external_id is new, so the waiting queue grows through the run.",
    ]
    others = {f"{p.name} {p.mode} {p.label}".strip(): p.cpu["other_cores"] for p in phases}
    return "\n".join(lines + report.notes(notes, others))


def main() -> int:
    parser = db.arguments(
        "Intake throughput and latency against a one-row insert baseline.",
        "handoff_bench",
        redis=db.SHARED_REDIS,
    )
    add = parser.add_argument
    add("--duration", type=float, default=15.0, help="seconds measured per phase (15)")
    add("--warmup", type=float, default=3.0, help="seconds of warm-up before each phase (3)")
    add("--concurrency", type=int, default=32, help="closed-loop clients (32)")
    add("--workers", type=int, default=2, help="uvicorn workers (2)")
    add("--packages", type=int, default=500, help="STAR dialogues replayed, round robin (500)")
    add("--pool-min", type=int, default=2, help="psycopg pool min_size per worker (2)")
    add("--pool-max", type=int, default=8, help="psycopg pool max_size per worker (8)")
    add("--star", type=Path, default=db.STAR_PATH, help="STAR dialogues.jsonl.gz")
    add("--no-diagnostic", dest="diagnostic", action="store_false",
        help="skip the open-loop run at half the intake's own throughput")  # fmt: skip
    args = parser.parse_args()
    if min(args.duration, args.concurrency, args.workers, args.packages) <= 0:
        parser.error("--duration, --concurrency, --workers and --packages must be positive")

    run_id, started_at = secrets.token_hex(4), report.utc_timestamp()
    db_url = db.database_url(args.database_url, args.database_name)
    pool = (args.pool_min, args.pool_max)
    env = db.environment(db_url, settings=args.settings, redis_url=args.redis_url, pool=pool)
    machine = report.machine(db.prepare(args, env))
    db.pg(db_url, BASELINE_TABLE)
    db.setup_django()
    from bench.lib import app

    _, api_key = app.integration_create(name=f"bench-{run_id}")
    db.close_connections()
    templates = [db.template(p) for p in db.star_packages(args.star, args.packages)]
    sizes = [len(db.body(t, f"bench-{run_id}-x-000000")) for t in templates]

    phases: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="handoff-bench-") as tmp:
        server = procs.Server(env, args.workers, Path(tmp))
        load = None
        try:
            pids = server.wait_ready()
            print(f"server up at {server.base_url} (workers {pids})", flush=True)
            load = procs.Helper(
                "load", load_setup, server.base_url, templates, run_id, pids, args.database_name
            )
            json_headers = {"Content-Type": "application/json"}
            intake_headers = {**json_headers, "Authorization": f"Bearer {api_key}"}

            def run(name: str, path: str, headers: dict[str, str], **spec: Any) -> Result:
                db.vacuum_analyze(db_url)  # as autovacuum would on a live desk
                phase = Phase(name, path, headers, duration=args.duration, workers=args.workers,
                              concurrency=args.concurrency, **spec)  # fmt: skip
                print(f"{name}: {phase.mode} loop {phase.label} ...", flush=True)
                wait = phase.warmup + phase.duration + phase.drain + 60
                result: Result = load.call("run", wait=wait, spec=phase)
                server.check_alive()
                phases.append(result)
                return result

            closed = dict(mode="closed", warmup=args.warmup)
            baseline = run("baseline", BASELINE_PATH, json_headers, **closed)
            intake = run("intake", http.INTAKE_PATH, intake_headers, **closed)
            half = None
            rates = [("half baseline", baseline.rate / 2)]
            rates += [("half intake", intake.rate / 2)] if args.diagnostic else []
            for label, rate in filter(lambda pair: pair[1] > 0, rates):
                spec = dict(mode="open", warmup=min(args.warmup, 2.0), rate=rate, label=label)
                result = run("intake", http.INTAKE_PATH, intake_headers, **spec)
                half = half or result
            client_loop = load.loop_name
        finally:
            if load is not None:
                load.close()
            server.stop()

    ratio = intake.rate / baseline.rate if baseline.rate else 0.0
    p99 = half.latency_ms["p99"] if half else math.nan
    config = machine | dict(
        workers=args.workers, loop=server.loop, http=server.http, pool_min=args.pool_min,
        pool_max=args.pool_max, layer=args.redis_url or "in-memory", client_loop=client_loop,
        packages=len(templates), body=f"{min(sizes):,}-{max(sizes):,} (mean {mean(sizes):,.0f})",
        concurrency=args.concurrency, duration=args.duration, settings=args.settings,
    )  # fmt: skip
    tables = ("bench_baseline", "cases_case", "cases_message", "cases_caseevent")
    figures: dict[str, Any] = {
        "started_at": started_at, "config": config, "phases": [asdict(phase) for phase in phases],
        "verdict": {
            "ratio": round(ratio, 3), "half_load_rate": baseline.rate / 2,
            "ratio_pass": ratio >= RATIO_TARGET and baseline.errors == intake.errors == 0,
            "half_load_achieved": half.rate if half else 0.0, "half_load_p99_ms": p99,
            "p99_pass": half is not None and half.errors == 0 and p99 < P99_TARGET_MS,
        },
        "rows": {t: int(db.pg(db_url, f"SELECT count(*) FROM {t}")) for t in tables},
    }  # fmt: skip
    verdict = figures["verdict"]
    passed = verdict["ratio_pass"] and verdict["p99_pass"]
    return report.finish(render(figures), figures, args.json, passed)


if __name__ == "__main__":
    report.run_main(main)
