"""Dialogflow CX: a WebhookRequest and a Conversation built with google-cloud-dialogflow-cx
open a case with their whole context; the answer parses as a WebhookResponse."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from google.cloud.dialogflowcx_v3 import types as cx
from google.cloud.dialogflowcx_v3beta1 import types as cx_beta

from cases.models import Case

pytestmark = pytest.mark.django_db

URL = "/api/v1/adapters/dialogflow-cx/handoffs"
SESSION = "projects/acme/locations/global/agents/refunds/sessions/sess-42"


def said(*texts: str) -> list[cx.ResponseMessage]:
    return [cx.ResponseMessage(text=cx.ResponseMessage.Text(text=list(texts)))]


def webhook_request(**fields: Any) -> dict[str, Any]:
    """What Dialogflow CX posts to the handoff page's fulfillment webhook."""
    request = cx.WebhookRequest(
        detect_intent_response_id="resp-8812",
        text="This is useless, I want a human",
        language_code="en",
        intent_info=cx.WebhookRequest.IntentInfo(
            last_matched_intent="projects/acme/locations/global/agents/refunds/intents/refund",
            display_name="billing.refund",
            confidence=0.5,
        ),
        session_info=cx.SessionInfo(
            session=SESSION,
            parameters={"order_id": "A-1009", "amount": 49.99, "email": "ana@example.com"},
        ),
        messages=[
            *said("I'm connecting you with a person."),
            cx.ResponseMessage(
                live_agent_handoff=cx.ResponseMessage.LiveAgentHandoff(
                    metadata={"summary": "Refund lookup failed twice.", "queue_hint": "billing"}
                )
            ),
        ],
        **fields,
    )
    return json.loads(cx.WebhookRequest.to_json(request))


def conversation() -> dict[str, Any]:
    """A conversation from the conversation history API, every turn of it."""

    def turn(second: int, text: str, reply: list[cx_beta.ResponseMessage], **result: Any) -> Any:
        return cx_beta.Conversation.Interaction(
            request=cx_beta.DetectIntentRequest(
                query_input=cx_beta.QueryInput(
                    text=cx_beta.TextInput(text=text), language_code="es"
                )
            ),
            response=cx_beta.DetectIntentResponse(
                query_result=cx_beta.QueryResult(response_messages=reply, **result)
            ),
            create_time=datetime(2026, 11, 20, 10, 1, second, tzinfo=UTC),
        )

    text = cx_beta.ResponseMessage.Text
    history = cx_beta.Conversation(
        name="projects/acme/locations/global/agents/refunds/conversations/sess-77",
        language_code="es",
        interactions=[
            turn(
                30,
                "Quiero hablar con una persona",
                [
                    cx_beta.ResponseMessage(text=text(text=["Te paso con un agente."])),
                    cx_beta.ResponseMessage(
                        live_agent_handoff=cx_beta.ResponseMessage.LiveAgentHandoff(
                            metadata={"reason": "customer asked for a person"}
                        )
                    ),
                ],
                match=cx_beta.Match(
                    intent=cx_beta.Intent(display_name="agent.request"), confidence=0.75
                ),
            ),
            turn(
                2,
                "Me cobraron dos veces",
                [cx_beta.ResponseMessage(text=text(text=["Puedo ayudarte con reembolsos."]))],
                parameters={"order_id": "B-77"},
            ),
        ],
    )
    return json.loads(cx_beta.Conversation.to_json(history))


def test_a_webhook_call_opens_a_case_and_is_answered_with_a_webhook_response(api, stored):
    # when
    response = api.post(URL, webhook_request())

    # then: the answer is a WebhookResponse Dialogflow accepts (unknown fields refused)
    assert response.status_code == 201
    answer = cx.WebhookResponse.from_json(response.content, ignore_unknown_fields=False)
    case_id = int(answer.session_info.parameters["handoff_case_id"])
    assert answer.session_info.parameters["handoff_queue"] == "general"
    customer_message = answer.fulfillment_response.messages[0].text.text[0]
    # and the case carries the turn, the intent, the parameters and the handoff metadata
    seen = stored(case_id)
    assert customer_message == seen.case.events.get(kind="customer_told").data["message"]
    assert seen.transcript == [
        ("customer", "This is useless, I want a human"),
        ("bot", "I'm connecting you with a person."),
    ]
    assert seen.case.external_id == "sess-42"
    assert (seen.case.detected_intent, seen.case.detected_confidence) == ("billing.refund", 0.5)
    assert seen.case.facts == {"order_id": "A-1009", "amount": 49.99, "queue_hint": "billing"}
    assert seen.case.customer_email == "ana@example.com"
    assert seen.case.summary == "Refund lookup failed twice."
    # a webhook call carries one turn: the earlier ones are missing, and said so
    assert seen.case.missing_context == ["attempted_steps", "transcript"]
    for text in ("This is useless, I want a human", "billing.refund", "A-1009"):
        assert text in seen.page


def test_a_conversation_brings_every_turn_in_order(api, stored):
    response = api.post(URL, conversation())

    assert response.status_code == 201
    answer = cx.WebhookResponse.from_json(response.content, ignore_unknown_fields=False)
    seen = stored(int(answer.session_info.parameters["handoff_case_id"]))
    assert seen.transcript == [
        ("customer", "Me cobraron dos veces"),
        ("bot", "Puedo ayudarte con reembolsos."),
        ("customer", "Quiero hablar con una persona"),
        ("bot", "Te paso con un agente."),
    ]
    assert seen.case.external_id == "sess-77"
    assert (seen.case.detected_intent, seen.case.detected_confidence) == ("agent.request", 0.75)
    assert seen.case.facts == {"order_id": "B-77"}
    assert seen.case.customer["language"] == "es"
    assert seen.case.trigger_detail == "customer asked for a person"
    assert "transcript" not in seen.case.missing_context


def test_a_retried_webhook_call_opens_one_case(api):
    first = api.post(URL, webhook_request())
    again = api.post(URL, webhook_request())

    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert Case.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"detectIntentResponseId": "x"}, ["body", "sessionInfo"]),
        ({"sessionInfo": {"parameters": {}}}, ["body", "sessionInfo", "session"]),
        ({"sessionInfo": "sess-42"}, ["body", "sessionInfo"]),
        ({"interactions": [{}]}, ["body", "name"]),
        ({"name": "conversations/1", "interactions": []}, ["body", "interactions"]),
        ([], ["body"]),
    ],
    ids=[
        "no-session-info",
        "no-session",
        "session-info-not-an-object",
        "conversation-without-name",
        "no-turns",
        "not-an-object",
    ],
)
def test_a_payload_that_cannot_be_mapped_is_a_422_in_dialogflow_terms(api, body, loc):
    response = api.post(URL, body)

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == loc
    assert "Dialogflow CX" in response.json()["detail"]
    assert Case.objects.count() == 0
