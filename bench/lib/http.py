"""The benchmarks' HTTP client: keep-alive HTTP/1.1 on asyncio streams, just enough protocol for
the desk's answers (Django's CommonMiddleware sets Content-Length), cheap enough per request that
a load generator does not take the cores the server is measured on, with its connections spread
evenly over uvicorn's workers (the kernel hands a burst of them mostly to one otherwise)."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.lib.procs import WORKER_PATH, open_loop

INTAKE_PATH = "/api/v1/handoffs"
TIMEOUT = 30.0
ERRORS = (OSError, EOFError, ValueError, TimeoutError, asyncio.IncompleteReadError,
          asyncio.LimitOverrunError)  # fmt: skip


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(
        self, head: bytes, body: bytes, answer: dict[str, str] | None = None
    ) -> tuple[int, bytes, bool]:
        """(status, body, whether the connection stays open); the answer's headers into
        ``answer`` (names in lower case) when given."""
        self.writer.write(head + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        length, keep_alive = None, True
        for line in header.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if answer is not None and name:
                answer[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
            name, value = name.strip().lower(), value.lower()
            if name == b"content-length":
                length = int(value)
            keep_alive &= not (name == b"connection" and b"close" in value)
        if length is None:
            raise ValueError(f"an answer without Content-Length: {header[:200]!r}")
        return int(header[9:12]), await self.reader.readexactly(length), keep_alive


class Transport:
    """Up to ``connections`` requests in flight over kept connections, round robin; more wait
    for a free connection, and that wait counts in their latency, as with any client pool."""

    def __init__(self, base_url: str, connections: int) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.slots = asyncio.Semaphore(connections)
        self.idle: deque[Connection] = deque()

    async def open(self) -> Connection:
        return Connection(*await asyncio.open_connection(self.host, self.port))

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes = b"",
        answer: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()] + [f"Content-Length: {len(body)}"]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        async with self.slots:
            conn = None
            while self.idle and conn is None:
                conn = self.idle.popleft()
                if conn.reader.at_eof():  # the server closed it while idle
                    conn.writer.close()
                    conn = None
            reused, reusable = conn is not None, False
            conn = conn or await self.open()
            try:
                async with asyncio.timeout(TIMEOUT):
                    try:
                        status, content, reusable = await conn.request(head, body, answer)
                    except (asyncio.IncompleteReadError, ConnectionError):
                        if not reused:
                            raise
                        conn.writer.close()  # a kept connection dropped just now: one retry
                        conn = await self.open()
                        status, content, reusable = await conn.request(head, body, answer)
            finally:
                if reusable:
                    self.idle.append(conn)
                else:
                    conn.writer.close()
        return status, content

    async def balance(self, connections: int, workers: int) -> list[int]:
        """Open ``connections`` connections, the same number on each server worker: each asks
        ``GET /bench/worker`` which process it reached; surplus ones on a worker that has its
        share are closed. Returns how many each worker holds."""
        share = math.ceil(connections / workers)
        kept: dict[int, list[Connection]] = {}
        head = f"GET {WORKER_PATH} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()
        for _ in range(connections * 20):
            if sum(map(len, kept.values())) >= connections:
                break
            conn = await self.open()
            async with asyncio.timeout(TIMEOUT):
                status, content, reusable = await conn.request(head, b"")
            group = kept.setdefault(int(json.loads(content)["pid"]) if status == 200 else 0, [])
            if reusable and len(group) < share:
                group.append(conn)
            else:
                conn.writer.close()
        for batch in itertools.zip_longest(*kept.values()):  # the round robin alternates workers
            self.idle.extend(conn for conn in batch if conn is not None)
        return [len(group) for group in kept.values()]

    def close(self) -> None:
        for conn in self.idle:
            conn.writer.close()


@dataclass
class Sent:
    number: int  # the body's index
    sent: float  # wall clock, when the request went out
    answered: float  # when its answer was read
    status: int | str  # the exception's name when there was no answer
    case_id: int | None


async def post_handoffs(
    base_url: str, api_key: str, body: Callable[[int], bytes], count: int, rate: float,
    connections: int, workers: int,
) -> list[Sent]:  # fmt: skip
    """POST ``count`` handoffs (``body(n)`` each): at ``rate`` a second on schedule (open loop),
    or with ``rate`` 0 all at once, as fast as ``connections`` connections allow."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"}
    transport, done = Transport(base_url, connections), []
    await transport.balance(connections, workers)

    async def one(number: int, _: float = 0.0) -> None:
        sent = time.time()
        try:
            status, content = await transport.request("POST", INTAKE_PATH, headers, body(number))
            case_id = int(json.loads(content)["case_id"]) if status == 201 else None
        except ERRORS as exc:
            done.append(Sent(number, sent, time.time(), type(exc).__name__, None))
            return
        done.append(Sent(number, sent, time.time(), status, case_id))

    try:
        if rate:
            await open_loop(rate, count / rate, one, drain=120.0)
        else:
            await asyncio.gather(*(one(n) for n in range(count)))
    finally:
        transport.close()
    return done
