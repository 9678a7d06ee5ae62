"""Contested claims and take-next from 32 agents at once, beside a raw SKIP LOCKED update loop.

    cd /work/main && .venv/bin/python bench/claims.py --operations 100000

What it does, in one run and under one configuration:

1. Drops and recreates a PostgreSQL database (``handoff_bench_claims``), migrates it with
   ``DJANGO_SETTINGS_MODULE=bench.settings`` and seeds, with ``bulk_create``: 4 working queues,
   32 agents (group ``agent``) each a member of ``--queues-per-agent`` of them with a capacity
   no run reaches, the cases the run needs, and as many fresh waiting cases in 4 queues of
   their own for the raw loop (assigned to 32 other users, so no agent's open work grows).
2. Baseline, the raw loop: 32 threads, a psycopg connection each (autocommit), each running
   ``UPDATE cases_case SET status='assigned', assignee_id=%s WHERE id = (SELECT id FROM
   cases_case WHERE queue_id=%s AND status='waiting' ORDER BY priority DESC, sla_due_at, id
   FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING id`` until the operations are done.
3. The claim path: 32 threads, each an agent, each calling ``cases.actions.case_take_next``
   (``--take-next-share`` of the calls) or ``cases.actions.case_claim`` on a contested id (the
   newest waiting cases, each tried by about ``--contention`` threads at once), until the
   operations are done. The threads are run the way the ASGI server runs a sync view: each is
   a thread of its own (``sync_to_async`` with an executor of one thread) under one asyncio
   loop, so the live events published after each commit go through ``async_to_sync`` to that
   loop and the Redis channel layer, as in the server. Each thread keeps its connection (from
   the psycopg pool) and closes it at the end.
4. ``--steady`` (default): a desk thread keeps every working queue ``--queue-depth`` deep
   (moving in cases seeded as ``held``, a status no query of the desk reads, so the newest
   cases are the contested ones) and resolves claimed cases after 2 s, as agents would: queues
   and agents' open work stay the size of a live desk's. ``--no-steady`` seeds every case
   waiting up front and resolves nothing, so queues are large and claimed cases stay open.
5. Verifies from the database: at most one ``claimed`` event per case, claimed cases = claim
   calls that succeeded = claimed events, every claimed case's assignee = its event's actor,
   the same (case, agent) pairs as the threads saw; the raw loop's ids are unique and match.
6. Prints ops/s, p50/p99/max per kind, the ratio, the CPU used (the Python process shares
   the GIL: its 32 threads use at most one core), PASS/FAIL.

Targets: zero double claims; claim-path p99 < 50 ms; claim-path calls/s >= 0.5 x the raw
loop's statements/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing
import os
import pickle
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, astuple, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402  (needs ROOT on sys.path)
    add_database_arguments,
    bench_environment,
    conninfo,
    cpu_snapshot,
    cpu_use,
    database_url,
    percentile,
    prepare_database,
    run_main,
    setup_django,
    use_environment,
    utc_timestamp,
    vacuum_analyze,
    versions,
    wait_for_quiet,
)

BENCH_DB = "handoff_bench_claims"
P99_TARGET_MS = 50.0
RATIO_TARGET = 0.5
HUGE_CAPACITY = 2_000_000_000  # PositiveIntegerField: no run reaches it
WORKING = [f"work-{n}" for n in range(1, 5)]
RAW = [f"raw-{n}" for n in range(1, 5)]
HOLDING = "hold"
# Cases not yet handed off (steady mode): a status no query of the desk reads, so they are in no
# queue's waiting list, as cases still talking to the bot are not.
HELD = "held"
RESOLVE_AFTER_SECONDS = 2.0
SOLO_WARMUP = 50
VACUUMED = ("cases_case", "queues_membership")
DESK_INTERVAL = 0.2
RAW_SQL = """
UPDATE cases_case SET status = 'assigned', assignee_id = %s
WHERE id = (
    SELECT id FROM cases_case
    WHERE queue_id = %s AND status = 'waiting'
    ORDER BY priority DESC, sla_due_at, id
    FOR UPDATE SKIP LOCKED
    LIMIT 1
)
RETURNING id
"""


# --- results ----------------------------------------------------------------------------------


@dataclass
class Sample:
    kind: str  # "take_next", "claim" or "raw"
    outcome: str  # "claimed", "lost", "empty" or "error"
    started: float
    ms: float


@dataclass
class PhaseResult:
    name: str
    threads: int
    operations: int = 0
    measured: int = 0
    elapsed: float = 0.0
    ops_per_s: float = 0.0
    claims_per_s: float = 0.0
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    drift: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)


def summarize(
    name: str, threads: int, samples: list[Sample], warmup: int, cpu: dict[str, float]
) -> PhaseResult:
    """Figures over the samples after the warm-up (the first ``warmup`` calls to start)."""
    ordered = sorted(samples, key=lambda s: s.started)
    measured = ordered[warmup:] if len(ordered) > warmup else ordered
    result = PhaseResult(name=name, threads=threads, operations=len(samples))
    result.measured = len(measured)
    if not measured:
        return result
    first = measured[0].started
    last = max(s.started + s.ms / 1000 for s in measured)
    result.elapsed = round(last - first, 3)
    result.ops_per_s = round(len(measured) / result.elapsed, 1) if result.elapsed else 0.0
    claimed = sum(1 for s in measured if s.outcome == "claimed")
    result.claims_per_s = round(claimed / result.elapsed, 1) if result.elapsed else 0.0
    by_kind: dict[str, list[Sample]] = defaultdict(list)
    for sample in measured:
        by_kind[sample.kind].append(sample)
        if sample.kind != "raw":
            by_kind["claim path"].append(sample)
    for kind, group in by_kind.items():
        times = sorted(s.ms for s in group)
        result.latency[kind] = {
            "n": len(times),
            "p50_ms": round(percentile(times, 50), 2),
            "p90_ms": round(percentile(times, 90), 2),
            "p99_ms": round(percentile(times, 99), 2),
            "max_ms": round(times[-1], 2),
        }
        result.outcomes[kind] = dict(Counter(s.outcome for s in group))
    tenth = max(len(measured) // 10, 1)
    early = sorted(s.ms for s in measured[:tenth])
    late = sorted(s.ms for s in measured[-tenth:])
    result.drift = {
        "first_tenth_p50_ms": round(percentile(early, 50), 2),
        "last_tenth_p50_ms": round(percentile(late, 50), 2),
    }
    result.cpu = cpu
    return result


# --- seeding ----------------------------------------------------------------------------------


@dataclass
class Seeded:
    agents: list[int]
    raw_agents: list[int]  # the raw loop's assignees: other users, so no agent's open work grows
    memberships: dict[int, list[int]]  # agent id -> queue ids
    working: list[int]
    raw: list[int]
    holding: int
    orm_cases: int
    raw_cases: int
    seconds: float


def seed(args: argparse.Namespace, orm_cases: int, raw_cases: int) -> Seeded:
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from cases.models import Case
    from cases.services import integration_create
    from queues.models import Membership, Queue

    started = time.perf_counter()
    rng = random.Random(args.seed)
    queues = {
        slug: Queue.objects.create(slug=slug, name=slug.title(), sla_seconds=600, sort_order=i)
        for i, slug in enumerate([*WORKING, *RAW, HOLDING])
    }
    integration, _ = integration_create(name="bench-bot")  # no callback URL: no deliveries
    group = Group.objects.get(name="agent")
    agents = []
    memberships: dict[int, list[int]] = {}
    for number in range(args.threads):
        agent = User.objects.create_user(f"agent{number:02d}", first_name=f"Agent {number}")
        agent.groups.add(group)
        agents.append(agent)
        picks = [WORKING[(number + k) % len(WORKING)] for k in range(args.queues_per_agent)]
        Membership.objects.bulk_create(
            Membership(agent=agent, queue=queues[slug], capacity=HUGE_CAPACITY) for slug in picks
        )
        memberships[agent.pk] = [queues[slug].pk for slug in picks]
    raw_agents = [User.objects.create_user(f"raw{number:02d}").pk for number in range(args.threads)]

    now = timezone.now()
    counter = itertools.count()

    def cases(count: int, slugs: list[str], status: str = "waiting") -> None:
        batch: list[Case] = []
        for index in range(count):
            number = next(counter)
            queue = queues[slugs[index % len(slugs)]]
            handed = now - timedelta(seconds=rng.uniform(0, 3600))
            batch.append(
                Case(
                    integration=integration,
                    external_id=f"conv-{number:07d}",
                    channel="web_chat",
                    queue=queue,
                    routed_queue=queue,
                    priority=rng.choices([0, 1, 2, 3], weights=[15, 60, 20, 5])[0],
                    customer_name=f"Customer {number}",
                    customer_ref=f"cus_{number}",
                    detected_intent="billing.refund",
                    current_intent="billing.refund",
                    trigger_reason=Case.Trigger.CUSTOMER_REQUEST,
                    handed_off_at=handed,
                    sla_due_at=handed + timedelta(seconds=queue.sla_seconds),
                    status=status,
                )
            )
            if len(batch) >= 5000:
                Case.objects.bulk_create(batch)
                batch = []
        Case.objects.bulk_create(batch)

    print(f"seeding {orm_cases:,} cases for the claim path ...", flush=True)
    if args.steady:
        cases(orm_cases, [HOLDING], HELD)
    else:
        cases(orm_cases, WORKING)
    print(f"seeding {raw_cases:,} cases for the raw loop ...", flush=True)
    cases(raw_cases, RAW)
    return Seeded(
        agents=[a.pk for a in agents],
        raw_agents=raw_agents,
        memberships=memberships,
        working=[queues[s].pk for s in WORKING],
        raw=[queues[s].pk for s in RAW],
        holding=queues[HOLDING].pk,
        orm_cases=orm_cases,
        raw_cases=raw_cases,
        seconds=round(time.perf_counter() - started, 1),
    )


# --- the desk thread: queues refilled, claimed cases resolved --------------------------------


class Desk(threading.Thread):
    """Keeps each working queue ``depth`` waiting cases deep, moving the oldest held cases in
    (they become the newest of the queue: the contested ones), and resolves claimed cases after
    a while, so neither the queues nor the agents' open work grow without end."""

    def __init__(self, url: str, seeded: Seeded, depth: int, recent: Recent) -> None:
        super().__init__(name="desk", daemon=True)
        self.url = url
        self.seeded = seeded
        self.depth = depth
        self.recent = recent
        self.stop = threading.Event()
        self.held: list[int] = []  # the held cases' ids, oldest first: moved in by id, cheaply
        self.moved = 0
        self.resolved = 0
        self.rounds = 0
        self.error = ""

    def top_up(self, conn: Any) -> int:
        rows = conn.execute(
            "SELECT queue_id, count(*) FROM cases_case WHERE queue_id = ANY(%s) "
            "AND status = 'waiting' GROUP BY queue_id",
            [self.seeded.working],
        ).fetchall()
        waiting = {queue_id: 0 for queue_id in self.seeded.working}
        waiting.update({int(q): int(n) for q, n in rows})
        moved = 0
        for queue_id, count in waiting.items():
            short = self.depth - count
            if short <= 0:
                continue
            batch = self.held[self.moved + moved : self.moved + moved + short]
            if not batch:
                break
            ids = conn.execute(
                """
                UPDATE cases_case SET queue_id = %s, routed_queue_id = %s, status = 'waiting',
                       handed_off_at = now(), sla_due_at = now() + interval '10 minutes'
                WHERE id = ANY(%s)
                RETURNING id
                """,
                [queue_id, queue_id, batch],
            ).fetchall()
            self.recent.extend(sorted(int(row[0]) for row in ids))
            moved += len(ids)
        return moved

    def resolve(self, conn: Any) -> int:
        cursor = conn.execute(
            """
            UPDATE cases_case SET status = 'resolved', resolved_at = now(),
                   resolution_code = 'solved', version = version + 1
            WHERE queue_id = ANY(%s) AND status = 'assigned'
              AND first_claimed_at < now() - make_interval(secs => %s)
            """,
            [self.seeded.working, RESOLVE_AFTER_SECONDS],
        )
        return int(cursor.rowcount or 0)

    def fill(self) -> None:
        """The first top-up, before the agents start."""
        import psycopg

        with psycopg.connect(conninfo(self.url), autocommit=True) as conn:
            self.held = [
                int(row[0])
                for row in conn.execute(
                    "SELECT id FROM cases_case WHERE queue_id = %s AND status = %s ORDER BY id",
                    [self.seeded.holding, HELD],
                ).fetchall()
            ]
            self.moved += self.top_up(conn)

    def run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(conninfo(self.url), autocommit=True) as conn:
                while not self.stop.wait(DESK_INTERVAL):
                    self.moved += self.top_up(conn)
                    self.resolved += self.resolve(conn)
                    self.rounds += 1
        except Exception as failure:  # reported beside the figures; the run goes on
            self.error = repr(failure)


# One context for everything shared with agent processes: spawned children (never forked from a
# process with a connection pool's threads) receive these objects as they start.
MP = multiprocessing.get_context("spawn")


class Recent:
    """The newest waiting cases, handed out to claimers so about ``contention`` of them race
    for each: the case an agent sees appear on the queue page and clicks at once. Kept in shared
    memory, so agents in other processes (``--processes``) race for the same cases."""

    def __init__(self, contention: int, capacity: int, lag: int | None = 64) -> None:
        """``lag``: how far behind the newest case the race may fall before it skips ahead
        (None: never skip, for a list filled up front)."""
        self.ids = MP.Array("q", max(capacity, 1), lock=False)
        self.length = MP.Value("q", 0, lock=False)
        self.cursor = MP.Value("q", -1, lock=False)
        self.slot = MP.Value("q", 0, lock=False)
        self.contention = contention
        self.lag = lag
        self.lock = MP.Lock()

    def extend(self, ids: list[int]) -> None:
        with self.lock:
            start = self.length.value
            room = min(len(ids), len(self.ids) - start)
            self.ids[start : start + room] = ids[:room]
            self.length.value = start + room

    def next_target(self) -> int | None:
        """The case to race for, or None when every recent case has been handed out."""
        with self.lock:
            length = self.length.value
            if self.slot.value % self.contention == 0:
                self.cursor.value += 1
                if self.lag is not None:
                    self.cursor.value = max(self.cursor.value, length - self.lag)
            self.slot.value += 1
            cursor = self.cursor.value
            return int(self.ids[cursor]) if cursor < length else None


class SharedCounter:
    """``next()`` over every thread of every agent process: the calls' numbers."""

    def __init__(self) -> None:
        self.value = MP.Value("q", 0)

    def __next__(self) -> int:
        with self.value.get_lock():
            number = int(self.value.value)
            self.value.value = number + 1
        return number


# --- the claim path: Django's services from 32 threads ---------------------------------------


class ClaimRun:
    def __init__(
        self,
        args: argparse.Namespace,
        seeded: Seeded,
        recent: Recent,
        operations: int,
        agents: list[int] | None = None,
        counter: SharedCounter | None = None,
        tried: set[int] | None = None,
    ) -> None:
        """``agents``: indexes of the agents that run, one thread each (default: all);
        ``counter``: the calls' numbers, shared with agents in other processes; ``tried``: cases
        the agents got earlier (a claim of a case one already held is a no-op success)."""
        self.args = args
        self.indexes = list(range(len(seeded.agents))) if agents is None else agents
        self.seeded = seeded
        self.recent = recent
        self.operations = operations
        self.counter = counter or SharedCounter()
        self.tried = tried or set()
        self.deadline = time.perf_counter() + args.max_seconds
        self.timed_out = False
        self.samples: dict[int, list[Sample]] = {i: [] for i in self.indexes}
        self.claimed: dict[int, list[tuple[int, int]]] = {i: [] for i in self.indexes}
        self.errors: list[str] = []

    def agent_loop(self, index: int) -> None:
        """One agent's thread: take next or claim a contested case until the run is done."""
        from django.contrib.auth.models import User
        from django.db import connection

        from cases.actions import CaseActionError, case_claim, case_take_next

        rng = random.Random(self.args.seed * 1000 + index)
        agent = User.objects.get(pk=self.seeded.agents[index])
        samples, claimed = self.samples[index], self.claimed[index]
        tried: set[int] = set(self.tried)
        share = self.args.take_next_share
        progress_every = max(self.operations // 10, 1)
        try:
            while (number := next(self.counter)) < self.operations:
                if number and number % progress_every == 0:
                    print(f"  {number:,}/{self.operations:,} calls", flush=True)
                if time.perf_counter() > self.deadline:
                    self.timed_out = True
                    break
                target = None
                if rng.random() >= share:
                    for _ in range(4 * self.args.contention):
                        target = self.recent.next_target()
                        if target is None or target not in tried:
                            break
                    if target in tried:
                        target = None  # nothing new to race for: take the next case instead
                kind = "take_next" if target is None else "claim"
                started = time.perf_counter()
                outcome = "claimed"
                case_id = None
                try:
                    if target is None:
                        case = case_take_next(agent=agent)
                        if case is None:
                            outcome = "empty"
                        else:
                            case_id = case.pk
                            tried.add(case.pk)  # never "claim" it again: that is a no-op
                    else:
                        tried.add(target)
                        case_claim(case_id=target, agent=agent)
                        case_id = target
                except CaseActionError:
                    outcome = "lost"
                except Exception as failure:
                    outcome = "error"
                    if len(self.errors) < 20:
                        self.errors.append(f"{kind}: {failure!r}")
                elapsed = (time.perf_counter() - started) * 1000
                samples.append(Sample(kind, outcome, started, elapsed))
                if case_id is not None:
                    claimed.append((case_id, agent.pk))
        finally:
            connection.close()  # back to the pool

    async def _run(self) -> None:
        from asgiref.sync import sync_to_async

        executors = {
            i: ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"agent{i:02d}")
            for i in self.indexes
        }
        try:
            await asyncio.gather(
                *(
                    sync_to_async(self.agent_loop, thread_sensitive=False, executor=executor)(i)
                    for i, executor in executors.items()
                )
            )
        finally:
            for executor in executors.values():
                executor.shutdown(wait=True)

    def run(self) -> None:
        loop: asyncio.AbstractEventLoop
        try:
            import uvloop

            loop = uvloop.new_event_loop()
        except ImportError:  # pragma: no cover - uvloop is in the lock file
            loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._run())
            # The channel layer's connections belong to this loop: close them on it (the
            # pub/sub layer's flush closes its connections).
            from channels.layers import get_channel_layer

            layer = get_channel_layer()
            if layer is not None and hasattr(layer, "flush"):
                with contextlib.suppress(Exception):
                    loop.run_until_complete(layer.flush())
        finally:
            loop.close()


# --- the claim path over several processes (--processes) ---------------------------------------


def agent_process(
    args: argparse.Namespace,
    seeded: Seeded,
    recent: Recent,
    counter: SharedCounter,
    indexes: list[int],
    operations: int,
    start: Any,
    done: Any,
    results: Path,
) -> None:
    """One agent process, as one ASGI worker process: its agents' threads under its own loop,
    its own connection pool, its own GIL. Reports its figures through ``results``."""
    os.environ["DB_POOL_MIN_SIZE"] = str(len(indexes))
    os.environ["DB_POOL_MAX_SIZE"] = str(len(indexes) + 4)
    import django

    django.setup()
    apply_code_what_ifs(args.what_if)
    start.wait()  # every process set up: the run starts together
    run = ClaimRun(args, seeded, recent, operations, agents=indexes, counter=counter)
    cpu = time.process_time()
    run.run()
    cpu = time.process_time() - cpu
    with results.open("wb") as out:
        pickle.dump(
            {
                "samples": [astuple(s) for group in run.samples.values() for s in group],
                "claimed": [pair for group in run.claimed.values() for pair in group],
                "errors": run.errors,
                "timed_out": run.timed_out,
                "cpu_seconds": cpu,
            },
            out,
        )
    done.wait()  # the parent reads the machine's CPU once every process is done


@dataclass
class ProcessesRun:
    samples: list[Sample]
    claimed: list[tuple[int, int]]
    errors: list[str]
    timed_out: bool
    cpu: dict[str, float]


def run_in_processes(
    args: argparse.Namespace, seeded: Seeded, recent: Recent, operations: int
) -> ProcessesRun:
    """The claim path's agents spread over ``--processes`` processes (agent i in process
    i mod N), like the server's ASGI worker processes: one GIL each instead of one for all."""
    count = args.processes
    start, done = MP.Barrier(count + 1), MP.Barrier(count + 1)
    counter = SharedCounter()
    with tempfile.TemporaryDirectory(prefix="claims-") as tmp:
        outputs = [Path(tmp) / f"agents-{n}.pickle" for n in range(count)]
        children = [
            MP.Process(
                target=agent_process,
                name=f"agents-{n}",
                args=(
                    args,
                    seeded,
                    recent,
                    counter,
                    list(range(n, len(seeded.agents), count)),
                    operations,
                    start,
                    done,
                    outputs[n],
                ),
            )
            for n in range(count)
        ]
        for child in children:
            child.start()
        try:
            start.wait(timeout=120)
            before = cpu_snapshot([], args.database_name)
            done.wait(timeout=args.max_seconds + 120)
            after = cpu_snapshot([], args.database_name)
        except threading.BrokenBarrierError:
            for child in children:
                child.terminate()
            raise SystemExit("an agent process failed to start or to finish; see above") from None
        for child in children:
            child.join(60)
        reports = [pickle.loads(path.read_bytes()) for path in outputs]
    child_cpu = sum(report["cpu_seconds"] for report in reports)
    return ProcessesRun(
        samples=[Sample(*row) for report in reports for row in report["samples"]],
        claimed=[tuple(pair) for report in reports for pair in report["claimed"]],
        errors=[error for report in reports for error in report["errors"]][:20],
        timed_out=any(report["timed_out"] for report in reports),
        cpu=cpu_of(before, after, extra_python_seconds=child_cpu),
    )


# --- the raw loop ------------------------------------------------------------------------------


def raw_loop(
    url: str, seeded: Seeded, operations: int, database: str
) -> tuple[list[Sample], list[int], list[str], dict[str, float]]:
    """The raw loop; CPU is read once every thread is connected and again before any
    disconnects, so the backends' CPU is counted."""
    import psycopg

    counter = itertools.count()
    per_thread: list[list[Sample]] = [[] for _ in seeded.agents]
    ids: list[list[int]] = [[] for _ in seeded.agents]
    errors: list[str] = []
    snapshots: list[Any] = []

    def snapshot() -> None:
        snapshots.append(cpu_snapshot([], database))

    start = threading.Barrier(len(seeded.agents), action=snapshot)
    done = threading.Barrier(len(seeded.agents), action=snapshot)

    def worker(index: int) -> None:
        agent_id = seeded.raw_agents[index]
        queue_id = seeded.raw[index % len(seeded.raw)]
        samples, claimed = per_thread[index], ids[index]
        with psycopg.connect(conninfo(url), autocommit=True) as conn:
            start.wait()
            while next(counter) < operations:
                started = time.perf_counter()
                try:
                    row = conn.execute(RAW_SQL, [agent_id, queue_id]).fetchone()
                    outcome = "claimed" if row else "empty"
                except Exception as failure:
                    row, outcome = None, "error"
                    if len(errors) < 20:
                        errors.append(repr(failure))
                samples.append(
                    Sample("raw", outcome, started, (time.perf_counter() - started) * 1000)
                )
                if row:
                    claimed.append(int(row[0]))
            done.wait()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(seeded.agents))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return (
        [s for group in per_thread for s in group],
        [i for group in ids for i in group],
        errors,
        cpu_of(snapshots[0], snapshots[1]),
    )


# --- verification ------------------------------------------------------------------------------


def verify_claims(url: str, seeded: Seeded, claimed: list[tuple[int, int]]) -> dict[str, Any]:
    """What the database says about the claim path's run, against what the threads saw."""
    import psycopg

    queues = [*seeded.working, seeded.holding]
    with psycopg.connect(conninfo(url), autocommit=True) as conn:

        def one(sql: str, params: list[Any]) -> int:
            row = conn.execute(sql, params).fetchone()
            return int(row[0]) if row else 0

        double_events = one(
            "SELECT count(*) FROM (SELECT case_id FROM cases_caseevent WHERE kind = 'claimed' "
            "GROUP BY case_id HAVING count(*) > 1) AS doubled",
            [],
        )
        taken = "status IN ('assigned', 'resolved')"  # claimed, then maybe resolved
        claimed_cases = one(
            f"SELECT count(*) FROM cases_case WHERE queue_id = ANY(%s) AND {taken}", [queues]
        )
        claimed_events = one(
            "SELECT count(*) FROM cases_caseevent e JOIN cases_case c ON c.id = e.case_id "
            "WHERE e.kind = 'claimed' AND c.queue_id = ANY(%s)",
            [queues],
        )
        disagree = one(
            "SELECT count(*) FROM cases_case c JOIN cases_caseevent e ON e.case_id = c.id "
            "AND e.kind = 'claimed' WHERE c.assignee_id IS DISTINCT FROM e.actor_id",
            [],
        )
        without_event = one(
            f"SELECT count(*) FROM cases_case c WHERE c.queue_id = ANY(%s) AND c.{taken} "
            "AND NOT EXISTS (SELECT 1 FROM cases_caseevent e WHERE e.case_id = c.id "
            "AND e.kind = 'claimed')",
            [queues],
        )
        unassigned = one(
            f"SELECT count(*) FROM cases_case WHERE queue_id = ANY(%s) AND {taken} "
            "AND assignee_id IS NULL",
            [queues],
        )
        pairs = {
            (int(case_id), int(assignee))
            for case_id, assignee in conn.execute(
                f"SELECT id, assignee_id FROM cases_case WHERE queue_id = ANY(%s) AND {taken}",
                [queues],
            ).fetchall()
        }
    agents_per_case: dict[int, set[int]] = defaultdict(set)
    for case_id, agent_id in claimed:
        agents_per_case[case_id].add(agent_id)
    # Two agents each told "you have it": a double claim whatever the database says.
    reported_twice = sum(1 for agents in agents_per_case.values() if len(agents) > 1)
    repeated = len(claimed) - len(agents_per_case)  # the same agent twice: a harness slip
    ok = (
        double_events == 0
        and reported_twice == 0
        and disagree == 0
        and without_event == 0
        and unassigned == 0
        and repeated == 0
        and claimed_cases == len(claimed) == claimed_events
        and pairs == set(claimed)
    )
    return {
        "successful_calls": len(claimed),
        "claimed_cases_in_db": claimed_cases,
        "claimed_events_in_db": claimed_events,
        "cases_with_two_claimed_events": double_events,
        "cases_two_agents_were_given": reported_twice,
        "same_agent_reported_twice": repeated,
        "assignee_disagrees_with_event": disagree,
        "claimed_without_event": without_event,
        "claimed_without_assignee": unassigned,
        "pairs_match": pairs == set(claimed),
        "ok": ok,
    }


def verify_raw(url: str, seeded: Seeded, ids: list[int]) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM cases_case WHERE queue_id = ANY(%s) AND status = 'assigned'",
            [seeded.raw],
        ).fetchone()
    assigned = int(row[0]) if row else 0
    ok = len(set(ids)) == len(ids) == assigned
    return {
        "successful_statements": len(ids),
        "distinct_ids": len(set(ids)),
        "assigned_in_db": assigned,
        "ok": ok,
    }


# --- py-spy ------------------------------------------------------------------------------------


class PySpy:
    """py-spy recording this process (the GIL holder's stacks; with ``subprocesses``, the
    agent processes' too) while the claim path runs."""

    def __init__(self, output: Path, rate: int = 200, *, subprocesses: bool = False) -> None:
        spy = Path(sys.executable).with_name("py-spy")
        self.output = output
        self.process = subprocess.Popen(
            [
                str(spy),
                "record",
                "--pid",
                str(os.getpid()),
                *(["--subprocesses"] if subprocesses else []),
                "--rate",
                str(rate),
                "--gil",
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


CATEGORIES = [  # first match wins, tested against a stack from the outermost frame
    ("channel layer publish (events after commit)", ("cases/events.py",)),
    ("psycopg: sending queries, reading results", ("psycopg/",)),
    ("Django SQL compiler", ("django/db/models/sql/",)),
    ("Django model instances, querysets", ("django/db/models/",)),
    ("Django transactions, connections", ("django/db/",)),
    ("templates", ("django/template/",)),
    ("asgiref sync/async bridge", ("asgiref/",)),
    ("bench harness", ("bench/claims.py",)),
]


def spy_summary(path: Path, top: int = 15) -> dict[str, Any]:
    """Share of samples per category (by the innermost matching frame) and the busiest
    functions (inclusive) from py-spy's raw (collapsed) output."""
    if not path.exists():
        return {}
    total = 0
    categories: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        category = "other Python (own code, stdlib)"
        for frame in reversed(frames):
            matched = next((name for name, keys in CATEGORIES if any(k in frame for k in keys)), "")
            if matched:
                category = matched
                break
        categories[category] += count
        for frame in {re.sub(r":\d+\)$", ")", frame) for frame in frames}:
            if re.search(r"\((cases|queues)/", frame):
                inclusive[frame] += count
    if not total:
        return {}
    return {
        "samples": total,
        "categories": {k: round(v / total * 100, 1) for k, v in categories.most_common()},
        "own_code_inclusive": {k: round(v / total * 100, 1) for k, v in inclusive.most_common(top)},
    }


# --- what-if: a change tried in this process only --------------------------------------------

WHAT_IFS = {
    "waiting-index": "CREATE INDEX ON cases_case (priority DESC, sla_due_at, id) WHERE status = "
    "'waiting': take-next over several queues reads the waiting cases in its order",
    "covering-waiting-index": "the lead's planned index, CREATE INDEX ON cases_case (queue_id, "
    "priority DESC, sla_due_at, id) INCLUDE (current_intent, customer_tier, handed_off_at) WHERE "
    "status = 'waiting', in place of case_queue_order",
    "stats-after-commit": "cases.actions publishes each event from an on-commit callback: the "
    "live frame (its queue figures query) is built after the commit, outside the case's lock, "
    "instead of inside the transaction",
    "stats-coalesced": "cases.events computes a queue's live figures at most once every 250 ms "
    "per process and reuses them in between (an upper bound for any scheme that does not run "
    "the queue figures query once per event)",
}
WAITING_INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS bench_case_waiting_order ON cases_case "
    "(priority DESC, sla_due_at, id) WHERE status = 'waiting'"
)
COVERING_INDEX_SQL = [
    "CREATE INDEX IF NOT EXISTS bench_case_waiting_covering ON cases_case "
    "(queue_id, priority DESC, sla_due_at, id) INCLUDE (current_intent, customer_tier, "
    "handed_off_at) WHERE status = 'waiting'",
    "DROP INDEX IF EXISTS case_queue_order",
]


def apply_code_what_ifs(names: list[str]) -> None:
    """The what-ifs that change code, in this process only (agent processes call it too)."""
    from cases import actions, events

    if "stats-after-commit" in names:
        from django.db import transaction

        publish = events.publish_case

        def publish_after_commit(case: Any, kind: str, **options: Any) -> None:
            # After the commit there is no transaction: publish_case builds the frame (its
            # figures see the committed change) and its own on_commit sends at once.
            transaction.on_commit(lambda: publish(case, kind, **options))

        actions.publish_case = publish_after_commit
    if "stats-coalesced" in names:
        figures = events._figures
        recent: dict[int, tuple[float, dict[str, int]]] = {}

        def coalesced(queue_id: int) -> dict[str, int]:
            now = time.monotonic()
            hit = recent.get(queue_id)
            if hit is not None and now - hit[0] < 0.25:
                return hit[1]
            value = figures(queue_id)
            recent[queue_id] = (now, value)
            return value

        events._figures = coalesced


def apply_what_ifs(names: list[str], url: str) -> None:
    """Try changes in this process and this bench database only; no file is edited."""
    import psycopg

    apply_code_what_ifs(names)
    statements = []
    if "waiting-index" in names:
        statements.append(WAITING_INDEX_SQL)
    if "covering-waiting-index" in names:
        statements += COVERING_INDEX_SQL
    if statements:
        with psycopg.connect(conninfo(url), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)


# --- the report -------------------------------------------------------------------------------


def _latency_line(label: str, item: dict[str, float]) -> str:
    return (
        f"  {label:<26}{item['n']:>9,}{item['p50_ms']:>9.2f}{item['p90_ms']:>9.2f}"
        f"{item['p99_ms']:>9.2f}{item['max_ms']:>9.2f}"
    )


def report(figures: dict[str, Any]) -> str:
    config = figures["config"]
    lines = [
        "",
        f"Handoff Desk claims benchmark, {figures['started_at']}",
        "",
        "setup  : {threads} agents/threads, {queues_per_agent} working queue(s) each of 4; "
        "{mode}; take-next share {take_next_share:.0%}, about {contention} threads per "
        "contested case".format(**config),
        "         Django {django}, Python {python}, PostgreSQL {postgres}, psycopg {psycopg} "
        "pool {pool} per process, channel layer {channel_layer}".format(**config),
        "machine: {cores} cores, {machine}; ".format(**config)
        + (
            "the Python threads share one GIL"
            if config.get("processes", 1) == 1
            else "the claim path's agents in {processes} processes, one GIL each (agent i in "
            "process i mod {processes}; each its own pool, {threads} / {processes} connections)"
            "; the raw loop and the 1-agent phase in this process".format(**config)
        ),
    ]
    for name in config.get("what_if") or []:
        lines.append(
            f"WHAT-IF {name}: {WHAT_IFS[name]} (in this process and bench database only; the "
            "project's code is unchanged)"
        )
    lines += [
        "",
        f"{'phase':<12}{'calls':>9}{'measured':>10}{'secs':>8}{'calls/s':>10}{'claims/s':>10}"
        f"   {'cores: python':>13}{'pg':>6}{'other':>7}{'machine':>9}",
    ]
    phases = [PhaseResult(**phase) for phase in figures["phases"]]
    for phase in phases:
        cpu = phase.cpu
        lines.append(
            f"{phase.name:<12}{phase.operations:>9,}{phase.measured:>10,}{phase.elapsed:>8.1f}"
            f"{phase.ops_per_s:>10,.0f}{phase.claims_per_s:>10,.0f}   "
            f"{cpu.get('python_cores', 0):>13.2f}{cpu.get('postgres_cores', 0):>6.2f}"
            f"{cpu.get('other_cores', 0):>7.2f}{cpu.get('machine_cores', 0):>9.2f}"
        )
    lines += [
        "",
        f"  {'latency':<26}{'calls':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}",
    ]
    for phase in phases:
        for kind in ("claim path", "take_next", "claim", "raw"):
            if kind in phase.latency:
                lines.append(_latency_line(f"{phase.name}: {kind}", phase.latency[kind]))
    lines.append("")
    for phase in phases:
        for kind, outcomes in phase.outcomes.items():
            if kind == "claim path":
                continue
            listed = ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items()))
            lines.append(f"  outcomes, {phase.name}: {kind}: {listed}")
        lines.append(
            f"  {phase.name} p50 over the first tenth of calls {phase.drift['first_tenth_p50_ms']}"
            f" ms, over the last tenth {phase.drift['last_tenth_p50_ms']} ms"
        )
        for error in phase.errors[:5]:
            lines.append(f"  error in {phase.name}: {error}")
    verdict = figures["verdict"]
    checks = figures["checks"]
    lines += [
        "",
        "database checks, claim path: "
        + ", ".join(f"{k} {v}" for k, v in checks["claim_path"].items() if k != "ok"),
        "database checks, raw loop: "
        + ", ".join(f"{k} {v}" for k, v in checks["raw"].items() if k != "ok"),
    ]
    if figures.get("desk"):
        desk = figures["desk"]
        lines.append(
            f"desk thread: {desk['moved']:,} cases moved into the queues, {desk['resolved']:,} "
            f"resolved, {desk['rounds']:,} rounds"
            + (f"; error {desk['error']}" if desk["error"] else "")
        )
    lines += [
        "",
        f"double claims: {verdict['double_claims']} (target 0) "
        f"{'PASS' if verdict['double_claims_pass'] else 'FAIL'}",
        f"claim path p99: {verdict['p99_ms']:.2f} ms (target < {P99_TARGET_MS:.0f} ms) "
        f"{'PASS' if verdict['p99_pass'] else 'FAIL'}",
        f"claim path / raw loop: {verdict['ratio']:.2f} calls/s (target >= {RATIO_TARGET}) "
        f"{'PASS' if verdict['ratio_pass'] else 'FAIL'}; successful claims/s "
        f"{verdict['claims_ratio']:.2f}",
    ]
    if figures.get("profile"):
        profile = figures["profile"]
        lines += ["", f"py-spy (--gil, {profile['samples']:,} samples of the claim path):"]
        lines += [f"  {share:5.1f}%  {name}" for name, share in profile["categories"].items()]
        lines.append("  project functions, inclusive:")
        lines += [
            f"  {share:5.1f}%  {name}" for name, share in profile["own_code_inclusive"].items()
        ]
    lines += ["", "honesty notes:"] + [f"  - {note}" for note in figures["notes"]]
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Contested claims from 32 agents, beside a raw SKIP LOCKED update loop."
    )
    parser.add_argument(
        "--operations",
        type=int,
        default=100_000,
        help="claim-path calls, and raw-loop statements (default 100,000)",
    )
    parser.add_argument("--threads", type=int, default=32, help="agents/threads (default 32)")
    parser.add_argument(
        "--take-next-share",
        type=float,
        default=0.5,
        help="share of calls that are take-next; the rest claim a contested id (default 0.5)",
    )
    parser.add_argument(
        "--contention",
        type=int,
        default=4,
        help="claim calls per contested case, racing at about the same time (default 4)",
    )
    parser.add_argument(
        "--queues-per-agent",
        type=int,
        choices=[1, 2, 3, 4],
        default=2,
        help="working queues each agent is a member of (default 2)",
    )
    parser.add_argument(
        "--steady",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep queues --queue-depth deep and resolve claimed cases (default); "
        "--no-steady seeds every case waiting and resolves nothing",
    )
    parser.add_argument(
        "--queue-depth",
        type=int,
        default=2000,
        help="waiting cases kept in each working queue with --steady (default 2,000)",
    )
    parser.add_argument(
        "--warmup", type=int, default=1000, help="calls left out of the figures (default 1,000)"
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="spread the claim path's agents over this many processes, as the server's ASGI "
        "worker processes (agent i in process i mod N; default 1: every agent in this "
        "process, under one GIL)",
    )
    parser.add_argument("--no-raw", action="store_true", help="skip the raw loop")
    parser.add_argument(
        "--solo",
        type=int,
        default=1000,
        help="calls by one agent alone after the run: the service time without queueing "
        "(default 1,000; 0 skips)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=360.0,
        help="stop the claim path after this long even if the calls are not all done, and say "
        "so (default 360: a full run stays within about 10 minutes)",
    )
    parser.add_argument(
        "--what-if",
        choices=sorted(WHAT_IFS),
        action="append",
        default=[],
        help="try a change in this process and bench database only, repeatable (the "
        "project's files are not edited): " + "; ".join(f"{k}: {v}" for k, v in WHAT_IFS.items()),
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="FILE",
        help="record the claim path with py-spy (--gil, raw format) into FILE and summarize it",
    )
    parser.add_argument("--seed", type=int, default=11, help="random seed")
    add_database_arguments(parser, BENCH_DB)
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        help="channel layer for the live events; '' for the in-memory layer",
    )
    parser.add_argument(
        "--settings", default="bench.settings", help="Django settings (default bench.settings)"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=60.0,
        help="seconds to wait at most for other processes to go quiet before each phase "
        "(default 60)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.operations < 1 or args.threads < 1 or args.contention < 1:
        parser.error("--operations, --threads and --contention must be positive")
    if not 1 <= args.processes <= args.threads:
        parser.error("--processes is between 1 and --threads")
    if not 0.0 <= args.take_next_share <= 1.0:
        parser.error("--take-next-share is between 0 and 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = utc_timestamp()
    db_url = database_url(args.database_url, args.database_name)
    env = bench_environment(
        db_url,
        settings=args.settings,
        redis_url=args.redis_url,
        # Every agent thread keeps one connection for the run: the pool must hold them all.
        pool=(args.threads, args.threads + 4),
    )
    use_environment(env)
    prepare_database(args.database_url, args.database_name, env)

    setup_django()
    from django.conf import settings
    from django.db import connection

    # Cases the claim path can use up: every take-next and about one in `contention` claims,
    # plus the queues' depth and a margin.
    take_next = int(args.operations * args.take_next_share)
    contested = (args.operations - take_next) // args.contention
    orm_cases = int((take_next + contested) * 1.1) + 1000 + args.solo + SOLO_WARMUP
    if args.steady:
        orm_cases += args.queue_depth * len(WORKING)
    raw_cases = 0 if args.no_raw else args.operations + args.warmup + 1000
    seeded = seed(args, orm_cases, raw_cases)
    connection.close()
    apply_what_ifs(args.what_if, db_url)
    vacuum_analyze(db_url, *VACUUMED)
    print(f"seeded in {seeded.seconds:.0f} s", flush=True)

    phases: list[PhaseResult] = []
    checks: dict[str, Any] = {}
    total = args.operations + args.warmup

    # -- the raw loop
    if not args.no_raw:
        wait_for_quiet(args.database_name, args.wait_quiet)
        print(f"raw loop: {args.threads} threads, {total:,} statements ...", flush=True)
        samples, ids, errors, raw_cpu = raw_loop(db_url, seeded, total, args.database_name)
        raw = summarize("raw loop", args.threads, samples, args.warmup, raw_cpu)
        raw.errors = errors
        phases.append(raw)
        checks["raw"] = verify_raw(db_url, seeded, ids)
        # As autovacuum would between the two; the claim path starts clean.
        vacuum_analyze(db_url, *VACUUMED)

    # -- the claim path
    recent = Recent(args.contention, orm_cases, lag=64 if args.steady else None)
    desk: Desk | None = None
    if args.steady:
        desk = Desk(db_url, seeded, args.queue_depth, recent)
        desk.fill()
        vacuum_analyze(db_url, *VACUUMED)
    else:
        from cases.models import Case

        newest = (
            Case.objects.filter(queue_id__in=seeded.working, status="waiting")
            .order_by("-pk")
            .values_list("pk", flat=True)[: contested + 1000]
        )
        recent.extend(list(newest))
        connection.close()
    wait_for_quiet(args.database_name, args.wait_quiet)
    spy = PySpy(args.py_spy, subprocesses=args.processes > 1) if args.py_spy else None
    print(
        f"claim path: {args.threads} agents in {args.processes} process(es), {total:,} calls "
        f"({'steady desk' if args.steady else 'all cases seeded waiting'}) ...",
        flush=True,
    )
    if desk is not None:
        desk.start()
    solo: ClaimRun | None = None
    try:
        if args.processes > 1:
            spread = run_in_processes(args, seeded, recent, total)
            samples, claimed, run_errors = spread.samples, spread.claimed, spread.errors
            timed_out, run_cpu = spread.timed_out, spread.cpu
        else:
            run = ClaimRun(args, seeded, recent, total)
            before = cpu_snapshot([], args.database_name)
            run.run()
            after = cpu_snapshot([], args.database_name)
            samples = [s for group in run.samples.values() for s in group]
            claimed = [pair for group in run.claimed.values() for pair in group]
            run_errors, timed_out, run_cpu = run.errors, run.timed_out, cpu_of(before, after)
        if spy is not None:
            spy.stop()
        if args.solo:
            # One agent alone: the calls' own service time, with no one to queue behind.
            print(f"claim path, 1 agent alone: {args.solo:,} calls ...", flush=True)
            held = {case_id for case_id, _ in claimed}  # never raced for again
            solo = ClaimRun(args, seeded, recent, args.solo + SOLO_WARMUP, agents=[0], tried=held)
            solo_before = cpu_snapshot([], args.database_name)
            solo.run()
            solo_after = cpu_snapshot([], args.database_name)
    finally:
        if spy is not None:
            spy.stop()
        if desk is not None:
            desk.stop.set()
            desk.join(10)
    orm = summarize("claim path", args.threads, samples, args.warmup, run_cpu)
    orm.errors = run_errors
    phases.insert(0, orm)
    if solo is not None:
        alone = summarize(
            "1 agent",
            1,
            [s for group in solo.samples.values() for s in group],
            SOLO_WARMUP,
            cpu_of(solo_before, solo_after),
        )
        alone.errors = solo.errors
        phases.insert(1, alone)
        claimed += [pair for group in solo.claimed.values() for pair in group]
    checks["claim_path"] = verify_claims(db_url, seeded, claimed)
    if "raw" not in checks:
        checks["raw"] = {"ok": True, "skipped": True}

    from django.db import connection as main_connection

    with main_connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        row = cursor.fetchone()
    postgres = str(row[0]) if row else "?"
    main_connection.close()
    with contextlib.suppress(AttributeError):
        main_connection.close_pool()  # type: ignore[attr-defined]

    raw_phase = next((p for p in phases if p.name == "raw loop"), None)
    path_latency = orm.latency.get("claim path", {})
    double = (
        checks["claim_path"]["cases_with_two_claimed_events"]
        + checks["claim_path"]["cases_two_agents_were_given"]
    )
    ratio = orm.ops_per_s / raw_phase.ops_per_s if raw_phase and raw_phase.ops_per_s else 0.0
    claims_ratio = (
        orm.claims_per_s / raw_phase.claims_per_s if raw_phase and raw_phase.claims_per_s else 0.0
    )
    verdict = {
        "double_claims": double,
        "double_claims_pass": double == 0 and checks["claim_path"]["ok"] and checks["raw"]["ok"],
        "p99_ms": path_latency.get("p99_ms", float("nan")),
        "p99_pass": path_latency.get("p99_ms", 1e9) < P99_TARGET_MS,
        "ratio": round(ratio, 3),
        "claims_ratio": round(claims_ratio, 3),
        "ratio_pass": raw_phase is not None and ratio >= RATIO_TARGET,
    }
    library = versions("django", "psycopg", "channels-redis")
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool", {})
    figures: dict[str, Any] = {
        "started_at": started_at,
        "config": {
            "threads": args.threads,
            "processes": args.processes,
            "queues_per_agent": args.queues_per_agent,
            "mode": f"steady desk, queues {args.queue_depth:,} deep, claimed cases resolved "
            f"after {RESOLVE_AFTER_SECONDS:.0f} s"
            if args.steady
            else "all cases seeded waiting, nothing resolved",
            "steady": args.steady,
            "queue_depth": args.queue_depth,
            "take_next_share": args.take_next_share,
            "contention": args.contention,
            "operations": args.operations,
            "warmup": args.warmup,
            "django": library["django"],
            "psycopg": library["psycopg"],
            "python": platform.python_version(),
            "postgres": postgres,
            "pool": f"min {pool.get('min_size')} / max {pool.get('max_size')}",
            "channel_layer": f"channels-redis {library['channels-redis']} pub/sub "
            f"({args.redis_url})"
            if args.redis_url
            else "in-memory",
            "cores": os.cpu_count(),
            "machine": platform.platform(terse=True),
            "database": args.database_name,
            "what_if": args.what_if,
        },
        "seeded": asdict(seeded) | {"agents": len(seeded.agents), "memberships": None},
        "phases": [asdict(phase) for phase in phases],
        "checks": checks,
        "verdict": verdict,
        "desk": None
        if desk is None
        else {
            "moved": desk.moved,
            "resolved": desk.resolved,
            "rounds": desk.rounds,
            "error": desk.error,
        },
        "profile": spy_summary(args.py_spy) if args.py_spy else {},
        "notes": notes_for(args, phases),
        "timed_out": timed_out,
    }
    if timed_out:
        figures["notes"].insert(
            0,
            f"The claim path stopped at --max-seconds {args.max_seconds:.0f} after "
            f"{orm.operations:,} of {total:,} calls: its figures are over the calls made.",
        )
    print(report(figures), flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
        print(f"\nfigures written to {args.json}")
    passed = verdict["double_claims_pass"] and verdict["p99_pass"] and verdict["ratio_pass"]
    return 0 if passed else 1


def cpu_of(before: Any, after: Any, extra_python_seconds: float = 0.0) -> dict[str, float]:
    """Cores used in the window; ``extra_python_seconds``: CPU the agent processes reported."""
    use = cpu_use(before, after)
    extra = extra_python_seconds / max(after.at - before.at, 1e-9)
    python = use["client_cores"] + extra
    return {
        "python_cores": round(python, 3),
        "postgres_cores": use["postgres_cores"],
        "other_cores": round(max(use["machine_cores"] - python - use["postgres_cores"], 0.0), 3),
        "machine_cores": use["machine_cores"],
    }


def notes_for(args: argparse.Namespace, phases: list[PhaseResult]) -> list[str]:
    one_process = (
        f"One Python process runs all {args.threads} threads (and the asyncio loop the live "
        "events go through): they share one GIL, so the Python side of either phase uses at "
        "most about one core, and PostgreSQL has the rest of this 2-core machine, as with a "
        "server of one ASGI worker process."
    )
    if args.processes > 1:
        one_process = (
            f"The claim path's {args.threads} agents run in {args.processes} processes, each "
            "with its threads, its asyncio loop and its connection pool, as a server of "
            f"{args.processes} ASGI worker processes: {args.processes} GILs. The raw loop and "
            "the 1-agent phase run in the parent process. Contested cases are shared across "
            "processes, so agents of different processes race for the same case."
        )
    notes = [
        one_process
        + " 'python' is the CPU of the Python process(es) running the phase, 'pg' the bench "
        "database's backends, 'other' everything else.",
        "calls/s counts every call, a contested claim that loses as well as one that wins; "
        "claims/s only those that took a case. Each raw statement takes a case.",
        "Latency is each call's own time in its thread: the transaction, and after the commit "
        "the live event (its queue figures query and the Redis publish) the call waits for.",
        "The integration has no callback URL: no delivery rows and no Celery enqueue are "
        "measured, as in bench/intake.py.",
    ]
    if not args.steady:
        notes.append(
            "--no-steady: claimed cases stay assigned, so each agent's open work and each "
            "queue's open cases grow through the run; the capacity check and the live queue "
            "figures read more rows every call (see the first and last tenth's p50)."
        )
    for phase in phases:
        other = phase.cpu.get("other_cores", 0.0)
        if other > 0.3:
            notes.append(
                f"In the {phase.name}, other processes used {other:.2f} cores: its rate is lower "
                "than this machine gives when quiet."
            )
    return notes


if __name__ == "__main__":
    run_main(main)
