"""Live push: intake commit → every agent's socket, beside a bare group_send (bench/README.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import secrets
import socket
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

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
from bench.lib.stats import percentile, summary

RATIO_TARGET = 2.0
P99_TARGET_MS = 250.0
RESYNC_TARGET_S = 5.0
STALL_TARGET = 1.2
STALL_RCVBUF = 8192
STALLED = 0  # the socket that stops reading
WATCH_TIMEOUT = 60.0  # for the sockets to come back after a restart
LATENCY = ("p50", "p90", "p99", "max")
CORES = ("server_cores", "postgres_cores", "redis_cores", "sockets_cores", "other_cores",
         "machine_cores")  # fmt: skip
# socket index, arrival (epoch seconds), kind, case id (events) or seq (pings), resync
Record = tuple[int, float, str, int, bool]


# --- the sockets process: 200 pages' sockets ---------------------------------------------------


@dataclass(frozen=True)
class Spec:
    index: int
    cookie: str
    queue_id: int


async def sockets_setup(base_url: str, specs: list[Spec]) -> dict[str, Any]:
    """One page's socket per spec, with its session cookie and Origin, permessage-deflate as
    browsers ask for, reconnecting with
    ``static/js/live.js``'s backoff and asking for ``resync`` from its last cursor. Every
    frame is a record (``hello`` too); every failed attempt is noted with its time."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    parts, origin = urlsplit(base_url), cast(Any, base_url)
    records: list[Record] = []
    failures: list[tuple[float, str]] = []
    state: dict[str, Any] = {"closing": False, "sample": "", "reloads": 0}
    cursors, sockets = [0] * len(specs), cast(list[Any], [None] * len(specs))
    hello = [asyncio.Event() for _ in specs]
    running = [asyncio.Event() for _ in specs]
    for event in running:
        event.set()

    def failure(what: str) -> None:
        failures.append((time.time(), what))

    async def dial(spec: Spec) -> Any:
        extra: dict[str, Any] = {}
        if spec.index == STALLED:  # a small receive buffer: stalling shows soon
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STALL_RCVBUF)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
            extra["sock"] = sock
        return await connect(
            f"ws://{parts.netloc}/ws/desk/", origin=origin, open_timeout=10, ping_interval=None,
            additional_headers={"Cookie": spec.cookie}, compression="deflate",
            proxy=None, **extra,
        )  # fmt: skip

    async def serve(i: int, ws: Any) -> None:
        got_hello = False
        try:
            if cursors[i]:
                await ws.send(json.dumps({"type": "resync", "since": cursors[i]}))
            while True:
                await running[i].wait()
                text = await ws.recv()
                now, frame = time.time(), json.loads(text)
                if frame.get("type") == "hello":
                    got_hello = True
                    cursors[i] = cursors[i] or int(frame.get("cursor") or 0)
                    hello[i].set()
                    records.append((i, now, "hello", -1, False))
                elif frame.get("type") == "event":
                    cursors[i] = max(cursors[i], int(frame.get("cursor") or 0))
                    kind, resync = str(frame.get("kind", "")), bool(frame.get("resync"))
                    ident = frame.get("seq") if kind == "bench.ping" else frame.get("case_id")
                    records.append((i, now, kind, -1 if ident is None else int(ident), resync))
                    if not state["sample"] and kind == "case.created" and not resync:
                        state["sample"] = text
                elif frame.get("type") == "reload":
                    state["reloads"] += 1
        except ConnectionClosed as exc:
            if not got_hello:
                failure(f"closed before hello ({exc.rcvd.code if exc.rcvd else 1006})")

    async def page(spec: Spec) -> None:
        attempt = 0
        while not state["closing"]:
            try:
                sockets[spec.index] = await dial(spec)
            except InvalidStatus as exc:
                failure(f"handshake rejected ({exc.response.status_code})")
            except Exception as exc:
                failure("refused" if isinstance(exc, ConnectionError) else type(exc).__name__)
            else:
                attempt = 0
                try:
                    await serve(spec.index, sockets[spec.index])
                finally:
                    sockets[spec.index] = None
            if not state["closing"]:
                attempt += 1  # live.js: min(30 s, 0.5 s x 2^attempt) x (0.75 … 1.25)
                await asyncio.sleep(min(30.0, 0.5 * 2**attempt) * (0.75 + random.random() / 2))

    tasks: list[asyncio.Task[None]] = []

    async def do_connect(timeout: float) -> dict[str, Any]:
        started = time.perf_counter()
        tasks.extend(asyncio.create_task(page(spec)) for spec in specs)
        await asyncio.wait([asyncio.create_task(e.wait()) for e in hello], timeout=timeout)
        return {
            "connected": sum(e.is_set() for e in hello),
            "seconds": time.perf_counter() - started,
        }

    async def do_drain() -> dict[str, Any]:
        drained, noted = records[:], failures[:]
        records.clear()
        failures.clear()
        return {"records": drained, "failures": noted, "reloads": state["reloads"],
                "sample": state["sample"]}  # fmt: skip

    async def do_stall(index: int, stall: bool) -> None:
        (running[index].clear if stall else running[index].set)()
        if sockets[index] is not None:
            with contextlib.suppress(Exception):
                transport = sockets[index].transport
                (transport.pause_reading if stall else transport.resume_reading)()

    async def close() -> None:
        state["closing"] = True
        for i, ws in enumerate(sockets):
            running[i].set()
            if ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), 2.0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    return {"connect": do_connect, "drain": do_drain, "stall": do_stall, "close": close}


# --- the sender process: handoffs over HTTP or bare group_sends, at a fixed rate ---------------


async def sender_setup(
    base_url: str, api_key: str, packages: list[Any], run: str, workers: int
) -> Any:
    from channels.layers import get_channel_layer

    db.setup_django()  # the channel layer as the settings configure it
    layer = get_channel_layer()

    async def post(tag: str, rate: float, duration: float, slugs: list[str]) -> list[http.Sent]:
        """Handoffs round robin over the queues, on connections spread over the workers, so the
        commits come from all of them."""

        def body(n: int) -> bytes:
            return handoff_body(packages, n, f"push-{run}-{tag}-{n}", slugs[n % len(slugs)])

        count = max(round(rate * duration), 1)
        return await http.post_handoffs(base_url, api_key, body, count, rate, 8, workers)

    async def ping(rate: float, duration: float, groups: list[str], payload: Any) -> list[Any]:
        """(seq, group, sent_at) of each group_send of a copy of a real frame."""
        records: list[Any] = []

        async def one(n: int, _: float) -> None:
            group, sent_at = groups[n % len(groups)], time.time()
            await layer.group_send(
                group, {**payload, "kind": "bench.ping", "seq": n, "sent_at": sent_at}
            )
            records.append((n, group, sent_at))

        await procs.open_loop(rate, duration, one)
        return records

    return {"post": post, "ping": ping}


# --- the desk and the figures ------------------------------------------------------------------


@dataclass
class Desk:
    api_key: str
    queues: list[tuple[int, str]]  # id, slug
    specs: list[Spec]
    members: dict[int, list[int]]  # queue id → socket indexes


def setup_desk(run: str, agents: int, queue_count: int) -> Desk:
    """Queues routed by a fact, agents (plain bulk inserts: no page is open yet, no live event
    is due), each a member of one queue, and one session per agent."""
    from bench.lib import app

    queues, api_key = routed_queues(run, queue_count, "push")
    users = agent_users("push", agents)
    app.Membership.objects.bulk_create(
        app.Membership(agent=user, queue=queues[n % queue_count], capacity=5)
        for n, user in enumerate(users)
    )
    specs, members = [], defaultdict(list)
    for n, user in enumerate(users):
        queue_id = queues[n % queue_count].pk
        specs.append(Spec(n, session_cookie(user), queue_id))
        members[queue_id].append(n)
    return Desk(api_key, [(q.pk, q.slug) for q in queues], specs, dict(members))


@dataclass
class Result:
    name: str
    rate: float
    sent: int = 0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    expected: int = 0
    missing: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    post_ms: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)


def result(name: str, rate: float, kind: str, sent: list[tuple[Any, int, float]],
           records: list[Record], desk: Desk, excluded: set[int]) -> Result:  # fmt: skip
    """``sent``: (ident, queue id, the time it counts from) of each event; every member of its
    queue must get it, and one that never does is infinitely late."""
    arrivals: dict[tuple[int, int], float] = {}
    for index, arrival, event_kind, ident, resync in records:
        if event_kind == kind and not resync:
            arrivals.setdefault((index, ident), arrival)
    latencies = [
        arrivals.get((index, ident), math.inf) - start
        for ident, queue_id, start in sent
        for index in desk.members[queue_id]
        if index not in excluded
    ]  # a commit never stamped (NaN) or a frame never come (inf) is missing: infinitely late
    missing = sum(1 for value in latencies if not math.isfinite(value))
    latencies = [value if math.isfinite(value) else math.inf for value in latencies]
    found = Result(name, rate, sent=len(sent), expected=len(latencies), missing=missing)
    found.latency_ms = summary(latencies, 1000)
    return found


class Run:
    """What the phases share: the helpers, the desk, the CPU meter, every frame of the run."""

    def __init__(self, desk: Desk, sockets: procs.Helper, sender: procs.Helper, args: Any) -> None:
        self.desk, self.sockets, self.sender, self.args = desk, sockets, sender, args
        self.server: list[int] = []
        self.redis: list[int] = []

    def snapshot(self) -> procs.Snapshot:
        helpers = {"sockets": self.sockets, "sender": self.sender}
        extra = {k: [p.process.pid or 0] for k, p in helpers.items()} | {"redis": self.redis}
        return procs.snapshot(self.server, self.args.database_name, extra)

    def drain(self, settle: float = 2.0) -> dict[str, Any]:
        time.sleep(settle)  # for the phase's last frames to land
        drained: dict[str, Any] = self.sockets.call("drain")
        return drained

    def phase(
        self, name: str, rate: float, command: str, **payload: Any
    ) -> tuple[Any, list[Record], Any]:
        if self.args.wait_quiet > 0:
            procs.wait_for_quiet(self.args.wait_quiet, measure=self.snapshot)
        self.drain(0.2)
        before = self.snapshot()
        print(f"{name} at {rate:g}/s for {self.args.duration:g} s ...", flush=True)
        wait = self.args.duration + 120
        sent = self.sender.call(
            command, wait=wait, rate=rate, duration=self.args.duration, **payload
        )
        cpu = procs.cpu_use(before, self.snapshot())
        return sent, self.drain()["records"], cpu

    def ping(self, rate: float, payload: dict[str, Any]) -> Result:
        queue_of = {f"queue.{queue_id}": queue_id for queue_id, _ in self.desk.queues}
        name = "bare group_send → socket"
        pings, records, cpu = self.phase(name, rate, "ping", groups=list(queue_of), payload=payload)
        sent = [(seq, queue_of[group], at) for seq, group, at in pings]
        found = result(name, rate, "bench.ping", sent, records, self.desk, set())
        found.cpu = cpu
        return found

    def intake(self, name: str, tag: str, rate: float, excluded: set[int]) -> Result:
        slugs = [slug for _, slug in self.desk.queues]
        posts, records, cpu = self.phase(name, rate, "post", tag=tag, slugs=slugs)
        created = [post for post in posts if post.status == 201]
        committed = commit_times([post.case_id for post in created])
        queues = self.desk.queues
        sent = [(p.case_id, queues[p.number % len(queues)][0], committed.get(p.case_id, math.nan))
                for p in created]  # fmt: skip
        found = result(name, rate, "case.created", sent, records, self.desk, excluded)
        found.statuses = dict(Counter(str(post.status) for post in posts))
        found.sent, found.errors, found.cpu = len(posts), len(posts) - len(created), cpu
        found.post_ms = summary([post.answered - post.sent for post in posts], 1000)
        return found


def stall(run: Run, rate: float) -> tuple[list[Result], dict[str, Any]]:
    """Reference, socket #0 stalled, reference again (A-B-A, so a drift in the machine shows):
    the other sockets' p99 against the mean of the references'."""
    others, phases = f"{len(run.desk.specs) - 1} sockets", []
    for name, tag, stalled in (
        (f"intake, reference ({others})", "ref1", False),
        (f"intake, #{STALLED} stalled ({others})", "stall", True),
        (f"intake, reference again ({others})", "ref2", False),
    ):
        run.sockets.call("stall", index=STALLED, stall=stalled)
        if tag == "ref2":
            run.drain(3.0)  # the stalled socket reads its backlog first
        phases.append(run.intake(name, tag, rate, {STALLED}))
    run.sockets.call("stall", index=STALLED, stall=False)
    references = [phases[0].latency_ms["p99"], phases[2].latency_ms["p99"]]
    ratio = phases[1].latency_ms["p99"] / (sum(references) / 2) if sum(references) else math.inf
    return phases, {"reference_p99_ms": references, "stalled_p99_ms": phases[1].latency_ms["p99"],
                    "ratio": round(ratio, 3)}  # fmt: skip


def restart(run: Run, server: procs.Server, packages: list[Any], tag: str) -> dict[str, Any]:
    """SIGTERM to the server (uvicorn closes the sockets with 1012), one handoff per queue made
    in process while it is down, the server again on the same port: until every socket is back
    and has its missed handoff by resync; then one live handoff per queue must reach them all."""
    from django.test import Client

    reloads = run.drain(0.5)["reloads"]
    stop_started = time.time()
    server.stop()
    stopped = time.time()
    client, missed, key = Client(), {}, run.desk.api_key
    for number, (queue_id, slug) in enumerate(run.desk.queues):
        answer = client.post(
            http.INTAKE_PATH, data=handoff_body(packages, number, f"push-{tag}-down{number}", slug),
            content_type="application/json", headers={"Authorization": f"Bearer {key}"},
        )  # fmt: skip
        if answer.status_code != 201:
            raise RuntimeError(f"handoff while down: {answer.status_code} {answer.content!r}")
        missed[queue_id] = int(answer.json()["case_id"])
    db.close_connections()
    server.start()
    run.server = server.wait_ready()
    ready, deadline = time.time(), time.monotonic() + WATCH_TIMEOUT
    records, failures = [], []
    resynced: dict[int, float] = {}
    back: dict[int, float] = {}
    while len(resynced) < len(run.desk.specs) and time.monotonic() < deadline:
        drained = run.drain(0.25)
        records += drained["records"]
        failures += drained["failures"]
        for i, at, kind, ident, resync in records:
            if kind == "hello":
                back.setdefault(i, at - ready)
            elif resync and ident == missed[run.desk.specs[i].queue_id]:
                resynced.setdefault(i, at - ready)
    after_ready = sorted(resynced.values())
    slugs = [slug for _, slug in run.desk.queues]
    posts = run.sender.call("post", tag=f"{tag}-after", rate=5.0, duration=1.0, slugs=slugs)
    after = run.drain()
    arrived = {(i, ident) for i, _, k, ident, r in after["records"] if k == "case.created"}
    queues = run.desk.queues
    live = [(i, post.case_id) in arrived for post in posts if post.status == 201
            for i in run.desk.members[queues[post.number % len(queues)][0]]]  # fmt: skip
    return {
        "sockets": len(run.desk.specs), "resynced": len(after_ready),
        "stop_seconds": round(stopped - stop_started, 2),
        "down_seconds": round(ready - stop_started, 2),
        "resync_p50_s": round(percentile(after_ready, 50), 2) if after_ready else math.inf,
        "resync_max_s": round(after_ready[-1], 2) if after_ready else math.inf,
        "hello_s": summary(back.values(), pcts=(50,), digits=3),
        "refused_while_down": sum(1 for t, what in failures if what == "refused" and t < ready),
        "failed_joins": sum(1 for t, what in failures if t >= ready and what != "refused"),
        "reloads": after["reloads"] - reloads,
        "live_received": sum(live), "live_expected": len(live),
    }  # fmt: skip


def verdicts(
    phases: list[Result], stalled: dict[str, Any] | None, back: dict[str, Any] | None
) -> list[dict[str, Any]]:
    found = []
    for rate in sorted({p.rate for p in phases}):
        bare = next((p for p in phases if p.rate == rate and p.name.startswith("bare")), None)
        intake = next((p for p in phases if p.rate == rate and p.name.startswith("intake c")), None)
        if bare and intake:
            ratio = intake.latency_ms["p99"] / bare.latency_ms["p99"]
            ok = ratio <= RATIO_TARGET and intake.latency_ms["p99"] < P99_TARGET_MS
            found.append({"what": f"intake p99 at {rate:g}/s", "value_ms": intake.latency_ms["p99"],
                          "baseline_ms": bare.latency_ms["p99"], "ratio": round(ratio, 2),
                          "pass": ok and intake.errors == intake.missing == 0})  # fmt: skip
    if stalled is not None:
        found.append({"what": "one stalled socket", "pass": stalled["ratio"] <= STALL_TARGET})
    if back is not None:
        ok = back["resynced"] == back["sockets"] and back["resync_max_s"] <= RESYNC_TARGET_S
        ok = ok and back["failed_joins"] == back["reloads"] == 0
        ok = ok and back["live_received"] == back["live_expected"]
        found.append({"what": "restart", "pass": ok})
    return found


def render(figures: dict[str, Any]) -> str:
    config, f = figures["config"], report.fmt
    lines = report.header(
        "live push benchmark", figures,
        "server : uvicorn handoff_site.asgi:application, {workers} workers, loop {loop}, "
        "permessage-deflate; channel layer on {layer}".format(**config),
        "sockets: {agents} agents over {queues} queues ({per_queue} per queue), 1 process "
        "({sockets_loop}), reconnecting as live.js does".format(**config),
        f"sender : 1 process ({config['sender_loop']}): POST {http.INTAKE_PATH} (kept connections, "
        "spread over the workers) or group_send with the site's layer settings, at a fixed rate, "
        "round robin over queues",
        "",
        f"{'frames':>67}{'arrival - commit/sent_at, ms':>34}{'POST ms':>18}{'cores busy':>30}",
    )  # fmt: skip
    phases = [Result(**phase) for phase in figures["phases"]]
    lines += report.table(
        "phase<38|rate/s>7g|sent>6|expected>9,|missing>8|p50>8.1f|p90>8.1f|p99>9.1f|max>9.1f|p50>9.0f"
        "|p99>9.0f|server>8.2f|pg>6.2f|redis>6.2f|socks>6.2f|other>6.2f|all>6.2f",
        [(p.name, p.rate, p.sent, p.expected, p.missing, *(p.latency_ms[k] for k in LATENCY),
          *(p.post_ms.get(k, math.nan) for k in ("p50", "p99")), *(p.cpu[k] for k in CORES))
         for p in phases],
    )  # fmt: skip
    lines.append("")
    lines += [f"errors in {p.name} at {p.rate:g}/s: {p.statuses}" for p in phases if p.errors]
    verdict = {v["what"]: v for v in figures["verdict"]}
    for v in figures["verdict"]:
        if v["what"].startswith("intake p99"):
            lines.append(
                f"{v['what']}: {f(v['value_ms'])} ms, bare group_send {f(v['baseline_ms'])} ms, "
                f"{f(v['ratio'], 2)}x (target <= {RATIO_TARGET:g}x and < {P99_TARGET_MS:.0f} ms, "
                f"no error or missing frame) {report.verdict(v['pass'])}"
            )
    if s := figures["stall"]:
        lines += [
            f"one stalled socket (#{STALLED}, not reading, {STALL_RCVBUF // 1024} KB receive "
            f"buffer): the other sockets' p99 {f(s['stalled_p99_ms'])} ms vs "
            f"{' and '.join(map(f, s['reference_p99_ms']))} ms before and after = "
            f"{f(s['ratio'], 2)}x their mean (target <= {STALL_TARGET:g}x) "
            + report.verdict(verdict["one stalled socket"]["pass"]),
        ]
    if r := figures["restart"]:
        lines += [
            f"restart: SIGTERM → old server gone {r['stop_seconds']:.2f} s → new server answering "
            f"{r['down_seconds']:.2f} s; 1 handoff per queue created while down",
            f"  {r['resynced']}/{r['sockets']} sockets reconnected and resynced; after the server "
            f"answered: p50 {f(r['resync_p50_s'], 2)} s, last {f(r['resync_max_s'], 2)} s "
            f"(target <= {RESYNC_TARGET_S:g} s)",
            f"  attempts refused while down {r['refused_while_down']}; failed handshakes or closes "
            f"before hello after it answered {r['failed_joins']}; reload frames {r['reloads']}",
            f"  live after the restart: {r['live_received']}/{r['live_expected']} frames",
            f"  server answering → hello again (live.js's backoff and the consumer's connect): "
            f"p50 {f(r['hello_s']['p50'], 2)} s, max {f(r['hello_s']['max'], 2)} s",
            f"restart: every socket back and resynced within {RESYNC_TARGET_S:g} s of the server "
            "answering, no failed join, no reload, live again "
            + report.verdict(verdict["restart"]["pass"]),
        ]  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    parser = db.arguments(
        "Intake commit → websocket frame at 200 agents, beside a bare group_send.",
        "handoff_bench_push", redis="", settings="bench.push_settings", wait_quiet=30.0,
    )  # fmt: skip
    add = parser.add_argument
    add("--duration", type=float, default=20.0, help="seconds per measured phase (20)")
    add("--rates", default="5,20", help="handoffs (and pings) per second, comma separated (5,20)")
    add("--agents", type=int, default=200, help="agent sockets (200)")
    add("--queues", type=int, default=5, help="queues (5)")
    add("--workers", type=int, default=2, help="uvicorn workers (2)")
    add("--pool-min", type=int, default=2, help="psycopg pool min per worker (2)")
    add("--pool-max", type=int, default=8, help="psycopg pool max per worker (8)")
    add("--redis-server", default="redis-server", help="the redis-server binary to start")
    add("--star", type=Path, default=db.STAR_PATH, help="STAR dialogues.jsonl.gz")
    add("--no-stall", action="store_true", help="skip the stalled-socket run")
    add("--no-restart", action="store_true", help="skip the server restart")
    args = parser.parse_args()
    rates = [float(rate) for rate in args.rates.split(",") if rate.strip()]
    if not rates or min(rates) <= 0 or args.duration <= 0 or args.agents < 2 or args.queues < 1:
        parser.error("--rates, --duration, --agents and --queues must be positive")
    run_id, started_at = secrets.token_hex(4), report.utc_timestamp()
    started: list[Any] = []  # everything to stop, in the order it started
    with tempfile.TemporaryDirectory(prefix="handoff-bench-push-") as tmp:
        try:
            if not args.redis_url:
                started.append(procs.PrivateRedis(Path(tmp), args.redis_server))
            redis_url = args.redis_url or started[0].url
            env = db.environment(
                db.database_url(args.database_url, args.database_name), settings=args.settings,
                redis_url=redis_url, pool=(args.pool_min, args.pool_max),
            )  # fmt: skip
            machine = report.machine(db.prepare(args, env))
            db.setup_django()
            from django.urls import get_resolver

            get_resolver().url_patterns  # noqa: B018  (the URLconf now, not mid-restart)
            commit_times_reset()  # a shared Redis may hold an earlier run's
            desk = setup_desk(run_id, args.agents, args.queues)
            packages = db.star_packages(args.star, 200)
            db.close_connections()
            server = procs.Server(env, args.workers, Path(tmp))
            started.append(server)
            pids = server.wait_ready()
            sockets = procs.Helper("sockets", sockets_setup, server.base_url, desk.specs)
            started.append(sockets)
            sender = procs.Helper("sender", sender_setup, server.base_url, desk.api_key, packages,
                                  run_id, args.workers)  # fmt: skip
            started.append(sender)
            connected = sockets.call("connect", wait=130.0, timeout=120.0)
            if connected["connected"] < len(desk.specs):
                raise RuntimeError(f"only {connected} sockets got a hello:\n{server.log_tail()}")
            print(f"{connected['connected']} sockets connected in {connected['seconds']:.1f} s")
            run = Run(desk, sockets, sender, args)
            run.server, run.redis = pids, procs.redis_pids(urlsplit(redis_url).port or 6379)
            # Warm-up: connections to Redis and PostgreSQL, and a real frame to copy.
            slugs = [slug for _, slug in desk.queues]
            sender.call("post", tag="warm", rate=5.0, duration=2.0, slugs=slugs)
            sample = run.drain(1.0)["sample"]
            if not sample:
                raise RuntimeError(f"no case.created frame reached a socket\n{server.log_tail()}")
            payload = json.loads(sample) | {"type": "desk.event", "case_id": None, "cursor": 0,
                                            "version": 0}  # fmt: skip
            phases = []
            for rate in rates:
                phases.append(run.ping(rate, payload))
                phases.append(run.intake("intake commit → socket", f"r{rate:g}", rate, set()))
                server.check_alive()
            stalled = None
            if not args.no_stall:
                more, stalled = stall(run, max(rates))
                phases += more
            back = None if args.no_restart else restart(run, server, packages, run_id)
        finally:
            for process in reversed(started):
                (process.close if isinstance(process, procs.Helper) else process.stop)()
    config = machine | dict(
        workers=args.workers, loop=server.loop,
        layer=("a shared Redis, " if args.redis_url else "a private Redis, ") + redis_url,
        agents=args.agents, queues=len(desk.queues), sockets_loop=sockets.loop_name,
        per_queue=" / ".join(str(len(desk.members[q])) for q, _ in desk.queues),
        sender_loop=sender.loop_name, duration=args.duration, rates=rates,
    )  # fmt: skip
    figures: dict[str, Any] = {
        "started_at": started_at, "config": config, "phases": [asdict(phase) for phase in phases],
        "stall": stalled, "restart": back, "verdict": verdicts(phases, stalled, back),
    }  # fmt: skip
    passed = all(verdict["pass"] for verdict in figures["verdict"])
    return report.finish(render(figures), figures, args.json, passed)


if __name__ == "__main__":
    report.run_main(main)
