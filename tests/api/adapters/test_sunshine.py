"""Sunshine Conversations: a switchboard webhook built with sunshine-conversations-client opens
a case with its whole context; control goes back with a passControl body the client parses."""

from __future__ import annotations

from typing import Any

import pytest
import sunshine_conversations_client as sunshine

from cases.models import Case, Integration
from cases.services import agent_work
from tests.api.adapters.conftest import send_all

pytestmark = pytest.mark.django_db

URL = "/api/v1/adapters/sunshine/handoffs"
CONVERSATION = sunshine.ConversationTruncated(
    id="conv-sun-5", type="personal", metadata={"brand": "acme"}
)
ANA = sunshine.User(
    id="user-ana",
    externalId="cus_42",
    profile=sunshine.Profile(givenName="Ana", surname="Ruiz", email="ana@example.com"),
)


def said(index: int, text: str, *, by_customer: bool) -> sunshine.ConversationMessageEvent:
    author = (
        sunshine.AuthorWebhook(type="user", userId="user-ana", user=ANA)
        if by_customer
        else sunshine.AuthorWebhook(type="business")
    )
    return sunshine.ConversationMessageEvent(
        id=f"evt-msg-{index}",
        type="conversation:message",
        createdAt=f"2026-11-20T10:01:0{index}.000Z",
        payload=sunshine.ConversationMessageEventAllOfPayload(
            conversation=CONVERSATION,
            message=sunshine.MessageWebhook(
                id=f"msg-{index}",
                received=f"2026-11-20T10:01:0{index}.000Z",
                author=author,
                content=sunshine.Content(sunshine.TextMessage(type="text", text=text)),
            ),
        ),
    )


def webhook(*, with_messages: bool = True, kind: str = "passControl") -> dict[str, Any]:
    """A Sunshine v2 webhook body: the switchboard event (and the conversation's messages)."""
    metadata = {
        "first_message_id": "msg-1",
        "dataCapture.systemField.requester.name": "Ana Ruiz",
        "dataCapture.systemField.requester.email": "ana@example.com",
        "dataCapture.ticketField.360012": "double charge",
        "order_id": "A-1009",
    }
    if kind == "passControl":
        event: Any = sunshine.SwitchboardPassControl(
            id="evt-pass-1",
            type="switchboard:passControl",
            createdAt="2026-11-20T10:02:00.000Z",
            payload=sunshine.SwitchboardPassControlAllOfPayload(
                conversation=CONVERSATION, metadata=metadata
            ),
        )
    else:
        event = sunshine.SwitchboardOfferControl(
            id="evt-offer-1",
            type="switchboard:offerControl",
            createdAt="2026-11-20T10:02:00.000Z",
            payload=sunshine.SwitchboardOfferControlAllOfPayload(
                conversation=CONVERSATION, metadata=metadata
            ),
        )
    messages = (
        [
            said(1, "I was charged twice", by_customer=True),
            said(2, "Let me pass you to our billing team.", by_customer=False),
        ]
        if with_messages
        else []
    )
    return {
        "app": {"id": "app-acme"},
        "webhook": {"id": "wh-1", "version": "v2"},
        "events": [m.to_dict() for m in messages] + [event.to_dict()],
    }


def test_pass_control_opens_a_case_with_the_conversation_and_the_captured_data(api, stored):
    response = api.post(URL, webhook())

    assert response.status_code == 201
    answer = response.json()
    assert answer["conversationId"] == "conv-sun-5"
    seen = stored(answer["case_id"])
    assert seen.transcript == [
        ("customer", "I was charged twice"),
        ("bot", "Let me pass you to our billing team."),
    ]
    assert seen.case.external_id == "conv-sun-5"
    assert (seen.case.customer_ref, seen.case.customer_name) == ("cus_42", "Ana Ruiz")
    assert seen.case.customer_email == "ana@example.com"
    assert seen.case.facts["dataCapture.ticketField.360012"] == "double charge"
    assert seen.case.facts["order_id"] == "A-1009"
    assert seen.case.facts["conversation.brand"] == "acme"
    assert seen.case.missing_context == ["intent", "attempted_steps"]
    for text in ("I was charged twice", "double charge", "A-1009"):
        assert text in seen.page


def test_offer_control_without_messages_says_what_it_lacks(api, stored):
    response = api.post(URL, webhook(with_messages=False, kind="offerControl"))

    assert response.status_code == 201
    seen = stored(response.json()["case_id"])
    assert seen.transcript == []
    assert "msg-1" in seen.case.summary
    assert "transcript" in seen.case.missing_context
    assert "customer_message" in seen.case.missing_context


def test_a_retried_webhook_opens_one_case(api):
    first = api.post(URL, webhook())
    again = api.post(URL, webhook())

    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert Case.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"app": {"id": "a"}}, ["body", "events"]),
        ({"events": [{"type": "conversation:message"}]}, ["body", "events"]),
        (
            {"events": [{"type": "switchboard:passControl", "payload": {"conversation": {}}}]},
            ["body", "events", 0, "payload", "conversation", "id"],
        ),
    ],
    ids=["no-events", "no-switchboard-event", "no-conversation-id"],
)
def test_a_webhook_that_cannot_be_mapped_is_a_422_in_sunshine_terms(api, body, loc):
    response = api.post(URL, body)

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == loc
    assert Case.objects.count() == 0


def test_resolving_passes_control_back_and_replies_go_as_business_messages(
    api, integration: Integration, receiver, supervisor
):
    # given: the integration takes Sunshine callbacks
    integration.platform = Integration.Platform.SUNSHINE
    integration.callback_url = receiver.url
    integration.save()
    case_id = api.post(URL, webhook()).json()["case_id"]

    # when: an agent replies, then resolves
    agent_work.case_reply(case_id=case_id, agent=supervisor, text="Refund issued, Ana.")
    agent_work.case_resolve(
        case_id=case_id, agent=supervisor, resolution_code="refund_issued", customer_repeated=False
    )
    deliveries = send_all(Case.objects.get(pk=case_id))

    # then: every body parses with the client's own models; the last passes control back
    by_kind = {d.kind: d.payload for d in deliveries}
    told = sunshine.MessagePost.from_dict(by_kind["handoff.accepted"])
    reply = sunshine.MessagePost.from_dict(by_kind["agent.message"])
    back = sunshine.PassControlBody.from_dict(by_kind["case.resolved"])
    assert told is not None and reply is not None and back is not None
    assert told.author.type == "business"
    assert reply.content.to_dict() == {"type": "text", "text": "Refund issued, Ana."}
    assert back.switchboard_integration == "next"
    assert back.metadata == {
        "handoffDesk.caseId": case_id,
        "handoffDesk.event": "case.resolved",
        "handoffDesk.resolution": "refund_issued",
    }
    assert all(d.state == "delivered" for d in deliveries)
    assert (
        receiver.received[0]["headers"]["webhook-id"]
        == receiver.received[1]["headers"]["webhook-id"]
    )


def test_a_return_to_the_bot_passes_control_back_with_the_note_and_intent(
    api, integration: Integration, receiver, supervisor
):
    # given: a Sunshine handoff an agent took over
    integration.platform = Integration.Platform.SUNSHINE
    integration.callback_url = receiver.url
    integration.save()
    case_id = api.post(URL, webhook()).json()["case_id"]
    agent_work.case_reply(case_id=case_id, agent=supervisor, text="Refund issued, Ana.")

    # when: the agent returns it to the bot
    agent_work.case_return_to_bot(
        case_id=case_id, agent=supervisor, note="Refund issued.", resume_intent="billing.refund"
    )
    deliveries = send_all(Case.objects.get(pk=case_id))

    # then: control goes back to the bot's switchboard integration, parsed by the client
    by_kind = {d.kind: d.payload for d in deliveries}
    back = sunshine.PassControlBody.from_dict(by_kind["case.returned_to_bot"])
    assert back is not None and back.switchboard_integration == "next"
    assert back.metadata == {
        "handoffDesk.caseId": case_id,
        "handoffDesk.event": "case.returned_to_bot",
        "handoffDesk.note": "Refund issued.",
        "handoffDesk.intent": "billing.refund",
        "handoffDesk.transcriptUrl": f"http://127.0.0.1:8000/api/v1/cases/{case_id}",
    }
    assert all(d.state == "delivered" for d in deliveries)
