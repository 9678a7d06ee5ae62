"""Contested claims from 32 agents beside a raw SKIP LOCKED loop (bench/README.md)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib import db, procs, report
from bench.lib.stats import summary

P99_TARGET_MS = 50.0
RATIO_TARGET = 0.5
HUGE_CAPACITY = 2_000_000_000  # no run reaches it
WORKING = [f"work-{n}" for n in range(1, 5)]
RAW = [f"raw-{n}" for n in range(1, 5)]
HOLDING = "hold"
HELD = "held"  # cases not yet handed off (steady mode): a status no query of the desk reads
RESOLVE_AFTER_SECONDS = 2.0
VACUUMED = ("cases_case", "queues_membership")
CORES = ("client_cores", "postgres_cores", "other_cores", "machine_cores")
RAW_SQL = """
UPDATE cases_case SET status = 'assigned', assignee_id = %s
WHERE id = (SELECT id FROM cases_case WHERE queue_id = %s AND status = 'waiting'
            ORDER BY priority DESC, sla_due_at, id FOR UPDATE SKIP LOCKED LIMIT 1)
RETURNING id
"""


@dataclass
class Sample:
    kind: str  # "take_next", "claim" or "raw"
    outcome: str  # "claimed", "lost", "empty" or "error"
    started: float
    ms: float


@dataclass
class Phase:
    name: str
    threads: int
    operations: int = 0
    measured: int = 0
    elapsed: float = 0.0
    ops_per_s: float = 0.0
    claims_per_s: float = 0.0
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)


def summarize(
    name: str, threads: int, samples: list[Sample], warmup: int, cpu: Any, errors: list[str]
) -> Phase:
    """Figures over the samples after the warm-up (the first ``warmup`` calls to start)."""
    ordered = sorted(samples, key=lambda s: s.started)
    measured = ordered[warmup:] if len(ordered) > warmup else ordered
    cpu = {key: cpu[key] for key in CORES}
    phase = Phase(name, threads, len(samples), len(measured), cpu=cpu, errors=errors[:20])
    if not measured:
        return phase
    phase.elapsed = round(max(s.started + s.ms / 1000 for s in measured) - measured[0].started, 3)
    phase.ops_per_s = round(len(measured) / phase.elapsed, 1) if phase.elapsed else 0.0
    claimed = sum(1 for s in measured if s.outcome == "claimed")
    phase.claims_per_s = round(claimed / phase.elapsed, 1) if phase.elapsed else 0.0
    by_kind: dict[str, list[Sample]] = defaultdict(list)
    for sample in measured:
        by_kind[sample.kind].append(sample)
        if sample.kind != "raw":
            by_kind["claim path"].append(sample)
    for kind, group in by_kind.items():
        phase.latency[kind] = {"n": len(group)} | summary(s.ms for s in group)
        phase.outcomes[kind] = dict(Counter(s.outcome for s in group))
    return phase


# --- seeding ----------------------------------------------------------------------------------


@dataclass
class Seeded:
    agents: list[int]
    raw_agents: list[int]  # the raw loop's assignees: other users, so no agent's open work grows
    working: list[int]
    raw: list[int]
    holding: int


def seed(args: Any, orm_cases: int, raw_cases: int) -> Seeded:
    """4 working queues, agents each a member of ``--queues-per-agent`` of them with a capacity
    no run reaches, the cases the run needs, and cases for the raw loop in 4 queues of its own."""
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from bench.lib import app

    rng, now, counter = random.Random(args.seed), timezone.now(), itertools.count()
    queues = {
        slug: app.Queue.objects.create(slug=slug, name=slug.title(), sla_seconds=600, sort_order=i)
        for i, slug in enumerate([*WORKING, *RAW, HOLDING])
    }
    integration, _ = app.integration_create(name="bench-bot")  # no callback URL: no deliveries
    group = Group.objects.get(name="agent")
    agents = []
    for number in range(args.threads):
        agent = User.objects.create_user(f"agent{number:02d}", first_name=f"Agent {number}")
        agent.groups.add(group)
        agents.append(agent.pk)
        app.Membership.objects.bulk_create(
            app.Membership(agent=agent, queue=queues[WORKING[(number + k) % len(WORKING)]],
                           capacity=HUGE_CAPACITY)
            for k in range(args.queues_per_agent)
        )  # fmt: skip
    raw_agents = [User.objects.create_user(f"raw{number:02d}").pk for number in range(args.threads)]

    def cases(count: int, slugs: list[str], status: str = "waiting") -> None:
        batch: list[Any] = []
        for index in range(count):
            number, queue = next(counter), queues[slugs[index % len(slugs)]]
            handed = now - timedelta(seconds=rng.uniform(0, 3600))
            batch.append(app.Case(
                integration=integration, external_id=f"conv-{number:07d}", channel="web_chat",
                queue=queue, routed_queue=queue, customer_name=f"Customer {number}",
                priority=rng.choices([0, 1, 2, 3], weights=[15, 60, 20, 5])[0],
                customer_ref=f"cus_{number}", detected_intent="billing.refund",
                current_intent="billing.refund", trigger_reason="customer_request",
                handed_off_at=handed, sla_due_at=handed + timedelta(seconds=queue.sla_seconds),
                status=status,
            ))  # fmt: skip
            if len(batch) >= 5000:
                app.Case.objects.bulk_create(batch)
                batch = []
        app.Case.objects.bulk_create(batch)

    print(f"seeding {orm_cases:,} cases for the claim path, {raw_cases:,} for the raw loop ...")
    cases(orm_cases, [HOLDING], HELD)
    cases(raw_cases, RAW)
    return Seeded(
        agents, raw_agents, [queues[s].pk for s in WORKING], [queues[s].pk for s in RAW],
        queues[HOLDING].pk,
    )  # fmt: skip


class Recent:
    """The newest waiting cases, handed out so about ``contention`` claimers race for each: the
    case an agent sees appear on the queue page and clicks at once."""

    LAG = 64  # how far behind the newest case the race may fall before it skips ahead

    def __init__(self, contention: int) -> None:
        self.ids: list[int] = []
        self.cursor, self.slot, self.contention = -1, 0, contention
        self.lock = threading.Lock()

    def extend(self, ids: list[int]) -> None:
        with self.lock:
            self.ids.extend(ids)

    def next_target(self) -> int | None:
        """The case to race for, or None when every recent case has been handed out."""
        with self.lock:
            if self.slot % self.contention == 0:
                self.cursor = max(self.cursor + 1, len(self.ids) - self.LAG)
            self.slot += 1
            return self.ids[self.cursor] if self.cursor < len(self.ids) else None


class Desk(threading.Thread):
    """Keeps each working queue ``depth`` cases deep, moving the oldest held cases in (they
    become the newest of the queue: the contested ones), and resolves claimed cases after 2 s,
    so neither the queues nor the agents' open work grow without end."""

    def __init__(self, url: str, seeded: Seeded, depth: int, recent: Recent) -> None:
        super().__init__(name="desk", daemon=True)
        self.url, self.seeded, self.depth, self.recent = url, seeded, depth, recent
        self.stop = threading.Event()
        self.held: list[int] = []
        self.moved = self.resolved = self.rounds = 0
        self.error = ""

    def top_up(self, conn: Any) -> None:
        waiting = dict.fromkeys(self.seeded.working, 0) | dict(conn.execute(
            "SELECT queue_id, count(*) FROM cases_case WHERE queue_id = ANY(%s) "
            "AND status = 'waiting' GROUP BY queue_id", [self.seeded.working],
        ).fetchall())  # fmt: skip
        for queue_id, count in waiting.items():
            batch = self.held[self.moved : self.moved + max(self.depth - count, 0)]
            if batch:
                ids = conn.execute(
                    "UPDATE cases_case SET queue_id = %s, routed_queue_id = %s, status = 'waiting',"
                    " handed_off_at = now(), sla_due_at = now() + interval '10 minutes' "
                    "WHERE id = ANY(%s) RETURNING id", [queue_id, queue_id, batch],
                ).fetchall()  # fmt: skip
                self.recent.extend(sorted(int(row[0]) for row in ids))
                self.moved += len(ids)

    def fill(self) -> None:
        """The first top-up, before the agents start."""
        import psycopg

        with psycopg.connect(db.conninfo(self.url), autocommit=True) as conn:
            self.held = [row[0] for row in conn.execute(
                "SELECT id FROM cases_case WHERE queue_id = %s AND status = %s ORDER BY id",
                [self.seeded.holding, HELD],
            ).fetchall()]  # fmt: skip
            self.top_up(conn)

    def run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(db.conninfo(self.url), autocommit=True) as conn:
                while not self.stop.wait(0.2):
                    self.top_up(conn)
                    self.resolved += conn.execute(
                        "UPDATE cases_case SET status = 'resolved', resolved_at = now(), "
                        "resolution_code = 'solved', version = version + 1 WHERE queue_id = "
                        "ANY(%s) AND status = 'assigned' AND first_claimed_at < now() - "
                        "make_interval(secs => %s)", [self.seeded.working, RESOLVE_AFTER_SECONDS],
                    ).rowcount or 0  # fmt: skip
                    self.rounds += 1
        except Exception as failure:  # reported beside the figures; the run goes on
            self.error = repr(failure)


# --- the claim path: the services from 32 threads, as the ASGI server runs sync views ----------


async def gather(*calls: Any) -> None:
    await asyncio.gather(*calls)


class ClaimRun:
    """Each agent a thread of its own (``sync_to_async`` with a one-thread executor) under one
    event loop, so the live event after each commit goes through ``async_to_sync`` to that loop
    and the channel layer, as in the server; each keeps its pooled connection to the end."""

    def __init__(self, args: Any, seeded: Seeded, recent: Recent, operations: int) -> None:
        self.args, self.seeded, self.recent, self.operations = args, seeded, recent, operations
        self.counter = itertools.count()
        self.deadline = time.perf_counter() + args.max_seconds
        self.timed_out = False
        self.samples: list[Sample] = []
        self.claimed: list[tuple[int, int]] = []
        self.errors: list[str] = []

    def agent_loop(self, index: int) -> None:
        from django.contrib.auth.models import User
        from django.db import connection

        from bench.lib import app

        rng = random.Random(self.args.seed * 1000 + index)
        agent = User.objects.get(pk=self.seeded.agents[index])
        tried: set[int] = set()  # a claim of a case one already held is a no-op success
        every = max(self.operations // 10, 1)
        try:
            while (number := next(self.counter)) < self.operations:
                if number and number % every == 0:
                    print(f"  {number:,}/{self.operations:,} calls", flush=True)
                if time.perf_counter() > self.deadline:
                    self.timed_out = True
                    break
                target = None
                if rng.random() >= self.args.take_next_share:
                    for _ in range(4 * self.args.contention):
                        target = self.recent.next_target()
                        if target is None or target not in tried:
                            break
                    target = None if target in tried else target  # nothing new: take next
                kind, outcome, case_id = "take_next" if target is None else "claim", "claimed", None
                started = time.perf_counter()
                try:
                    if target is None:
                        case = app.case_take_next(agent=agent)
                        outcome = "empty" if case is None else outcome
                        case_id = None if case is None else case.pk
                    else:
                        tried.add(target)
                        app.case_claim(case_id=target, agent=agent)
                        case_id = target
                except app.CaseActionError:
                    outcome = "lost"
                except Exception as failure:
                    outcome = "error"
                    self.errors.append(f"{kind}: {failure!r}")
                self.samples.append(
                    Sample(kind, outcome, started, (time.perf_counter() - started) * 1000)
                )
                if case_id is not None:
                    tried.add(case_id)
                    self.claimed.append((case_id, agent.pk))
        finally:
            connection.close()  # back to the pool

    def run(self, database: str) -> dict[str, float]:
        """Runs the agents; the cores used meanwhile."""
        from asgiref.sync import sync_to_async
        from channels.layers import get_channel_layer

        loop = procs.new_loop()
        executors = [ThreadPoolExecutor(1) for _ in self.seeded.agents]
        calls = [
            sync_to_async(self.agent_loop, thread_sensitive=False, executor=executor)(i)
            for i, executor in enumerate(executors)
        ]
        before = procs.snapshot([], database)
        try:
            loop.run_until_complete(gather(*calls))
            layer = get_channel_layer()  # its connections belong to this loop: close them on it
            if layer is not None and hasattr(layer, "flush"):
                with contextlib.suppress(Exception):
                    loop.run_until_complete(layer.flush())
        finally:
            for executor in executors:
                executor.shutdown(wait=True)
            loop.close()
        return procs.cpu_use(before, procs.snapshot([], database))


def raw_loop(url: str, seeded: Seeded, operations: int, warmup: int, database: str) -> Any:
    """The baseline; CPU is read once every thread is connected and again before any
    disconnects, so the backends' CPU is counted."""
    import psycopg

    counter, threads = itertools.count(), len(seeded.agents)
    samples: list[Sample] = []
    ids: list[int] = []
    errors: list[str] = []
    snapshots: list[procs.Snapshot] = []
    start = threading.Barrier(
        threads, action=lambda: snapshots.append(procs.snapshot([], database))
    )
    done = threading.Barrier(threads, action=lambda: snapshots.append(procs.snapshot([], database)))

    def worker(index: int) -> None:
        agent, queue = seeded.raw_agents[index], seeded.raw[index % len(seeded.raw)]
        with psycopg.connect(db.conninfo(url), autocommit=True) as conn:
            start.wait()
            while next(counter) < operations:
                started = time.perf_counter()
                try:
                    row = conn.execute(RAW_SQL, [agent, queue]).fetchone()
                    outcome = "claimed" if row else "empty"
                except Exception as failure:
                    row, outcome = None, "error"
                    errors.append(repr(failure))
                samples.append(
                    Sample("raw", outcome, started, (time.perf_counter() - started) * 1000)
                )
                if row:
                    ids.append(int(row[0]))
            done.wait()

    running = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return summarize("raw loop", threads, samples, warmup, procs.cpu_use(*snapshots), errors), ids


def verify(url: str, seeded: Seeded, claimed: list[tuple[int, int]], raw: list[int]) -> Any:
    """What the database says, against what the threads saw (only the claim path writes
    ``claimed`` events; claimed cases may have been resolved since)."""
    taken = dict(
        db.pg_rows(
            url,
            "SELECT id, assignee_id FROM cases_case WHERE queue_id = ANY(%s) "
            "AND status IN ('assigned', 'resolved')",
            [[*seeded.working, seeded.holding]],
        )
    )
    events = db.pg_rows(url, "SELECT case_id, actor_id FROM cases_caseevent WHERE kind = 'claimed'")
    actor, given = dict(events), defaultdict(set)
    for case_id, agent_id in claimed:
        given[case_id].add(agent_id)
    found: dict[str, Any] = {
        "successful_calls": len(claimed), "claimed_cases_in_db": len(taken),
        "claimed_events_in_db": len(events), "second_claimed_events": len(events) - len(actor),
        "cases_two_agents_were_given": sum(1 for agents in given.values() if len(agents) > 1),
        "same_agent_reported_twice": len(claimed) - len(given),  # a harness slip
        "assignee_disagrees_with_event": sum(actor.get(c, a) != a for c, a in taken.items()),
        "claimed_without_event": sum(1 for case_id in taken if case_id not in actor),
        "claimed_without_assignee": sum(1 for agent_id in taken.values() if agent_id is None),
        "pairs_match": set(taken.items()) == set(claimed),
    }  # fmt: skip
    counted = len(taken) == len(claimed) == len(events)
    zero = [v for k, v in found.items() if k not in ("successful_calls", "pairs_match")
            and not k.endswith("_in_db")]  # fmt: skip
    found["ok"] = found["pairs_match"] and counted and not any(zero)
    sql = "SELECT count(*) FROM cases_case WHERE queue_id = ANY(%s) AND status = 'assigned'"
    assigned = int(db.pg(url, sql, [seeded.raw]))
    distinct = len(set(raw))
    raw_checks = {"successful_statements": len(raw), "distinct_ids": distinct,
                  "assigned_in_db": assigned, "ok": distinct == len(raw) == assigned}  # fmt: skip
    return {"claim_path": found, "raw": raw_checks}


def render(figures: dict[str, Any]) -> str:
    config, verdict, checks = figures["config"], figures["verdict"], figures["checks"]
    phases = [Phase(**phase) for phase in figures["phases"]]
    lines = report.header(
        "claims benchmark", figures,
        "setup  : {threads} agents, {queues_per_agent} of 4 working queues each, kept {depth:,} "
        "deep; take-next share {take_next_share:.0%}, ~{contention} threads per contested case\n"
        "         psycopg pool {pool}, channel layer {layer}; the threads share one GIL"
        .format(**config),
        "",
    )  # fmt: skip
    lines += report.table(
        "phase<12|calls>9,|measured>10,|secs>8.1f|calls/s>10,.0f|claims/s>10,.0f"
        "|   cores: python>16.2f|pg>6.2f|other>7.2f|machine>9.2f",
        [(p.name, p.operations, p.measured, p.elapsed, p.ops_per_s, p.claims_per_s,
          *(p.cpu[key] for key in CORES)) for p in phases],
    )  # fmt: skip
    lines += ["", *report.table(
        "latency<26|calls>9,|p50 ms>9.2f|p90 ms>9.2f|p99 ms>9.2f|max ms>9.2f",
        [(f"{p.name}: {kind}", *p.latency[kind].values()) for p in phases
         for kind in ("claim path", "take_next", "claim", "raw") if kind in p.latency], "  ",
    )]  # fmt: skip
    for p in phases:
        listed = "; ".join(f"{kind}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(out.items()))
                           for kind, out in p.outcomes.items() if kind != "claim path")  # fmt: skip
        lines.append(f"  outcomes, {p.name}: {listed}")
        lines += [f"  error in {p.name}: {error}" for error in p.errors[:5]]
    for name in ("claim_path", "raw"):
        listed = ", ".join(f"{k} {v}" for k, v in checks[name].items() if k != "ok")
        lines.append(f"database checks, {name.replace('_', ' ')}: {listed}")
    desk = figures["desk"]
    lines.append("desk thread: {moved:,} cases moved in, {resolved:,} resolved, {rounds:,} rounds; "
                 "error: {error}".format(**desk))  # fmt: skip
    lines += [
        "",
        f"double claims: {verdict['double_claims']} (target 0) "
        f"{report.verdict(verdict['double_claims_pass'])}",
        f"claim path p99: {verdict['p99_ms']:.2f} ms (target < {P99_TARGET_MS:.0f} ms) "
        f"{report.verdict(verdict['p99_pass'])}",
        f"claim path / raw loop: {verdict['ratio']:.2f} calls/s (target >= {RATIO_TARGET}) "
        f"{report.verdict(verdict['ratio_pass'])}; claims/s {verdict['claims_ratio']:.2f}",
    ]  # fmt: skip
    others = {p.name: p.cpu["other_cores"] for p in phases}
    return "\n".join(lines + report.notes(figures["notes"], others))


def main() -> int:
    parser = db.arguments(
        "Contested claims and take-next from 32 agents, beside a raw SKIP LOCKED loop.",
        "handoff_bench_claims",
        redis=db.SHARED_REDIS,
        wait_quiet=60.0,
    )
    add = parser.add_argument
    add("--operations", type=int, default=100_000, help="claim-path calls (100,000)")
    add("--threads", type=int, default=32, help="agents/threads (32)")
    add("--queues-per-agent", type=int, default=2, help="working queues per agent (2 of 4)")
    add("--take-next-share", type=float, default=0.5, help="share of take-next calls (0.5)")
    add("--contention", type=int, default=4, help="threads racing per contested case (4)")
    add("--queue-depth", type=int, default=2000, help="waiting cases kept per queue (2,000)")
    add("--warmup", type=int, default=1000, help="calls left out of the figures (1,000)")
    add("--max-seconds", type=float, default=360.0, help="stop the claim path after (360)")
    add("--seed", type=int, default=11, help="random seed")
    args = parser.parse_args()
    if min(args.operations, args.threads, args.contention) < 1:
        parser.error("--operations, --threads and --contention must be positive")
    if not 0.0 <= args.take_next_share <= 1.0:
        parser.error("--take-next-share is between 0 and 1")
    started_at = report.utc_timestamp()
    db_url = db.database_url(args.database_url, args.database_name)
    # Every agent thread keeps one connection for the run: the pool must hold them all.
    env = db.environment(db_url, settings=args.settings, redis_url=args.redis_url,
                         pool=(args.threads, args.threads + 4))  # fmt: skip
    machine = report.machine(db.prepare(args, env))
    db.setup_django()
    from django.conf import settings

    # Cases the claim path can use up: every take-next and about one in `contention` claims,
    # plus the queues' depth and a margin.
    take_next = int(args.operations * args.take_next_share)
    contested = (args.operations - take_next) // args.contention
    orm_cases = int((take_next + contested) * 1.1) + 1000
    orm_cases += args.queue_depth * len(WORKING)
    seeded = seed(args, orm_cases, args.operations + args.warmup + 1000)
    db.close_connections()
    db.vacuum_analyze(db_url, *VACUUMED)
    total = args.operations + args.warmup
    procs.wait_for_quiet(args.wait_quiet, args.database_name)
    print(f"raw loop: {args.threads} threads, {total:,} statements ...", flush=True)
    raw, raw_ids = raw_loop(db_url, seeded, total, args.warmup, args.database_name)
    db.vacuum_analyze(db_url, *VACUUMED)  # as autovacuum would; the claim path starts clean

    recent = Recent(args.contention)
    desk = Desk(db_url, seeded, args.queue_depth, recent)
    desk.fill()
    db.vacuum_analyze(db_url, *VACUUMED)
    procs.wait_for_quiet(args.wait_quiet, args.database_name)
    print(f"claim path: {args.threads} agents, {total:,} calls ...", flush=True)
    desk.start()
    run = ClaimRun(args, seeded, recent, total)
    try:
        cpu = run.run(args.database_name)
        orm = summarize("claim path", args.threads, run.samples, args.warmup, cpu, run.errors)
    finally:
        desk.stop.set()
        desk.join(10)
    checks = verify(db_url, seeded, run.claimed, raw_ids)
    found = checks["claim_path"]
    double = found["second_claimed_events"] + found["cases_two_agents_were_given"]
    ratio = orm.ops_per_s / raw.ops_per_s if raw.ops_per_s else 0.0
    p99 = orm.latency.get("claim path", {}).get("p99", float("nan"))
    verdict = {
        "double_claims": double, "p99_ms": p99, "p99_pass": p99 < P99_TARGET_MS,
        "double_claims_pass": double == 0 and found["ok"] and checks["raw"]["ok"],
        "ratio": round(ratio, 3), "ratio_pass": ratio >= RATIO_TARGET,
        "claims_ratio": round(orm.claims_per_s / raw.claims_per_s, 3) if raw.claims_per_s else 0,
    }  # fmt: skip
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool", {})
    config = machine | dict(
        threads=args.threads, queues_per_agent=args.queues_per_agent, depth=args.queue_depth,
        take_next_share=args.take_next_share, contention=args.contention,
        operations=args.operations, warmup=args.warmup, layer=args.redis_url or "in-memory",
        pool=f"min {pool.get('min_size')} / max {pool.get('max_size')}",
    )  # fmt: skip
    notes = [
        "calls/s counts every call, a contested claim that loses as well; claims/s only those "
        "that took a case. Latency is each call's own time, the live event after the commit in.",
    ]
    if run.timed_out:
        notes.insert(0, f"The claim path stopped at --max-seconds after {orm.operations:,} calls.")
    figures: dict[str, Any] = {
        "started_at": started_at, "config": config, "phases": [asdict(orm), asdict(raw)],
        "checks": checks, "verdict": verdict, "notes": notes,
        "desk": {k: getattr(desk, k) for k in ("moved", "resolved", "rounds", "error")},
    }  # fmt: skip
    db.close_connections()
    passed = verdict["double_claims_pass"] and verdict["p99_pass"] and verdict["ratio_pass"]
    return report.finish(render(figures), figures, args.json, passed)


if __name__ == "__main__":
    report.run_main(main)
