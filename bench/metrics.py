"""The metrics page and its exports on 200,000 cases (``--cases``: 2,000,000) beside a COUNT(*),
read through the daily rollups the backfill writes after seeding (bench/README.md)."""

from __future__ import annotations

import random
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib import db, inprocess, procs, report, seed

P95_TARGET_MS = 500.0
BASELINE_SQL = "SELECT COUNT(*) FROM cases_case"
CSV_TABLES = ["queues", "integrations", "overrides", "confusion", "misroutes", "volume"]
REASONS = ["", "", "customer meant the other one", "wrong product area", "two issues, main one"]


# --- seeding: COPY in handoff order, so pk order is time order as on a live desk ---------------


def seed_desk(args: Any) -> dict[str, Any]:
    from django.contrib.auth.models import Group, User
    from django.db import transaction
    from django.utils import timezone

    from bench.lib import app

    started, rng, now = time.perf_counter(), random.Random(args.seed), timezone.now()
    ids = seed.desk(60)
    supervisor = User.objects.create_user(
        "bench-supervisor", first_name="Sam", last_name="Supervisor"
    )
    supervisor.groups.add(Group.objects.get(name="supervisor"))
    print(f"generating {args.cases:,} cases over {args.days} days ...", flush=True)
    kept = seed.cases(rng, args.cases, args.days, now, ids)
    print(f"  {args.corrections:,} intent corrections, their transcripts, {args.csat:,} CSAT ...")
    claimed = [row for row in kept if row[2] is not None]
    twice = args.corrections // 7
    corrected = rng.sample(claimed, min(args.corrections - twice, len(claimed)))
    second = set(rng.sample(range(len(corrected)), min(twice, len(corrected))))
    corrections: list[tuple[Any, ...]] = []
    current: list[tuple[int, str]] = []  # each corrected case's intent after its last correction
    for index, (case_id, _, case_claimed, _, detected) in enumerate(corrected):
        area = (detected or "general.").split(".")[0]
        family = [i for i in seed.INTENTS if i.split(".")[0] == area]
        first_to = rng.choice(
            [i for i in (family if rng.random() < 0.6 else seed.INTENTS) if i != detected]
        )
        at = min(case_claimed + timedelta(seconds=rng.uniform(30, 900)), now)
        agent = None if rng.random() < 0.03 else rng.choice(ids["staff"])
        corrections.append((case_id, detected, first_to, agent, rng.choice(REASONS), at))
        last = first_to
        if index in second:
            last = rng.choice([i for i in seed.INTENTS if i not in {first_to, detected}])
            later = min(at + timedelta(seconds=rng.uniform(60, 3600)), now)
            corrections.append((case_id, first_to, last, agent, "second look", later))
        current.append((case_id, last))
    corrections.sort(key=lambda row: row[5])  # written as they happen: pk order = time order
    resolved = [row for row in kept if row[3] is not None]
    csat_cases = sorted(rng.sample(resolved, min(args.csat, len(resolved))), key=lambda r: r[3])
    scores = rng.choices([1, 2, 3, 4, 5], weights=[8, 7, 15, 30, 40], k=len(csat_cases))

    def csat_rows() -> Any:
        for case, score in zip(csat_cases, scores, strict=True):
            comment = "" if rng.random() < 0.8 else "quick and friendly"
            at = min(case[3] + timedelta(minutes=rng.uniform(1, 600)), now)
            yield case[0], score, comment, at, at

    with transaction.atomic():
        columns = "case_id from_intent to_intent agent_id reason created_at"
        db.copy_rows("cases_intentcorrection", columns.split(), corrections)
        db.execute("CREATE TEMP TABLE bench_current (id bigint, intent text) ON COMMIT DROP")
        db.copy_rows("bench_current", ["id", "intent"], current)
        db.execute("UPDATE cases_case c SET current_intent = b.intent FROM bench_current b "
                   "WHERE c.id = b.id")  # fmt: skip
        columns = "case_id score comment created_at updated_at"
        db.copy_rows("cases_csatresponse", columns.split(), csat_rows())
        seed.transcripts(3, "c.id IN (SELECT case_id FROM cases_intentcorrection)")
    seconds = time.perf_counter() - started
    print("  rolling up the history (manage.py metrics_rollups) ...", flush=True)
    rolled = time.perf_counter()
    if not args.no_rollups:  # yesterday's cases resolved minutes ago stay read directly
        app.metrics_rollups_backfill()
    rolled = time.perf_counter() - rolled
    print("  VACUUM ANALYZE ...", flush=True)
    db.execute("VACUUM ANALYZE")
    today = timezone.localdate()
    windows = {
        f"{days}d": datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), UTC)
        for days in (30, 60)
    }
    rows_in = db.counts(
        "cases_intentcorrection",
        "cases_csatresponse",
        "cases_message",
        "cases_metricsrollup",
        "cases_metricsduration",
    )
    return {
        "supervisor_id": supervisor.pk, "cases": int(db.scalar(BASELINE_SQL)),
        "corrections": rows_in["cases_intentcorrection"], "corrected_twice": len(second),
        "csat": rows_in["cases_csatresponse"], "messages": rows_in["cases_message"],
        "in_windows": {k: int(db.scalar("SELECT count(*) FROM cases_case WHERE handed_off_at "
                                        ">= %s", [start])) for k, start in windows.items()},
        "seconds": seconds, "rollup_seconds": rolled,
        "rollup_rows": rows_in["cases_metricsrollup"],
        "duration_rows": rows_in["cases_metricsduration"],
    }  # fmt: skip


# --- measuring --------------------------------------------------------------------------------


def request(item: inprocess.Item, client: Any) -> tuple[int, int]:
    """One request, its (streamed) body read to the end, or the baseline's COUNT(*): (status,
    bytes), the pooled connection taken and given back as around a request."""
    from django.db import close_old_connections

    if item.baseline:
        status, size = 200, len(str(db.scalar(BASELINE_SQL)))
    else:
        response = client.get(item.path)
        status = response.status_code
        if response.streaming:
            size = sum(len(chunk) for chunk in response.streaming_content)
            response.close()
        else:
            size = len(response.content)
    close_old_connections()
    return status, size


def describe(config: dict[str, Any], seeded: dict[str, Any]) -> list[str]:
    return [
        "server : in process, django.test.Client (WSGI handler), logged in as a supervisor; "
        "PostgreSQL's work_mem {work_mem}, shared_buffers {shared_buffers}; DEBUG off".format(
            **config
        ),
        f"data   : {seeded['cases']:,} cases over {config['days']} days "
        f"({seeded['in_windows']['30d']:,} in the last 30, {seeded['in_windows']['60d']:,} in "
        f"60), {seeded['corrections']:,} intent corrections ({seeded['corrected_twice']:,} "
        f"cases twice), {seeded['csat']:,} CSAT, {seeded['messages']:,} messages; seeded in "
        f"{seeded['seconds']:.0f} s; rolled up in {seeded['rollup_seconds']:.0f} s "
        f"({seeded['rollup_rows']:,} count rows, {seeded['duration_rows']:,} histogram rows)",
        f"load   : {config['warmup']} warm-up round(s), then {config['repeats']} rounds over the "
        "items (round robin), one at a time; queries and SQL time of one request each",
    ]


def main() -> int:
    parser = db.arguments(
        "Metrics page and export server time on --cases cases, beside a COUNT(*).",
        "handoff_bench_metrics",
        wait_quiet=60.0,
    )
    add = parser.add_argument
    add("--cases", type=int, default=200_000, help="cases (200,000; 2,000,000 for #18)")
    add("--no-rollups", action="store_true", help="no backfill: every figure read directly")
    add("--days", type=int, default=60, help="days they span (60)")
    add("--corrections", type=int, default=20_000, help="intent corrections (20,000)")
    add("--csat", type=int, default=50_000, help="CSAT responses (50,000)")
    add("--repeats", type=int, default=10, help="measured rounds over the items (10)")
    add("--warmup", type=int, default=1, help="warm-up rounds (1)")
    add("--seed", type=int, default=11, help="random seed for the data")
    args = parser.parse_args()
    if args.cases < 1000 or args.days < 31 or args.repeats < 1:
        parser.error("--cases >= 1000, --days >= 31 and --repeats >= 1, please")
    started_at = report.utc_timestamp()
    with inprocess.django_here(args) as machine:
        return run(args, started_at, machine)


def run(args: Any, started_at: str, machine: dict[str, Any]) -> int:
    from django.contrib.auth.models import User
    from django.test import Client
    from django.utils import timezone

    seeded = seed_desk(args)
    print(f"seeded in {seeded['seconds']:.0f} s: {seeded['cases']:,} cases", flush=True)
    client = Client()
    client.force_login(User.objects.get(pk=seeded["supervisor_id"]))
    today = timezone.localdate()
    sixty = f"/metrics/?from={today - timedelta(days=59)}&to={today}"
    Item = inprocess.Item
    items = [
        Item("COUNT(*) (baseline)", BASELINE_SQL, baseline=True),
        Item("page, 30 days", "/metrics/", held=True),
        Item("page, 60 days", sixty, held=True),
        *(Item(f"{table}.csv", f"/metrics/{table}.csv") for table in CSV_TABLES),
        Item("intent-corrections.jsonl", "/metrics/intent-corrections.jsonl"),
    ]
    for item in items:  # a first request each: 200, or stop here
        if (status := request(item, client)[0]) != 200:
            raise SystemExit(f"{item.path} answered {status}, not 200")
    quiet = procs.wait_for_quiet(args.wait_quiet, args.database_name)
    print(f"measuring {len(items)} items: {args.repeats} rounds ...", flush=True)

    def timed(item: inprocess.Item) -> tuple[int, float]:
        started = time.perf_counter()
        status, item.bytes = request(item, client)
        return status, (time.perf_counter() - started) * 1000

    cpu = inprocess.measure(items, timed, args.repeats, args.warmup, args.database_name)
    for item in items:
        inprocess.profile(item, partial(request, item, client))
    config = machine | dict(
        work_mem=db.scalar("SHOW work_mem"), shared_buffers=db.scalar("SHOW shared_buffers"),
        repeats=args.repeats, warmup=args.warmup, days=args.days,
    )  # fmt: skip
    db.close_connections()
    figures: dict[str, Any] = {
        "started_at": started_at, "config": config, "seeded": seeded,
        "items": [asdict(item) | {"samples": []} for item in items],
        "cpu": cpu | {"other_cores_before": round(quiet, 3)},
        "notes": [
            f"p95 is the nearest rank of {args.repeats} samples: under 20 that is the slowest. The "
            "exports use the default window (30 days); JSONL is read to the end inside the timing."
        ],
    }  # fmt: skip
    text = describe(config, seeded)
    return inprocess.finish("metrics benchmark", figures, text, P95_TARGET_MS, 0.0, args.json)


if __name__ == "__main__":
    report.run_main(main)
