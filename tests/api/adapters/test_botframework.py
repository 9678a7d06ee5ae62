"""Bot Framework / Copilot Studio: a handoff.initiate activity built with botbuilder-schema
opens a case with its whole context, and the desk answers and calls back with handoff.status."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    Attachment,
    ChannelAccount,
    ConversationAccount,
    Transcript,
)
from standardwebhooks import Webhook

from cases.models import Case, Integration
from cases.services import agent_work
from tests.api.adapters.conftest import send_all

pytestmark = pytest.mark.django_db

URL = "/api/v1/adapters/botframework/handoffs"
CUSTOMER = ChannelAccount(id="29:ana", name="Ana Ruiz", role="user")
BOT = ChannelAccount(id="28:refund-bot", name="Refund bot", role="bot")


def said(sender: ChannelAccount, text: str, second: int) -> Activity:
    return Activity(
        type=ActivityTypes.message,
        id=f"act-{second}",
        text=text,
        from_property=sender,
        timestamp=datetime(2026, 11, 20, 10, 1, second, tzinfo=UTC),
    )


def handoff_initiate(*, transcript: bool = True, **value: Any) -> dict[str, Any]:
    """What the SDKs' EventFactory.createHandoffInitiation builds, with Copilot Studio's
    variables in the handoff context."""
    context = {
        "va_Scope": "bot",
        "va_LastTopic": "Refund",
        "va_Topics": ["Greeting", "Refund"],
        "va_Phrases": ["I was charged twice", "talk to a person"],
        "va_AgentMessage": "Refund lookup failed twice; customer asked for a person.",
        "va_Language": "en-US",
        "va_BotName": "Refund bot",
        "OrderId": "A-1009",
        **value,
    }
    attachments = []
    if transcript:
        history = Transcript(
            activities=[
                said(CUSTOMER, "I was charged twice for order A-1009", 2),
                said(BOT, "I can help with refunds. Let me look it up.", 4),
                said(CUSTOMER, "It failed again, let me talk to a person", 9),
            ]
        )
        attachments = [
            Attachment(name="Transcript", content_type="application/json", content=history)
        ]
    activity = Activity(
        type=ActivityTypes.event,
        name="handoff.initiate",
        id="evt-initiate-1",
        channel_id="msteams",
        service_url="https://smba.trafficmanager.net/emea/",
        conversation=ConversationAccount(id="a:conv-bf-1"),
        from_property=CUSTOMER,
        recipient=BOT,
        value=context,
        attachments=attachments,
    )
    return activity.serialize()


def test_a_copilot_studio_handoff_opens_a_case_with_the_whole_context(api, stored):
    # when
    response = api.post(URL, handoff_initiate())

    # then: the answer is a handoff.status activity, accepted, with the desk's case
    assert response.status_code == 201
    status = Activity.deserialize(response.json())
    assert (status.type, status.name, status.value) == (
        "event",
        "handoff.status",
        {"state": "accepted"},
    )
    assert status.conversation.id == "a:conv-bf-1"
    assert status.reply_to_id == "evt-initiate-1"
    desk = status.channel_data["handoffDesk"]
    # and the case holds the conversation, the topic as intent, the variables as facts
    seen = stored(desk["case_id"])
    assert seen.transcript == [
        ("customer", "I was charged twice for order A-1009"),
        ("bot", "I can help with refunds. Let me look it up."),
        ("customer", "It failed again, let me talk to a person"),
    ]
    assert seen.case.external_id == "a:conv-bf-1"
    assert seen.case.detected_intent == "Refund"
    assert seen.case.customer_ref == "29:ana"
    assert seen.case.customer_name == "Ana Ruiz"
    assert seen.case.facts["OrderId"] == "A-1009"
    assert json.loads(seen.case.facts["copilot.va_Topics"]) == ["Greeting", "Refund"]
    assert seen.case.summary == "Refund lookup failed twice; customer asked for a person."
    assert seen.case.channel == "msteams"
    # what the format could not carry
    assert seen.case.missing_context == ["attempted_steps"]
    assert desk["missing_context"] == ["attempted_steps"]
    for text in ("It failed again, let me talk to a person", "Refund", "A-1009", "Ana Ruiz"):
        assert text in seen.page


def test_without_a_transcript_the_phrases_are_kept_and_the_gap_is_named(api, stored):
    response = api.post(URL, handoff_initiate(transcript=False))

    assert response.status_code == 201
    seen = stored(Activity.deserialize(response.json()).channel_data["handoffDesk"]["case_id"])
    assert seen.transcript == [
        ("customer", "I was charged twice"),
        ("customer", "talk to a person"),
    ]
    assert "transcript" in seen.case.missing_context


def test_a_handoff_without_any_of_the_conversation_is_taken_and_says_so(api, stored):
    body = {**handoff_initiate(transcript=False), "value": {"va_LastTopic": "Refund"}}

    response = api.post(URL, body)

    assert response.status_code == 201
    seen = stored(Activity.deserialize(response.json()).channel_data["handoffDesk"]["case_id"])
    assert seen.transcript == []
    assert "transcript" in seen.case.missing_context
    assert "customer_message" in seen.case.missing_context


def test_a_retried_activity_opens_one_case(api):
    body = handoff_initiate()

    first = api.post(URL, body)
    again = api.post(URL, body)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert Case.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "loc", "words"),
    [
        ({"name": "handoff.status"}, ["body", "name"], "handoff.initiate"),
        ({"type": "message"}, ["body", "type"], "event"),
        ({"conversation": None}, ["body", "conversation"], "ConversationAccount"),
        ({"conversation": {"id": " "}}, ["body", "conversation", "id"], "conversation"),
        ({"value": ["va_LastTopic"]}, ["body", "value"], "handoff context"),
        ({"attachments": {"name": "Transcript"}}, ["body", "attachments"], "list"),
    ],
    ids=[
        "other-event",
        "not-an-event",
        "no-conversation",
        "blank-conversation-id",
        "value-not-an-object",
        "attachments-not-a-list",
    ],
)
def test_an_activity_that_cannot_be_mapped_is_a_422_in_bot_framework_terms(api, change, loc, words):
    body = {**handoff_initiate(), **change}

    response = api.post(URL, body)

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"][0]["loc"] == loc
    assert words in problem["errors"][0]["msg"]
    assert "Bot Framework" in problem["detail"]
    assert Case.objects.count() == 0


def test_status_goes_back_as_handoff_status_activities_retried_with_one_webhook_id(
    api, integration: Integration, receiver, supervisor
):
    # given: the integration takes Bot Framework callbacks
    integration.platform = Integration.Platform.BOTFRAMEWORK
    integration.callback_url = receiver.url
    integration.save()
    case_id = api.post(URL, handoff_initiate()).json()["channelData"]["handoffDesk"]["case_id"]
    case = Case.objects.get(pk=case_id)

    # when: the platform is down for the first attempt, then the case is resolved
    send_all(case)
    agent_work.case_resolve(
        case_id=case_id, agent=supervisor, resolution_code="refund_issued", customer_repeated=False
    )
    deliveries = send_all(case)

    # then: accepted, then completed, each an Activity; the retry carried the same id and body
    states = [Activity.deserialize(d.payload) for d in deliveries if d.kind != "agent.joined"]
    assert [(a.name, a.value["state"]) for a in states] == [
        ("handoff.status", "accepted"),
        ("handoff.status", "completed"),
    ]
    assert all(a.conversation.id == "a:conv-bf-1" for a in states)
    assert all(d.state == "delivered" for d in deliveries)
    first, retry = receiver.received[0], receiver.received[1]
    assert first["headers"]["webhook-id"] == retry["headers"]["webhook-id"]
    assert first["body"] == retry["body"]
    assert retry["headers"]["webhook-event"] == "handoff.accepted"
    signed = Webhook(integration.signing_secret).verify(retry["body"], retry["headers"])
    assert Activity.deserialize(signed).value == {"state": "accepted"}


def test_a_return_to_the_bot_is_handoff_status_completed_with_the_agents_note(
    api, integration: Integration, receiver, supervisor
):
    # given: a Bot Framework handoff that an agent took over
    integration.platform = Integration.Platform.BOTFRAMEWORK
    integration.callback_url = receiver.url
    integration.save()
    case_id = api.post(URL, handoff_initiate()).json()["channelData"]["handoffDesk"]["case_id"]
    agent_work.case_reply(case_id=case_id, agent=supervisor, text="Refund issued.")

    # when: the agent returns it to the bot (the platform is down for the first attempt)
    agent_work.case_return_to_bot(
        case_id=case_id, agent=supervisor, note="Refund issued; offer the survey."
    )
    deliveries = send_all(Case.objects.get(pk=case_id))

    # then: the return is a handoff.status activity, completed, carrying the note
    returned = next(d for d in deliveries if d.kind == "case.returned_to_bot")
    activity = Activity.deserialize(returned.payload)
    assert (activity.type, activity.name) == ("event", "handoff.status")
    assert activity.value == {"state": "completed", "message": "Refund issued; offer the survey."}
    assert activity.conversation.id == "a:conv-bf-1"
    desk = activity.channel_data["handoffDesk"]["data"]
    assert desk["transcript"]["url"].endswith(f"/api/v1/cases/{case_id}")
    assert all(d.state == "delivered" for d in deliveries)
    sent = next(r for r in receiver.received if r["headers"]["webhook-event"] == returned.kind)
    assert sent["headers"]["webhook-id"] == returned.webhook_id
    assert (
        Activity.deserialize(
            Webhook(integration.signing_secret).verify(sent["body"], sent["headers"])
        ).value["state"]
        == "completed"
    )
