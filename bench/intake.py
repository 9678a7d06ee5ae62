"""Intake throughput and latency over HTTP beside a one-row insert baseline (bench/README.md)."""

from __future__ import annotations

import asyncio
import itertools
import math
import secrets
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib import db, http, procs, report
from bench.lib.stats import summary

BASELINE_PATH = "/bench/insert"
RATIO_TARGET = 0.6
P99_TARGET_MS = 100.0
OPEN_LOOP_CONNECTIONS = 256
WORKERS, POOL = 2, (2, 8)  # uvicorn's, and each one's psycopg pool (min, max)
DRAIN = 10.0  # seconds an open loop waits for its last answers
BASELINE_TABLE = "CREATE TABLE IF NOT EXISTS bench_baseline (id bigserial PRIMARY KEY, \
external_id text NOT NULL, body jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"


@dataclass
class Phase:
    name: str
    path: str
    headers: dict[str, str]
    duration: float
    warmup: float
    concurrency: int
    rate: float = 0.0  # open loop at this rate; 0: closed loop, ``concurrency`` clients
    label: str = ""


@dataclass
class Result:
    name: str
    path: str
    label: str
    concurrency: int
    target_rate: float
    sent: int
    ok: int
    statuses: dict[str, int]
    error_sample: str
    rate: float
    latency_ms: dict[str, float]
    cpu: dict[str, float]


# --- the load generator, in a process of its own -----------------------------------------------


async def load_setup(
    base_url: str, templates: list[db.Template], run_id: str, server: list[int], database: str
) -> dict[str, Any]:
    sequence = itertools.count()

    async def run(spec: Phase) -> Result:
        transport = http.Transport(
            base_url, OPEN_LOOP_CONNECTIONS if spec.rate else spec.concurrency
        )
        latencies: list[float] = []
        statuses: Counter[str] = Counter()
        sample = [""]
        last = [0.0]

        async def send(tag: str, started: float, record: bool) -> None:
            number = next(sequence)
            payload = db.body(templates[number % len(templates)], f"bench-{run_id}-{tag}-{number}")
            try:
                status, content = await transport.request("POST", spec.path, spec.headers, payload)
                detail = content.decode(errors="replace")
            except http.ERRORS as exc:
                status, detail = type(exc).__name__, str(exc)  # type: ignore[assignment]
            if record:
                latencies.append(time.perf_counter() - started)
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

            never = await procs.open_loop(spec.rate, seconds, one, DRAIN)
            if record:  # at least this late: a request never answered has no true latency
                now = time.perf_counter()
                latencies.extend(now - scheduled for _, scheduled in never)
                statuses["unfinished"] += len(never)

        phase = opened if spec.rate else closed
        try:
            await transport.balance(spec.concurrency, WORKERS)
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
            spec.name, spec.path, spec.label, 0 if spec.rate else spec.concurrency,
            round(spec.rate, 1), len(latencies), ok, dict(statuses), sample[0],
            round(ok / elapsed, 1), summary(latencies, 1000, (50, 99)),
            procs.cpu_use(before, after),
        )  # fmt: skip

    return {"run": run}


# --- the report -------------------------------------------------------------------------------


def render(figures: dict[str, Any]) -> str:
    config, verdict = figures["config"], figures["verdict"]
    f = report.fmt
    lines = report.header(
        "intake benchmark", figures,
        "server  : uvicorn handoff_site.asgi:application, {workers} workers, loop uvloop, http "
        "httptools, psycopg pool {pool_min}-{pool_max} per worker, layer {layer}".format(**config),
        "client  : 1 separate process, {client_loop}, raw HTTP/1.1 on asyncio streams, keep-alive "
        "connections; {packages} STAR packages".format(**config),
        "",
        f"{'CPU ms/request':>107}  {'cores busy':>15}",
    )  # fmt: skip
    phases = [Result(**phase) for phase in figures["phases"]]
    lines += report.table(
        "endpoint<31|load<26|ok/s>9,.1f|p50 ms>9,.1f|p99 ms>9,.1f|max ms>9,.1f|errors>8"
        "|  server>9.2f|pg>7.2f|  client>9.2f|machine>8.2f",
        [(f"{p.name} POST {p.path}", f"closed, {p.concurrency} clients" if p.concurrency
          else f"open {p.target_rate:,.0f}/s={p.label}", p.rate, *p.latency_ms.values(),
          p.sent - p.ok,
          p.cpu["server_cores"] * 1000 / p.rate if p.rate else math.nan,
          p.cpu["postgres_cores"] * 1000 / p.rate if p.rate else math.nan,
          p.cpu["client_cores"], p.cpu["machine_cores"]) for p in phases],
    )  # fmt: skip
    lines.append("")
    lines += [f"errors in {p.name} {p.label}: {p.statuses}; first: {p.error_sample}"
              for p in phases if p.sent > p.ok]  # fmt: skip
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
    others = {f"{p.name} {p.label or 'closed'}": p.cpu["other_cores"] for p in phases}
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
    add("--packages", type=int, default=500, help="STAR dialogues replayed, round robin (500)")
    add("--star", type=Path, default=db.STAR_PATH, help="STAR dialogues.jsonl.gz")
    add("--no-diagnostic", dest="diagnostic", action="store_false",
        help="skip the open-loop run at half the intake's own throughput")  # fmt: skip
    args = parser.parse_args()
    if min(args.duration, args.concurrency, args.packages) <= 0:
        parser.error("--duration, --concurrency and --packages must be positive")

    run_id, started_at = secrets.token_hex(4), report.utc_timestamp()
    db_url = db.database_url(args.database_url, args.database_name)
    env = db.environment(db_url, settings=args.settings, redis_url=args.redis_url, pool=POOL)
    machine = db.prepare(args, env)
    db.execute(BASELINE_TABLE)
    from bench.lib import app

    _, api_key = app.integration_create(name=f"bench-{run_id}")
    db.close_connections()
    templates = [db.template(p) for p in db.star_packages(args.star, args.packages)]

    phases: list[Result] = []
    with procs.Started() as started:
        server = started.server(env, WORKERS)
        pids = server.wait_ready()
        print(f"server up at {server.base_url} (workers {pids})", flush=True)
        load = started.add(procs.Helper(
            "load", load_setup, server.base_url, templates, run_id, pids, args.database_name
        ))  # fmt: skip
        json_headers = {"Content-Type": "application/json"}
        intake_headers = {**json_headers, "Authorization": f"Bearer {api_key}"}

        def run(name: str, path: str, headers: dict[str, str], **spec: Any) -> Result:
            db.vacuum_analyze(db_url)  # as autovacuum would on a live desk
            phase = Phase(name, path, headers, args.duration, concurrency=args.concurrency, **spec)
            print(f"{name}: {phase.label or 'closed loop'} ...", flush=True)
            wait = phase.warmup + phase.duration + DRAIN + 60
            result: Result = load.call("run", wait=wait, spec=phase)
            server.check_alive()
            phases.append(result)
            return result

        baseline = run("baseline", BASELINE_PATH, json_headers, warmup=args.warmup)
        intake = run("intake", http.INTAKE_PATH, intake_headers, warmup=args.warmup)
        half = None
        rates = [("half baseline", baseline.rate / 2)]
        rates += [("half intake", intake.rate / 2)] if args.diagnostic else []
        for label, rate in filter(lambda pair: pair[1] > 0, rates):
            warmup = min(args.warmup, 2.0)
            result = run("intake", http.INTAKE_PATH, intake_headers, warmup=warmup, rate=rate,
                         label=label)  # fmt: skip
            half = half or result

    ratio = intake.rate / baseline.rate if baseline.rate else 0.0
    p99 = half.latency_ms["p99"] if half else math.nan
    config = machine | dict(
        workers=WORKERS, pool_min=POOL[0], pool_max=POOL[1], layer=args.redis_url or "in-memory",
        client_loop=load.loop_name, packages=len(templates), concurrency=args.concurrency,
        duration=args.duration, settings=args.settings,
    )  # fmt: skip
    figures: dict[str, Any] = {
        "started_at": started_at, "config": config, "phases": [asdict(phase) for phase in phases],
        "verdict": {
            "ratio": round(ratio, 3), "half_load_rate": baseline.rate / 2,
            "ratio_pass": ratio >= RATIO_TARGET and baseline.sent == baseline.ok
            and intake.sent == intake.ok,
            "half_load_achieved": half.rate if half else 0.0, "half_load_p99_ms": p99,
            "p99_pass": half is not None and half.sent == half.ok and p99 < P99_TARGET_MS,
        },
    }  # fmt: skip
    verdict = figures["verdict"]
    passed = verdict["ratio_pass"] and verdict["p99_pass"]
    return report.finish(render(figures), figures, args.json, passed)


if __name__ == "__main__":
    report.run_main(main)
