"""Live push: intake commit → frame at every agent's socket, beside a bare group_send round trip.

    cd /work/main && .venv/bin/python bench/push.py --duration 20

What it does, in one run and under one server configuration:

1. Drops and recreates a PostgreSQL database (``handoff_bench_push``), migrates it with
   ``DJANGO_SETTINGS_MODULE=bench.push_settings`` (the benchmark settings plus the commit
   probe ``bench.push_probe``) and sets up a desk: 5 queues (one the default),
   200 agents with 40 members per queue, a routing rule per queue (on the package fact
   ``bench_queue``), an integration, and a Django session per agent (``SessionStore``).
2. Starts a private ``redis-server`` on a free port (``--redis-url`` to use another: on a shared
   one, other desks publish into the same ``asgi__group__queue.<id>`` channels), then
   ``uvicorn handoff_site.asgi:application`` (``--workers 2``: one listening socket, the kernel
   hands each connection to either process) with ``REDIS_URL`` set to it, so the channel layer
   is ``RedisPubSubChannelLayer`` and an event crosses processes through Redis.
3. A sockets process (uvloop, the ``websockets`` client) opens the 200 agents' sockets to
   ``/ws/desk/`` with their session cookie and ``Origin``, as a page does, and notes the wall
   clock (``time.time()``) at which each frame comes out of ``recv()``. It reconnects with the
   page's own backoff (``static/js/live.js``) and asks for ``resync`` with its last cursor.
4. A sender process, at a fixed rate (5/s, then 20/s), round robin over the queues:

   - baseline: ``channel_layer.group_send("queue.<id>", ...)`` with the same layer settings, a
     copy of a real ``case.created`` frame (same size) with ``sent_at`` = the wall clock just
     before the call; latency = arrival - ``sent_at``;
   - intake: ``POST /api/v1/handoffs`` (a STAR dialogue as a package); latency = arrival - the
     commit, as the server saw it: the start of the intake's on-commit callback, which the probe
     notes (after handing the frame on) in a Redis hash the benchmark reads afterwards.

   Every posted handoff or ping must reach each of the 40 members of its queue; a frame that
   never arrives counts as infinitely late.
5. One socket stops reading (its transport paused, an 8 KB receive buffer) while the intake
   runs at the higher rate: the other 199 sockets' p99 beside the mean of the same run just
   before and just after (A-B-A, so that a drift in the machine's load shows).
6. Restart: SIGTERM to the server (as a deploy does; uvicorn closes the sockets with 1012), one
   handoff per queue created while it is down, the server started again on the same port. Time
   until every socket has reconnected and received, by resync, the handoff it missed; failed
   handshakes and closes before ``hello`` after the server answers; then one live handoff per
   queue must reach all 200 sockets.
7. In process (Django's test client, same database and layer): the gap between the event row's
   ``created_at`` and the commit, and what building the frame costs inside the transaction.

Everything runs on this machine (loopback, one clock). The exit status is 0 only when every
target passes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import platform
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402  (needs ROOT on sys.path)
    STAR_PATH,
    PrivateRedis,
    add_database_arguments,
    bench_environment,
    cpu_snapshot,
    cpu_use,
    database_url,
    end_process,
    free_port,
    install_uvloop,
    percentile,
    postgres_version,
    prepare_database,
    process_cpu_seconds,
    run_main,
    star_packages,
    stop_session,
    use_environment,
    utc_timestamp,
    uvicorn_command,
    versions,
    wait_serving,
    wait_until_quiet,
)

BENCH_DB = "handoff_bench_push"
INTAKE_PATH = "/api/v1/handoffs"
WS_PATH = "/ws/desk/"
ROUTING_FACT = "bench_queue"
RATIO_TARGET = 2.0
P99_TARGET_MS = 250.0
RESYNC_TARGET_S = 5.0
STALL_TARGET = 1.2
SETTLE_SECONDS = 2.0  # after a phase's last send, for its frames to land
STALL_RCVBUF = 8192
SERVER_STOP_SECONDS = 15.0
WATCH_TIMEOUT = 60.0
STALLED_SOCKET = 0


# --- the sockets process ------------------------------------------------------------------------


@dataclass(frozen=True)
class SocketSpec:
    index: int
    cookie: str
    queue_id: int
    small_buffer: bool = False  # the socket that may be told to stall


# socket index, arrival (epoch seconds), kind, case id (events) or seq (pings), resync
Record = tuple[int, float, str, int, bool]


def live_js_backoff(attempt: int) -> float:
    """``static/js/live.js``: min(30 s, 0.5 s x 2^attempt) x (0.75 … 1.25)."""
    return float(min(30.0, 0.5 * 2**attempt) * (0.75 + random.random() / 2))


@dataclass
class RestartWatch:
    started: float
    expected: dict[int, set[int]] = field(default_factory=dict)  # queue id → missed case ids
    armed: bool = False
    closed: dict[int, float] = field(default_factory=dict)
    dialed: dict[int, float] = field(default_factory=dict)  # the attempt that succeeded began
    opened: dict[int, float] = field(default_factory=dict)  # its handshake was done
    reconnected: dict[int, float] = field(default_factory=dict)  # hello
    resynced: dict[int, float] = field(default_factory=dict)
    pending: dict[int, set[int]] = field(default_factory=dict)
    failures: list[tuple[float, str]] = field(default_factory=list)
    attempts: int = 0


class DeskSocket:
    """One agent's page: its socket, its cursor, and the page's reconnect policy."""

    def __init__(self, owner: DeskSockets, spec: SocketSpec) -> None:
        self.owner = owner
        self.spec = spec
        self.cursor = 0
        self.ws: Any = None
        self.hello = asyncio.Event()
        self.running = asyncio.Event()
        self.running.set()
        self.closes: Counter[int] = Counter()

    async def _open(self) -> Any:
        from websockets.asyncio.client import connect

        owner = self.owner
        extra: dict[str, Any] = {}
        if self.spec.small_buffer:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STALL_RCVBUF)
            sock.setblocking(False)
            try:
                await asyncio.get_running_loop().sock_connect(sock, (owner.host, owner.port))
            except OSError:
                sock.close()
                raise
            extra["sock"] = sock
        return await connect(
            owner.ws_url,
            origin=cast(Any, owner.origin),
            additional_headers={"Cookie": self.spec.cookie},
            compression=owner.compression,
            open_timeout=10,
            ping_interval=None,  # a browser answers the server's pings and sends none
            proxy=None,
            **extra,
        )

    async def run(self) -> None:
        from websockets.exceptions import InvalidStatus

        owner = self.owner
        attempt = 0
        while not owner.closing:
            watch = owner.watch
            if watch is not None and watch.armed:
                watch.attempts += 1
            dialed = time.time()
            try:
                ws = await self._open()
            except InvalidStatus as exc:
                owner.failure(f"handshake rejected ({exc.response.status_code})")
            except (OSError, TimeoutError) as exc:
                owner.failure("refused" if isinstance(exc, ConnectionError) else type(exc).__name__)
            except Exception as exc:
                owner.failure(type(exc).__name__)
            else:
                attempt = 0  # live.js: onopen
                self.ws = ws
                watch = owner.watch
                index = self.spec.index
                if watch is not None and watch.armed and index in watch.closed:
                    watch.dialed.setdefault(index, dialed)
                    watch.opened.setdefault(index, time.time())
                try:
                    await self._serve(ws)
                finally:
                    self.ws = None
            if owner.closing:
                return
            attempt += 1
            await asyncio.sleep(live_js_backoff(attempt))

    async def _serve(self, ws: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        owner = self.owner
        index = self.spec.index
        got_hello = False
        try:
            if self.cursor:
                await ws.send(json.dumps({"type": "resync", "since": self.cursor}))
            while True:
                if not self.running.is_set():
                    await self.running.wait()
                text = await ws.recv()
                now = time.time()
                frame = json.loads(text)
                kind = frame.get("type")
                watch = owner.watch
                if kind == "hello":
                    got_hello = True
                    if not self.cursor:
                        self.cursor = int(frame.get("cursor") or 0)
                    self.hello.set()
                    if watch is not None and watch.armed and index in watch.closed:
                        watch.reconnected.setdefault(index, now)
                        self._check_resynced(watch, now)
                elif kind == "event":
                    self.cursor = max(self.cursor, int(frame.get("cursor") or 0))
                    event_kind = str(frame.get("kind", ""))
                    resync = bool(frame.get("resync"))
                    ident = frame.get("seq") if event_kind == "bench.ping" else frame.get("case_id")
                    ident = -1 if ident is None else int(ident)
                    owner.records.append((index, now, event_kind, ident, resync))
                    if not owner.sample and event_kind == "case.created" and not resync:
                        owner.sample = text
                    if resync and watch is not None and watch.armed:
                        watch.pending.get(index, set()).discard(int(frame.get("case_id") or -1))
                        self._check_resynced(watch, now)
                elif kind == "reload":
                    owner.counters["reload frames"] += 1
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            self.closes[code] += 1
            if not got_hello:
                owner.failure(f"closed before hello ({code})")
            watch = owner.watch
            if watch is not None and not owner.closing:
                watch.closed.setdefault(index, time.time())

    def _check_resynced(self, watch: RestartWatch, now: float) -> None:
        index = self.spec.index
        if (
            index in watch.reconnected
            and index not in watch.resynced
            and index in watch.pending
            and not watch.pending[index]
        ):
            watch.resynced[index] = now


class DeskSockets:
    """The sockets process: 200 pages' sockets, and answers to the parent's commands."""

    def __init__(self, base_url: str, specs: list[SocketSpec], compression: str | None) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.ws_url = f"ws://{parts.netloc}{WS_PATH}"
        self.origin = base_url
        self.compression = compression
        self.sockets = [DeskSocket(self, spec) for spec in specs]
        self.records: list[Record] = []
        self.sample = ""
        self.counters: Counter[str] = Counter()
        self.closing = False
        self.watch: RestartWatch | None = None
        self.tasks: list[asyncio.Task[None]] = []

    def failure(self, what: str) -> None:
        self.counters[what] += 1
        if self.watch is not None:
            self.watch.failures.append((time.time(), what))

    async def serve(self, conn: Connection, loop_name: str) -> None:
        conn.send({"ready": loop_name})
        handlers: dict[str, Callable[..., Any]] = {
            "connect": self.do_connect,
            "drain": self.do_drain,
            "stall": self.do_stall,
            "unstall": self.do_unstall,
            "watch_start": self.do_watch_start,
            "watch_expect": self.do_watch_expect,
            "watch_result": self.do_watch_result,
        }
        try:
            await serve_commands(conn, handlers)
        finally:
            await self.shutdown()

    async def do_connect(self, timeout: float) -> dict[str, Any]:
        started = time.perf_counter()
        self.tasks = [asyncio.create_task(s.run()) for s in self.sockets]
        waits = [asyncio.create_task(s.hello.wait()) for s in self.sockets]
        await asyncio.wait(waits, timeout=timeout)
        for wait in waits:
            wait.cancel()
        return {
            "connected": sum(s.hello.is_set() for s in self.sockets),
            "seconds": round(time.perf_counter() - started, 3),
            "counters": dict(self.counters),
        }

    async def do_drain(self) -> dict[str, Any]:
        records, self.records = self.records, []
        return {
            "records": records,
            "counters": dict(self.counters),
            "sample": self.sample,
            "open": sum(s.ws is not None for s in self.sockets),
            "closes": {str(s.spec.index): dict(s.closes) for s in self.sockets if s.closes},
        }

    async def do_stall(self, index: int) -> dict[str, Any]:
        desk_socket = self.sockets[index]
        desk_socket.running.clear()
        if desk_socket.ws is not None:
            desk_socket.ws.transport.pause_reading()
        return {"stalled": index, "open": desk_socket.ws is not None}

    async def do_unstall(self, index: int) -> dict[str, Any]:
        desk_socket = self.sockets[index]
        was_open = desk_socket.ws is not None
        if desk_socket.ws is not None:
            with contextlib.suppress(Exception):
                desk_socket.ws.transport.resume_reading()
        desk_socket.running.set()
        return {"unstalled": index, "open": was_open, "closes": dict(desk_socket.closes)}

    async def do_watch_start(self) -> dict[str, Any]:
        self.watch = RestartWatch(started=time.time())
        return {"started": self.watch.started}

    async def do_watch_expect(self, expected: dict[int, list[int]]) -> dict[str, Any]:
        watch = self.watch
        if watch is None:
            raise RuntimeError("watch_start first")
        watch.expected = {queue: set(cases) for queue, cases in expected.items()}
        watch.pending = {
            s.spec.index: set(watch.expected.get(s.spec.queue_id, set())) for s in self.sockets
        }
        watch.armed = True
        return {"closed": len(watch.closed)}

    async def do_watch_result(self, timeout: float) -> dict[str, Any]:
        watch = self.watch
        if watch is None:
            raise RuntimeError("watch_start first")
        deadline = time.monotonic() + timeout
        while len(watch.resynced) < len(self.sockets) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.watch = None
        return {
            "sockets": len(self.sockets),
            "closed": watch.closed,
            "dialed": watch.dialed,
            "opened": watch.opened,
            "reconnected": watch.reconnected,
            "resynced": watch.resynced,
            "failures": watch.failures,
            "attempts": watch.attempts,
            "reloads": self.counters["reload frames"],
        }

    async def shutdown(self) -> None:
        self.closing = True
        for desk_socket in self.sockets:
            desk_socket.running.set()
            if desk_socket.ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(desk_socket.ws.close(), 2.0)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def serve_commands(conn: Connection, handlers: dict[str, Callable[..., Any]]) -> None:
    """A helper process's loop: run the parent's (command, payload) with the handler of that
    name, send back its result or error, until the parent sends None or closes the pipe."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            message = await loop.run_in_executor(None, conn.recv)
        except EOFError:
            return
        if message is None:
            return
        command, payload = message
        try:
            result = await handlers[command](**payload)
        except Exception as exc:
            conn.send({"error": f"{command}: {type(exc).__name__}: {exc}"})
        else:
            conn.send({"result": result})


def sockets_main(
    conn: Connection, base_url: str, specs: list[SocketSpec], compression: str | None
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    loop_name = install_uvloop()
    asyncio.run(DeskSockets(base_url, specs, compression).serve(conn, loop_name))


# --- the sender process -------------------------------------------------------------------------

# seq, queue slug, request start, answer (epoch seconds), status, case id
PostRecord = tuple[int, str, float, float, int | str, int]
# seq, group, sent_at (epoch seconds)
PingRecord = tuple[int, str, float]


class Sender:
    """Handoffs over HTTP, or bare group_sends, at a fixed rate (open loop)."""

    def __init__(self, base_url: str, api_key: str, packages: list[dict[str, Any]], run: str):
        self.base_url = base_url
        self.api_key = api_key
        self.packages = packages
        self.run = run

    def body(self, tag: str, number: int, slug: str) -> bytes:
        package = self.packages[number % len(self.packages)]
        facts = dict(package.get("facts") or {})
        facts[ROUTING_FACT] = slug
        body = {**package, "external_id": f"push-{self.run}-{tag}-{number}", "facts": facts}
        return json.dumps(body, separators=(",", ":")).encode()

    async def do_post(self, tag: str, rate: float, duration: float, slugs: list[str]) -> Any:
        import httpx

        records: list[PostRecord] = []
        # A new connection per request (as bots behind a load balancer often do): the two
        # workers share the intake, so commits come from both processes.
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Content-Type": "application/json",
            "Connection": "close",
        }
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=30.0, trust_env=False, headers=headers
        ) as client:

            async def one(number: int) -> None:
                slug = slugs[number % len(slugs)]
                body = self.body(tag, number, slug)
                started = time.time()
                status: int | str
                case_id = -1
                try:
                    response = await client.post(INTAKE_PATH, content=body)
                    status = response.status_code
                    if status in (200, 201):
                        case_id = int(response.json()["case_id"])
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                records.append((number, slug, started, time.time(), status, case_id))

            await open_loop(rate, duration, one)
        return records

    async def do_ping(
        self, rate: float, duration: float, groups: list[str], payload: dict[str, Any]
    ) -> Any:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is None:
            raise RuntimeError("no channel layer configured")
        records: list[PingRecord] = []

        async def one(number: int) -> None:
            group = groups[number % len(groups)]
            sent_at = time.time()
            message = {**payload, "kind": "bench.ping", "seq": number, "sent_at": sent_at}
            await layer.group_send(group, message)
            records.append((number, group, sent_at))

        await open_loop(rate, duration, one)
        return records


async def open_loop(rate: float, duration: float, one: Callable[[int], Any]) -> None:
    """``one(n)`` at fixed times, whatever the server does; waits for the stragglers."""
    count = max(round(rate * duration), 1)
    start = time.perf_counter() + 0.01
    tasks = []
    for number in range(count):
        delay = start + number / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(number)))
    await asyncio.wait_for(asyncio.gather(*tasks), 60.0)


def sender_main(
    conn: Connection, base_url: str, api_key: str, packages: list[dict[str, Any]], run: str
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    loop_name = install_uvloop()
    import django

    django.setup()  # for the channel layer as the settings configure it
    sender = Sender(base_url, api_key, packages, run)
    handlers: dict[str, Callable[..., Any]] = {"post": sender.do_post, "ping": sender.do_ping}

    async def serve() -> None:
        conn.send({"ready": loop_name})
        await serve_commands(conn, handlers)

    # One loop for the whole run: the layer's Redis connections stay open between phases.
    asyncio.run(serve())


class Child:
    """A helper process that answers the parent's commands over a pipe."""

    def __init__(self, name: str, target: Callable[..., None], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(
            target=target, args=(child_conn, *args), name=name, daemon=True
        )
        self.process.start()
        child_conn.close()
        self.name = name
        self.loop_name = str(self._receive(60.0)["ready"])

    def _receive(self, timeout: float) -> dict[str, Any]:
        if not self.conn.poll(timeout):
            raise RuntimeError(f"the {self.name} process did not answer within {timeout:.0f} s")
        answer: dict[str, Any] = self.conn.recv()
        if "error" in answer:
            raise RuntimeError(f"the {self.name} process failed: {answer['error']}")
        return answer

    def call(self, command: str, wait: float = 120.0, **payload: Any) -> Any:
        self.conn.send((command, payload))
        return self._receive(wait)["result"]

    def close(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(None)
        end_process(self.process)


# --- the server ---------------------------------------------------------------------------------


class PushServer:
    """uvicorn on a fixed port, so that it can be stopped and started again at the same URL."""

    def __init__(self, env: dict[str, str], workers: int, log_dir: Path) -> None:
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.command, self.loop, self.http = uvicorn_command(self.port, workers)
        self.log_dir = log_dir
        self.generation = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = log_dir / "server-0.log"

    def start(self) -> None:
        self.generation += 1
        self.log_path = self.log_dir / f"server-{self.generation}.log"
        with self.log_path.open("wb") as log:
            # Its own session: a Ctrl-C in the terminal reaches only us, and we stop it in order.
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            code = self.process.returncode if self.process else None
            raise RuntimeError(f"the server exited with {code}:\n{self.log_tail()}")

    def wait_ready(self, timeout: float = 60.0) -> list[int]:
        """Until it answers and all workers are up; returns the worker pids."""
        assert self.process is not None
        # Polled often: the restart's figures count from the moment it answers.
        return wait_serving(
            self.process,
            self.base_url,
            self.workers,
            self.check_alive,
            self.log_tail,
            timeout,
            interval=0.05,
        )

    def stop(self) -> None:
        if self.process is not None:
            stop_session(self.process, SERVER_STOP_SECONDS)


def sockets_per_worker(pids: list[int], port: int) -> dict[str, int]:
    """Established connections to ``port`` held by each worker process (from /proc)."""
    established: set[str] = set()
    port_hex = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[1].endswith(port_hex) and fields[3] == "01":
                    established.add(fields[9])
    counts = {}
    for pid in pids:
        count = 0
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:[") and target[8:-1] in established:
                        count += 1
        counts[str(pid)] = count
    return counts


def redis_pids(port: int) -> list[int]:
    """The redis-server processes serving ``port`` (by their command line)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().split(b"\0")
                if (
                    command
                    and b"redis-server" in command[0]
                    and (str(port).encode() in b" ".join(command) or port == 6379)
                ):
                    pids.append(int(entry))
    return pids


# --- the desk ------------------------------------------------------------------------------------


@dataclass
class Desk:
    api_key: str
    queues: list[tuple[int, str]]  # id, slug
    specs: list[SocketSpec]
    members: dict[int, list[int]]  # queue id → socket indexes

    def slugs(self) -> list[str]:
        return [slug for _, slug in self.queues]

    def groups(self) -> list[str]:
        return [f"queue.{queue_id}" for queue_id, _ in self.queues]

    def queue_id(self, slug: str) -> int:
        return next(queue_id for queue_id, s in self.queues if s == slug)


def setup_desk(run: str, agents: int, queue_count: int, small_buffer_index: int | None) -> Desk:
    """Queues, agents, memberships, routing and one session per agent, in the bench database."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User
    from django.contrib.sessions.backends.db import SessionStore

    from cases.services import integration_create
    from queues.models import Membership, Queue
    from queues.services import queue_ensure, rule_set_create_draft, rule_set_publish

    existing_default = Queue.objects.filter(is_default=True).first()
    queues = [existing_default] if existing_default else []
    for number in range(len(queues), queue_count):
        queues.append(
            queue_ensure(slug=f"push-{number}", name=f"Push {number}", is_default=number == 0)
        )
    # Plain bulk inserts for the people: no page is open yet, so no live event is due, and a
    # membership_ensure per agent would publish 200 access changes into an empty layer.
    users = User.objects.bulk_create(
        [
            User(
                username=f"push-agent-{n:03d}", first_name=f"Agent{n}", password=make_password(None)
            )
            for n in range(agents)
        ]
    )
    agent_role = Group.objects.filter(name="agent").first()
    if agent_role is not None:
        User.groups.through.objects.bulk_create(
            [User.groups.through(user_id=user.pk, group_id=agent_role.pk) for user in users]
        )
    Membership.objects.bulk_create(
        [
            Membership(agent=user, queue=queues[n % queue_count], capacity=5)
            for n, user in enumerate(users)
        ]
    )
    ruleset = rule_set_create_draft(
        rules=[
            {
                "name": f"bench {queue.slug}",
                "conditions": {
                    "all": [{"field": f"facts.{ROUTING_FACT}", "op": "eq", "value": queue.slug}]
                },
                "queue": queue.slug,
            }
            for queue in queues
            if not queue.is_default
        ]
    )
    rule_set_publish(ruleset=ruleset, note="bench/push.py")
    _, api_key = integration_create(name=f"push-{run}")
    specs = []
    members: dict[int, list[int]] = defaultdict(list)
    for n, user in enumerate(users):
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        queue = queues[n % queue_count]
        cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}"
        specs.append(SocketSpec(n, cookie, queue.pk, small_buffer=n == small_buffer_index))
        members[queue.pk].append(n)
    return Desk(api_key, [(q.pk, q.slug) for q in queues], specs, dict(members))


def commit_times(case_ids: list[int]) -> dict[int, float]:
    """When each case's intake committed: its on-commit callback's start, noted by the server's
    probe (``bench.push_probe``)."""
    import redis
    from django.conf import settings

    from bench.push_probe import COMMITS_KEY

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        stamps = client.hmget(COMMITS_KEY, [str(case_id) for case_id in case_ids])
    finally:
        client.close()
    return {case_id: float(stamp) for case_id, stamp in zip(case_ids, stamps, strict=True) if stamp}


def event_row_times(case_ids: list[int]) -> dict[int, float]:
    """Each case's ``routed`` event (the frame's cursor): when the intake wrote it."""
    from cases.models import CaseEvent

    rows = CaseEvent.objects.filter(case_id__in=case_ids, kind="routed").values_list(
        "case_id", "created_at"
    )
    return {case_id: created_at.timestamp() for case_id, created_at in rows}


def close_django_connections() -> None:
    from django.db import connection, connections

    connections.close_all()
    with contextlib.suppress(AttributeError):
        connection.close_pool()  # type: ignore[attr-defined]


# --- phases ------------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    name: str
    rate: float
    duration: float
    sent: int = 0
    ok: int = 0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    sockets_measured: int = 0
    expected: int = 0
    received: int = 0
    missing: int = 0
    p50_ms: float = float("nan")
    p90_ms: float = float("nan")
    p99_ms: float = float("nan")
    max_ms: float = float("nan")
    post_p50_ms: float = float("nan")
    post_p99_ms: float = float("nan")
    before_answer_pct: float = float("nan")
    after_answer_p99_ms: float = float("nan")
    missing_sample: dict[str, int] = field(default_factory=dict)  # event → sockets it missed
    unexpected: int = 0  # frames of events this phase did not send (another desk's?)
    cpu: dict[str, float] = field(default_factory=dict)


def _ms(value: float) -> float:
    return round(value * 1000, 2) if math.isfinite(value) else value


def latency_figures(result: PhaseResult, latencies: list[float], missing: int) -> None:
    values = sorted(latencies) + [math.inf] * missing  # never arrived: infinitely late
    result.received = len(latencies)
    result.missing = missing
    result.expected = len(latencies) + missing
    result.p50_ms = _ms(percentile(values, 50))
    result.p90_ms = _ms(percentile(values, 90))
    result.p99_ms = _ms(percentile(values, 99))
    result.max_ms = _ms(values[-1]) if values else float("nan")


def first_arrivals(records: list[Record], kind: str) -> dict[tuple[int, int], float]:
    arrivals: dict[tuple[int, int], float] = {}
    for index, arrival, event_kind, ident, resync in records:
        if event_kind == kind and not resync:
            arrivals.setdefault((index, ident), arrival)
    return arrivals


def ping_result(
    name: str,
    rate: float,
    duration: float,
    pings: list[PingRecord],
    records: list[Record],
    desk: Desk,
    excluded: set[int],
) -> PhaseResult:
    result = PhaseResult(name, rate, duration, sent=len(pings), ok=len(pings))
    group_queue = {f"queue.{queue_id}": queue_id for queue_id, _ in desk.queues}
    arrivals = first_arrivals(records, "bench.ping")
    latencies, missing = [], 0
    for seq, group, sent_at in pings:
        for index in desk.members[group_queue[group]]:
            if index in excluded:
                continue
            arrival = arrivals.get((index, seq))
            if arrival is None:
                missing += 1
                key = f"ping {seq} to {group}"
                if key in result.missing_sample or len(result.missing_sample) < 50:
                    result.missing_sample[key] = result.missing_sample.get(key, 0) + 1
            else:
                latencies.append(arrival - sent_at)
    result.sockets_measured = len(desk.specs) - len(excluded)
    latency_figures(result, latencies, missing)
    sent = {seq for seq, _, _ in pings}
    result.unexpected = sum(
        1
        for _, _, kind, ident, resync in records
        if not resync and (kind != "bench.ping" or ident not in sent)
    )
    return result


def intake_result(
    name: str,
    rate: float,
    duration: float,
    posts: list[PostRecord],
    records: list[Record],
    desk: Desk,
    excluded: set[int],
) -> PhaseResult:
    statuses = Counter(str(status) for *_, status, _ in posts)
    created = [post for post in posts if post[4] == 201]
    result = PhaseResult(
        name,
        rate,
        duration,
        sent=len(posts),
        ok=len(created),
        errors=len(posts) - len(created),
        statuses=dict(statuses),
    )
    committed = commit_times([post[5] for post in created])
    arrivals = first_arrivals(records, "case.created")
    latencies, missing = [], 0
    after_answer, before_answer = [], 0
    for _, slug, _, answered, _, case_id in created:
        commit = committed.get(case_id)
        for index in desk.members[desk.queue_id(slug)]:
            if index in excluded:
                continue
            arrival = arrivals.get((index, case_id))
            if arrival is None or commit is None:
                missing += 1
                key = f"case {case_id} in {slug}"
                if key in result.missing_sample or len(result.missing_sample) < 50:
                    result.missing_sample[key] = result.missing_sample.get(key, 0) + 1
                continue
            latencies.append(arrival - commit)
            after_answer.append(arrival - answered)
            before_answer += arrival < answered
    posts_ms = sorted(answered - started for _, _, started, answered, _, _ in posts)
    result.sockets_measured = len(desk.specs) - len(excluded)
    latency_figures(result, latencies, missing)
    posted = {post[5] for post in posts}
    result.unexpected = sum(
        1
        for _, _, kind, ident, resync in records
        if not resync and (kind != "case.created" or ident not in posted)
    )
    result.post_p50_ms = _ms(percentile(posts_ms, 50))
    result.post_p99_ms = _ms(percentile(posts_ms, 99))
    if latencies:
        result.before_answer_pct = round(100 * before_answer / len(latencies), 1)
        result.after_answer_p99_ms = _ms(percentile(sorted(after_answer), 99))
    return result


class Meter:
    """CPU of the server, PostgreSQL, Redis, the helper processes and the machine."""

    def __init__(
        self, server_pids: list[int], database: str, helpers: dict[str, int], redis: list[int]
    ) -> None:
        self.server_pids = server_pids
        self.database = database
        self.helpers = helpers
        self.redis = redis

    def snapshot(self) -> tuple[Any, dict[str, float]]:
        extra = {name: process_cpu_seconds(pid) or 0.0 for name, pid in self.helpers.items()} | {
            "redis": sum(process_cpu_seconds(pid) or 0.0 for pid in self.redis)
        }
        return cpu_snapshot(self.server_pids, self.database), extra

    def use(self, before: tuple[Any, dict[str, float]]) -> dict[str, float]:
        after = self.snapshot()
        cores = cpu_use(before[0], after[0])
        wall = max(after[0].at - before[0].at, 1e-9)
        figures = {
            "server_cores": cores["server_cores"],
            "postgres_cores": cores["postgres_cores"],
            "machine_cores": cores["machine_cores"],
        }
        for name, seconds in after[1].items():
            figures[f"{name}_cores"] = round((seconds - before[1].get(name, 0.0)) / wall, 3)
        ours = sum(value for key, value in figures.items() if key != "machine_cores")
        ours += cores["client_cores"]  # this process
        figures["other_cores"] = round(max(figures["machine_cores"] - ours, 0.0), 3)
        return figures

    def wait_for_quiet(self, limit: float, threshold: float = 0.3) -> float:
        """wait_until_quiet, where "ours" is also the server, Redis and the helper processes."""

        def others_over(seconds: float) -> float:
            before = self.snapshot()
            time.sleep(seconds)
            return self.use(before)["other_cores"]

        return wait_until_quiet(others_over, limit, threshold)


@dataclass
class Run:
    """What the phases share: the processes, the desk, and where the records go."""

    desk: Desk
    sockets: Child
    sender: Child
    meter: Meter
    counters: dict[str, int] = field(default_factory=dict)
    last_posts: list[PostRecord] = field(default_factory=list)
    last_records: list[Record] = field(default_factory=list)
    stalled_posts: list[PostRecord] = field(default_factory=list)
    history: list[Record] = field(default_factory=list)  # every frame of the run
    wait_quiet: float = 0.0

    def drain(self, settle: float = SETTLE_SECONDS) -> dict[str, Any]:
        time.sleep(settle)
        drained: dict[str, Any] = self.sockets.call("drain")
        self.counters = drained["counters"]
        self.history += drained["records"]
        return drained

    def ping_phase(self, rate: float, duration: float, payload: dict[str, Any]) -> PhaseResult:
        if self.wait_quiet > 0:
            self.meter.wait_for_quiet(self.wait_quiet)
        self.drain(0.2)
        before = self.meter.snapshot()
        pings = self.sender.call(
            "ping",
            wait=duration + 120,
            rate=rate,
            duration=duration,
            groups=self.desk.groups(),
            payload=payload,
        )
        cpu = self.meter.use(before)
        records = self.drain()["records"]
        result = ping_result(
            "bare group_send → socket", rate, duration, pings, records, self.desk, set()
        )
        result.cpu = cpu
        return result

    def intake_phase(
        self,
        name: str,
        tag: str,
        rate: float,
        duration: float,
        excluded: set[int],
        on_start: Callable[[], None] | None = None,
    ) -> PhaseResult:
        if self.wait_quiet > 0:
            self.meter.wait_for_quiet(self.wait_quiet)
        self.drain(0.2)
        if on_start is not None:
            on_start()
        before = self.meter.snapshot()
        posts = self.sender.call(
            "post",
            wait=duration + 120,
            tag=tag,
            rate=rate,
            duration=duration,
            slugs=self.desk.slugs(),
        )
        cpu = self.meter.use(before)
        records = self.drain()["records"]
        self.last_posts, self.last_records = posts, records
        result = intake_result(name, rate, duration, posts, records, self.desk, excluded)
        result.cpu = cpu
        return result


@dataclass
class StallResult:
    socket: int
    reference_p99_ms: list[float]
    stalled_p99_ms: float
    ratio: float
    stalled_socket_frames: int  # of the stall phase's handoffs in its queue, live or by resync
    stalled_socket_expected: int
    stalled_socket_closes: dict[str, int]
    stalled_socket_resynced: int


def stall_phases(run: Run, index: int, rate: float, duration: float) -> list[PhaseResult]:
    """Reference, stalled, reference again (A-B-A): a drift in the machine's load shows."""
    desk = run.desk
    excluded = {index}
    others = f"{len(desk.specs) - 1} sockets"
    results = []
    for name, tag, stalled in (
        (f"intake, reference ({others})", "ref1", False),
        (f"intake, #{index} stalled ({others})", "stall", True),
        (f"intake, reference again ({others})", "ref2", False),
    ):
        print(f"intake at {rate:g}/s{', one socket stalled' if stalled else ''} ...", flush=True)
        start = (lambda: run.sockets.call("stall", index=index)) if stalled else None
        result = run.intake_phase(name, tag, rate, duration, excluded, on_start=start)
        results.append(result)
        if stalled:
            run.stalled_posts = run.last_posts
            run.sockets.call("unstall", index=index)
            run.drain(3.0)
    return results


def stall_result(run: Run, index: int, phases: list[PhaseResult]) -> StallResult:
    desk = run.desk
    first, stalled, second = phases
    references = [first.p99_ms, second.p99_ms]
    reference = sum(references) / 2
    ratio = stalled.p99_ms / reference if reference else math.inf
    own_slug = dict(desk.queues)[desk.specs[index].queue_id]
    cases = {post[5] for post in run.stalled_posts if post[4] == 201 and post[1] == own_slug}
    got, resynced = set(), set()
    for socket_index, _, kind, ident, resync in run.history:
        if socket_index == index and kind != "bench.ping" and ident in cases:
            got.add(ident)
            if resync:
                resynced.add(ident)
    state = run.drain(0.0)
    return StallResult(
        socket=index,
        reference_p99_ms=references,
        stalled_p99_ms=stalled.p99_ms,
        ratio=round(ratio, 3) if math.isfinite(ratio) else ratio,
        stalled_socket_frames=len(got),
        stalled_socket_expected=len(cases),
        stalled_socket_closes=state["closes"].get(str(index), {}),
        stalled_socket_resynced=len(resynced),
    )


@dataclass
class RestartResult:
    sockets: int
    closed: int
    reconnected: int
    resynced: int
    stop_seconds: float
    down_seconds: float
    resync_after_ready_p50_s: float
    resync_after_ready_max_s: float
    resync_after_stop_max_s: float
    refused_while_down: int
    failed_joins: int
    failures: dict[str, int]
    reloads: int
    missed_per_queue: int
    live_after_received: int
    live_after_expected: int
    sockets_per_worker: dict[str, int]
    stages: dict[str, dict[str, float]] = field(default_factory=dict)


def restart_stages(watched: dict[str, Any], ready: float) -> dict[str, dict[str, float]]:
    """Where each socket's way back went: backoff, handshake, the consumer's connect, resync."""

    def at(name: str) -> dict[int, float]:
        return {int(k): float(v) for k, v in watched[name].items()}

    dialed, opened, hello, resynced = at("dialed"), at("opened"), at("reconnected"), at("resynced")
    spans = {
        "server answering → the successful attempt began (backoff)": [
            dialed[i] - ready for i in dialed
        ],
        # The server answers the handshake when the consumer accepts, after its connect():
        # the session and user (AuthMiddlewareStack), the queues and cursor, the group_adds.
        "attempt → accepted (the consumer's connect)": [
            opened[i] - dialed[i] for i in opened if i in dialed
        ],
        "accepted → hello": [hello[i] - opened[i] for i in hello if i in opened],
        "hello → resync answered": [resynced[i] - hello[i] for i in resynced if i in hello],
    }
    figures = {}
    for name, values in spans.items():
        ordered = sorted(values)
        figures[name] = {
            "p50_s": round(percentile(ordered, 50), 3) if ordered else math.nan,
            "max_s": round(ordered[-1], 3) if ordered else math.nan,
        }
    return figures


def restart_phase(
    run: Run, server: PushServer, packages: list[dict[str, Any]], tag: str
) -> RestartResult:
    from django.test import Client

    desk = run.desk
    run.drain(0.5)
    run.sockets.call("watch_start")
    stop_started = time.time()
    server.stop()
    stopped = time.time()
    # While the server is down the desk goes on: one handoff per queue (in process, as another
    # server would take it), which every socket of that queue must get by resync.
    client = Client()
    expected: dict[int, list[int]] = {}
    sender = Sender("", "", packages, tag)
    for number, (queue_id, slug) in enumerate(desk.queues):
        response = client.post(
            INTAKE_PATH,
            data=sender.body("down", number, slug),
            content_type="application/json",
            headers={"Authorization": f"Bearer {desk.api_key}"},
        )
        if response.status_code != 201:
            raise RuntimeError(f"handoff while down: {response.status_code} {response.content!r}")
        expected[queue_id] = [int(response.json()["case_id"])]
    close_django_connections()
    run.sockets.call("watch_expect", expected=expected)
    server.start()
    pids = server.wait_ready()
    ready = time.time()
    watched = run.sockets.call("watch_result", wait=WATCH_TIMEOUT + 10, timeout=WATCH_TIMEOUT)
    resynced = {int(k): v for k, v in watched["resynced"].items()}
    stages = restart_stages(watched, ready)
    after_ready = sorted(at - ready for at in resynced.values())
    failures = Counter(what for _, what in watched["failures"])
    failed_joins = sum(1 for at, what in watched["failures"] if at >= ready and what != "refused")
    refused = sum(1 for at, what in watched["failures"] if what == "refused" and at < ready)
    spread = sockets_per_worker(pids, server.port)
    # And live events flow again to every socket: one handoff per queue.
    posts = run.sender.call("post", tag=f"{tag}-after", rate=5.0, duration=1.0, slugs=desk.slugs())
    records = run.drain()["records"]
    arrivals = first_arrivals(records, "case.created")
    live_expected = live_received = 0
    for _, slug, _, _, status, case_id in posts:
        if status != 201:
            continue
        for index in desk.members[desk.queue_id(slug)]:
            live_expected += 1
            live_received += (index, case_id) in arrivals
    run.meter.server_pids = pids
    return RestartResult(
        sockets=watched["sockets"],
        closed=len(watched["closed"]),
        reconnected=len(watched["reconnected"]),
        resynced=len(resynced),
        stop_seconds=round(stopped - stop_started, 2),
        down_seconds=round(ready - stop_started, 2),
        resync_after_ready_p50_s=round(percentile(after_ready, 50), 2) if after_ready else math.inf,
        resync_after_ready_max_s=round(after_ready[-1], 2) if after_ready else math.inf,
        resync_after_stop_max_s=round(max(resynced.values()) - stop_started, 2)
        if resynced
        else math.inf,
        refused_while_down=refused,
        failed_joins=failed_joins,
        failures=dict(failures),
        reloads=int(watched["reloads"]),
        missed_per_queue=1,
        live_after_received=live_received,
        live_after_expected=live_expected,
        sockets_per_worker=spread,
        stages=stages,
    )


# --- in-process breakdown -------------------------------------------------------------------


def breakdown(desk: Desk, packages: list[dict[str, Any]], tag: str, count: int) -> dict[str, Any]:
    """In process: event row → commit, and the frame's build inside the transaction.

    ``cases.events.case_snapshot`` builds the frame (a query and a template render) when the
    intake publishes, before its COMMIT; the commit is the start of the on-commit callback,
    noted by the probe. The ``group_send`` itself is not timed here: outside the server each
    ``async_to_sync`` makes a new event loop and a new Redis connection, which the server does
    not.
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    import cases.events as events

    original = events.case_snapshot
    marks: list[tuple[float, float, int]] = []

    def timed_snapshot(*args: Any, **kwargs: Any) -> dict[str, Any]:
        started = time.time()
        with CaptureQueriesContext(connection) as captured:
            snapshot = original(*args, **kwargs)
        marks.append((started, time.time(), len(captured.captured_queries)))
        return snapshot

    client = Client()
    sender = Sender("", "", packages, tag)
    slugs = desk.slugs()
    gaps, builds, requests, queries = [], [], [], []
    events.case_snapshot = timed_snapshot
    try:
        for number in range(-3, count):  # three warm-up handoffs
            marks.clear()
            started = time.time()
            response = client.post(
                INTAKE_PATH,
                data=sender.body("inprocess", number + 3, slugs[number % len(slugs)]),
                content_type="application/json",
                headers={"Authorization": f"Bearer {desk.api_key}"},
            )
            finished = time.time()
            if response.status_code != 201 or not marks or number < 0:
                continue
            case_id = int(response.json()["case_id"])
            written = event_row_times([case_id]).get(case_id)
            committed = commit_times([case_id]).get(case_id)
            if written is None or committed is None:
                continue
            snapshot_started, snapshot_done, snapshot_queries = marks[0]
            gaps.append(committed - written)
            builds.append(snapshot_done - snapshot_started)
            requests.append(finished - started)
            queries.append(snapshot_queries)
    finally:
        events.case_snapshot = original
        close_django_connections()

    def summary(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        return {
            "p50_ms": _ms(percentile(ordered, 50)),
            "p99_ms": _ms(percentile(ordered, 99)),
            "max_ms": _ms(ordered[-1]) if ordered else float("nan"),
        }

    return {
        "handoffs": len(gaps),
        "row_to_commit": summary(gaps),
        "frame_build": summary(builds),
        "frame_build_queries": max(queries, default=0),
        "request": summary(requests),
        **consumer_work(desk, count),
    }


def consumer_work(desk: Desk, count: int) -> dict[str, Any]:
    """The database work of ``DeskConsumer`` for one socket, run synchronously in process.

    On the server each of these runs on the worker's one thread for thread-sensitive sync
    code (consumers get no ``ThreadSensitiveContext``), one socket after another.
    """
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from cases.consumers import DeskConsumer
    from cases.models import CaseEvent

    access = DeskConsumer.__dict__["_access"].func
    missed = DeskConsumer.__dict__["_missed"].func
    queue_id = desk.queues[-1][0]
    user = User.objects.filter(memberships__queue_id=queue_id).first()
    last = (
        CaseEvent.objects.filter(case__queue_id=queue_id, kind="routed")
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if user is None or last is None:
        return {}
    consumer = DeskConsumer()
    consumer.queue_ids = {queue_id}
    timings: dict[str, list[float]] = {"connect": [], "resync": []}
    queries: dict[str, int] = {}
    try:
        for name, call in (
            ("connect", lambda: access(consumer, user)),
            ("resync", lambda: missed(consumer, last - 1)),  # one missed handoff
        ):
            with CaptureQueriesContext(connection) as captured:
                call()
            queries[name] = len(captured.captured_queries)
            for _ in range(count):
                started = time.perf_counter()
                call()
                timings[name].append(time.perf_counter() - started)
    finally:
        close_django_connections()
    result: dict[str, Any] = {}
    for name, values in timings.items():
        ordered = sorted(values)
        result[f"consumer_{name}"] = {
            "p50_ms": _ms(percentile(ordered, 50)),
            "p99_ms": _ms(percentile(ordered, 99)),
            "queries": queries[name],
        }
    return result


# --- the report -------------------------------------------------------------------------------


# Not bench/intake.py's _fmt: here inf (a frame that never came) prints 'missing', NaN '-'.
def _fmt(value: float, digits: int = 1) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "missing"
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def verdicts(
    phases: list[PhaseResult], stall: StallResult | None, restart: RestartResult | None
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for rate in sorted({phase.rate for phase in phases}):
        bare = next((p for p in phases if p.rate == rate and p.name.startswith("bare")), None)
        intake = next((p for p in phases if p.rate == rate and p.name.startswith("intake")), None)
        if bare is None or intake is None:
            continue
        ratio = intake.p99_ms / bare.p99_ms if bare.p99_ms else math.inf
        found.append(
            {
                "what": f"intake p99 at {rate:g}/s",
                "value_ms": intake.p99_ms,
                "baseline_ms": bare.p99_ms,
                "ratio": round(ratio, 2) if math.isfinite(ratio) else ratio,
                "pass": bool(
                    ratio <= RATIO_TARGET
                    and intake.p99_ms < P99_TARGET_MS
                    and intake.errors == 0
                    and intake.missing == 0
                ),
            }
        )
    if stall is not None:
        found.append(
            {
                "what": "one stalled socket",
                "ratio": stall.ratio,
                "pass": bool(stall.ratio <= STALL_TARGET),
            }
        )
    if restart is not None:
        found.append(
            {
                "what": "restart",
                "pass": bool(
                    restart.resynced == restart.sockets
                    and restart.resync_after_ready_max_s <= RESYNC_TARGET_S
                    and restart.failed_joins == 0
                    and restart.reloads == 0
                    and restart.live_after_received == restart.live_after_expected
                ),
            }
        )
    return found


def report(figures: dict[str, Any]) -> str:
    config = figures["config"]
    phases = [PhaseResult(**phase) for phase in figures["phases"]]
    lines = [
        "",
        f"Handoff Desk live push benchmark, {figures['started_at']}",
        "",
        "server : uvicorn {uvicorn} handoff_site.asgi:application, {workers} workers (sockets "
        "per worker {spread}), loop {loop}, websockets permessage-deflate {deflate}, "
        "127.0.0.1".format(**config),
        "         Django {django}, channels {channels}, channel layer {channel_layer}, "
        "PostgreSQL {postgres}".format(**config),
        "sockets: {agents} agents over {queues} queues ({per_queue} per queue), 1 process "
        "({sockets_loop}, websockets {websockets}), reconnect backoff of static/js/live.js".format(
            **config
        ),
        "sender : 1 process ({sender_loop}): POST {intake} (a new connection each) or "
        "group_send with the site's layer settings, at a fixed rate, round robin over the "
        "queues".format(intake=INTAKE_PATH, **config),
        "machine: {cores} cores, {machine}; everything above shares them".format(**config),
        "",
        f"{'':<34}{'':>6}{'':>6}{'frames':>9}{'':>8}{'arrival - commit/sent_at, ms':>34}"
        f"{'POST ms':>14}  {'cores busy':>40}",
        f"{'phase':<34}{'rate':>6}{'sent':>6}{'expected':>9}{'missing':>8}"
        f"{'p50':>8}{'p90':>8}{'p99':>9}{'max':>9}{'p50':>7}{'p99':>7}"
        f"  {'server':>7}{'pg':>6}{'redis':>6}{'socks':>6}{'other':>6}{'all':>6}",
    ]
    for phase in phases:
        cpu = phase.cpu
        lines.append(
            f"{phase.name:<34}{phase.rate:>5g}/s{phase.sent:>5}{phase.expected:>10,}"
            f"{phase.missing:>8}{_fmt(phase.p50_ms):>8}{_fmt(phase.p90_ms):>8}"
            f"{_fmt(phase.p99_ms):>9}{_fmt(phase.max_ms):>9}"
            f"{_fmt(phase.post_p50_ms, 0):>7}{_fmt(phase.post_p99_ms, 0):>7}"
            f"  {cpu.get('server_cores', 0):>7.2f}{cpu.get('postgres_cores', 0):>6.2f}"
            f"{cpu.get('redis_cores', 0):>6.2f}{cpu.get('sockets_cores', 0):>6.2f}"
            f"{cpu.get('other_cores', 0):>6.2f}{cpu.get('machine_cores', 0):>6.2f}"
        )
    lines.append("")
    for phase in phases:
        if phase.errors:
            lines.append(f"errors in {phase.name} at {phase.rate:g}/s: {phase.statuses}")
        if phase.unexpected:
            lines.append(
                f"unexpected in {phase.name} at {phase.rate:g}/s: {phase.unexpected} frames of "
                "events this phase did not send (another desk publishing to the same groups?)"
            )
        if phase.missing:
            sample = ", ".join(
                f"{what}: {count} sockets" for what, count in list(phase.missing_sample.items())[:4]
            )
            lines.append(f"missing in {phase.name} at {phase.rate:g}/s: {sample}")
        if phase.name.startswith("intake") and phase.received:
            lines.append(
                f"{phase.name} at {phase.rate:g}/s: {phase.before_answer_pct:.0f}% of frames "
                f"arrived before the POST's answer; arrival - answer p99 "
                f"{_fmt(phase.after_answer_p99_ms)} ms; {phase.sockets_measured} sockets measured"
            )
    lines.append("")
    for verdict in figures["verdict"]:
        status = "PASS" if verdict["pass"] else "FAIL"
        if verdict["what"].startswith("intake p99"):
            lines.append(
                f"{verdict['what']}: {_fmt(verdict['value_ms'])} ms, bare group_send "
                f"{_fmt(verdict['baseline_ms'])} ms, {_fmt(verdict['ratio'], 2)}x (target <= "
                f"{RATIO_TARGET:g}x and < {P99_TARGET_MS:.0f} ms, no error or missing frame) "
                f"{status}"
            )
    stall = figures.get("stall")
    if stall:
        verdict = next(v for v in figures["verdict"] if v["what"] == "one stalled socket")
        references = " and ".join(_fmt(value) for value in stall["reference_p99_ms"])
        lines.append(
            f"one stalled socket (#{stall['socket']}, not reading, {STALL_RCVBUF // 1024} KB "
            f"receive buffer): the other sockets' p99 {_fmt(stall['stalled_p99_ms'])} ms vs "
            f"{references} ms before and after = {_fmt(stall['ratio'], 2)}x their mean "
            f"(target <= {STALL_TARGET:g}x) {'PASS' if verdict['pass'] else 'FAIL'}"
        )
        closes = ", ".join(f"{code} x{n}" for code, n in stall["stalled_socket_closes"].items())
        lines.append(
            f"  the stalled socket itself, once it read again: {stall['stalled_socket_frames']} "
            f"of the {stall['stalled_socket_expected']} handoffs of its queue "
            f"({stall['stalled_socket_resynced']} by resync); closed {closes or 'never'}"
        )
    restart = figures.get("restart")
    if restart:
        verdict = next(v for v in figures["verdict"] if v["what"] == "restart")
        lines += [
            f"restart: SIGTERM → old server gone {restart['stop_seconds']:.2f} s → new server "
            f"answering {restart['down_seconds']:.2f} s; {restart['missed_per_queue']} handoff "
            "per queue created while down",
            f"  {restart['resynced']}/{restart['sockets']} sockets reconnected and resynced; "
            f"after the server answered: p50 {_fmt(restart['resync_after_ready_p50_s'], 2)} s, "
            f"last {_fmt(restart['resync_after_ready_max_s'], 2)} s (from SIGTERM "
            f"{_fmt(restart['resync_after_stop_max_s'], 2)} s) (target <= "
            f"{RESYNC_TARGET_S:g} s)",
            f"  connection attempts refused while down {restart['refused_while_down']}; failed "
            f"handshakes or closes before hello after it answered {restart['failed_joins']}; "
            f"reload frames {restart['reloads']}; sockets per worker "
            f"{' / '.join(map(str, restart['sockets_per_worker'].values()))}",
            f"  live after the restart: {restart['live_after_received']}/"
            f"{restart['live_after_expected']} frames",
            *(
                f"  {name}: p50 {_fmt(span['p50_s'], 2)} s, max {_fmt(span['max_s'], 2)} s"
                for name, span in restart["stages"].items()
            ),
            f"restart: every socket back and resynced within {RESYNC_TARGET_S:g} s of the server "
            "answering, no failed join, no reload, live again "
            f"{'PASS' if verdict['pass'] else 'FAIL'}",
        ]
    inproc = figures.get("breakdown")
    if inproc:
        lines += [
            "",
            f"in process (Django test client, no concurrency, {inproc['handoffs']} handoffs):",
            "  event row created_at → commit (the on-commit callback starts): p50 "
            f"{_fmt(inproc['row_to_commit']['p50_ms'], 2)} ms, p99 "
            f"{_fmt(inproc['row_to_commit']['p99_ms'], 2)} ms",
            "  building the frame, inside the transaction (case_snapshot: "
            f"{inproc['frame_build_queries']} query + row template): p50 "
            f"{_fmt(inproc['frame_build']['p50_ms'], 2)} ms, p99 "
            f"{_fmt(inproc['frame_build']['p99_ms'], 2)} ms",
            f"  the whole request: p50 {_fmt(inproc['request']['p50_ms'], 2)} ms",
        ]
        for name, what in (
            ("consumer_connect", "a socket's connect (queues and cursor, DeskConsumer._access)"),
            ("consumer_resync", "a resync answer for one missed handoff (DeskConsumer._missed)"),
        ):
            if name in inproc:
                item = inproc[name]
                lines.append(
                    f"  {what}: {item['queries']} queries, p50 {_fmt(item['p50_ms'], 2)} ms, "
                    f"p99 {_fmt(item['p99_ms'], 2)} ms"
                )
    lines += ["", "honesty notes:"] + [f"  - {note}" for note in figures["notes"]]
    return "\n".join(lines)


def notes_for(figures: dict[str, Any]) -> list[str]:
    return [
        "Intake latency counts from the commit as the server saw it: the start of the intake's "
        "on-commit callback, stamped by the probe app bench.push_probe (installed only by "
        "bench/push_settings.py), which writes the stamp to Redis after the frame is handed to "
        "the layer. The frame itself is built inside the transaction, before COMMIT.",
        "The baseline sends a copy of a real case.created frame (same row HTML and figures) "
        "from a separate process: it has no request thread → event loop hop, which the "
        "intake's on-commit callback makes.",
        "Arrival is the wall clock when websockets' recv() returns in the sockets process. "
        "One event reaches 40 sockets at once, so the last of them waits for the client to "
        "read the other 39 (and to inflate them): the same for both rows.",
        "The server answers pings and sends frames with permessage-deflate, as to a browser "
        "(--compression none to compare).",
        "'other' is the cores busy outside this benchmark's processes (server, PostgreSQL "
        "backends of the bench database, Redis, the sockets and sender processes): anything "
        "else on the machine, whose load lands in the tails. Each phase waits first (up to "
        "--wait-quiet) for it to drop under 0.3 cores.",
        "A frame that never arrives counts as infinitely late ('missing' in a percentile).",
        "Server logs at WARNING; the integration has no callback URL, so no outbox delivery "
        "or Celery enqueue runs after the commit.",
    ]


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Intake commit → websocket frame at 200 agents, beside a bare group_send."
    )
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds per measured phase (default 20)"
    )
    parser.add_argument(
        "--rates",
        default="5,20",
        help="handoffs (and pings) per second, comma separated (default 5,20)",
    )
    parser.add_argument("--agents", type=int, default=200, help="agent sockets (default 200)")
    parser.add_argument("--queues", type=int, default=5, help="queues (default 5)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (default 2)")
    parser.add_argument("--pool-min", type=int, default=2, help="psycopg pool min per worker")
    parser.add_argument("--pool-max", type=int, default=8, help="psycopg pool max per worker")
    add_database_arguments(
        parser, BENCH_DB, "PostgreSQL server; the database name is replaced by --database-name"
    )
    parser.add_argument(
        "--redis-url",
        default="",
        help="an existing Redis for the channel layer (default: start a private redis-server; "
        "on a shared one, other desks' events reach the same groups)",
    )
    parser.add_argument(
        "--redis-server", default="redis-server", help="the redis-server binary to start"
    )
    parser.add_argument("--star", type=Path, default=STAR_PATH, help="STAR dialogues.jsonl.gz")
    parser.add_argument(
        "--compression",
        choices=["deflate", "none"],
        default="deflate",
        help="permessage-deflate offered by the sockets, as browsers do (default deflate)",
    )
    parser.add_argument(
        "--settings", default="bench.push_settings", help="Django settings module for the server"
    )
    parser.add_argument("--no-stall", action="store_true", help="skip the stalled-socket run")
    parser.add_argument("--no-restart", action="store_true", help="skip the server restart")
    parser.add_argument(
        "--no-breakdown", action="store_true", help="skip the in-process commit/frame timing"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=30.0,
        help="seconds to wait at most, before each phase, for other processes on the machine to "
        "use less than 0.3 cores (default 30; 0 = do not wait)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    try:
        args.rate_list = [float(rate) for rate in args.rates.split(",") if rate.strip()]
    except ValueError:
        parser.error("--rates: numbers separated by commas")
    if not args.rate_list or min(args.rate_list) <= 0:
        parser.error("--rates must be positive")
    if args.duration <= 0 or args.agents < 2 or args.queues < 1 or args.workers < 1:
        parser.error("--duration, --agents, --queues and --workers must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="handoff-bench-push-") as tmp:
        redis = None
        if not args.redis_url:
            redis = PrivateRedis(args.redis_server, Path(tmp))
            args.redis_url = redis.url
            print(f"private redis-server at {redis.url}", flush=True)
        try:
            return measure(args, Path(tmp), redis)
        finally:
            if redis is not None:
                redis.stop()


def measure(args: argparse.Namespace, tmp: Path, redis: PrivateRedis | None) -> int:
    run_id = secrets.token_hex(4)
    started_at = utc_timestamp()
    db_url = database_url(args.database_url, args.database_name)
    env = bench_environment(
        db_url,
        settings=args.settings,
        redis_url=args.redis_url,
        pool=(args.pool_min, args.pool_max),
    )
    use_environment(env)  # this process's Django (setup, restart handoffs) and the helpers

    prepare_database(args.database_url, args.database_name, env)
    pg_version = postgres_version(db_url)

    import django

    django.setup()
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018  (import the URLconf now, not mid-restart)
    stall_index = None if args.no_stall else STALLED_SOCKET
    desk = setup_desk(run_id, args.agents, args.queues, stall_index)
    packages = star_packages(args.star, 200)
    close_django_connections()
    print(
        f"desk: {args.agents} agents over {len(desk.queues)} queues, {len(packages)} STAR packages",
        flush=True,
    )

    phases: list[PhaseResult] = []
    stall: StallResult | None = None
    restart: RestartResult | None = None
    inproc: dict[str, Any] | None = None
    spread: dict[str, int] = {}
    server = PushServer(env, args.workers, tmp)
    sockets: Child | None = None
    sender: Child | None = None
    try:
        server.start()
        pids = server.wait_ready()
        print(f"server up at {server.base_url} (workers {pids})", flush=True)
        compression = None if args.compression == "none" else "deflate"
        sockets = Child("sockets", sockets_main, server.base_url, desk.specs, compression)
        sender = Child("sender", sender_main, server.base_url, desk.api_key, packages, run_id)
        connected = sockets.call("connect", wait=130.0, timeout=120.0)
        if connected["connected"] < len(desk.specs):
            raise RuntimeError(
                f"only {connected['connected']}/{len(desk.specs)} sockets got a hello: "
                f"{connected['counters']}\n{server.log_tail()}"
            )
        spread = sockets_per_worker(pids, server.port)
        print(
            f"{connected['connected']} sockets connected in {connected['seconds']:.1f} s "
            f"(per worker {' / '.join(map(str, spread.values()))})",
            flush=True,
        )
        meter = Meter(
            pids,
            args.database_name,
            {"sockets": sockets.process.pid or 0, "sender": sender.process.pid or 0},
            [redis.process.pid] if redis else redis_pids(urlsplit(args.redis_url).port or 6379),
        )
        run = Run(desk, sockets, sender, meter, wait_quiet=args.wait_quiet)

        # Warm-up: connections to Redis and PostgreSQL, and a real frame to copy.
        sender.call("post", tag="warm", rate=5.0, duration=2.0, slugs=desk.slugs())
        sample = run.drain(1.0)["sample"]
        if not sample:
            raise RuntimeError(f"no case.created frame reached a socket\n{server.log_tail()}")
        payload = {
            **json.loads(sample),
            "type": "desk.event",
            "case_id": None,
            "cursor": 0,
            "version": 0,
        }
        sender.call("ping", rate=5.0, duration=1.0, groups=desk.groups(), payload=payload)
        run.drain(1.0)

        for rate in args.rate_list:
            print(f"bare group_send at {rate:g}/s for {args.duration:g} s ...", flush=True)
            phases.append(run.ping_phase(rate, args.duration, payload))
            server.check_alive()
            print(f"intake at {rate:g}/s for {args.duration:g} s ...", flush=True)
            phases.append(
                run.intake_phase("intake commit → socket", f"r{rate:g}", rate, args.duration, set())
            )
            server.check_alive()

        if stall_index is not None:
            stalling = stall_phases(run, stall_index, max(args.rate_list), args.duration)
            phases += stalling
            stall = stall_result(run, stall_index, stalling)
            server.check_alive()

        if not args.no_restart:
            print("restarting the server ...", flush=True)
            restart = restart_phase(run, server, packages, run_id)
    finally:
        if sockets is not None:
            sockets.close()
        if sender is not None:
            sender.close()
        server.stop()

    if not args.no_breakdown:
        print("in-process breakdown ...", flush=True)
        inproc = breakdown(desk, packages, run_id, 40)

    library = versions("django", "uvicorn", "channels", "channels-redis", "websockets")
    figures: dict[str, Any] = {
        "started_at": started_at,
        "run_id": run_id,
        "config": {
            "workers": args.workers,
            "spread": " / ".join(map(str, spread.values())) or "?",
            "loop": server.loop,
            "deflate": "on" if args.compression == "deflate" else "off",
            "uvicorn": library["uvicorn"],
            "django": library["django"],
            "channels": library["channels"],
            "websockets": library["websockets"],
            "channel_layer": f"RedisPubSubChannelLayer (channels-redis "
            f"{library['channels-redis']}, {'private ' if redis else ''}{args.redis_url})",
            "postgres": pg_version,
            "agents": args.agents,
            "queues": len(desk.queues),
            "per_queue": " / ".join(str(len(desk.members[q])) for q, _ in desk.queues),
            "sockets_loop": sockets.loop_name if sockets else "?",
            "sender_loop": sender.loop_name if sender else "?",
            "cores": os.cpu_count(),
            "machine": platform.platform(terse=True),
            "python": platform.python_version(),
            "duration": args.duration,
            "rates": args.rate_list,
            "pool_min": args.pool_min,
            "pool_max": args.pool_max,
            "database": args.database_name,
            "settings": args.settings,
        },
        "phases": [asdict(phase) for phase in phases],
        "stall": asdict(stall) if stall else None,
        "restart": asdict(restart) if restart else None,
        "breakdown": inproc,
    }
    figures["verdict"] = verdicts(phases, stall, restart)
    figures["notes"] = notes_for(figures)
    print(report(figures), flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0 if all(verdict["pass"] for verdict in figures["verdict"]) else 1


if __name__ == "__main__":
    run_main(main, "interrupted; the server and the helper processes were stopped")
