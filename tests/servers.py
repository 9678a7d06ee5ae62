"""Real servers for tests that cross process boundaries: uvicorn processes on the test
database, and a TCP proxy in front of Redis that a test can cut and restore."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_database_url() -> str:
    """The URL of the database this test runs on (pytest-django's test_… database)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


@contextmanager
def asgi_process(*, redis_url: str | None = None) -> Iterator[str]:
    """A uvicorn process serving the desk on the test database; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "handoff_site.test_settings",
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": redis_url or os.environ["REDIS_URL"],
        # the same channel-layer prefix as this test process, so their groups meet
        "HANDOFF_TEST_RUN_ID": getattr(settings, "TEST_RUN_ID", ""),
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "handoff_site.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(process, f"{url}/healthz", seconds=30)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_until_answering(
    process: subprocess.Popen[Any], url: str, *, seconds: float, log: Path | None = None
) -> None:
    """Until ``url`` answers 200; fails if ``process`` exits first (with ``log``, if given) or
    the time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise AssertionError("the server exited" + (f":\n{log.read_text()}" if log else ""))
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} did not come up"
        time.sleep(0.1)


class TcpProxy:
    """Forwards a local port to a target; ``cut()`` drops every connection and refuses new
    ones until ``restore()``: a Redis outage, as the desk sees it."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.close()

    def cut(self) -> None:
        if self._listener is not None:
            # close() alone leaves the socket listening while _accept's thread is blocked in
            # accept() (Linux): new connections would still be served. shutdown() ends it.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
            self._sockets.clear()

    def restore(self) -> None:
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@contextmanager
def celery_worker() -> Iterator[subprocess.Popen[bytes]]:
    """A real Celery worker on the test database and this run's own queue of the Redis broker."""
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    node = f"{queue}@localhost"  # so that only this worker's answer counts as "up"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "handoff_site.test_settings",
        "DATABASE_URL": test_database_url(),
        "HANDOFF_TEST_RUN_ID": getattr(settings, "TEST_RUN_ID", ""),
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "handoff_site",
            "worker",
            "-Q",
            queue,
            "-n",
            node,
            "--concurrency",
            "2",
            "--loglevel",
            "warning",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        from handoff_site.celery import app

        # Tasks sent before the worker has bound its queue can be lost to the exchange: wait
        # until this worker (and not some other) answers.
        deadline = time.monotonic() + 90
        while not app.control.ping(destination=[node], timeout=1.0):
            assert process.poll() is None, "the worker exited"
            assert time.monotonic() < deadline, "the worker did not come up"
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


# --- the embedded stack: the Quickstart's processes, without PostgreSQL or Redis ---------------


def embedded_env(var_dir: Path) -> dict[str, str]:
    """The environment `desk.py run` gives its processes: no DATABASE_URL or REDIS_URL, so a
    SQLite file, the relayed in-memory channel layer and the filesystem broker, all under
    ``var_dir``; the real settings (not the test ones)."""
    left_out = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "HANDOFF_TEST_RUN_ID"}
    env = {key: value for key, value in os.environ.items() if key not in left_out}
    return env | {
        "HANDOFF_VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "handoff_site.settings",
        "LOG_LEVEL": "WARNING",
    }


def embedded_python(env: dict[str, str], code: str) -> str:
    """Runs ``code`` in a process of its own with Django set up on ``env``; returns its output."""
    script = "import django\ndjango.setup()\n" + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _stop(process: subprocess.Popen[bytes], seconds: float) -> None:
    process.terminate()
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def embedded_web(env: dict[str, str], port: int) -> Iterator[str]:
    """The web process as `desk.py run` starts it (uvicorn, its lifespan starting the relay's
    listener); yields its base URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "handoff_site.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "the web process exited"
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the web process did not come up"
            time.sleep(0.1)
        yield url
    finally:
        _stop(process, 10)


@contextmanager
def embedded_worker(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A Celery worker with beat, as `desk.py run` starts it, on the filesystem broker. Beat
    sends the SLA sweep every second; the worker is up when its work shows."""
    var = Path(env["HANDOFF_VAR_DIR"])
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "handoff_site",
            "worker",
            "--beat",
            "--schedule",
            str(var / "celerybeat-schedule"),
            "--concurrency",
            "1",
            "--loglevel",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        yield process
    finally:
        _stop(process, 20)


# A bot platform's callback endpoint (the signing secret its integration is given).
SECRET = "whsec_dGVzdC1zZWNyZXQtZm9yLXRlc3RzLW9ubHk="


class Receiver:
    """A bot platform's endpoint: answers from a script, records what arrived."""

    def __init__(self, script: list[Any], *, keep_alive: bool = False) -> None:
        self.script = list(script)
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.1 keeps the connection open between requests; 1.0 closes it after each.
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.received.append(
                    {"headers": dict(self.headers), "body": body, "peer": self.client_address}
                )
                answer = receiver.script.pop(0) if receiver.script else 204
                if answer == "slow":
                    time.sleep(1.5)
                    answer = 200
                self.send_response(answer)
                if 300 <= answer < 400:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                text = b"" if answer == 204 else b"nope" if answer >= 300 else b"ok"
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
