"""Live events (cases/live/events.py): published only after commit, carrying the row pages patch
in, never breaking intake when the layer is down; from worker processes through one loop;
across processes and through a Redis outage with real servers."""

from __future__ import annotations

import json
import os
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction
from django.test import Client

from cases.live.events import publish_case
from cases.models import Case
from cases.services import agent_work as actions
from tests.factories import (
    CaseFactory,
    IntegrationFactory,
    MembershipFactory,
    QueueFactory,
    full_package,
)
from tests.servers import TcpProxy, asgi_process
from tests.sockets import communicator, frame, quiet, receive, socket_to


@pytest.fixture
def desk() -> dict[str, Any]:
    queue = QueueFactory(slug="general", name="General", is_default=True)
    agent: Any = MembershipFactory(queue=queue).agent
    client = Client()
    client.force_login(agent)
    return {
        "key": IntegrationFactory(name="proc-bot").raw_key,
        "cookie": f"sessionid={client.cookies['sessionid'].value}",
    }


def hand_off(server: str, key: str, external_id: str) -> httpx.Response:
    return httpx.post(
        f"{server}/api/v1/handoffs",
        json=full_package(external_id=external_id),
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_handoff_posted_to_one_process_reaches_a_socket_on_another(desk):
    with (
        asgi_process() as first,
        asgi_process() as second,
        socket_to(first, desk["cookie"]) as ws,
    ):
        receive(ws, kind="hello")

        response = hand_off(second, desk["key"], "two-processes")

        assert response.status_code == 201
        event = receive(ws, kind="case.created")
        assert event["case_id"] == response.json()["case_id"]
        assert 'id="case-row-' in event["row"]


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_intake_survives_a_redis_outage_and_pages_resync_after_it(desk):
    target = urlsplit(os.environ["REDIS_URL"])
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 6379)
    proxy.start()
    with asgi_process(redis_url=proxy.url) as server:
        with socket_to(server, desk["cookie"]) as ws:
            cursor = receive(ws, kind="hello")["cursor"]

            # Redis goes away: the handoff is still accepted and stored
            proxy.cut()
            response = hand_off(server, desk["key"], "during-outage")
            assert response.status_code == 201
            case_id = response.json()["case_id"]
            assert Case.objects.filter(pk=case_id).exists()

        # Redis comes back: a reconnecting page asks for what it missed and gets it
        proxy.restore()
        deadline = time.monotonic() + 20
        while True:
            try:
                ws = socket_to(server, desk["cookie"])
                break
            except Exception:
                assert time.monotonic() < deadline, "could not reconnect after the outage"
                time.sleep(0.5)
        with ws:
            receive(ws, kind="hello")
            ws.send(json.dumps({"type": "resync", "since": cursor}))
            missed = receive(ws, kind="event")
            assert missed["case_id"] == case_id and missed["resync"] is True
            assert missed["status"] == "waiting" and 'id="case-row-' in missed["row"]

            # and live events flow again
            later = hand_off(server, desk["key"], "after-outage")
            assert receive(ws, kind="case.created")["case_id"] == later.json()["case_id"]
    proxy.cut()


@pytest.fixture(autouse=True)
def fresh_layer(settings: Any) -> None:
    # Each test gets its own layer (channels caches one per alias).
    from channels.layers import channel_layers

    channel_layers.backends.clear()


@pytest.mark.django_db(transaction=True)
async def test_no_event_is_published_for_a_change_that_rolls_back():
    case = await sync_to_async(CaseFactory)()
    member = await sync_to_async(MembershipFactory)(queue=case.queue)
    comm = communicator(member.agent)
    await comm.connect()
    await frame(comm, 2)

    def change_then_fail() -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            publish_case(case, "case.updated", cursor=0)
            raise RuntimeError("rolled back")

    await sync_to_async(change_then_fail)()
    assert await quiet(comm, 0.3)

    await sync_to_async(lambda: publish_case(case, "case.updated", cursor=0))()
    assert (await frame(comm, 2))["kind"] == "case.updated"
    await comm.disconnect()


@pytest.mark.django_db
def test_intake_survives_a_dead_channel_layer(api, settings):
    # given a channel layer pointing at a port where nothing listens
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }
    from channels.layers import channel_layers

    channel_layers.backends.clear()

    # when a handoff arrives
    response = api.post("/api/v1/handoffs", full_package())

    # then it is stored and answered as usual
    assert response.status_code == 201
    assert Case.objects.filter(pk=response.json()["case_id"]).exists()
    channel_layers.backends.clear()


@pytest.mark.redis
@pytest.mark.django_db
def test_the_configured_layer_is_redis_when_redis_url_is_set():
    layer = get_channel_layer()

    assert type(layer).__module__.startswith("channels_redis")


@pytest.mark.django_db(transaction=True)
async def test_events_carry_the_queue_row_and_figures_pages_patch_themselves_with():
    def given() -> Any:
        membership = MembershipFactory()
        return membership.agent, CaseFactory(queue=membership.queue, customer_name="Rui Sá")

    agent, case = await sync_to_async(given)()
    comm = communicator(agent)
    await comm.connect()
    await frame(comm, 2)

    await sync_to_async(lambda: actions.case_note_add(case_id=case.pk, agent=agent, text="hm"))()
    noted = await frame(comm, 2)
    await sync_to_async(lambda: actions.case_claim(case_id=case.pk, agent=agent))()
    claimed = await frame(comm, 2)

    assert noted["kind"] == "case.noted" and noted["status"] == "waiting"
    assert f'id="case-row-{case.pk}"' in noted["row"] and "Rui Sá" in noted["row"]
    assert noted["stats"] == {str(case.queue_id): {"waiting": 1, "assigned": 0, "breached": 0}}
    assert claimed["kind"] == "case.claimed" and claimed["row"] == ""
    assert claimed["assignee"] == claimed["actor"] == agent.first_name
    assert claimed["cursor"] > noted["cursor"] and claimed["version"] == noted["version"] + 1
    await comm.disconnect()


@pytest.mark.redis
def test_a_worker_process_publishes_through_one_loop_and_one_redis_connection(monkeypatch):
    # given a process that publishes as a Celery worker does (no server event loop)
    import asyncio

    import redis
    from django.conf import settings

    from cases.live import events

    monkeypatch.setattr(events, "_own_loop_wanted", True)
    monkeypatch.setattr(events, "_own_loop", None)
    own = events._event_loop_thread()
    assert own is not None
    layer = get_channel_layer()

    async def subscribe() -> str:
        channel = await layer.new_channel()
        await layer.group_add("queue.424242", channel)
        return channel

    channel = asyncio.run_coroutine_threadsafe(subscribe(), own.loop).result(5)
    server = redis.Redis.from_url(settings.REDIS_URL)
    connections_before = server.info("stats")["total_connections_received"]

    # when it publishes thirty events
    for number in range(30):
        events.broadcast(["queue.424242"], {"type": "desk.event", "case_id": number})

    # then every one arrives, in order, over the connection it already had
    received = [
        asyncio.run_coroutine_threadsafe(layer.receive(channel), own.loop).result(5)["case_id"]
        for _ in range(30)
    ]
    assert received == list(range(30))
    assert events._event_loop_thread() is own
    # (the count is server-wide: a little slack for other clients; a loop per event makes 30)
    assert server.info("stats")["total_connections_received"] - connections_before < 10


def test_a_forked_worker_starts_its_own_loop(monkeypatch):
    from cases.live import events

    monkeypatch.setattr(events, "_own_loop_wanted", True)
    monkeypatch.setattr(events, "_own_loop", None)
    parent = events._event_loop_thread()
    assert parent is not None

    monkeypatch.setattr(events.os, "getpid", lambda: parent.pid + 1)

    child = events._event_loop_thread()
    assert child is not None and child is not parent and child.pid == parent.pid + 1
