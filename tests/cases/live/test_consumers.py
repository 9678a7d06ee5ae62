"""The desk socket (cases/live/consumers.py): who may connect and what reaches them, a page that
reconnects gets what it missed, presence, and the heartbeat (a pong only after a trip through
the channel layer, the socket closed with 4503 when the layer fails)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from uvicorn.protocols.utils import ClientDisconnected

from cases import presence
from cases.live import consumers
from cases.live.consumers import DeskConsumer
from cases.models import Offer, Presence
from cases.presence import STALE_AFTER, online_user_ids, presence_purge
from cases.services import agent_work as actions
from cases.services import assignment
from queues import services as queue_services
from queues.models import AssignmentMode
from tests.conftest import ApiClient
from tests.factories import (
    CaseFactory,
    IntegrationFactory,
    MembershipFactory,
    QueueFactory,
    UserFactory,
    full_package,
)
from tests.sockets import PRESENCE_FRAMES, communicator, frame, quiet


@pytest.fixture(autouse=True)
def fresh_layer() -> Any:
    channel_layers.backends.clear()  # each test its own layer, whatever a test patched on it
    yield
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


@pytest.mark.django_db(transaction=True)
async def test_a_page_whose_presence_lapsed_counts_again_at_its_next_heartbeat():
    """An open page whose row went stale and was purged (a suspended laptop, a background tab
    whose timers the browser slowed) showed its agent offline for as long as it stayed open:
    its heartbeat updated a row that was gone. The console read "0/2" with both agents on."""

    def given() -> Any:
        queue = QueueFactory(slug="billing")
        ana = MembershipFactory(queue=queue, agent__first_name="Ana", agent__last_name="").agent
        return queue, ana

    queue, ana = await sync_to_async(given)()
    watcher = communicator(await sync_to_async(UserFactory)(role="supervisor"))
    await watcher.connect()
    page = communicator(ana)
    await page.connect()
    assert (await presence_frame(watcher, "online"))["online"] == ["Ana"]

    # when the row lapses and beat purges it, while the socket stays open
    await sync_to_async(lambda: Presence.objects.update(seen_at=timezone.now() - STALE_AFTER * 2))()
    assert await sync_to_async(presence_purge)() == 2
    assert ana.pk not in await sync_to_async(online_user_ids)()

    # then the page's next heartbeat brings Ana back, and the queue's pages hear it
    await page.send_json_to({"type": "ping"})
    assert (await presence_frame(watcher, "online")) == {
        "type": "presence",
        "queue_id": queue.pk,
        "online": ["Ana"],
    }
    assert ana.pk in await sync_to_async(online_user_ids)()

    # and a heartbeat of a page that still counts says nothing
    await page.send_json_to({"type": "ping"})
    assert await watcher.receive_nothing(timeout=0.3)
    await page.disconnect()
    await watcher.disconnect()


LAYER_DOWN = 4503  # cases.live.consumers.LAYER_DOWN: the page says "Reconnecting…" and reconnects


async def closed_with(page: Any) -> int | None:
    """The code the socket is closed with, past the presence and agent-state updates sent
    before it (the agent's own "online" frame may come after the page's first frames)."""
    while True:
        output = await page.receive_output(timeout=2)
        if output["type"] == "websocket.close":
            await page.disconnect(code=output.get("code", 1000), timeout=2)  # as the server does
            return output.get("code")
        assert json.loads(output.get("text", "{}")).get("type") in PRESENCE_FRAMES, output


def given_an_agent() -> tuple[Any, ApiClient]:
    queue = QueueFactory(slug="general", name="General", is_default=True)
    agent = MembershipFactory(queue=queue).agent
    return agent, ApiClient(IntegrationFactory(name="beat-bot").raw_key)


@pytest.mark.django_db(transaction=True)
async def test_a_ping_is_answered_after_its_trip_through_the_layer():
    agent, _ = await database_sync_to_async(given_an_agent)()
    page = communicator(agent)
    assert (await page.connect())[0]
    hello = await frame(page, 2)
    layer = get_channel_layer()
    sent = []
    real_send = layer.send

    async def send(channel: str, message: dict[str, Any]) -> None:
        sent.append((channel, message["type"]))
        await real_send(channel, message)

    layer.send = send

    await page.send_json_to({"type": "ping", "since": hello["cursor"]})

    assert await frame(page, 2) == {"type": "pong", "cursor": hello["cursor"]}
    assert [kind for _, kind in sent if kind == "desk.echo"] == ["desk.echo"]
    await page.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_ping_brings_what_the_layer_lost_then_a_pong_with_the_newest_cursor():
    agent, api = await database_sync_to_async(given_an_agent)()
    page = communicator(agent)
    await page.connect()
    hello = await frame(page, 2)

    # given a handoff whose live event the layer lost (a Redis blip between two pings)
    layer = get_channel_layer()
    real_group_send = layer.group_send

    async def lost(group: str, message: dict[str, Any]) -> None:
        raise redis.ConnectionError("Connection closed by server.")

    layer.group_send = lost
    response = await sync_to_async(api.post)("/api/v1/handoffs", full_package())
    assert response.status_code == 201
    case_id = response.json()["case_id"]
    layer.group_send = real_group_send

    # when the page pings with its cursor
    await page.send_json_to({"type": "ping", "since": hello["cursor"]})

    # then the case arrives, as a resync would send it, and the pong moves the cursor past it
    missed = await frame(page, 2)
    assert missed["type"] == "event" and missed["resync"] is True
    assert missed["case_id"] == case_id and 'id="case-row-' in missed["row"]
    pong = await frame(page, 2)
    assert pong["type"] == "pong" and pong["cursor"] >= missed["cursor"]

    # and the next ping from that cursor has nothing more to send
    await page.send_json_to({"type": "ping", "since": pong["cursor"]})
    assert await frame(page, 2) == {"type": "pong", "cursor": pong["cursor"]}
    await page.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_the_socket_is_closed_when_the_layer_refuses_the_heartbeat():
    agent, _ = await database_sync_to_async(given_an_agent)()
    page = communicator(agent)
    await page.connect()
    await frame(page, 2)

    async def refused(channel: str, message: dict[str, Any]) -> None:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379.")

    get_channel_layer().send = refused
    await page.send_json_to({"type": "ping", "since": 0})

    assert await closed_with(page) == LAYER_DOWN


@pytest.mark.django_db(transaction=True)
async def test_the_socket_is_closed_when_the_heartbeat_does_not_come_back(monkeypatch):
    # a layer that takes the message and never delivers it: a subscription Redis forgot
    monkeypatch.setattr(consumers, "ECHO_TIMEOUT", 0.2)
    agent, _ = await database_sync_to_async(given_an_agent)()
    page = communicator(agent)
    await page.connect()
    await frame(page, 2)

    async def dropped(channel: str, message: dict[str, Any]) -> None:
        return None

    get_channel_layer().send = dropped
    await page.send_json_to({"type": "ping"})

    assert await closed_with(page) == LAYER_DOWN


@pytest.mark.django_db(transaction=True)
async def test_a_heartbeat_slowed_by_a_busy_database_is_not_taken_for_the_layer_down(monkeypatch):
    # the heartbeat's database work takes longer than the echo may: a server whose sync thread
    # is behind (the layer itself answers at once)
    monkeypatch.setattr(consumers, "ECHO_TIMEOUT", 0.2)
    agent, _ = await database_sync_to_async(given_an_agent)()
    page = communicator(agent)
    await page.connect()
    hello = await frame(page, 2)
    beat = consumers.DeskConsumer._beat

    async def slow_beat(self: Any, since: int | None, *, touch: bool) -> Any:
        await asyncio.sleep(0.5)
        return await beat(self, since, touch=touch)

    monkeypatch.setattr(consumers.DeskConsumer, "_beat", slow_beat)
    await page.send_json_to({"type": "ping", "since": hello["cursor"]})

    # the echo still counts: a pong, and the socket stays open past the echo's time
    assert await frame(page, 2) == {"type": "pong", "cursor": hello["cursor"]}
    assert await quiet(page, 0.5)
    await page.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_agents_last_page_closing_with_an_offer_pending_asks_for_the_hand_back(
    monkeypatch,
):
    # given an agent of a push queue with an offer pending, on their only page
    def given() -> tuple[Any, Any]:
        queue = QueueFactory(slug="push", name="Push", assignment_mode=AssignmentMode.PUSH)
        agent = MembershipFactory(queue=queue).agent
        presence.agent_page_seen(user_id=agent.pk)
        CaseFactory(queue=queue)
        (offer,) = assignment.queue_assign(queue_id=queue.pk)
        return agent, offer

    agent, offer = await database_sync_to_async(given)()
    sent: list[tuple[str, list[int], float]] = []
    monkeypatch.setattr(
        consumers.current_app,
        "send_task",
        lambda name, args, countdown=0: sent.append((name, args, countdown)),
    )
    page = communicator(agent)
    await page.connect()
    await frame(page, 2)

    # when the page closes
    await page.disconnect()

    # then the assignment service is asked to hand the offer back (by task name: it sits above
    # the live layer)
    # the page after a grace (a reload opens the next page meanwhile)
    assert ("cases.tasks.agent_left", [agent.pk], consumers.PAGE_GONE_GRACE) in sent
    await database_sync_to_async(assignment.agent_left)(agent.pk)
    assert await database_sync_to_async(lambda: Offer.objects.get(pk=offer.pk).state)() == (
        Offer.State.WITHDRAWN
    )


@pytest.mark.django_db(transaction=True)
async def test_a_page_that_leaves_while_a_frame_is_on_its_way_takes_the_agent_offline():
    # given an agent's only page, whose server raises for a frame sent after the page left
    # (uvicorn's ClientDisconnected), before the disconnect itself comes through
    agent, _ = await database_sync_to_async(given_an_agent)()
    left = False
    consumer = DeskConsumer.as_asgi()

    async def served(scope: Any, receive: Any, send: Any) -> None:
        async def send_to_page(message: dict[str, Any]) -> None:
            if left:
                raise ClientDisconnected()
            await send(message)

        await consumer(scope, receive, send_to_page)

    page = WebsocketCommunicator(served, "/ws/desk/")
    page.scope["user"] = agent
    await page.connect()
    hello = await frame(page, 2)
    assert await state_of(agent, becomes="online")

    # when the page leaves as the answer to its ping is sent, then the disconnect arrives
    left = True
    await page.send_json_to({"type": "ping", "since": hello["cursor"]})
    await asyncio.sleep(0.3)
    await page.send_input({"type": "websocket.disconnect", "code": 1001})
    await page.wait(timeout=5)

    # then the agent is offline at once, not when their presence lapses
    assert await state_of(agent, becomes="offline")


async def state_of(agent: Any, *, becomes: str) -> bool:
    """Whether the agent's state becomes this within two seconds."""
    for _ in range(20):
        if await sync_to_async(presence.agent_states)([agent.pk]) == {agent.pk: becomes}:
            return True
        await asyncio.sleep(0.1)
    return False


@pytest.mark.django_db(transaction=True)
async def test_a_socket_is_refused_while_the_layer_is_down():
    agent, _ = await database_sync_to_async(given_an_agent)()

    async def down(*args: Any, **kwargs: Any) -> str:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379.")

    get_channel_layer().new_channel = down
    page = communicator(agent)

    assert await page.connect(timeout=2) == (False, LAYER_DOWN)
