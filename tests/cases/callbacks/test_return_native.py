"""A case returned to the bot reaches Dialogflow CX and Rasa in their own resume forms, through
the outbox: a ``DetectIntentRequest`` with a custom event (read back with the Dialogflow CX SDK's
own type), and Rasa's ``resume`` tracker event; retried with the same webhook-id and body."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.cloud.dialogflowcx_v3 import types as cx

from cases.callbacks.platforms import RETURNED_EVENT
from cases.models import Case, Delivery, Integration
from cases.services import agent_work
from tests.api.adapters.conftest import Receiver, send_all
from tests.factories import CaseFactory, IntegrationFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(settings: Any) -> Any:
    settings.HANDOFF_CALLBACK_RETRY_SECONDS = [0, 0, 0]
    settings.HANDOFF_CALLBACK_TIMEOUT_SECONDS = 2
    # agent.joined, conversation.holder_changed, then down for the return, up again
    made = Receiver([200, 200, 503])
    yield made
    made.close()


def returned(platform: str, receiver: Any) -> tuple[Case, Delivery]:
    membership = MembershipFactory()
    bot = IntegrationFactory(name=f"{platform}-bot", platform=platform, callback_url=receiver.url)
    case = CaseFactory(
        queue=membership.queue, integration=bot, external_id="sess-77", customer_language="es"
    )
    agent_work.case_claim(case_id=case.pk, agent=membership.agent)
    agent_work.case_return_to_bot(
        case_id=case.pk,
        agent=membership.agent,
        note="Refund issued; confirm the new card.",
    )
    return case, Delivery.objects.get(case=case, kind="case.returned_to_bot")


def deliver(delivery: Delivery, receiver: Any) -> list[dict[str, Any]]:
    """Send the case's deliveries (the first attempt finds the platform down): what arrived of
    this one."""
    send_all(delivery.case)
    delivery.refresh_from_db()
    return [r for r in receiver.received if r["headers"]["webhook-event"] == delivery.kind]


def test_dialogflow_cx_gets_a_detect_intent_request_with_the_return_event(receiver):
    case, delivery = returned(Integration.Platform.DIALOGFLOW_CX, receiver)

    arrived = deliver(delivery, receiver)

    # the body is a DetectIntentRequest, as the SDK reads it
    request = cx.DetectIntentRequest.from_json(json.dumps(delivery.payload))
    assert request.session == "sess-77"
    assert request.query_input.event.event == RETURNED_EVENT
    assert request.query_input.language_code == "es"
    parameters = dict(request.query_params.parameters)
    assert parameters["handoff_note"] == "Refund issued; confirm the new card."
    assert parameters["handoff_case_id"] == case.pk
    assert parameters["handoff_transcript_url"].endswith(f"/api/v1/cases/{case.pk}")
    # retried after the platform was down: the same bytes, the same webhook-id
    first, second = arrived
    assert first["body"] == second["body"] and json.loads(second["body"]) == delivery.payload
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    assert delivery.state == "delivered"


def test_rasa_gets_the_resume_event(receiver):
    _, delivery = returned(Integration.Platform.RASA, receiver)

    arrived = deliver(delivery, receiver)

    (event,) = delivery.payload
    assert event["event"] == "resume"
    assert event["metadata"]["handoffDesk"]["data"]["note"] == (
        "Refund issued; confirm the new card."
    )
    first, second = arrived
    assert first["body"] == second["body"]
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    assert delivery.state == "delivered"


def test_other_kinds_keep_the_desks_own_envelope(receiver):
    case, _ = returned(Integration.Platform.RASA, receiver)

    joined = Delivery.objects.filter(case=case).exclude(kind="case.returned_to_bot")
    assert joined and all(d.payload["type"] == d.kind for d in joined)
