"""The demo's replayed bot hands off where the desk's escalation advice says, not where the
recording ended, and never from STAR's after-the-fact labels."""

from __future__ import annotations

from typing import Any

import pytest

from cases.models import Case
from demo.replay import replay
from tests.factories import IntegrationFactory, MembershipFactory, QueueFactory

pytestmark = pytest.mark.django_db(transaction=True)


def conversation(external_id: str, *customer: str) -> dict[str, Any]:
    transcript = []
    for index, text in enumerate(customer):
        transcript.append({"id": f"c{index}", "role": "customer", "text": text})
        transcript.append({"id": f"b{index}", "role": "bot", "text": f"Answer number {index}."})
    return {"external_id": external_id, "transcript": transcript}


def test_a_conversation_is_handed_off_at_the_message_the_desk_advises(live_server: Any) -> None:
    # given a desk, and two recorded conversations: one asks for a person at its second turn
    MembershipFactory(queue=QueueFactory(slug="general", is_default=True))
    key = IntegrationFactory().raw_key
    asking = conversation(
        "asking", "My card was charged twice", "Get me a human agent", "Hello?", "Anyone?"
    )
    calm = conversation("calm", "What time do you open?", "Thanks, bye")

    # when the demo replays them as a desk-advised bot
    report = replay([asking, calm], live_server.url, key, assess=True)

    # then the first is handed off right after the request, with the desk's suggested trigger,
    # and the calm one at its recorded end
    assert report.created == 2 and report.ok
    early = Case.objects.get(external_id="asking")
    assert list(early.messages.order_by("seq").values_list("text", flat=True)) == [
        "My card was charged twice",
        "Answer number 0.",
        "Get me a human agent",
    ]
    assert early.trigger_reason == "customer_request"
    assert "the desk's advice" in early.trigger_detail
    assert Case.objects.get(external_id="calm").messages.count() == 4
