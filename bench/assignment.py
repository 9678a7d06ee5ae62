"""Push assignment: handoff commit → the offer on the agent's socket, double assignments and
fairness, beside agents pulling with take-next in the same run (bench/README.md)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import re
import secrets
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib import db, http, procs, report
from bench.lib.desk import (
    agent_users,
    commit_times,
    commit_times_reset,
    handoff_body,
    routed_queues,
    session_cookie,
)
from bench.lib.stats import summary

P99_TARGET_MS = 250.0
CAPACITY = 3  # per membership; an agent in two queues is capped at OVERALL_CAP open cases
OVERALL_CAP = 4
CSRF = "b" * 32  # the cookie's secret, posted back as the token (as Django accepts it)
PING_EVERY = 10.0  # live.js's heartbeat, which keeps the agent online
CONNECTIONS = 16  # the crowd's kept HTTP connections, over the server's workers
CORES = ("server", "worker", "beat", "postgres", "redis", "crowd")


@dataclass(frozen=True)
class Agent:
    user_id: int
    cookie: str
    slots: int  # open cases they may hold at once, across their queues


# --- the crowd process: every agent's socket and posts, and the bot posting handoffs ------------


async def crowd_setup(base_url: str, api_key: str, agents: list[Agent], packages: list[Any],
                      run: str, workers: int) -> dict[str, Any]:  # fmt: skip
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    db.setup_django()  # resolving calls the service (the environment is the parent's)
    from django.contrib.auth.models import User

    from bench.lib import app

    netloc = urlsplit(base_url).netloc
    transport = http.Transport(base_url, CONNECTIONS)
    await transport.balance(CONNECTIONS, workers)
    opened: list[set[int]] = [set() for _ in agents]
    hello = [asyncio.Event() for _ in agents]
    live: dict[str, Any] = {"mode": "idle", "rng": random.Random(0)}
    seen: set[int] = set()  # offers: one sent again to a page reconnecting is not a new one
    offers: list[tuple[int, int, float]] = []  # agent, case, arrival of its pending offer
    assigned: list[tuple[int, int, float]] = []  # agent, case, when the agent knew it had it
    answers: Counter[str] = Counter()  # also the sockets' closes and failures
    tasks: set[asyncio.Task[Any]] = set()
    inflight: set[asyncio.Task[Any]] = set()

    def spawn(coroutine: Any, into: set[asyncio.Task[Any]] = tasks) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine)
        into.add(task)
        task.add_done_callback(into.discard)
        return task

    async def post(i: int, what: str, path: str, fields: dict[str, str]) -> tuple[int, str]:
        """A form post as the agent's page makes it; (status, Location). Never cut short: a
        phase's end waits for the posts in flight."""
        headers = {
            "Cookie": f"{agents[i].cookie}; csrftoken={CSRF}",
            "X-CSRFToken": CSRF,
            "Content-Type": "application/x-www-form-urlencoded",
            "HX-Request": "true",
        }
        answer: dict[str, str] = {}
        request = transport.request("POST", path, headers, urlencode(fields).encode(), answer)
        status, _ = await asyncio.shield(spawn(request, inflight))
        answers[f"{what} {status}"] += 1
        return status, answer.get("location", answer.get("hx-redirect", ""))

    def resolve_now(i: int, case_id: int) -> bool:
        try:
            app.case_resolve(case_id=case_id, agent=User.objects.get(pk=agents[i].user_id),
                             resolution_code="solved", customer_repeated=False)  # fmt: skip
        except app.CaseActionError:
            return False
        return True

    def took(i: int, case_id: int) -> None:
        assigned.append((i, case_id, time.time()))
        opened[i].add(case_id)
        spawn(resolve(i, case_id))

    async def resolve(i: int, case_id: int) -> None:
        await asyncio.sleep(live["rng"].uniform(*live["hold"]))
        done = await asyncio.shield(spawn(asyncio.to_thread(resolve_now, i, case_id), inflight))
        answers[f"resolve {'ok' if done else 'refused'}"] += 1
        opened[i].discard(case_id)

    async def accept(i: int, offer_id: int, case_id: int) -> None:
        await asyncio.sleep(live["rng"].uniform(*live["think"]))
        _, location = await post(i, "accept", f"/offers/{offer_id}/accept/", {"next": "/"})
        if location.endswith(f"/cases/{case_id}/"):
            took(i, case_id)

    async def pull(i: int) -> None:
        every = live["pull_every"]
        await asyncio.sleep(live["rng"].uniform(0, every))
        while True:
            if len(opened[i]) < agents[i].slots:
                _, location = await post(i, "take-next", "/take-next/", {"next": "/"})
                if found := re.search(r"/cases/(\d+)/$", location):
                    took(i, int(found.group(1)))
            await asyncio.sleep(every * live["rng"].uniform(0.5, 1.5))

    def offer(i: int, offer_id: int, case_id: int, now: float) -> None:
        if offer_id not in seen:
            seen.add(offer_id)
            offers.append((i, case_id, now))
            if live["mode"] == "push":
                spawn(accept(i, offer_id, case_id))

    async def serve(i: int, ws: Any) -> None:
        cursor = [0]

        async def beat() -> None:
            while True:
                await asyncio.sleep(PING_EVERY * random.uniform(0.9, 1.1))
                await ws.send(json.dumps({"type": "ping", "since": cursor[0]}))

        beating = asyncio.create_task(beat())
        try:
            async for text in ws:
                now, frame = time.time(), json.loads(text)
                cursor[0] = max(cursor[0], int(frame.get("cursor") or 0))
                if frame.get("type") == "hello":
                    hello[i].set()
                elif frame.get("type") == "offer" and frame.get("state") == "pending":
                    offer(i, int(frame["offer_id"]), int(frame["case_id"]), now)
        except ConnectionClosed as closed:
            answers[f"socket closed {closed.rcvd.code if closed.rcvd else 1006}"] += 1
        finally:
            beating.cancel()

    async def page(i: int) -> None:
        """The agent's desk page: its socket (online while it beats), offers answered; closed,
        it reconnects with live.js's backoff, min(30 s, 0.5 s x 2^attempt) x 0.75-1.25."""
        attempt = 0
        while live["mode"] != "closing":
            try:
                ws = await connect(
                    f"ws://{netloc}/ws/desk/", origin=base_url, open_timeout=30,  # type: ignore[arg-type]
                    ping_interval=None, additional_headers={"Cookie": agents[i].cookie},
                    compression="deflate", proxy=None,
                )  # fmt: skip
            except Exception as exc:
                answers[f"socket failed {type(exc).__name__}"] += 1
            else:
                attempt = 0
                await serve(i, ws)
            attempt += 1
            await asyncio.sleep(min(30.0, 0.5 * 2**attempt) * random.uniform(0.75, 1.25))

    async def do_connect(timeout: float) -> int:
        for i in range(len(agents)):
            asyncio.create_task(page(i))  # noqa: RUF006  (they live as long as the process)
        await asyncio.wait([asyncio.create_task(e.wait()) for e in hello], timeout=timeout)
        return sum(e.is_set() for e in hello)

    async def do_phase(mode: str, tag: str, rate: float, duration: float, slugs: list[str],
                       settle: float, think: list[float], hold: list[float],
                       pull_every: float) -> dict[str, Any]:  # fmt: skip
        """Handoffs at ``rate`` while the agents answer offers (push) or take next (pull); then
        until every case of the phase is assigned (``settle`` at most). The agents' open cases
        are left to the caller."""
        live.update(mode=mode, rng=random.Random(1), think=think, hold=hold, pull_every=pull_every)
        for held in (offers, assigned, answers, *opened):
            held.clear()  # type: ignore[attr-defined]
        pullers = [spawn(pull(i)) for i in range(len(agents))] if mode == "pull" else []

        def body(n: int) -> bytes:
            return handoff_body(packages, n, f"assign-{run}-{tag}-{n}", slugs[n % len(slugs)])

        count = max(round(rate * duration), 1)
        posts = await http.post_handoffs(base_url, api_key, body, count, rate, 8, workers)
        created = {post.case_id for post in posts if post.case_id is not None}
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline and not created <= {case for _, case, _ in assigned}:
            await asyncio.sleep(0.1)
        live["mode"] = "idle"
        for task in [*pullers, *tasks]:
            task.cancel()
        await asyncio.gather(*tasks, *inflight, return_exceptions=True)
        return {"posts": posts, "offers": offers[:], "assigned": assigned[:],
                "answers": dict(answers)}  # fmt: skip

    async def close() -> None:
        live["mode"] = "closing"
        transport.close()

    return {"connect": do_connect, "phase": do_phase, "close": close}


# --- the desk ------------------------------------------------------------------------------------


def setup_desk(run: str, count: int, queue_count: int) -> tuple[list[Agent], list[Any], str]:
    """Queues in push mode, routed by a fact; agents with a session each, a member of one queue
    (every fourth of two, capped at OVERALL_CAP open cases across them)."""
    from bench.lib import app

    queues, api_key = routed_queues(run, queue_count, "assign")
    set_mode(queues, "push")
    users = agent_users("assign", count)
    members, statuses, agents = [], [], []
    for n, user in enumerate(users):
        two = n % 4 == 3 and queue_count > 1
        theirs = (
            {n % queue_count, (n + queue_count // 2) % queue_count} if two else {n % queue_count}
        )
        members += [app.Membership(agent=user, queue=queues[q], capacity=CAPACITY) for q in theirs]
        statuses.append(app.AgentStatus(user=user, max_open=OVERALL_CAP if two else None))
        agents.append(Agent(user.pk, session_cookie(user), OVERALL_CAP if two else CAPACITY))
    app.Membership.objects.bulk_create(members)
    app.AgentStatus.objects.bulk_create(statuses)
    return agents, queues, api_key


def set_mode(queues: list[Any], mode: str) -> None:
    """Through the service a supervisor's form calls (back to pull withdraws pending offers)."""
    from bench.lib import app

    for queue in queues:
        app.queue_assignment_change(queue=queue, mode=mode, offer_seconds=queue.offer_seconds,
                                    misses_before_away=queue.misses_before_away,
                                    reserved_slots=queue.reserved_slots)  # fmt: skip
    db.close_connections()


def close_cases(case_ids: list[int]) -> int:
    """The phase's cases still open, closed in the database (the next phase starts with empty
    queues and free agents); how many had never been assigned."""
    from django.utils import timezone

    from bench.lib import app

    cases = app.Case.objects.filter(pk__in=case_ids)
    waiting = cases.filter(status=app.Case.Status.WAITING).count()
    cases.exclude(status=app.Case.Status.RESOLVED).update(
        status=app.Case.Status.RESOLVED, resolved_at=timezone.now(), resolution_code="solved"
    )
    return waiting


def audit(case_ids: list[int], agents: list[Agent]) -> dict[str, Any]:
    """From the database: cases assigned twice (assignment events, accepted offers), agents
    ever over a queue's capacity or their cap (the events replayed in order), and Jain's
    fairness index of the cases each agent got over their slots."""
    from bench.lib import app

    ASSIGNED = ("claimed", "offer_accepted")
    events = list(
        app.CaseEvent.objects.filter(case_id__in=case_ids, kind__in=(*ASSIGNED, "resolved"))
        .order_by("pk").values_list("case_id", "case__queue_id", "kind", "data")
    )  # fmt: skip
    accepted = Counter(
        app.Offer.objects.filter(case_id__in=case_ids, state="accepted").values_list(
            "case_id", flat=True
        )
    )
    caps = dict(app.AgentStatus.objects.values_list("user_id", "max_open"))
    per_queue = {(m.agent_id, m.queue_id): m.capacity for m in app.Membership.objects.all()}
    times, holder, got = Counter[int](), {}, Counter[int]()
    held: dict[tuple[int, int], int] = defaultdict(int)
    over: set[int] = set()
    for case_id, queue_id, kind, data in events:
        if kind in ASSIGNED:
            agent = holder[case_id] = int(data["assignee"])
            times[case_id] += 1
            got[agent] += 1
            held[agent, queue_id] += 1
            overall = sum(n for (a, _), n in held.items() if a == agent)
            cap = caps.get(agent)
            if held[agent, queue_id] > per_queue.get((agent, queue_id), 0) or (
                cap and overall > cap
            ):
                over.add(agent)
        elif case_id in holder:
            held[holder.pop(case_id), queue_id] -= 1
    shares = [got[agent.user_id] / agent.slots for agent in agents]
    jain = (
        sum(shares) ** 2 / (len(shares) * sum(s * s for s in shares)) if any(shares) else math.nan
    )
    found = {"assigned_twice": sum(1 for n in times.values() if n > 1),
             "accepted_twice": sum(1 for n in accepted.values() if n > 1),
             "agents_over_capacity": len(over), "jain": round(jain, 3),
             "cases_per_agent": summary(got[agent.user_id] for agent in agents)}  # fmt: skip
    return found


# --- a phase and its figures ---------------------------------------------------------------------


class Run:
    def __init__(self, args: Any, crowd: procs.Helper, agents: list[Agent], slugs: list[str],
                 pids: dict[str, list[int]]) -> None:  # fmt: skip
        self.args, self.crowd, self.agents, self.slugs, self.pids = args, crowd, agents, slugs, pids

    def snapshot(self) -> procs.Snapshot:
        extra = {k: v for k, v in self.pids.items() if k != "server"}
        return procs.snapshot(self.pids["server"], self.args.database_name, extra)

    def phase(self, mode: str, tag: str, rate: float, duration: float) -> dict[str, Any]:
        a = self.args
        load, before = os.getloadavg()[0], self.snapshot()
        got = self.crowd.call(
            "phase", wait=duration + a.settle + 180, mode=mode, tag=tag, rate=rate,
            duration=duration, slugs=self.slugs, settle=a.settle, think=a.think, hold=a.hold,
            pull_every=a.pull_every,
        )  # fmt: skip
        after = self.snapshot()
        posts = got["posts"]
        ids = [post.case_id for post in posts if post.status == 201]
        committed = commit_times(ids)

        def since_commit(records: list[tuple[int, int, float]]) -> dict[str, float]:
            first: dict[int, float] = {}
            for _, case_id, at in records:
                first[case_id] = min(at, first.get(case_id, math.inf))
            late = [first.get(c, math.inf) - committed.get(c, math.nan) for c in ids]
            late = [v if math.isfinite(v) else math.inf for v in late]  # never: infinitely late
            over = sum(1 for v in late if v * 1000 >= P99_TARGET_MS)
            return summary(late, 1000, (50, 90, 99)) | {"over_target": over}

        cpu = procs.cpu_use(before, after)
        per = (after.at - before.at) * 1000 / max(len(ids), 1)
        span = max(p.answered for p in posts) - min(p.sent for p in posts)
        by_case = Counter(case_id for _, case_id, _ in got["assigned"])
        return {
            "mode": mode, "rate": rate, "sent": len(posts), "created": len(ids),
            "answered_per_s": round(len(ids) / span, 1) if span > 0 else math.nan,
            "post_ms": summary([p.answered - p.sent for p in posts], 1000, (50, 99)),
            "offer_ms": since_commit(got["offers"]) if mode == "push" else None,
            "assigned_ms": since_commit(got["assigned"]),
            "client_twice": sum(1 for n in by_case.values() if n > 1),
            "never_assigned": close_cases(ids) if mode == "pull" else None,
            "answers": got["answers"],
            "cpu_ms_per_handoff": {k: round(cpu[f"{k}_cores"] * per, 2) for k in CORES},
            "cores": {k: cpu[f"{k}_cores"] for k in (*CORES, "other", "machine")},
            "load": [round(load, 2), round(os.getloadavg()[0], 2)],
            **audit(ids, self.agents), "ids": ids,
        }  # fmt: skip


def verdicts(push: dict[str, Any], pull: dict[str, Any]) -> list[dict[str, Any]]:
    doubles = [p["assigned_twice"] + p["accepted_twice"] + p["agents_over_capacity"]
               + p["client_twice"] for p in (push, pull)]  # fmt: skip
    return [
        {"what": f"push: commit → offer p99 < {P99_TARGET_MS:.0f} ms, none missing",
         "value_ms": push["offer_ms"]["p99"], "pass": push["offer_ms"]["p99"] < P99_TARGET_MS},
        {"what": "zero double assignments (push and pull)", "value": doubles,
         "pass": doubles == [0, 0]},
    ]  # fmt: skip


def render(figures: dict[str, Any]) -> str:
    config, push, pull, f = figures["config"], figures["push"], figures["pull"], report.fmt
    lines = report.header(
        "assignment benchmark", figures,
        "desk   : uvicorn {workers} workers, Celery worker (prefork, {concurrency}) and beat, "
        "channel layer and broker on {redis}".format(**config),
        "agents : {agents} over {queues} queues ({members} memberships, capacity {capacity}, "
        "every 4th in two queues capped at {cap}), one socket each".format(**config),
        "load   : handoffs at {rate:g}/s for {duration:g} s per phase; push: accept after "
        "{think[0]:g}-{think[1]:g} s; pull: take-next every {pull_every:g} s x 0.5-1.5 while "
        "there is room; resolve after {hold[0]:g}-{hold[1]:g} s".format(**config), "",
    )  # fmt: skip

    def ms(found: dict[str, float] | None) -> str:
        keys = ("p50", "p90", "p99", "max")
        return " / ".join(f(found[k], 0) for k in keys) if found else "-"

    def both(name: str, get: Any) -> tuple[str, str, str]:
        return (name, *(str(get(p)) for p in (push, pull)))  # type: ignore[return-value]

    rows = [
        both("handoffs sent / created", lambda p: f"{p['sent']} / {p['created']}"),
        both("intakes answered per second", lambda p: f(p["answered_per_s"])),
        both("POST p50 / p99 ms", lambda p: f"{f(p['post_ms']['p50'], 0)} / "
                                           f"{f(p['post_ms']['p99'], 0)}"),
        both("commit → offer on socket ms (p50/90/99/max)", lambda p: ms(p["offer_ms"])),
        both(f"  cases ≥ {P99_TARGET_MS:.0f} ms (never: infinitely late)",
             lambda p: p["offer_ms"]["over_target"] if p["offer_ms"] else "-"),
        both("commit → agent has it ms (p50/90/99/max)", lambda p: ms(p["assigned_ms"])),
        both("never assigned in the phase", lambda p: p["never_assigned"]),
        both("cases assigned twice (events / offers)",
             lambda p: f"{p['assigned_twice']} / {p['accepted_twice']}"),
        both("agents ever over capacity / client saw twice",
             lambda p: f"{p['agents_over_capacity']} / {p['client_twice']}"),
        both("fairness: Jain (cases / slots)", lambda p: f(p["jain"], 3)),
        both("cases per agent p50 / max", lambda p: f"{f(p['cases_per_agent']['p50'], 0)} / "
                                                    f"{f(p['cases_per_agent']['max'], 0)}"),
        *(both(f"CPU ms per handoff: {k}", lambda p, k=k: f(p["cpu_ms_per_handoff"][k]))
          for k in CORES),
        both("cores: desk (ours) / other / machine", lambda p: " / ".join(
            f(v, 2) for v in (sum(p["cores"][k] for k in CORES), p["cores"]["other"],
                              p["cores"]["machine"]))),
        both("load average (1 min) before / after", lambda p: " / ".join(map(f, p["load"]))),
    ]  # fmt: skip
    lines += report.table("figure<46|push (offers)>30|pull (take-next)>30", rows)
    lines += ["", *(f"{v['what']}: {report.verdict(v['pass'])}" for v in figures["verdict"])]
    lines += [f"answers ({p['mode']}): {p['answers']}" for p in (push, pull)]
    return "\n".join(lines)


def main() -> int:
    parser = db.arguments(
        "Handoff commit → offer on the agent's socket at 200 agents, beside take-next.",
        "handoff_bench_assign", redis="", settings="bench.push_settings", wait_quiet=20.0,
    )  # fmt: skip
    add = parser.add_argument
    add("--quick", action="store_true", help="20 agents, 2 queues, 5/s for 8 s")
    add("--rate", type=float, default=20.0, help="handoffs per second (20)")
    add("--duration", type=float, default=20.0, help="seconds of handoffs per phase (20)")
    add("--agents", type=int, default=200, help="agents, one socket each (200)")
    add("--queues", type=int, default=10, help="queues (10)")
    add("--think", default="0.5,2", help="seconds before accepting an offer, min,max (0.5,2)")
    add("--hold", default="4,10", help="seconds before resolving a case, min,max (4,10)")
    add("--pull-every", type=float, default=10.0, help="take-next period, seconds (10)")
    add("--settle", type=float, default=10.0, help="seconds to wait for the last cases (10)")
    add("--workers", type=int, default=2, help="uvicorn workers (2)")
    add("--concurrency", type=int, default=2, help="Celery worker processes (2)")
    add("--redis-server", default="redis-server", help="the redis-server binary to start")
    add("--star", type=Path, default=db.STAR_PATH, help="STAR dialogues.jsonl.gz")
    args = parser.parse_args()
    if args.quick:
        args.agents, args.queues, args.rate, args.duration = 20, 2, 5.0, 8.0
        args.hold, args.pull_every, args.settle, args.wait_quiet = "1,3", 4.0, 5.0, 0.0
    args.think, args.hold = ([float(v) for v in o.split(",")] for o in (args.think, args.hold))
    run_id, started_at = secrets.token_hex(4), report.utc_timestamp()
    started: list[Any] = []  # everything to stop, in the order it started
    with tempfile.TemporaryDirectory(prefix="handoff-bench-assign-") as tmp:
        logs = Path(tmp)
        try:
            if not args.redis_url:
                started.append(procs.PrivateRedis(logs, args.redis_server))
            redis_url = args.redis_url or started[0].url
            env = db.environment(
                db.database_url(args.database_url, args.database_name), settings=args.settings,
                redis_url=redis_url, pool=(2, 8), CHANNEL_LAYER_PREFIX=f"assign{run_id}",
                BENCH_CELERY_QUEUE=f"assign-{run_id}",
            )  # fmt: skip
            machine = report.machine(db.prepare(args, env))
            db.setup_django()
            from bench.lib import app

            commit_times_reset()

            agents, queues, api_key = setup_desk(run_id, args.agents, args.queues)
            packages = db.star_packages(args.star, 200)
            db.close_connections()
            server = procs.Server(env, args.workers, logs)
            started.append(server)
            node = f"bench-assign-{run_id}@localhost"
            worker = procs.celery(env, logs, "worker", "-n", node, "--concurrency",
                                  str(args.concurrency), "--pool", "prefork", "--loglevel",
                                  "warning")  # fmt: skip
            started.append(worker)
            beat = procs.celery(env, logs, "beat", "--schedule", str(logs / "beat"))
            started.append(beat)
            pids = {"server": server.wait_ready(), "beat": [beat.process.pid]}
            procs.worker_answering(worker, app.celery_app, node)
            pids["worker"] = [worker.process.pid, *procs.children(worker.process.pid)]
            crowd = procs.Helper("crowd", crowd_setup, server.base_url, api_key, agents,
                                 packages, run_id, args.workers)  # fmt: skip
            started.append(crowd)
            pids |= {"crowd": [crowd.process.pid or 0],
                     "redis": procs.redis_pids(urlsplit(redis_url).port or 6379)}  # fmt: skip
            if (connected := crowd.call("connect", wait=130.0, timeout=120.0)) < len(agents):
                raise RuntimeError(f"{connected} sockets got a hello:\n{server.log_tail()}")
            online = app.AgentStatus.objects.filter(state="online")
            deadline = time.monotonic() + 30
            while online.count() < len(agents) and time.monotonic() < deadline:
                time.sleep(0.2)
            print(f"{len(agents)} agents online ({online.count()} by the database)", flush=True)
            run = Run(args, crowd, agents, [q.slug for q in queues], pids)
            warm = run.phase("push", "warm", 5.0, 1.0)  # connections, caches, the first task
            close_cases(warm["ids"])
            if args.wait_quiet > 0:
                procs.wait_for_quiet(args.wait_quiet, measure=run.snapshot)
            print(f"push: {args.rate:g}/s for {args.duration:g} s ...", flush=True)
            push = run.phase("push", "push", args.rate, args.duration)
            set_mode(queues, "pull")
            push["never_assigned"] = close_cases(push["ids"])
            print(f"pull: {args.rate:g}/s for {args.duration:g} s ...", flush=True)
            pull = run.phase("pull", "pull", args.rate, args.duration)
            server.check_alive()
            worker.check_alive()
        finally:
            for process in reversed(started):
                (process.close if isinstance(process, procs.Helper) else process.stop)()
    config = machine | vars(args) | {
        "redis": ("a shared Redis, " if args.redis_url else "a private Redis, ") + redis_url,
        "members": sum(2 if a.slots == OVERALL_CAP else 1 for a in agents),
        "capacity": CAPACITY, "cap": OVERALL_CAP, "json": str(args.json), "star": str(args.star),
    }  # fmt: skip
    figures: dict[str, Any] = {"started_at": started_at, "config": config, "push": push,
                               "pull": pull, "verdict": verdicts(push, pull)}  # fmt: skip
    for phase in (push, pull):
        phase.pop("ids")
    passed = all(v["pass"] for v in figures["verdict"])
    return report.finish(render(figures), figures, args.json, passed)


if __name__ == "__main__":
    report.run_main(main)
