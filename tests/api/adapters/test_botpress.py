"""Botpress HITL: startHitl built from the HITL interface definition's field names (Botpress
publishes no Python SDK) opens a case; hitlAssigned / hitlStopped go back in its form."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict

from cases.models import Case, Integration
from cases.services import agent_work
from tests.api.adapters.conftest import send_all
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/adapters/botpress/handoffs"


# The interface's zod schemas (interfaces/hitl/interface.definition.ts, 0.4.0), as pydantic
# models that refuse any other field: what Botpress would accept back.
class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartHitlOutput(Strict):
    conversationId: str
    handoffDesk: dict[str, Any]


class HitlAssigned(Strict):
    conversationId: str
    userId: str


class HitlStopped(Strict):
    conversationId: str


class Event(Strict):
    type: Literal["hitlAssigned", "hitlStopped"]
    payload: dict[str, Any]


def start_hitl(**fields: Any) -> dict[str, Any]:
    return {
        "userId": "bp-user-9",
        "userEmail": "ana@example.com",
        "conversationId": "bp-conv-3",
        "title": "Refund failed twice",
        "description": "Customer was double-charged for order A-1009.",
        "messageHistory": [
            {"source": {"type": "user", "userId": "bp-user-9"}, "type": "text",
             "payload": {"text": "I was charged twice"}},
            {"source": {"type": "bot"}, "type": "choice",
             "payload": {"text": "Which order?", "options": [
                 {"label": "A-1009", "value": "A-1009"}, {"label": "Other", "value": "other"}]}},
            {"source": {"type": "user", "userId": "bp-user-9"}, "type": "image",
             "payload": {"imageUrl": "https://files.example.com/receipt.png"}},
        ],
        **fields,
    }  # fmt: skip


def test_start_hitl_opens_a_case_with_the_history(api, stored):
    response = api.post(URL, start_hitl())

    assert response.status_code == 201
    answer = StartHitlOutput.model_validate(response.json())
    assert answer.conversationId == "bp-conv-3"
    seen = stored(answer.handoffDesk["case_id"])
    assert seen.transcript == [
        ("customer", "I was charged twice"),
        ("bot", "Which order? [A-1009 / Other]"),
        (
            "customer",
            "",
        ),  # the receipt alone: an attachment (tests/api/adapters/test_attachments.py)
    ]
    assert (seen.case.customer_ref, seen.case.customer_email) == ("bp-user-9", "ana@example.com")
    assert seen.case.summary.startswith("Refund failed twice")
    assert "order A-1009" in seen.case.summary
    # Botpress carries no intent, steps or message times: said so
    assert seen.case.missing_context == ["intent", "attempted_steps", "message_times"]
    for text in ("I was charged twice", "Refund failed twice"):
        assert text in seen.page


def test_without_a_conversation_id_the_user_names_the_conversation(api, stored):
    body = start_hitl()
    del body["conversationId"]

    answer = StartHitlOutput.model_validate(api.post(URL, body).json())

    assert answer.conversationId == "user:bp-user-9"
    assert stored(answer.handoffDesk["case_id"]).case.external_id == "user:bp-user-9"


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"userId": None}, ["body", "userId"]),
        ({"title": " "}, ["body", "title"]),
        ({"messageHistory": "hi"}, ["body", "messageHistory"]),
        ({"messageHistory": [{"type": "text"}]}, ["body", "messageHistory", 0, "source"]),
        (
            {"messageHistory": [{"source": {"type": "agent"}, "type": "text"}]},
            ["body", "messageHistory", 0, "source", "type"],
        ),
    ],
    ids=["no-user", "blank-title", "history-not-a-list", "no-source", "unknown-source"],
)
def test_start_hitl_that_cannot_be_mapped_is_a_422_in_botpress_terms(api, change, loc):
    response = api.post(URL, start_hitl(**change))

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == loc
    assert "Botpress" in response.json()["detail"]
    assert Case.objects.count() == 0


def test_hitl_assigned_when_an_agent_joins_and_hitl_stopped_when_resolved(
    api, integration: Integration, receiver, default_queue
):
    # given: the integration takes Botpress callbacks
    integration.platform = Integration.Platform.BOTPRESS
    integration.callback_url = receiver.url
    integration.save()
    agent = MembershipFactory(queue=default_queue).agent
    case_id = StartHitlOutput.model_validate(api.post(URL, start_hitl()).json()).handoffDesk[
        "case_id"
    ]

    # when
    agent_work.case_claim(case_id=case_id, agent=agent)
    agent_work.case_resolve(
        case_id=case_id, agent=agent, resolution_code="solved", customer_repeated=False
    )
    deliveries = send_all(Case.objects.get(pk=case_id))

    # then
    native = {"agent.joined", "case.resolved"}  # (the others keep the desk's own envelope)
    events = [Event.model_validate(d.payload) for d in deliveries if d.kind in native]
    assert [e.type for e in events] == ["hitlAssigned", "hitlStopped"]
    assigned = HitlAssigned.model_validate(events[0].payload)
    assert assigned.conversationId == "bp-conv-3"
    assert HitlStopped.model_validate(events[1].payload).conversationId == "bp-conv-3"
    assert all(d.state == "delivered" for d in deliveries)


def test_hitl_stopped_when_the_case_is_returned_to_the_bot(
    api, integration: Integration, receiver, default_queue
):
    # given: a Botpress HITL session an agent took
    integration.platform = Integration.Platform.BOTPRESS
    integration.callback_url = receiver.url
    integration.save()
    agent = MembershipFactory(queue=default_queue).agent
    case_id = StartHitlOutput.model_validate(api.post(URL, start_hitl()).json()).handoffDesk[
        "case_id"
    ]
    agent_work.case_claim(case_id=case_id, agent=agent)

    # when
    agent_work.case_return_to_bot(case_id=case_id, agent=agent, note="Back to you, bot.")
    deliveries = send_all(Case.objects.get(pk=case_id))

    # then: the HITL session stops, in the interface's own event
    returned = next(d for d in deliveries if d.kind == "case.returned_to_bot")
    event = Event.model_validate(returned.payload)
    assert event.type == "hitlStopped"
    assert HitlStopped.model_validate(event.payload).conversationId == "bp-conv-3"
    assert all(d.state == "delivered" for d in deliveries)
