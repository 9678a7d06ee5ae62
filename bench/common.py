"""What the benchmarks share: the bench database, the processes they start, CPU from /proc.

One copy of each, so that every benchmark measures the machine, drops its database and starts
uvicorn the same way, and a fix to one of them reaches all. Figures, labels and targets stay in
each benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

ROOT = Path(__file__).resolve().parent.parent
STAR_PATH = ROOT.parent / "shared" / "data" / "star" / "dialogues.jsonl.gz"
WORKER_PATH = "/bench/worker"  # bench.urls: answers once a uvicorn worker serves
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def utc_timestamp() -> str:
    """Now, in UTC, as the reports print a run's start."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def run_main(main: Callable[[], int], interrupted: str = "interrupted") -> NoReturn:
    """Exit with main's status; Ctrl-C exits 130 with one line (its cleanup has run), not a
    traceback."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print(f"\n{interrupted}", file=sys.stderr)
        sys.exit(130)
    except subprocess.CalledProcessError as failure:
        print(failure, file=sys.stderr)
        sys.exit(2)


def versions(*dists: str) -> dict[str, str]:
    """Installed versions of the packages a report names ('?' when one is missing)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for dist in dists:
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            found[dist] = "?"
    return found


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values; NaN for none."""
    if not sorted_values:
        return math.nan
    rank = max(math.ceil(pct / 100 * len(sorted_values)) - 1, 0)
    return sorted_values[min(rank, len(sorted_values) - 1)]


def weighted(rng: random.Random, pairs: list[tuple[str, int]]) -> str:
    """One value of (value, weight) pairs, drawn with the seeded generator of the data."""
    return rng.choices([value for value, _ in pairs], weights=[w for _, w in pairs])[0]


def star_packages(path: Path, limit: int) -> list[dict[str, Any]]:
    """STAR dialogues as handoff packages (cases.replay.star_to_package); none is an error."""
    from cases.replay import read_star, star_to_package

    packages = [star_to_package(dialogue) for dialogue in read_star(path, limit)]
    if not packages:
        raise SystemExit(f"no STAR dialogues read from {path}")
    return packages


# --- arguments and settings -------------------------------------------------------------------


def add_database_arguments(
    parser: argparse.ArgumentParser,
    default_name: str,
    server_help: str = "PostgreSQL server to use; the database name is replaced by --database-name",
) -> None:
    """--database-url and --database-name: each benchmark drops and recreates its own database."""
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help=server_help,
    )
    parser.add_argument(
        "--database-name",
        default=default_name,
        help=f"database dropped and recreated for the run (default {default_name})",
    )


def bench_environment(
    db_url: str,
    *,
    settings: str = "bench.settings",
    redis_url: str = "",
    pool: tuple[int, int] | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment of the server and manage.py: this one without DEBUG, a fresh secret.

    An empty ``redis_url`` drops REDIS_URL (the in-memory layer); ``pool`` is the psycopg
    pool's min and max size (the settings' default when None); ``extra`` adds variables.
    """
    env = {key: value for key, value in os.environ.items() if key != "DEBUG"}
    env.update(
        DJANGO_SETTINGS_MODULE=settings,
        SECRET_KEY="bench-" + secrets.token_urlsafe(40),
        DATABASE_URL=db_url,
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        **extra,
    )
    if pool is not None:
        env.update(DB_POOL_MIN_SIZE=str(pool[0]), DB_POOL_MAX_SIZE=str(pool[1]))
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env.pop("REDIS_URL", None)
    return env


def use_environment(env: dict[str, str]) -> None:
    """This process's own Django sees the server's settings (and not a DEBUG or REDIS_URL the
    environment had and ``env`` dropped)."""
    for key in ("DEBUG", "REDIS_URL"):
        if key not in env:
            os.environ.pop(key, None)
    os.environ.update(env)


# --- the database -----------------------------------------------------------------------------


def database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def conninfo(url: str) -> str:
    # psycopg wants postgresql:// or a conninfo; dj-database-url also accepts postgres://.
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def recreate_database(base_url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(conninfo(database_url(base_url, "postgres")), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def prepare_database(base_url: str, name: str, env: dict[str, str], *, where: bool = True) -> None:
    """Drop, recreate and migrate the bench database, saying so (``where``: and on which host)."""
    host = f" on {urlsplit(database_url(base_url, name)).netloc}" if where else ""
    print(f"preparing database {name}{host} ...", flush=True)
    recreate_database(base_url, name)
    manage(env, "migrate", "--noinput")


def prepare_page_bench(args: argparse.Namespace, db_url: str, static_root: str) -> None:
    """The database and static files of a benchmark that requests pages in this process."""
    # One request at a time in this process: a small pool, the in-memory channel layer.
    env = bench_environment(db_url, settings=args.settings, pool=(1, 4), STATIC_ROOT=static_root)
    use_environment(env)
    prepare_database(args.database_url, args.database_name, env)
    manage(env, "collectstatic", "--noinput", "-v", "0")


def setup_django() -> None:
    """Django in this process, for seeding and in-process requests; never with DEBUG on."""
    import django

    django.setup()
    from django.conf import settings

    if settings.DEBUG:
        raise SystemExit("DEBUG is on: the figures would not be the server's")


def vacuum_analyze(url: str, *tables: str) -> None:
    """VACUUM ANALYZE the tables (all when none), as autovacuum would between phases."""
    import psycopg

    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        for table in tables or ("",):
            conn.execute(f"VACUUM ANALYZE {table}".strip())


def postgres_version(url: str) -> str:
    import psycopg

    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def execute(sql: str, params: Any = None) -> None:
    """One statement on Django's own connection (for seeding in this process)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def scalar(sql: str, params: Any = None) -> Any:
    """The first column of the first row, on Django's own connection."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def manage(env: dict[str, str], *args: str) -> str:
    """manage.py in a process of its own, with the bench environment; a failure ends the run."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


# --- CPU accounting from /proc ----------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _machine_busy_and_total() -> tuple[float, float]:
    with open("/proc/stat", encoding="ascii") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def postgres_backends(database: str) -> list[int]:
    """Pids of the PostgreSQL backends connected to the bench database."""
    pids = []
    marker = f" {database} ".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except OSError:
            continue
        if command.startswith(b"postgres: ") and marker in command:
            pids.append(int(entry))
    return pids


def child_pids(parent: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent:
            pids.append(int(entry))
    return pids


def worker_pids(master: int) -> list[int]:
    """uvicorn's worker processes (its children but multiprocessing's resource tracker)."""
    workers = []
    for pid in child_pids(master):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except OSError:
            continue
        if b"resource_tracker" not in command:
            workers.append(pid)
    return sorted(workers)


@dataclass
class CpuSnapshot:
    at: float
    client: float
    server: dict[int, float]
    postgres: dict[int, float]
    machine_busy: float
    machine_total: float


def cpu_snapshot(server_pids: list[int], database: str) -> CpuSnapshot:
    busy, total = _machine_busy_and_total()
    server = {pid: cpu for pid in server_pids if (cpu := process_cpu_seconds(pid)) is not None}
    postgres = {
        pid: cpu
        for pid in postgres_backends(database)
        if (cpu := process_cpu_seconds(pid)) is not None
    }
    return CpuSnapshot(time.perf_counter(), time.process_time(), server, postgres, busy, total)


def _group_delta(before: dict[int, float], after: dict[int, float]) -> float:
    # A backend started within the window counts in full; one that ended is lost (it is idle).
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def cpu_use(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """CPU use in the window, in cores (1.0 = one core busy the whole time)."""
    wall = max(after.at - before.at, 1e-9)
    cores = os.cpu_count() or 1
    machine_total = max(after.machine_total - before.machine_total, 1e-9)
    return {
        "client_cores": round((after.client - before.client) / wall, 3),
        "server_cores": round(_group_delta(before.server, after.server) / wall, 3),
        "postgres_cores": round(_group_delta(before.postgres, after.postgres) / wall, 3),
        "machine_cores": round(
            (after.machine_busy - before.machine_busy) / machine_total * cores, 3
        ),
    }


# --- the machine: other processes compete with a benchmark ------------------------------------


def other_cores(before: CpuSnapshot, after: CpuSnapshot) -> float:
    """Cores busy outside this process and the bench database's backends."""
    use = cpu_use(before, after)
    return max(use["machine_cores"] - use["client_cores"] - use["postgres_cores"], 0.0)


def wait_until_quiet(
    others_over: Callable[[float], float], limit: float, threshold: float
) -> float:
    """Wait (up to ``limit`` seconds) until ``others_over(2.0)``, the cores other processes use
    over two seconds, is under ``threshold``; returns the last reading."""
    deadline = time.monotonic() + limit
    while True:
        busy = others_over(2.0)
        if busy < threshold or time.monotonic() >= deadline:
            return busy
        print(f"  the machine is busy ({busy:.2f} cores used by other processes); waiting ...")


def wait_for_quiet(database: str, limit: float, threshold: float = 0.3) -> float:
    """wait_until_quiet, where "ours" is this process and the bench database's backends."""

    def others_over(seconds: float) -> float:
        before = cpu_snapshot([], database)
        time.sleep(seconds)
        return other_cores(before, cpu_snapshot([], database))

    return wait_until_quiet(others_over, limit, threshold)


# --- processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def install_uvloop() -> str:
    """uvloop as asyncio's loop when it is installed, as the server's is; returns the loop's
    name for the report."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    uvloop.install()
    return "uvloop"


def end_process(process: BaseProcess, wait: float = 5.0) -> None:
    """Join a multiprocessing child told to stop; terminate it, then kill it, if it does not."""
    process.join(wait)
    if process.is_alive():
        process.terminate()
        process.join(5.0)
    if process.is_alive():
        process.kill()
        process.join(2.0)


def stop_session(process: subprocess.Popen[bytes], seconds: float) -> None:
    """SIGTERM to a process started in its own session (and its children), then SIGKILL."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5.0)


def uvicorn_command(port: int, workers: int) -> tuple[list[str], str, str]:
    """The server as deployed: uvicorn on 127.0.0.1, uvloop and httptools when installed.

    Returns the command and the event loop and HTTP parser it names (the reports print them).
    """
    loop = "uvloop" if importable("uvloop") else "asyncio"
    http = "httptools" if importable("httptools") else "h11"
    command = [
        sys.executable, "-m", "uvicorn", "handoff_site.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--loop", loop, "--http", http, "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    return command, loop, http


def wait_serving(
    process: subprocess.Popen[bytes],
    base_url: str,
    workers: int,
    check_alive: Callable[[], None],
    log_tail: Callable[[], str],
    timeout: float = 60.0,
    interval: float = 0.2,
) -> list[int]:
    """Wait until the server answers and ``workers`` workers are up; returns the worker pids."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_alive()
        try:
            response = httpx.get(base_url + WORKER_PATH, timeout=2.0, trust_env=False)
        except httpx.HTTPError:
            time.sleep(interval)
            continue
        pids = worker_pids(process.pid)
        if response.status_code == 200 and len(pids) >= workers:
            return pids
        time.sleep(interval)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s:\n{log_tail()}")


class Server:
    """uvicorn started once on a free port, its output in a log file."""

    STOP_SECONDS = 10.0

    def __init__(self, env: dict[str, str], workers: int, log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        command, self.loop, self.http = uvicorn_command(self.port, workers)
        self.log_path = log_path
        self.log = log_path.open("wb")
        # Its own session, so a Ctrl-C in the terminal reaches only us and we stop it in order.
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self, lines: int = 30) -> str:
        self.log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"the server exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def wait_ready(self, workers: int, timeout: float = 60.0) -> list[int]:
        """Wait until it answers and all workers are up; returns the worker pids."""
        return wait_serving(
            self.process, self.base_url, workers, self.check_alive, self.log_tail, timeout
        )

    def stop(self) -> None:
        stop_session(self.process, self.STOP_SECONDS)
        self.log.close()


class PrivateRedis:
    """A redis-server of our own on a free port: no other desk publishes into our groups.

    Redis pub/sub channels are global to a server (the database number does not scope them),
    and the site's layer uses the default prefix, so any desk sharing the server publishes to
    the same ``asgi__group__queue.<id>`` channels as this one.
    """

    def __init__(self, binary: str, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = log_dir / "redis.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(log_dir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"redis-server exited: {self.log_path.read_text()[-2000:]}")
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

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(2.0)
