"""The processes a benchmark starts and what they cost: uvicorn, redis-server, Celery, helper
processes answering commands over a pipe, and CPU time from /proc for each of them, for the
bench database's PostgreSQL backends and for the machine."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bench.lib.db import ROOT

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
WORKER_PATH = "/bench/worker"  # bench.urls: which server process answered
SPAWN = multiprocessing.get_context("spawn")  # never fork a process with a pool's threads

# --- CPU from /proc ----------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def total_cpu(pids: Iterable[int]) -> float:
    return sum(cpu_seconds(pid) or 0.0 for pid in pids)


def _processes() -> Iterable[tuple[int, bytes, int]]:
    """(pid, command line, parent pid) of every process."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    command = cmdline.read()
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
                yield int(entry), command, ppid


def postgres_backends(database: str) -> list[int]:
    marker = f" {database} ".encode()
    return [p for p, cmd, _ in _processes() if cmd.startswith(b"postgres: ") and marker in cmd]


def children(parent: int) -> list[int]:
    """A process's children, but multiprocessing's resource tracker (uvicorn's workers)."""
    return sorted(
        p for p, cmd, ppid in _processes() if ppid == parent and b"resource_tr" not in cmd
    )


def redis_pids(port: int) -> list[int]:
    needle = str(port).encode()
    return [p for p, cmd, _ in _processes() if b"redis-server" in cmd and needle in cmd]


@dataclass
class Snapshot:
    at: float
    own: float  # this process
    server: dict[int, float]
    postgres: dict[int, float]
    extra: dict[str, float]
    busy: float
    total: float


def snapshot(
    server: list[int], database: str, extra: dict[str, list[int]] | None = None
) -> Snapshot:
    with open("/proc/stat", encoding="ascii") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    found = {pid: cpu for pid in server if (cpu := cpu_seconds(pid)) is not None}
    pg = {pid: cpu for pid in postgres_backends(database) if (cpu := cpu_seconds(pid)) is not None}
    helpers = {name: total_cpu(pids) for name, pids in (extra or {}).items()}
    return Snapshot(
        time.perf_counter(), time.process_time(), found, pg, helpers, (total - idle) / TICKS,
        total / TICKS,
    )  # fmt: skip


def cpu_use(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """Cores used in the window (1.0 = one core busy the whole time): this process ('client'),
    the server, PostgreSQL's backends of the bench database, each helper, the machine, and
    'other', everything else on the machine."""
    wall = max(after.at - before.at, 1e-9)

    def grown(old: dict[Any, float], new: dict[Any, float]) -> float:
        # A backend started within the window counts in full; one that ended is lost (idle).
        return sum(cpu - old.get(key, 0.0) for key, cpu in new.items())

    use = {
        "client_cores": (after.own - before.own) / wall,
        "server_cores": grown(before.server, after.server) / wall,
        "postgres_cores": grown(before.postgres, after.postgres) / wall,
        **{f"{k}_cores": (v - before.extra.get(k, 0.0)) / wall for k, v in after.extra.items()},
        "machine_cores": (after.busy - before.busy)
        / max(after.total - before.total, 1e-9)
        * (os.cpu_count() or 1),
    }
    ours = sum(value for key, value in use.items() if key != "machine_cores")
    use["other_cores"] = max(use["machine_cores"] - ours, 0.0)
    return {key: round(value, 3) for key, value in use.items()}


def wait_for_quiet(
    limit: float,
    database: str = "",
    threshold: float = 0.3,
    measure: Callable[[], Snapshot] | None = None,
) -> float:
    """Wait (up to ``limit`` seconds) until other processes use less than ``threshold`` cores
    over two seconds; returns the last reading. ``measure``: a snapshot of everything the
    benchmark counts as its own (default: this process and the bench database's backends)."""
    take = measure or (lambda: snapshot([], database))
    deadline = time.monotonic() + limit
    while True:
        before = take()
        time.sleep(2.0)
        busy = cpu_use(before, take())["other_cores"]
        if busy < threshold or time.monotonic() >= deadline:
            return busy
        print(f"  the machine is busy ({busy:.2f} cores used by other processes); waiting ...")


# --- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's when installed, as the server's is."""
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is in the lock file
        return asyncio.new_event_loop()


class Logged:
    """A command in its own session (a Ctrl-C reaches only us), its output in a log file."""

    STOP_SECONDS = 20.0

    def __init__(self, name: str, command: list[str], env: dict[str, str] | None, logs: Path):
        self.name, self.command, self.env, self.logs = name, command, env, logs
        self.generation = 0
        self.start()

    def start(self) -> None:
        self.generation += 1
        self.log_path = self.logs / f"{self.name}-{self.generation}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def cpu_seconds(self) -> float:
        return total_cpu([self.process.pid, *children(self.process.pid)])

    def stop(self) -> None:
        """SIGTERM to its session (it and its children), SIGKILL if it outlives STOP_SECONDS."""
        for sent, wait in ((signal.SIGTERM, self.STOP_SECONDS), (signal.SIGKILL, 5.0)):
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, sent)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(wait)


class Server(Logged):
    """``uvicorn handoff_site.asgi:application`` as deployed (uvloop and httptools when
    installed) on a port of its own, which a restart keeps."""

    STOP_SECONDS = 15.0

    def __init__(self, env: dict[str, str], workers: int, logs: Path) -> None:
        self.workers, self.port = workers, free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
        self.http = "httptools" if importlib.util.find_spec("httptools") else "h11"
        command = [
            sys.executable, "-m", "uvicorn", "handoff_site.asgi:application",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
            "--loop", self.loop, "--http", self.http, "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        super().__init__("server", command, env, logs)

    def wait_ready(self, timeout: float = 60.0, interval: float = 0.05) -> list[int]:
        """Until it answers and its workers are up (uvicorn runs one worker in its own
        process); returns the pids that serve."""
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                answer = httpx.get(self.base_url + WORKER_PATH, timeout=2.0, trust_env=False)
                pids = children(self.process.pid) if self.workers > 1 else [self.process.pid]
                if answer.status_code == 200 and len(pids) >= self.workers:
                    return pids
            time.sleep(interval)
        raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{self.log_tail()}")


class PrivateRedis(Logged):
    """A redis-server of our own on a free port. Redis pub/sub channels are global to a server
    (the database number does not scope them), so on a shared one any desk publishes into the
    same ``asgi__group__queue.<id>`` channels as this one."""

    def __init__(self, logs: Path, binary: str = "redis-server") -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        command = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(logs),
        ]  # fmt: skip
        super().__init__("redis", command, None, logs)
        deadline = time.monotonic() + 10
        while True:
            self.check_alive()
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn,
            ):
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not answer within 10 s")
            time.sleep(0.05)


def celery(env: dict[str, str], logs: Path, kind: str, *options: str) -> Logged:
    """``celery -A handoff_site worker|beat`` with the project's settings."""
    command = [sys.executable, "-m", "celery", "-A", "handoff_site", kind, *options]
    return Logged(kind, command, env, logs)


def worker_answering(worker: Logged, celery_app: Any, node: str, seconds: float = 90.0) -> None:
    """Until the worker ``node`` answers a ping (a task sent before would wait for it)."""
    deadline = time.monotonic() + seconds
    while not celery_app.control.ping(destination=[node], timeout=1.0):
        worker.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Celery worker did not answer within {seconds:.0f} s")


# --- helper processes answering commands -------------------------------------------------------


async def serve_commands(conn: Connection, handlers: dict[str, Callable[..., Any]]) -> None:
    """A helper's loop: run each (command, payload) the parent sends with the handler of that
    name and send back its result or its error, until the parent sends None."""
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


def _helper_main(conn: Connection, setup: Callable[..., Any], args: tuple[Any, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    loop = new_loop()

    async def serve() -> None:
        handlers = await setup(*args)
        conn.send({"ready": type(loop).__module__.split(".")[0]})
        await serve_commands(conn, handlers)
        if "close" in handlers:
            await handlers["close"]()

    loop.run_until_complete(serve())  # one loop for the whole run: its connections stay open


class Helper:
    """A spawned process (uvloop) whose ``setup(*args)`` coroutine returns its handlers; each
    ``call(command, **payload)`` runs one and returns what it returned."""

    def __init__(self, name: str, setup: Callable[..., Any], *args: Any) -> None:
        self.name = name
        self.conn, child = SPAWN.Pipe()
        self.process = SPAWN.Process(
            target=_helper_main, args=(child, setup, args), name=name, daemon=True
        )
        self.process.start()
        child.close()
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

    def close(self, wait: float = 5.0) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(None)
        self.process.join(wait)
        for stop in (self.process.terminate, self.process.kill):
            if self.process.is_alive():
                stop()
                self.process.join(5.0)


async def open_loop(
    rate: float, duration: float, one: Callable[[int, float], Any], drain: float = 60.0
) -> list[tuple[int, float]]:
    """``one(n, scheduled)`` at fixed times whatever the server does (latency counts from the
    scheduled time: a stall is not hidden); waits ``drain`` seconds for the stragglers and
    returns (n, scheduled) of those that never finished, cancelled."""
    count = max(round(rate * duration), 1)
    start = time.perf_counter() + 0.01
    tasks: dict[asyncio.Task[Any], tuple[int, float]] = {}
    for number in range(count):
        scheduled = start + number / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks[asyncio.create_task(one(number, scheduled))] = (number, scheduled)
    _, unfinished = await asyncio.wait(set(tasks), timeout=drain)
    for task in unfinished:
        task.cancel()
    return [tasks[task] for task in unfinished]
