"""Intake throughput and latency over HTTP, beside a one-row insert baseline on the same server.

    cd /work/main && .venv/bin/python bench/intake.py --duration 10

What it does, in one run and under one server configuration:

1. Drops and recreates a PostgreSQL database (``handoff_bench``), migrates it with
   ``DJANGO_SETTINGS_MODULE=bench.settings``, creates an integration and the baseline's table.
2. Starts ``uvicorn handoff_site.asgi:application`` (``--workers 2`` by default) on 127.0.0.1 and
   a free port, with the psycopg pool (``DB_POOL_MIN_SIZE`` / ``DB_POOL_MAX_SIZE``).
3. Replays STAR dialogues as handoff packages (``cases.replay.star_to_package``); every request
   gets its own ``external_id``, so each one opens a new case.
4. Closed loop, C concurrent clients: the baseline ``POST /bench/insert`` (same bodies, one row),
   then the intake ``POST /api/v1/handoffs``. Each after a warm-up.
5. Open loop: the intake at a fixed rate of half the baseline's throughput. Latency is measured
   from each request's *scheduled* send time, so a stalled server (or client) is not hidden
   (coordinated omission).

The load generator is a separate process (uvloop when installed, httpx.AsyncClient) sharing the
machine with the server and PostgreSQL; its CPU use is measured and printed beside the figures,
with the server's, PostgreSQL's and the whole machine's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import multiprocessing
import os
import platform
import re
import secrets
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict, deque
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402  (needs ROOT on sys.path)
    STAR_PATH,
    WORKER_PATH,
    Server,
    add_database_arguments,
    bench_environment,
    conninfo,
    cpu_snapshot,
    cpu_use,
    database_url,
    end_process,
    install_uvloop,
    manage,
    percentile,
    postgres_backends,
    prepare_database,
    process_cpu_seconds,
    run_main,
    star_packages,
    use_environment,
    utc_timestamp,
    vacuum_analyze,
    versions,
)

BENCH_DB = "handoff_bench"
INTAKE_PATH = "/api/v1/handoffs"
BASELINE_PATH = "/bench/insert"
RATIO_TARGET = 0.6
P99_TARGET_MS = 100.0
EXTERNAL_ID_MARK = "@@bench-external-id@@"
OPEN_LOOP_CONNECTIONS = 256
BASELINE_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS bench_baseline (
    id bigserial PRIMARY KEY,
    external_id text NOT NULL,
    body jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""


# --- the packages -----------------------------------------------------------------------------

BodyTemplate = tuple[bytes, bytes]  # the JSON body around its external_id


def load_packages(path: Path, limit: int) -> tuple[list[dict[str, Any]], str]:
    """STAR dialogues as handoff packages, and which mapping made them."""
    return star_packages(path, limit), "cases.replay.star_to_package"


def body_template(package: dict[str, Any]) -> BodyTemplate:
    body = json.dumps({**package, "external_id": EXTERNAL_ID_MARK}, separators=(",", ":"))
    prefix, suffix = body.encode().split(EXTERNAL_ID_MARK.encode(), 1)
    return prefix, suffix


def render_body(template: BodyTemplate, external_id: str) -> bytes:
    return template[0] + external_id.encode() + template[1]


# --- the load generator (runs in its own process) -------------------------------------------


@dataclass
class PhaseSpec:
    name: str
    path: str
    headers: dict[str, str]
    mode: str  # "closed" or "open"
    duration: float
    warmup: float
    concurrency: int = 32
    rate: float = 0.0
    drain_timeout: float = 10.0
    workers: int = 2
    label: str = ""


@dataclass
class PhaseResult:
    name: str
    path: str
    mode: str
    duration: float
    concurrency: int
    target_rate: float
    label: str = ""
    sent: int = 0
    ok: int = 0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    error_sample: str = ""
    elapsed: float = 0.0
    rate: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    send_lag_p99_ms: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    worker_cores: list[float] = field(default_factory=list)
    connections_per_worker: dict[str, int] = field(default_factory=dict)


class Recorder:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.send_lags: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.error_sample = ""
        self.ok = 0
        self.errors = 0
        self.last_done = 0.0

    def record(
        self, status: int | str, latency: float, detail: str = "", *, answered: bool = True
    ) -> None:
        self.latencies.append(latency)
        self.statuses[str(status)] += 1
        if answered:
            self.last_done = time.perf_counter()
        if isinstance(status, int) and 200 <= status < 300:
            self.ok += 1
        else:
            self.errors += 1
            if not self.error_sample:
                self.error_sample = f"{status}: {detail[:300]}"


# --- HTTP transports for the load generator ---------------------------------------------------

REQUEST_TIMEOUT = 30.0


class Transport:
    """``post(path, headers, body) -> (status, detail)``; detail is the body of a non-2xx."""

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        raise NotImplementedError

    async def close(self) -> None:
        return None

    async def balance(self, connections: int, workers: int) -> dict[int, int]:
        """Spread keep-alive connections evenly over the server's workers, if possible."""
        return {}


class HttpxTransport(Transport):
    def __init__(self, base_url: str, connections: int) -> None:
        import httpx

        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.client = httpx.AsyncClient(
            base_url=base_url,
            limits=limits,
            timeout=httpx.Timeout(REQUEST_TIMEOUT, pool=None),
            trust_env=False,
        )

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        response = await self.client.post(path, content=body, headers=headers)
        return response.status_code, response.text if response.status_code >= 300 else ""

    async def close(self) -> None:
        await self.client.aclose()


class RawConnection:
    """One keep-alive HTTP/1.1 connection: just enough protocol for this benchmark."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes, bool]:
        self.writer.write(head + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header[9:12])
        length = 0
        chunked = False
        keep_alive = True
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                keep_alive = False
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size + 2))
            content = b"".join(part[:-2] for part in parts)
        else:
            content = await self.reader.readexactly(length) if length else b""
        return status, content, keep_alive

    def close(self) -> None:
        self.writer.close()


class RawTransport(Transport):
    """Keep-alive connections over asyncio streams (uvloop): a small fraction of httpx's CPU.

    Up to ``connections`` requests are in flight; more wait for a free connection, and that wait
    counts in their latency, as it would with any client pool.
    """

    def __init__(self, base_url: str, connections: int) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.slots = asyncio.Semaphore(connections)
        self.idle: deque[RawConnection] = deque()  # round robin over the open connections
        self.heads: dict[tuple[str, tuple[tuple[str, str], ...]], bytes] = {}

    def _head(self, path: str, headers: dict[str, str]) -> bytes:
        key = (path, tuple(sorted(headers.items())))
        head = self.heads.get(key)
        if head is None:
            lines = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
            lines += [f"{name}: {value}" for name, value in headers.items()]
            head = self.heads[key] = ("\r\n".join(lines) + "\r\nContent-Length: ").encode()
        return head

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        head = self._head(path, headers) + str(len(body)).encode() + b"\r\n\r\n"
        async with self.slots:
            connection = None
            while self.idle and connection is None:
                connection = self.idle.popleft()
                if connection.reader.at_eof():  # the server closed it while idle
                    connection.close()
                    connection = None
            reused = connection is not None
            if connection is None:
                connection = await self._open_connection()
            reusable = False
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    try:
                        status, content, reusable = await connection.request(head, body)
                    except (asyncio.IncompleteReadError, ConnectionError):
                        if not reused:
                            raise
                        # A keep-alive connection the server dropped just now: one retry.
                        connection.close()
                        connection = await self._open_connection()
                        status, content, reusable = await connection.request(head, body)
            finally:
                if reusable:
                    self.idle.append(connection)
                else:
                    connection.close()
        return status, content.decode(errors="replace") if status >= 300 else ""

    async def _open_connection(self) -> RawConnection:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return RawConnection(reader, writer)

    async def close(self) -> None:
        for connection in self.idle:
            connection.close()
        self.idle.clear()

    async def balance(self, connections: int, workers: int) -> dict[int, int]:
        """Open ``connections`` keep-alive connections, the same number on each worker.

        Workers share one listening socket and the kernel hands a new connection to whichever
        accepts first, so a burst of connections can land mostly on one worker, which then
        saturates while the other idles. Each connection asks ``GET /bench/worker`` which
        process it reached; surplus ones on a worker that has its share are closed.
        """
        share = math.ceil(connections / workers)
        kept: dict[int, list[RawConnection]] = {}
        head = f"GET {WORKER_PATH} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()
        for _ in range(connections * 20):
            if sum(len(group) for group in kept.values()) >= connections:
                break
            connection = await self._open_connection()
            async with asyncio.timeout(REQUEST_TIMEOUT):
                status, content, reusable = await connection.request(head, b"")
            pid = int(json.loads(content)["pid"]) if status == 200 else 0
            group = kept.setdefault(pid, [])
            if reusable and len(group) < share:
                group.append(connection)
            else:
                connection.close()
        # Interleave them, so that the round robin alternates workers too.
        for batch in itertools.zip_longest(*kept.values()):
            self.idle.extend(connection for connection in batch if connection is not None)
        return {pid: len(group) for pid, group in kept.items()}


TRANSPORT_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    TimeoutError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
)


def make_transport(kind: str, base_url: str, connections: int) -> Transport:
    if kind == "httpx":
        return HttpxTransport(base_url, connections)
    return RawTransport(base_url, connections)


class LoadClient:
    """One process's worth of HTTP clients; the packages are sent to it once."""

    def __init__(
        self,
        base_url: str,
        templates: list[BodyTemplate],
        run_id: str,
        server_pids: list[int],
        database: str,
        client_kind: str,
    ) -> None:
        self.client_kind = client_kind
        self.base_url = base_url
        self.templates = templates
        self.run_id = run_id
        self.server_pids = server_pids
        self.database = database
        self.sequence = itertools.count()

    def body(self, tag: str) -> bytes:
        number = next(self.sequence)
        template = self.templates[number % len(self.templates)]
        return render_body(template, f"bench-{self.run_id}-{tag}-{number}")

    async def _send(
        self,
        transport: Transport,
        spec: PhaseSpec,
        tag: str,
        started: float,
        recorder: Recorder | None,
    ) -> None:
        import httpx

        body = self.body(tag)
        if recorder is not None:
            recorder.send_lags.append(time.perf_counter() - started)
        status: int | str
        try:
            status, detail = await transport.post(spec.path, spec.headers, body)
        except (httpx.HTTPError, *TRANSPORT_ERRORS) as exc:
            status, detail = type(exc).__name__, str(exc)
        if recorder is not None:
            recorder.record(status, time.perf_counter() - started, detail)

    async def _closed(
        self,
        client: Transport,
        spec: PhaseSpec,
        seconds: float,
        tag: str,
        recorder: Recorder | None,
    ) -> int:
        deadline = time.perf_counter() + seconds

        async def one_client() -> None:
            while (started := time.perf_counter()) < deadline:
                await self._send(client, spec, tag, started, recorder)

        await asyncio.gather(*(one_client() for _ in range(spec.concurrency)))
        return 0

    async def _open(
        self,
        client: Transport,
        spec: PhaseSpec,
        seconds: float,
        tag: str,
        recorder: Recorder | None,
    ) -> int:
        """Requests at fixed times, whatever the server does; returns how many never finished."""
        interval = 1.0 / spec.rate
        count = max(int(spec.rate * seconds), 1)
        start = time.perf_counter() + 0.01
        pending: dict[asyncio.Task[None], float] = {}
        for number in range(count):
            scheduled = start + number * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self._send(client, spec, tag, scheduled, recorder))
            pending[task] = scheduled
            task.add_done_callback(lambda done: pending.pop(done, None))
        if not pending:
            return 0
        _, unfinished = await asyncio.wait(set(pending), timeout=spec.drain_timeout)
        now = time.perf_counter()
        for task in unfinished:
            if recorder is not None:
                # At least this late: the true latency of a request never answered is unknown.
                recorder.record(
                    "unfinished",
                    now - pending[task],
                    "no answer before the drain timeout",
                    answered=False,
                )
            task.cancel()
        return len(unfinished)

    async def run(self, spec: PhaseSpec) -> PhaseResult:
        connections = spec.concurrency if spec.mode == "closed" else OPEN_LOOP_CONNECTIONS
        client = make_transport(self.client_kind, self.base_url, connections)
        try:
            spread = await client.balance(spec.concurrency, spec.workers)
            phase = self._closed if spec.mode == "closed" else self._open
            if spec.warmup > 0:
                await phase(client, spec, spec.warmup, f"{spec.name}-warm", None)
            recorder = Recorder()
            before = cpu_snapshot(self.server_pids, self.database)
            started = time.perf_counter()
            await phase(client, spec, spec.duration, spec.name, recorder)
            after = cpu_snapshot(self.server_pids, self.database)
        finally:
            await client.close()
        latencies = sorted(recorder.latencies)
        lags = sorted(recorder.send_lags)
        elapsed = max((recorder.last_done or after.at) - started, 1e-9)
        return PhaseResult(
            name=spec.name,
            path=spec.path,
            mode=spec.mode,
            duration=spec.duration,
            concurrency=spec.concurrency if spec.mode == "closed" else 0,
            target_rate=round(spec.rate, 1),
            label=spec.label,
            sent=len(latencies),
            ok=recorder.ok,
            errors=recorder.errors,
            statuses=dict(recorder.statuses),
            error_sample=recorder.error_sample,
            elapsed=round(elapsed, 3),
            rate=round(recorder.ok / elapsed, 1),
            p50_ms=round(percentile(latencies, 50) * 1000, 2),
            p90_ms=round(percentile(latencies, 90) * 1000, 2),
            p99_ms=round(percentile(latencies, 99) * 1000, 2),
            max_ms=round(latencies[-1] * 1000, 2) if latencies else float("nan"),
            send_lag_p99_ms=round(percentile(lags, 99) * 1000, 2) if lags else 0.0,
            cpu=cpu_use(before, after),
            worker_cores=[
                round((after.server[pid] - before.server.get(pid, 0.0)) / (after.at - before.at), 2)
                for pid in sorted(after.server)
            ],
            connections_per_worker={str(pid): count for pid, count in spread.items()},
        )


def load_process_main(
    conn: Connection,
    base_url: str,
    templates: list[BodyTemplate],
    run_id: str,
    server_pids: list[int],
    database: str,
    client_kind: str,
) -> None:
    """The load generator's process: runs the phases the parent sends, answers with results."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    loop_name = install_uvloop()
    client = LoadClient(base_url, templates, run_id, server_pids, database, client_kind)
    conn.send({"ready": loop_name})
    while True:
        message = conn.recv()
        if message is None:
            return
        try:
            result = asyncio.run(client.run(message))
        except Exception as exc:
            conn.send({"error": f"{type(exc).__name__}: {exc}"})
        else:
            conn.send({"result": result})


class LoadGenerator:
    def __init__(
        self,
        base_url: str,
        templates: list[BodyTemplate],
        run_id: str,
        server_pids: list[int],
        database: str,
        client_kind: str,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child_conn = context.Pipe()
        self.process = context.Process(
            target=load_process_main,
            args=(child_conn, base_url, templates, run_id, server_pids, database, client_kind),
            name="bench-load",
            daemon=True,
        )
        self.process.start()
        child_conn.close()
        self.loop_name = self._receive(60.0)["ready"]

    def _receive(self, timeout: float) -> dict[str, Any]:
        if not self.conn.poll(timeout):
            raise RuntimeError(f"the load generator did not answer within {timeout:.0f} s")
        answer: dict[str, Any] = self.conn.recv()
        if "error" in answer:
            raise RuntimeError(f"the load generator failed: {answer['error']}")
        return answer

    def run(self, spec: PhaseSpec) -> PhaseResult:
        self.conn.send(spec)
        budget = spec.warmup + spec.duration + spec.drain_timeout + 60.0
        result: PhaseResult = self._receive(budget)["result"]
        return result

    def close(self, *, wait: bool = True) -> None:
        """Stop the load process: let it finish its phase if ``wait``, else terminate it."""
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(None)
        end_process(self.process, 5.0 if wait else 0.5)


# --- the bench database -----------------------------------------------------------------------


def postgres_setup(url: str) -> str:
    """Create the baseline's table; returns the server's version."""
    import psycopg

    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute(BASELINE_TABLE_SQL)
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def postgres_row_counts(url: str) -> dict[str, int]:
    import psycopg

    counts = {}
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        for table in ("bench_baseline", "cases_case", "cases_message", "cases_caseevent"):
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            counts[table] = int(row[0]) if row else 0
    return counts


# --- in-process look at one request -----------------------------------------------------------


def query_profile(
    api_key: str, templates: list[BodyTemplate], run_id: str, database: str, repeat: int = 200
) -> dict[str, Any]:
    """Queries per request, service time and PostgreSQL's CPU per statement, without HTTP.

    Django's test client in this process, on the bench database as the load phases left it (the
    intake's position and queue figures count the waiting cases, so their cost depends on how
    many there are). PostgreSQL's CPU is read from /proc for the backends of the bench database
    (only this process's, once the server is stopped), in clock ticks: per statement it is exact
    only on average over many requests.
    """
    from django.db import connection, connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    profile: dict[str, Any] = {}
    for name, path, headers in (
        ("baseline", BASELINE_PATH, {}),
        ("intake", INTAKE_PATH, {"Authorization": f"Bearer {api_key}"}),
    ):

        def post(
            number: int, path: str = path, headers: dict[str, str] = headers, name: str = name
        ) -> int:
            template = templates[number % len(templates)]
            body = render_body(template, f"bench-{run_id}-inprocess-{name}-{number}")
            response = client.post(
                path, data=body, content_type="application/json", headers=headers
            )
            return response.status_code

        post(-1)  # the first request of a fresh desk creates its default queue: not typical
        with CaptureQueriesContext(connection) as captured:
            status = post(0)
        statements = [_statement_shape(query["sql"]) for query in captured.captured_queries]
        pg_by_statement: defaultdict[str, float] = defaultdict(float)

        def timed(
            execute: Any,
            sql: str,
            params: Any,
            many: bool,
            context: Any,
            spent: defaultdict[str, float] = pg_by_statement,
        ) -> Any:
            backend = connection.connection.info.backend_pid
            before = process_cpu_seconds(backend) or 0.0
            try:
                return execute(sql, params, many, context)
            finally:
                after = process_cpu_seconds(backend) or before
                spent[_statement_shape(sql)] += after - before

        pg_before = sum(filter(None, map(process_cpu_seconds, postgres_backends(database))))
        started = time.perf_counter()
        with connection.execute_wrapper(timed):
            for number in range(1, repeat + 1):
                post(number)
        per_request = (time.perf_counter() - started) / repeat
        pg_after = sum(filter(None, map(process_cpu_seconds, postgres_backends(database))))
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM cases_case WHERE status = 'waiting'")
            row = cursor.fetchone()
        profile[name] = {
            "status": status,
            "queries": len(statements),
            "statements": statements,
            "ms_per_request": round(per_request * 1000, 2),
            "pg_ms_per_request": round((pg_after - pg_before) / repeat * 1000, 2),
            "pg_ms_by_statement": {
                shape: round(cpu / repeat * 1000, 2)
                for shape, cpu in sorted(pg_by_statement.items(), key=lambda item: -item[1])
            },
            "waiting_cases": int(row[0]) if row else 0,
        }
    connections.close_all()
    with contextlib.suppress(AttributeError):
        connection.close_pool()  # type: ignore[attr-defined]
    return profile


def _statement_shape(sql_text: str) -> str:
    text = " ".join(sql_text.split())
    verb = text.split(" ", 1)[0].upper()
    if verb == "WITH":  # the intake's one-statement insert of a case and its rows
        verb = "INSERT (CTE)"
    table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', text, re.IGNORECASE)
    suffix = ""
    upper = text.upper()
    if verb == "SELECT" and "FILTER (WHERE" in upper:
        suffix = " (queue figures)"
    elif verb == "SELECT" and "COUNT(" in upper:
        suffix = " (count)"
    elif verb == "SELECT" and "FOR UPDATE" in upper:
        suffix = " (for update)"
    elif verb == "SELECT" and "'RESOLVED'" in upper:
        suffix = " (previous contact)"
    elif verb == "SELECT" and "FIRST_CLAIMED_AT" in upper:
        suffix = " (recent claims)"
    return f"{verb} {table.group(1) if table else ''}{suffix}".strip()


# --- the report -------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def report(figures: dict[str, Any]) -> str:
    config = figures["config"]
    phases = [PhaseResult(**phase) for phase in figures["phases"]]
    verdict = figures["verdict"]
    lines = [
        "",
        f"Handoff Desk intake benchmark, {figures['started_at']}",
        "",
        "server : uvicorn {uvicorn} handoff_site.asgi:application, {workers} workers, loop "
        "{loop}, http {http}, 127.0.0.1".format(**config),
        "         Django {django}, Python {python}, PostgreSQL {postgres}, psycopg {psycopg} pool "
        "min {pool_min} / max {pool_max} per worker, channel layer {channel_layer}".format(
            **config
        ),
        "machine: {cores} cores, {machine}; the load generator, the server and PostgreSQL share "
        "them".format(**config),
        "client : 1 separate process, {client_loop}, {client_label}, keep-alive connections".format(
            client_label="httpx.AsyncClient " + config["httpx"]
            if config.get("client") == "httpx"
            else "raw HTTP/1.1 on asyncio streams",
            **config,
        ),
        "packages: {count} STAR dialogues via {source}; body {body_min:,}-{body_max:,} bytes, "
        "mean {body_mean:,}".format(**figures["packages"]),
        "",
        f"{'':<57}{'':>36}{'':>8}  {'CPU ms/request':>14}  {'cores busy':>15}",
        f"{'endpoint':<31}{'load':<26}{'ok/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'errors':>8}  {'server':>7}{'pg':>7}  {'client':>7}{'machine':>8}",
    ]
    for phase in phases:
        load = (
            f"closed, {phase.concurrency} clients"
            if phase.mode == "closed"
            else f"open {phase.target_rate:,.0f}/s={phase.label}"
        )
        cpu = phase.cpu
        per_request = 1000 / phase.rate if phase.rate else float("nan")
        lines.append(
            f"{phase.name + ' POST ' + phase.path:<31}{load:<26}{_fmt(phase.rate):>9}"
            f"{_fmt(phase.p50_ms):>9}{_fmt(phase.p99_ms):>9}{_fmt(phase.max_ms):>9}"
            f"{phase.errors:>8}  {_fmt(cpu.get('server_cores', 0) * per_request, 2):>7}"
            f"{_fmt(cpu.get('postgres_cores', 0) * per_request, 2):>7}  "
            f"{cpu.get('client_cores', 0):>7.2f}{cpu.get('machine_cores', 0):>8.2f}"
        )
    lines.append("")
    for phase in phases:
        if phase.errors:
            lines.append(
                f"errors in {phase.name} {phase.mode} {phase.label}: {phase.statuses}; first: "
                f"{phase.error_sample}"
            )
        spread = ", ".join(f"{n}" for n in phase.connections_per_worker.values()) or "not balanced"
        busy = " / ".join(f"{cores:.2f}" for cores in phase.worker_cores)
        which = f"{phase.name} {phase.mode}" + (f" ({phase.label})" if phase.label else "")
        lines.append(f"{which}: connections per worker {spread}; worker cores {busy}")
        if phase.mode == "open":
            lines.append(
                f"  {phase.sent:,} requests scheduled over {phase.duration:.0f} s, latency from "
                f"the scheduled send time; client send lag p99 {phase.send_lag_p99_ms:.1f} ms"
            )
    lines += [
        f"intake / baseline throughput: {verdict['ratio']:.2f} (target >= {RATIO_TARGET}) "
        f"{'PASS' if verdict['ratio_pass'] else 'FAIL'}",
        f"intake p99 at half the baseline's throughput ({verdict['half_load_rate']:,.0f}/s, "
        f"achieved {verdict['half_load_achieved']:,.0f}/s): {_fmt(verdict['half_load_p99_ms'])} "
        f"ms (target < {P99_TARGET_MS:.0f} ms, no errors) "
        f"{'PASS' if verdict['p99_pass'] else 'FAIL'}"
        if verdict["half_load_run"]
        else "intake p99 at half the baseline's throughput: not run (--no-open-loop)",
    ]
    if figures.get("queries"):
        lines.append("")
        lines.append(
            "one request in-process, after the load phases (Django test client, no HTTP, same "
            "database; PostgreSQL CPU from /proc, averaged over the requests):"
        )
        for name, item in figures["queries"].items():
            shapes = Counter(item["statements"])
            listed = ", ".join(f"{shape} x{n}" if n > 1 else shape for shape, n in shapes.items())
            lines.append(
                f"  {name:<9}{item['queries']:>3} queries, {item['ms_per_request']:.2f} "
                f"ms/request: {listed}"
            )
            by_statement = item.get("pg_ms_by_statement") or {}
            if by_statement:
                other = item["pg_ms_per_request"] - sum(by_statement.values())
                spent = ", ".join(f"{shape} {ms:.2f}" for shape, ms in by_statement.items())
                lines.append(
                    f"{'':<12}PostgreSQL {item['pg_ms_per_request']:.2f} ms/request with "
                    f"{item['waiting_cases']:,} cases waiting: {spent}, BEGIN/COMMIT and "
                    f"the rest {max(other, 0):.2f}"
                )
    lines += ["", "honesty notes:"] + [f"  - {note}" for note in figures["notes"]]
    return "\n".join(lines)


def verdict_for(
    baseline: PhaseResult, intake: PhaseResult, half: PhaseResult | None
) -> dict[str, Any]:
    ratio = intake.rate / baseline.rate if baseline.rate else 0.0
    p99 = half.p99_ms if half else float("nan")
    return {
        "ratio": round(ratio, 3),
        "ratio_pass": ratio >= RATIO_TARGET and baseline.errors == 0 and intake.errors == 0,
        "half_load_rate": baseline.rate / 2,
        "half_load_achieved": half.rate if half else 0.0,
        "half_load_p99_ms": p99,
        "p99_pass": half is not None and half.errors == 0 and p99 < P99_TARGET_MS,
        "half_load_run": half is not None,
    }


def notes_for(phases: list[PhaseResult], cores: int) -> list[str]:
    client_max = max((phase.cpu.get("client_cores", 0.0) for phase in phases), default=0.0)
    lag_max = max((phase.send_lag_p99_ms for phase in phases if phase.mode == "open"), default=0)
    notes = [
        "The load generator runs on the same cores as the server and PostgreSQL ('client': "
        f"at most {client_max:.2f} cores in this run). It takes more at the baseline's higher "
        "rate, so the ratio is, if anything, slightly flattering to the intake.",
        "Open loop: when the cores are saturated the load generator itself is scheduled late "
        f"(send lag p99 up to {lag_max:.0f} ms here); latency counts from the scheduled time, "
        "so that lateness is in the figures, not hidden.",
        f"'machine' is all {cores} cores' busy time; machine minus client, server and pg is "
        "the kernel's network work, Redis, PostgreSQL's background processes and anything "
        "else running on the machine, which competes with this benchmark.",
        "Under ASGI, Django runs each request's sync code in a thread of its own "
        "(ThreadSensitiveContext per request); a request holds a pooled connection from its "
        "first query to its end, so at most pool-max requests per worker touch the database "
        "at once and the others wait for the pool (that wait is part of the latency).",
        "CPU ms/request = cores busy / ok/s: the server's (uvicorn workers) and PostgreSQL's "
        "(backends of the bench database) cost of one request at that load.",
        "Server logs at WARNING (no per-handoff INFO line); the integration has no callback "
        "URL, so no outbox delivery or Celery enqueue is measured.",
        "Each request's external_id is new, so every intake request opens a case (201); the "
        "waiting queue grows through the run, as it would with no agents claiming.",
    ]
    for phase in phases:
        cores_by_worker = phase.worker_cores
        if len(cores_by_worker) > 1 and min(cores_by_worker) < 0.6 * max(cores_by_worker):
            notes.append(
                f"In {phase.name} ({phase.mode}) the workers were unevenly loaded "
                f"({' / '.join(f'{c:.2f}' for c in cores_by_worker)} cores): keep-alive "
                "connections stick to the worker that accepted them."
            )
        cpu = phase.cpu
        other = cpu.get("machine_cores", 0.0) - sum(
            cpu.get(key, 0.0) for key in ("client_cores", "server_cores", "postgres_cores")
        )
        if other > 0.4:
            notes.append(
                f"In {phase.name} {phase.mode} {phase.label}".rstrip()
                + f", {other:.2f} cores went to other processes: its rate is lower than this "
                "machine gives when quiet; CPU ms/request is the steadier figure."
            )
        client = phase.cpu.get("client_cores", 0.0)
        if client > 0.5:
            notes.append(
                f"In {phase.name} ({phase.mode}) the client used {client:.2f} cores: a real "
                "share of this machine, so the server's figures are lower than they would be "
                "with the client elsewhere."
            )
    return notes


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Intake throughput and latency against a one-row insert baseline."
    )
    parser.add_argument(
        "--duration", type=float, default=15.0, help="seconds measured per phase (default 15)"
    )
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of warm-up before each phase (default 3)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="closed-loop clients (default 32)"
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (default 2)")
    parser.add_argument(
        "--packages",
        type=int,
        default=500,
        help="STAR dialogues replayed, round robin (default 500)",
    )
    parser.add_argument(
        "--pool-min", type=int, default=2, help="psycopg pool min_size per worker (default 2)"
    )
    parser.add_argument(
        "--pool-max", type=int, default=8, help="psycopg pool max_size per worker (default 8)"
    )
    add_database_arguments(parser, BENCH_DB)
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        help="channel layer and broker; '' for the in-memory layer",
    )
    parser.add_argument("--star", type=Path, default=STAR_PATH, help="STAR dialogues.jsonl.gz")
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="load generator's HTTP client: 'raw' keep-alive HTTP/1.1 on asyncio streams "
        "(default, cheapest) or httpx.AsyncClient",
    )
    parser.add_argument(
        "--settings",
        default="bench.settings",
        help="Django settings module for the server (default bench.settings); it must route "
        "/bench/insert like bench.urls does",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--no-open-loop",
        action="store_true",
        help="skip the fixed-rate run at half the baseline's throughput",
    )
    parser.add_argument(
        "--no-diagnostic",
        dest="diagnostic",
        action="store_false",
        help="skip the extra open-loop run at half the intake's own throughput",
    )
    parser.add_argument(
        "--no-query-profile",
        action="store_true",
        help="skip counting one request's queries in-process",
    )
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.concurrency < 1 or args.workers < 1 or args.packages < 1:
        parser.error("--duration, --concurrency, --workers and --packages must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_id = secrets.token_hex(4)
    started_at = utc_timestamp()
    db_url = database_url(args.database_url, args.database_name)
    env = bench_environment(
        db_url,
        settings=args.settings,
        redis_url=args.redis_url,
        pool=(args.pool_min, args.pool_max),
    )
    use_environment(env)  # this process's own Django (query profile) sees the same settings
    prepare_database(args.database_url, args.database_name, env)
    created = manage(env, "integration_create", f"bench-{run_id}")
    found = re.search(r"API key \(shown once, keep it safe\): (\S+)", created)
    if not found:
        raise SystemExit(f"no API key in integration_create's output:\n{created}")
    api_key = found.group(1)
    postgres_version = postgres_setup(db_url)

    import django

    django.setup()  # for cases.replay and the query profile; the server is its own processes
    packages, source = load_packages(args.star, args.packages)
    templates = [body_template(package) for package in packages]
    sizes = [len(render_body(t, f"bench-{run_id}-x-000000")) for t in templates]
    print(f"{len(templates)} packages from {source}", flush=True)

    notes: list[str] = []
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="handoff-bench-") as tmp:
        server = Server(env, args.workers, Path(tmp) / "server.log")
        generator: LoadGenerator | None = None
        try:
            workers_up = server.wait_ready(args.workers)
            print(f"server up at {server.base_url} (workers {workers_up})", flush=True)
            generator = LoadGenerator(
                server.base_url, templates, run_id, workers_up, args.database_name, args.client
            )
            json_headers = {"Content-Type": "application/json"}
            intake_headers = {**json_headers, "Authorization": f"Bearer {api_key}"}
            phases: list[PhaseResult] = []
            for name, path, headers in (
                ("baseline", BASELINE_PATH, json_headers),
                ("intake", INTAKE_PATH, intake_headers),
            ):
                # What autovacuum does on a live desk: planner statistics and a visibility map
                # for the tables the previous phase filled.
                vacuum_analyze(db_url)
                print(
                    f"{name}: closed loop, {args.concurrency} clients, {args.warmup:.0f} s "
                    f"warm-up + {args.duration:.0f} s ...",
                    flush=True,
                )
                phases.append(
                    generator.run(
                        PhaseSpec(
                            name=name,
                            path=path,
                            headers=headers,
                            mode="closed",
                            duration=args.duration,
                            warmup=args.warmup,
                            concurrency=args.concurrency,
                            workers=args.workers,
                        )
                    )
                )
                server.check_alive()
            baseline, intake = phases
            half: PhaseResult | None = None
            open_runs = []
            if not args.no_open_loop and baseline.rate > 0:
                open_runs.append(("half baseline", baseline.rate / 2))
            if not args.no_open_loop and args.diagnostic and intake.rate > 0:
                open_runs.append(("half intake", intake.rate / 2))
            for label, rate in open_runs:
                print(
                    f"intake: open loop at {rate:,.0f}/s ({label}), {min(args.warmup, 2):.0f} s "
                    f"warm-up + {args.duration:.0f} s ...",
                    flush=True,
                )
                result = generator.run(
                    PhaseSpec(
                        name="intake",
                        path=INTAKE_PATH,
                        headers=intake_headers,
                        mode="open",
                        duration=args.duration,
                        warmup=min(args.warmup, 2.0),
                        rate=rate,
                        concurrency=args.concurrency,
                        workers=args.workers,
                        label=label,
                    )
                )
                phases.append(result)
                if label == "half baseline":
                    half = result
                server.check_alive()
            loop_name = generator.loop_name
        finally:
            if generator is not None:
                generator.close(wait=sys.exc_info()[0] is None)
            server.stop()

    queries = None
    if not args.no_query_profile:
        print("in-process profile of one request's statements ...", flush=True)
        queries = query_profile(api_key, templates, run_id, args.database_name)

    library = versions("django", "uvicorn", "psycopg", "httpx", "channels-redis")
    figures = {
        "started_at": started_at,
        "run_id": run_id,
        "config": {
            "workers": args.workers,
            "loop": server.loop,
            "http": server.http,
            "pool_min": args.pool_min,
            "pool_max": args.pool_max,
            "python": platform.python_version(),
            "django": library["django"],
            "uvicorn": library["uvicorn"],
            "psycopg": library["psycopg"],
            "httpx": library["httpx"],
            "postgres": postgres_version,
            "channel_layer": f"channels-redis {library['channels-redis']} ({args.redis_url})"
            if args.redis_url
            else "in-memory",
            "cores": os.cpu_count(),
            "machine": platform.platform(terse=True),
            "client_loop": loop_name,
            "client": args.client,
            "concurrency": args.concurrency,
            "duration": args.duration,
            "warmup": args.warmup,
            "database": args.database_name,
            "settings": args.settings,
        },
        "packages": {
            "count": len(templates),
            "source": source,
            "body_min": min(sizes),
            "body_max": max(sizes),
            "body_mean": round(sum(sizes) / len(sizes)),
        },
        "phases": [asdict(phase) for phase in phases],
        "verdict": verdict_for(baseline, intake, half),
        "queries": queries,
        "rows": postgres_row_counts(db_url),
        "notes": notes + notes_for(phases, os.cpu_count() or 1),
    }
    print(report(figures), flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
        print(f"\nfigures written to {args.json}")
    verdict = figures["verdict"]
    return 0 if verdict["ratio_pass"] and (args.no_open_loop or verdict["p99_pass"]) else 1


if __name__ == "__main__":
    run_main(main, "interrupted; the server was stopped")
