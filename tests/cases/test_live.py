"""Live events leave only after commit, reach the right sockets, and survive a dead layer."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.db import transaction

from cases.consumers import DeskConsumer
from cases.events import case_event, publish_on_commit
from cases.models import Case
from tests.conftest import ApiClient
from tests.factories import (
    CaseFactory,
    IntegrationFactory,
    MembershipFactory,
    QueueFactory,
    UserFactory,
    full_package,
)


def communicator(user: Any) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(DeskConsumer.as_asgi(), "/ws/desk/")
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
        assert (await comm.receive_json_from(timeout=2))["type"] == "hello"

    response = await sync_to_async(api.post)("/api/v1/handoffs", full_package())
    case_id = response.json()["case_id"]

    for name in ("member", "supervisor"):
        event = await sockets[name].receive_json_from(timeout=3)
        assert event["kind"] == "case.created"
        assert event["case_id"] == case_id and event["version"] == 1
    assert await sockets["outsider"].receive_nothing(timeout=0.3)
    for comm in sockets.values():
        await comm.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_no_event_is_published_for_a_change_that_rolls_back():
    case = await sync_to_async(CaseFactory)()
    member = await sync_to_async(MembershipFactory)(queue=case.queue)
    comm = communicator(member.agent)
    await comm.connect()
    await comm.receive_json_from(timeout=2)

    def change_then_fail() -> None:
        with pytest.raises(RuntimeError), transaction.atomic():
            publish_on_commit(case_event(case, "case.updated"))
            raise RuntimeError("rolled back")

    await sync_to_async(change_then_fail)()
    assert await comm.receive_nothing(timeout=0.3)

    await sync_to_async(lambda: publish_on_commit(case_event(case, "case.updated")))()
    assert (await comm.receive_json_from(timeout=2))["kind"] == "case.updated"
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
