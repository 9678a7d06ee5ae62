"""The embedded layer's relay (cases/live/relay.py): another process's group_send reaches the web
process's members; end to end, the embedded stack's breaches reach sockets through a web
process restart."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from channels.layers import channel_layers

from cases.live.relay import RelayChannelLayer, encode
from tests.factories import full_package
from tests.servers import embedded_env, embedded_python, embedded_web, embedded_worker, free_port
from tests.sockets import receive, socket_to

ROOT = Path(__file__).resolve().parents[3]
EVENT = {"type": "desk.event", "kind": "case.sla_breached", "case_id": 7, "row": "<tr>é</tr>"}


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "live.sock")


def run(scenario: Coroutine[Any, Any, None]) -> None:
    """A scenario in an event loop of its own, in a thread of its own: a browser test's
    Playwright may already run a loop in this one."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, scenario).result(timeout=60)


async def member(layer: RelayChannelLayer, group: str) -> str:
    channel: str = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


async def received(layer: RelayChannelLayer, channel: str) -> dict[str, Any]:
    message: dict[str, Any] = await asyncio.wait_for(layer.receive(channel), timeout=5)
    return message


def test_a_group_send_in_another_process_reaches_the_web_process_members(path):
    async def scenario() -> None:
        # given the web process's layer, serving, with a page in a queue's group
        web = RelayChannelLayer(path)
        assert await web.serve()
        channel = await member(web, "queue.1")
        try:
            # when a process of its own (as the Celery worker is) sends to that group
            sender = textwrap.dedent(
                f"""
                from asgiref.sync import async_to_sync
                from cases.live.relay import RelayChannelLayer
                layer = RelayChannelLayer({path!r})
                async_to_sync(layer.group_send)("queue.1", {EVENT!r})
                assert layer.sender.send(b"") is True  # still connected
                """
            )
            done = await asyncio.create_subprocess_exec(sys.executable, "-c", sender, cwd=ROOT)
            assert await asyncio.wait_for(done.wait(), timeout=30) == 0

            # then the page's channel gets the message as sent
            assert await received(web, channel) == EVENT
        finally:
            await web.stop()

    run(scenario())


def test_the_socket_is_the_owners_alone_and_gone_when_the_web_process_stops(path):
    async def scenario() -> None:
        web = RelayChannelLayer(path)
        assert await web.serve()

        assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600
        await web.stop()
        assert not Path(path).exists()

    run(scenario())


def test_the_web_process_delivers_its_own_sends_in_memory_only(path):
    async def scenario() -> None:
        web = RelayChannelLayer(path)
        await web.serve()
        channel = await member(web, "queue.1")
        try:
            await web.group_send("queue.1", EVENT)

            assert await received(web, channel) == EVENT
            assert web.sender._sock is None  # nothing went through the relay
            assert channel not in web.channels  # delivered once, nothing more queued
        finally:
            await web.stop()

    run(scenario())


def test_with_the_web_process_down_a_sender_logs_once_and_goes_on(path, caplog):
    async def scenario() -> None:
        sender = RelayChannelLayer(path)
        caplog.set_level(logging.INFO, logger="cases.live.relay")

        # no web process has started: nobody to tell, an info line
        await sender.group_send("queue.1", EVENT)
        await sender.group_send("queue.1", EVENT)
        assert [r.levelname for r in caplog.records] == ["INFO"]
        assert "live_relay_unreachable" in caplog.text and "FileNotFoundError" in caplog.text

        # a web process that died left its socket behind: a warning, once
        caplog.clear()
        left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        left.bind(path)
        left.close()
        sender2 = RelayChannelLayer(path)
        await sender2.group_send("queue.1", EVENT)
        await sender2.group_send("queue.1", EVENT)
        assert [r.levelname for r in caplog.records] == ["WARNING"]
        assert "ConnectionRefusedError" in caplog.text

        # the web process comes back: the next frame gets through, and the log says so
        web = RelayChannelLayer(path)
        assert await web.serve()  # over the stale socket file
        channel = await member(web, "queue.1")
        try:
            await sender2.group_send("queue.1", EVENT | {"case_id": 8})
            assert (await received(web, channel))["case_id"] == 8
            assert "live_relay_reconnected" in caplog.text
        finally:
            await web.stop()

    run(scenario())


def test_a_restarted_web_process_gets_the_next_frame_on_a_new_connection(path):
    async def scenario() -> None:
        sender = RelayChannelLayer(path)
        first = RelayChannelLayer(path)
        await first.serve()
        channel = await member(first, "queue.1")
        await sender.group_send("queue.1", EVENT | {"case_id": 1})
        assert (await received(first, channel))["case_id"] == 1
        connection = sender.sender._sock

        # when the web process stops and another starts on the same directory
        await first.stop()
        second = RelayChannelLayer(path)
        await second.serve()
        channel = await member(second, "queue.1")
        try:
            # then the sender's next frame, written first into the dead connection, still arrives
            await sender.group_send("queue.1", EVENT | {"case_id": 2})
            assert (await received(second, channel))["case_id"] == 2
            assert sender.sender._sock is not connection
        finally:
            await second.stop()

    run(scenario())


def test_a_second_web_process_leaves_the_first_one_its_socket(path, caplog):
    async def scenario() -> None:
        first = RelayChannelLayer(path)
        await first.serve()
        channel = await member(first, "queue.1")
        try:
            second = RelayChannelLayer(path)

            assert not await second.serve()
            assert "live_relay_taken" in caplog.text
            # and what the second one publishes still reaches the first one's pages
            await second.group_send("queue.1", EVENT)
            assert await received(first, channel) == EVENT
        finally:
            await first.stop()

    run(scenario())


def test_a_bad_frame_drops_only_its_own_connection(path, caplog):
    async def scenario() -> None:
        web = RelayChannelLayer(path)
        await web.serve()
        channel = await member(web, "queue.1")
        try:
            stranger = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            stranger.connect(path)
            body = b'{"not": "a frame"}'
            stranger.sendall(len(body).to_bytes(4, "big") + body)
            huge = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            huge.connect(path)
            huge.sendall((10**9).to_bytes(4, "big"))

            sender = RelayChannelLayer(path)
            await sender.group_send("queue.1", EVENT)

            assert await received(web, channel) == EVENT
            for sock in (stranger, huge):
                sock.settimeout(5)
                # the web process hung up on it (read in a thread: this loop is the web process's)
                assert await asyncio.to_thread(sock.recv, 1) == b""
                sock.close()
            assert caplog.text.count("live_relay_bad_frame") == 2
        finally:
            await web.stop()

    run(scenario())


def test_a_frame_is_its_length_then_json():
    frame = encode("queue.1", {"type": "desk.event", "n": 1})

    assert frame[4:] == b'["queue.1",{"type":"desk.event","n":1}]'
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4


def test_the_asgi_lifespan_starts_and_stops_the_relay(path, settings):
    async def scenario() -> None:
        settings.CHANNEL_LAYERS = {
            "default": {"BACKEND": "cases.live.relay.RelayChannelLayer", "CONFIG": {"path": path}}
        }
        channel_layers.backends.clear()
        from handoff_site.asgi import application

        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        try:
            running = asyncio.create_task(
                application({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put)
            )
            await inbox.put({"type": "lifespan.startup"})
            assert (await asyncio.wait_for(outbox.get(), 5))["type"] == "lifespan.startup.complete"
            assert Path(path).exists()

            await inbox.put({"type": "lifespan.shutdown"})
            assert (await asyncio.wait_for(outbox.get(), 5))["type"] == "lifespan.shutdown.complete"
            await asyncio.wait_for(running, 5)
            assert not Path(path).exists()
        finally:
            channel_layers.backends.clear()

    run(scenario())


def test_a_sender_started_before_any_web_process_costs_little(path):
    # Seeding and the worker's first sweeps run before the web process is up.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import time
                from cases.live.relay import RelaySender, encode
                sender = RelaySender({path!r})
                frame = encode("queue.1", {{"type": "desk.event"}})
                started = time.perf_counter()
                for _ in range(1000):
                    sender.send(frame)
                print(time.perf_counter() - started)
                """
            ),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert float(probe.stdout) < 1.0  # a thousand dropped events: well under a millisecond each


# --- the embedded stack across its processes, through a web process restart ------------------
# The Quickstart's processes (a SQLite file, the filesystem broker, uvicorn, a Celery worker with
# beat): the breaches the worker marks reach the web process's sockets, and when the web process
# goes away and comes back the worker carries on, pages catch up from their cursor, and its next
# events arrive live again.

# A queue whose handoffs are past their SLA two seconds after they arrive, an agent in it with a
# session, and a bot's key.
DESK = """
import json
from django.test import Client
from queues.models import Queue
from tests.factories import IntegrationFactory, MembershipFactory

queue = Queue.objects.create(slug="billing", name="Billing", sla_seconds=2, is_default=True)
client = Client()
client.force_login(MembershipFactory(queue=queue).agent)
print(json.dumps({
    "queue": queue.pk,
    "cookie": f"sessionid={client.cookies['sessionid'].value}",
    "key": IntegrationFactory(name="relay-bot").raw_key,
}))
"""


# A case already past its SLA, created while no web process runs (no live event of its own).
DUE_CASE = """
from django.utils import timezone
from queues.models import Queue
from tests.factories import CaseFactory

print(CaseFactory(queue=Queue.objects.get(slug="billing"), sla_due_at=timezone.now()).pk)
"""


def hand_off(server: str, key: str, external_id: str) -> int:
    response = httpx.post(
        f"{server}/api/v1/handoffs",
        json=full_package(external_id=external_id),
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return int(response.json()["case_id"])


def breached(var: Path, case_id: int) -> bool:
    """Read from the desk's own SQLite file, as another process sees it."""
    with sqlite3.connect(f"file:{var / 'desk.sqlite3'}?mode=ro", uri=True) as db:
        row = db.execute("SELECT sla_breached FROM cases_case WHERE id = ?", (case_id,)).fetchone()
    return bool(row and row[0])


def wait_for(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


@pytest.mark.slow
def test_the_workers_breaches_reach_sockets_and_outlive_a_web_process_restart(tmp_path):
    var = tmp_path / "var"
    env = embedded_env(var)
    embedded_python(env, "from django.core.management import call_command\ncall_command('migrate')")
    desk = json.loads(embedded_python(env, DESK))
    port = free_port()
    with embedded_worker(env) as worker:
        # given a page's socket on the web process
        with embedded_web(env, port) as server, socket_to(server, desk["cookie"]) as ws:
            receive(ws, kind="hello")

            # when a handoff's SLA passes, the worker's breach reaches it live
            first = hand_off(server, desk["key"], "first")
            event = receive(ws, kind="case.sla_breached", timeout=60)
            assert event["case_id"] == first
            assert event["stats"][str(desk["queue"])]["breached"] == 1
            cursor = event["cursor"]

        # the web process is gone: the worker still marks the next breach, and goes on
        second = int(embedded_python(env, DUE_CASE))
        wait_for(lambda: breached(var, second), 60)
        assert worker.poll() is None

        # a web process comes back: the page catches up from its cursor ...
        with embedded_web(env, port) as server, socket_to(server, desk["cookie"]) as ws:
            receive(ws, kind="hello")
            ws.send(json.dumps({"type": "resync", "since": cursor}))
            missed = receive(ws, kind="event")
            assert missed["case_id"] == second and missed["resync"] is True
            assert missed["kind"] == "case.sla_breached"

            # ... and the worker's breaches reach it live again
            third = hand_off(server, desk["key"], "third")
            assert receive(ws, kind="case.sla_breached", timeout=60)["case_id"] == third
