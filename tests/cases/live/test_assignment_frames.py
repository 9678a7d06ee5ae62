"""The desk socket and push assignment (issue 17): a page that opens shows the offer its agent
has not answered; an agent coming online or leaving is heard by supervisors at once."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers

from cases import presence
from cases.models import AgentStatus
from cases.services import assignment
from tests.factories import CaseFactory, MembershipFactory, QueueFactory, UserFactory
from tests.sockets import communicator


@pytest.fixture(autouse=True)
def fresh_layer() -> Any:
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


async def next_of(comm: Any, kind: str, **fields: Any) -> dict[str, Any]:
    while True:
        frame = await comm.receive_json_from(timeout=3)
        if frame["type"] == kind and all(frame.get(k) == v for k, v in fields.items()):
            return frame


@pytest.mark.django_db(transaction=True)
async def test_a_page_opening_shows_the_pending_offer_and_supervisors_hear_the_agent():
    def given() -> tuple[Any, Any, Any]:
        queue = QueueFactory(slug="push", assignment_mode="push")
        agent = MembershipFactory(queue=queue).agent
        presence.agent_page_seen(user_id=agent.pk)
        CaseFactory(queue=queue, customer_name="Tom <i>Becker</i>")
        (offer,) = assignment.queue_assign(queue_id=queue.pk)
        AgentStatus.objects.filter(user=agent).update(state="offline")  # closed their pages
        return agent, offer, UserFactory(role="supervisor")

    agent, offer, supervisor = await sync_to_async(given)()
    watcher = communicator(supervisor)
    assert (await watcher.connect())[0]
    await next_of(watcher, "hello")

    # when the agent opens a page
    page = communicator(agent)
    assert (await page.connect())[0]

    # then it shows the offer, and the console hears the agent is online
    shown = await next_of(page, "offer")
    assert (shown["offer_id"], shown["state"]) == (offer.pk, "pending")
    assert shown["customer"] == "Tom <i>Becker</i>"  # data: the page sets it as text
    heard = await next_of(watcher, "agent", agent_id=agent.pk)  # not the supervisor's own
    assert heard["state"] == "online"

    # and when the page closes, offline
    await page.disconnect()
    heard = await next_of(watcher, "agent", agent_id=agent.pk)
    assert heard["state"] == "offline"
    await watcher.disconnect()
