"""The embedded mode's channel layer: in memory in the web process, relayed to it from the others.

In production every process reaches every page through Redis. Without Redis the pages' sockets
and their groups live in the one web process's memory, while the Celery worker (the SLA sweep,
callbacks) and management commands publish from processes of their own. This layer is channels'
in-memory layer plus a relay: the web process listens on a Unix socket under ``var/`` for as
long as it serves (the ASGI lifespan below starts and stops it), and a ``group_send`` in any
other process is also written there as one frame, which the web process hands to its members,
as a Redis PUBLISH would.

Only the owner may connect: the socket is mode 0600 in the desk's own directory, as
PostgreSQL's local socket is. A sender whose web process is down logs it once and goes on (the
change is committed; pages resync from their cursor when they reconnect, which every page does
when the web process comes back).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer

logger = logging.getLogger(__name__)

# A stuck web process (its buffer full) costs a sender this much per frame at most, and then
# its frames are dropped for BACKOFF_SECONDS instead of each waiting again.
SEND_TIMEOUT_SECONDS = 0.5
BACKOFF_SECONDS = 5.0
MAX_FRAME_BYTES = 8 * 1024 * 1024
HEADER_BYTES = 4


def encode(group: str, message: dict[str, Any]) -> bytes:
    """One frame: its length (4 bytes, big-endian), then ``[group, message]`` as JSON."""
    body = json.dumps([group, message], separators=(",", ":")).encode()
    return len(body).to_bytes(HEADER_BYTES, "big") + body


def decode(body: bytes) -> tuple[str, dict[str, Any]]:
    value = json.loads(body)
    if not (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], dict)
    ):
        raise ValueError("a relay frame is [group, message]")
    return value[0], value[1]


class RelayChannelLayer(InMemoryChannelLayer):
    """In-memory groups, plus: outside the web process, every group_send goes to it too."""

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.sender = RelaySender(path)
        self._server: asyncio.Server | None = None
        self._inode = 0
        self._connections: set[asyncio.Task[Any]] = set()

    @property
    def serving(self) -> bool:
        return self._server is not None

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await super().group_send(group, message)  # this process's own members, if any
        if not self.serving:
            self.sender.send(encode(group, message))

    async def serve(self) -> bool:
        """Receive the other processes' group_sends from now on (the web process, at start)."""
        if self._server is not None:
            return True
        path = Path(self.path)
        if _answers(path):
            logger.warning(
                "live_relay_taken path=%s: another web process serves this directory; "
                "events from the worker reach its pages, not this one's",
                path,
            )
            return False
        path.unlink(missing_ok=True)  # left by a web process that died
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._server = await asyncio.start_unix_server(self._receive, path=str(path))
            os.chmod(path, 0o600)
            self._inode = path.stat().st_ino
        except OSError:
            # e.g. a path longer than AF_UNIX allows (about 107 bytes): pages still get this
            # process's own events, not the worker's.
            logger.exception("live_relay_listen_failed path=%s", path)
            if self._server is not None:
                self._server.close()
                self._server = None
            return False
        logger.info("live_relay_listening path=%s", path)
        return True

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()
        path = Path(self.path)
        try:
            if path.stat().st_ino == self._inode:  # not a newer web process's socket
                path.unlink()
        except FileNotFoundError:
            pass

    async def _receive(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One sending process's frames, in the order it sent them."""
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            while True:
                header = await reader.readexactly(HEADER_BYTES)
                size = int.from_bytes(header, "big")
                if size > MAX_FRAME_BYTES:
                    raise ValueError(f"a frame of {size} bytes")
                group, message = decode(await reader.readexactly(size))
                await InMemoryChannelLayer.group_send(self, group, message)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the sender closed (or died mid-frame): its next frame comes on a new one
        except (ValueError, TypeError) as error:  # not our frames: drop the connection
            logger.warning("live_relay_bad_frame error=%s", error)
        finally:
            writer.close()
            if task is not None:
                self._connections.discard(task)


def _answers(path: Path) -> bool:
    """Whether a web process is listening at ``path`` (a file left by a dead one is not)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(SEND_TIMEOUT_SECONDS)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


class RelaySender:
    """A process's one connection to the web process, shared by its threads.

    Blocking and short: a frame is written into a local socket's buffer. It is called from the
    worker's own event-loop thread (cases/live/events.py), where no server loop waits on it.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._down: str | None = None  # why the last frame failed; logged once per outage
        self._quiet_until = 0.0
        _senders.add(self)

    def send(self, frame: bytes) -> bool:
        with self._lock:
            if time.monotonic() < self._quiet_until:
                return False
            try:
                self._send(frame)
            except OSError as error:
                self._close()
                self._note_down(error)
                return False
            if self._down is not None:
                logger.info("live_relay_reconnected path=%s after=%s", self.path, self._down)
                self._down = None
            return True

    def _send(self, frame: bytes) -> None:
        if self._sock is not None:
            try:
                self._sock.sendall(frame)
                return
            except OSError:
                # The web process restarted since the last frame: once more, on a new socket.
                self._close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(SEND_TIMEOUT_SECONDS)
        try:
            sock.connect(self.path)
            sock.sendall(frame)
        except OSError:
            sock.close()
            raise
        self._sock = sock

    def _note_down(self, error: OSError) -> None:
        if isinstance(error, TimeoutError):
            self._quiet_until = time.monotonic() + BACKOFF_SECONDS
        if self._down is None:
            # No socket file: no web process is serving, so no page misses anything.
            level = logging.INFO if isinstance(error, FileNotFoundError) else logging.WARNING
            logger.log(
                level,
                "live_relay_unreachable path=%s error=%s: live events are dropped until the "
                "web process is back; its pages resync when they reconnect",
                self.path,
                type(error).__name__,
            )
        self._down = type(error).__name__

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _after_fork(self) -> None:
        # A forked child (a Celery pool process) must not write into its parent's connection,
        # nor wait on a lock a parent's thread held at the fork.
        self._lock = threading.Lock()
        self._close()


_senders: weakref.WeakSet[RelaySender] = weakref.WeakSet()


def _forget_connections_after_fork() -> None:
    for sender in list(_senders):
        sender._after_fork()


os.register_at_fork(after_in_child=_forget_connections_after_fork)


Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def lifespan(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """ASGI lifespan: the web process receives the relay while it serves (embedded mode only;
    with Redis there is nothing to start)."""
    layer = get_channel_layer()
    relay = layer if isinstance(layer, RelayChannelLayer) else None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if relay is not None:
                await relay.serve()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if relay is not None:
                await relay.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return
