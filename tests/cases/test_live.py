"""Live events leave only after commit, reach the right sockets, and survive a dead layer."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.db import transaction

from cases import actions
from cases.consumers import DeskConsumer
from cases.events import publish_case
from cases.models import Case
from queues import services as queue_services
from tests.conftest import ApiClient
from tests.factories import (
    CaseFactory,
    IntegrationFactory,
    MembershipFactory,
    QueueFactory,
    UserFactory,
    full_package,
)


async def frame(comm: WebsocketCommunicator, timeout: float) -> Any:
    """The next frame that is not a presence update."""
    while True:
        received = await comm.receive_json_from(timeout=timeout)
        if received["type"] != "presence":
            return received


async def quiet(comm: WebsocketCommunicator, timeout: float) -> bool:
    """True when nothing but presence updates arrives for ``timeout`` seconds."""
    # receive_nothing, not a timed-out receive: a timeout cancels the consumer.
    while not await comm.receive_nothing(timeout=timeout):
        if (await comm.receive_json_from())["type"] != "presence":
            return False
    return True


def communicator(user: Any, path: str = "/ws/desk/") -> WebsocketCommunicator:
    comm = WebsocketCommunicator(DeskConsumer.as_asgi(), path)
    comm.scope["user"] = user
    return comm


@pytest.fixture(autouse=True)
def fresh_layer(settings: Any) -> None:
    # Each test gets its own layer (channels caches one per alias).
    from channels.layers import channel_layers

    channel_layers.backends.clear()


@pytest.mark.django_db(transaction=True)
async def test_anonymous_socket_is_refused():
    comm = communicator(AnonymousUser())

    connected, code = await comm.connect()

    assert not connected
    assert code == 4401


@pytest.mark.django_db(transaction=True)
async def test_a_handoff_reaches_member_agents_and_supervisors_but_not_others():
    def given() -> tuple[dict[str, Any], ApiClient]:
        queue = QueueFactory(slug="general", name="General", is_default=True)
        users = {
            "member": MembershipFactory(queue=queue).agent,
            "outsider": MembershipFactory(queue=QueueFactory(slug="vip")).agent,
            "supervisor": UserFactory(role="supervisor"),
        }
        return users, ApiClient(IntegrationFactory(name="live-bot").raw_key)

    users, api = await sync_to_async(given)()
    sockets = {name: communicator(user) for name, user in users.items()}
    for comm in sockets.values():
        assert (await comm.connect())[0]
        assert (await frame(comm, 2))["type"] == "hello"

    response = await sync_to_async(api.post)("/api/v1/handoffs", full_package())
    case_id = response.json()["case_id"]

    for name in ("member", "supervisor"):
        event = await frame(sockets[name], 3)
        assert event["kind"] == "case.created"
        assert event["case_id"] == case_id and event["version"] == 1
    assert await quiet(sockets["outsider"], 0.3)
    for comm in sockets.values():
        await comm.disconnect()


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


@pytest.mark.django_db(transaction=True)
async def test_a_reconnecting_page_gets_exactly_what_it_missed():
    def given() -> Any:
        membership = MembershipFactory()
        cases = [CaseFactory(queue=membership.queue) for _ in range(3)]
        hidden = CaseFactory()  # another queue's case
        return membership.agent, cases, hidden

    agent, cases, hidden = await sync_to_async(given)()
    comm = communicator(agent)
    await comm.connect()
    cursor = (await frame(comm, 2))["cursor"]
    await comm.disconnect()

    # while the page was away: two of its cases changed (one twice), and one it may not see
    def meanwhile() -> None:
        actions.case_note_add(case_id=cases[0].pk, agent=agent, text="one")
        actions.case_claim(case_id=cases[2].pk, agent=agent)
        actions.case_note_add(case_id=cases[0].pk, agent=agent, text="two")
        supervisor = UserFactory(role="supervisor")
        actions.case_note_add(case_id=hidden.pk, agent=supervisor, text="elsewhere")

    await sync_to_async(meanwhile)()
    comm = communicator(agent)
    await comm.connect()
    await frame(comm, 2)
    await comm.send_json_to({"type": "resync", "since": cursor})

    first = await frame(comm, 2)
    second = await frame(comm, 2)
    assert await quiet(comm, 0.3)
    assert [(f["case_id"], f["kind"], f["status"]) for f in (first, second)] == [
        (cases[2].pk, "case.claimed", "assigned"),
        (cases[0].pk, "case.noted", "waiting"),
    ]
    assert first["resync"] and second["version"] == cases[0].version + 2
    await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_membership_changes_take_effect_on_open_sockets():
    def given() -> Any:
        membership = MembershipFactory()
        return membership.agent, membership.queue, QueueFactory(slug="joined-later")

    agent, old_queue, new_queue = await sync_to_async(given)()
    comm = communicator(agent)
    await comm.connect()
    assert (await frame(comm, 2))["queues"] == [old_queue.pk]

    # when a supervisor moves the agent from one queue to the other
    def move() -> None:
        queue_services.membership_remove(agent=agent, queue=old_queue)
        queue_services.membership_ensure(agent=agent, queue=new_queue)

    await sync_to_async(move)()
    access = [await frame(comm, 2) for _ in range(2)]
    assert access[-1] == {"type": "access", "queues": [new_queue.pk]}

    # then the open socket hears the new queue, and no longer the old one
    def change_both() -> None:
        supervisor = UserFactory(role="supervisor")
        cases: list[Any] = [CaseFactory(queue=old_queue), CaseFactory(queue=new_queue)]
        for case, text in zip(cases, "ab", strict=True):
            actions.case_note_add(case_id=case.pk, agent=supervisor, text=text)

    await sync_to_async(change_both)()
    event = await frame(comm, 2)
    assert event["queue_id"] == new_queue.pk
    assert await quiet(comm, 0.3)
    await comm.disconnect()


async def presence_frame(comm: WebsocketCommunicator, key: str) -> Any:
    while True:
        received = await comm.receive_json_from(timeout=2)
        if received["type"] == "presence" and key in received:
            return received


@pytest.mark.django_db(transaction=True)
async def test_the_case_page_shows_who_else_is_viewing_and_the_queue_who_is_online():
    def given() -> Any:
        queue = QueueFactory(slug="billing")
        ana = MembershipFactory(queue=queue, agent__first_name="Ana", agent__last_name="").agent
        ben = MembershipFactory(queue=queue, agent__first_name="Ben", agent__last_name="").agent
        return queue, ana, ben, CaseFactory(queue=queue)

    _, ana, ben, case = await sync_to_async(given)()
    on_queue = communicator(ana)  # Ana on the queue page
    await on_queue.connect()
    assert (await presence_frame(on_queue, "online"))["online"] == ["Ana"]

    ben_case = communicator(ben, f"/ws/desk/?case={case.pk}")  # Ben opens the case
    await ben_case.connect()

    assert (await presence_frame(on_queue, "viewers")) == {
        "type": "presence",
        "case_id": case.pk,
        "viewers": ["Ben"],
    }
    assert (await presence_frame(on_queue, "online"))["online"] == ["Ana", "Ben"]

    await ben_case.disconnect()  # Ben leaves
    assert (await presence_frame(on_queue, "viewers"))["viewers"] == []
    assert (await presence_frame(on_queue, "online"))["online"] == ["Ana"]
    await on_queue.disconnect()


@pytest.mark.redis
def test_a_worker_process_publishes_through_one_loop_and_one_redis_connection(monkeypatch):
    # given a process that publishes as a Celery worker does (no server event loop)
    import asyncio

    import redis
    from django.conf import settings

    from cases import events

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
    from cases import events

    monkeypatch.setattr(events, "_own_loop_wanted", True)
    monkeypatch.setattr(events, "_own_loop", None)
    parent = events._event_loop_thread()
    assert parent is not None

    monkeypatch.setattr(events.os, "getpid", lambda: parent.pid + 1)

    child = events._event_loop_thread()
    assert child is not None and child is not parent and child.pid == parent.pid + 1
