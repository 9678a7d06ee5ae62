"""Websocket helpers for the live tests: the desk consumer under Channels' test communicator,
and a real socket to a served desk."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from channels.testing import WebsocketCommunicator
from websockets.sync.client import connect

from cases.live.consumers import DeskConsumer

# Presence updates: who views a case, who of a queue is online, an agent's state (issue 17).
PRESENCE_FRAMES = ("presence", "agent")


async def frame(comm: WebsocketCommunicator, timeout: float) -> Any:
    """The next frame that is not a presence update."""
    while True:
        received = await comm.receive_json_from(timeout=timeout)
        if received["type"] not in PRESENCE_FRAMES:
            return received


async def quiet(comm: WebsocketCommunicator, timeout: float) -> bool:
    """True when nothing but presence updates arrives for ``timeout`` seconds."""
    # receive_nothing, not a timed-out receive: a timeout cancels the consumer.
    while not await comm.receive_nothing(timeout=timeout):
        if (await comm.receive_json_from())["type"] not in PRESENCE_FRAMES:
            return False
    return True


def communicator(user: Any, path: str = "/ws/desk/") -> WebsocketCommunicator:
    comm = WebsocketCommunicator(DeskConsumer.as_asgi(), path)
    comm.scope["user"] = user
    return comm


def socket_to(server: str, cookie: str) -> Any:
    host = urlsplit(server).netloc
    return connect(
        f"ws://{host}/ws/desk/",
        additional_headers={"Cookie": cookie, "Origin": server},
        open_timeout=10,
    )


def receive(ws: Any, *, kind: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {kind} frame within {timeout} s"
        frame = json.loads(ws.recv(timeout=remaining))
        if frame.get("kind") == kind or frame.get("type") == kind:
            return frame
