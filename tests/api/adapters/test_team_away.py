"""No one available, as the bot platforms hear it: a handoff to a queue that is closed is
answered and called back with the platform's failure (Bot Framework ``handoff.status``
``failed`` with the customer message), through the outbox (retried with one webhook-id), while
the case waits in the queue for the team's return."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botbuilder.schema import Activity
from django.utils import timezone
from standardwebhooks import Webhook

from cases.models import Case, Delivery, Integration
from tests.api.adapters.conftest import send_all
from tests.api.adapters.test_botframework import URL, handoff_initiate
from tests.factories import full_package

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed(default_queue: Any) -> Any:
    """The default queue, open every day 09:00-17:00 but on holiday from yesterday for a week:
    closed now, whatever the time of the test run."""
    today = timezone.now().date()
    default_queue.business_hours = [
        {"day": day, "opens": "09:00", "closes": "17:00"} for day in range(7)
    ]
    default_queue.holidays = [(today + timedelta(days=n)).isoformat() for n in range(-1, 8)]
    default_queue.save()
    return default_queue


def test_bot_framework_hears_handoff_status_failed_with_the_message(
    api, integration: Integration, receiver, closed
):
    # given: the integration takes Bot Framework callbacks
    integration.platform = Integration.Platform.BOTFRAMEWORK
    integration.callback_url = receiver.url
    integration.save()

    # when: a handoff.initiate arrives while the team is away
    response = api.post(URL, handoff_initiate())

    # then: the answer is the protocol's failure, with the message for the customer
    assert response.status_code == 201
    status = Activity.deserialize(response.json())
    assert (status.name, status.value["state"]) == ("handoff.status", "failed")
    assert "back on" in status.value["message"]
    desk = status.channel_data["handoffDesk"]
    assert desk["team_away"] == "closed" and desk["team_back_at"]
    case = Case.objects.get(pk=desk["case_id"])
    assert case.status == Case.Status.WAITING and case.queue == closed

    # and the callback says the same, once, retried with the same webhook-id after a 503
    (delivery,) = send_all(case)
    assert delivery.kind == "handoff.failed" and delivery.state == "delivered"
    first, retry = receiver.received
    assert first["headers"]["webhook-id"] == retry["headers"]["webhook-id"]
    assert first["body"] == retry["body"]
    assert retry["headers"]["webhook-event"] == "handoff.failed"
    signed = Activity.deserialize(
        Webhook(integration.signing_secret).verify(retry["body"], retry["headers"])
    )
    assert signed.value == {"state": "failed", "message": status.value["message"]}
    assert signed.conversation.id == "a:conv-bf-1"


def test_the_desks_own_answer_names_the_team_away_and_when_it_is_back(api, integration, closed):
    integration.callback_url = "https://bot.example.com/hooks"
    integration.save()
    response = api.post("/api/v1/handoffs", full_package())

    assert response.status_code == 201
    body = response.json()
    assert body["team_away"] == "closed" and body["estimate_basis"] == "team_closed"
    assert body["team_back_at"].startswith((timezone.now().date() + timedelta(days=8)).isoformat())
    assert "continue by email" in body["customer_message"]
    (delivery,) = Delivery.objects.filter(case_id=body["case_id"])
    assert delivery.kind == "handoff.failed"
    assert delivery.payload["data"]["customer_message"] == body["customer_message"]


def test_sunshine_shows_the_customer_the_message_as_the_business(api, integration, closed):
    integration.platform = Integration.Platform.SUNSHINE
    integration.callback_url = "https://bot.example.com/hooks"
    integration.save()

    body = api.post("/api/v1/handoffs", full_package()).json()

    (delivery,) = Delivery.objects.filter(case_id=body["case_id"])
    assert delivery.kind == "handoff.failed"
    assert delivery.payload["author"] == {"type": "business"}
    assert delivery.payload["content"] == {"type": "text", "text": body["customer_message"]}
