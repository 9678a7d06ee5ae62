"""One owner at a time over the API (issue 16, items 2 and 3): a bot's message is taken while
the bot holds the conversation and refused with a 409 ``conversation_held_by_agent`` problem
while a person does; the case says who holds it; a returned case comes back as a bounce-back."""

from __future__ import annotations

import pytest

from api.problems import PROBLEM_TYPE_BASE
from cases.models import Case, Message
from cases.services import agent_work
from tests.factories import MembershipFactory, full_package

pytestmark = pytest.mark.django_db

HANDOFFS = "/api/v1/handoffs"


@pytest.fixture
def agent(default_queue):
    return MembershipFactory(queue=default_queue).agent


def test_a_bot_talking_over_the_agent_gets_a_409_and_nothing_is_stored(api, agent):
    # given: a handoff; while it waits, the bot keeps the customer company
    case_id = api.post(HANDOFFS, full_package()).json()["case_id"]
    messages = f"/api/v1/cases/{case_id}/messages"
    waiting = api.post(messages, {"id": "b1", "role": "bot", "text": "You are number 2."})
    assert waiting.status_code == 201
    assert api.get(f"/api/v1/cases/{case_id}").json()["holder"] == "bot"

    # when: an agent claims it, and the bot writes again
    agent_work.case_claim(case_id=case_id, agent=agent)
    refused = api.post(messages, {"id": "b2", "role": "bot", "text": "Can I help?"})

    # then: a problem naming the holder's claim; the customer still gets through
    assert refused.status_code == 409
    assert refused["Content-Type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"] == PROBLEM_TYPE_BASE + "conversation_held_by_agent"
    assert problem["status"] == 409 and problem["title"] == "Conversation held by an agent"
    assert "holds this conversation" in problem["detail"]
    assert not Message.objects.filter(case_id=case_id, external_id="b2").exists()
    customer = api.post(messages, {"id": "c9", "text": "Hello? Anyone?"})
    assert customer.status_code == 201
    read = api.get(f"/api/v1/cases/{case_id}").json()
    assert read["holder"] == "agent" and read["status"] == "assigned"


def test_a_message_with_another_role_is_a_422(api):
    case_id = api.post(HANDOFFS, full_package()).json()["case_id"]

    response = api.post(f"/api/v1/cases/{case_id}/messages", {"role": "agent", "text": "hi"})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "role"]


def test_a_returned_conversation_is_the_bots_again_and_comes_back_as_a_bounce_back(api, agent):
    # given: a case claimed, then returned to the bot
    case_id = api.post(HANDOFFS, full_package()).json()["case_id"]
    agent_work.case_claim(case_id=case_id, agent=agent)
    agent_work.case_return_to_bot(case_id=case_id, agent=agent, note="Refund issued.")

    # then: the API says so, and messages belong in a new handoff
    read = api.get(f"/api/v1/cases/{case_id}").json()
    assert read["status"] == "returned" and read["holder"] == "bot"
    assert read["returned_at"] is not None and read["position"] is None
    assert (read["return_note"], read["resume_intent"]) == ("Refund issued.", None)
    late = api.post(f"/api/v1/cases/{case_id}/messages", {"role": "bot", "text": "Anything else?"})
    assert late.status_code == 409
    assert late.json()["type"] == PROBLEM_TYPE_BASE + "case-returned"

    # when: the customer is handed off again the same day
    again = api.post(HANDOFFS, full_package())

    # then: a new case, linked to the returned one as a bounce-back
    assert again.status_code == 201
    body = again.json()
    assert body["case_id"] != case_id and body["previous_case_id"] == case_id
    assert body["repeat_contact"] is True
    assert api.get(f"/api/v1/cases/{body['case_id']}").json()["bounce_back"] is True
    assert Case.objects.get(pk=body["case_id"]).is_bounce_back


def test_the_openapi_document_describes_the_role_and_the_409(api):
    schema = api.get("/api/v1/openapi.json").json()

    operation = schema["paths"]["/api/v1/cases/{case_id}/messages"]["post"]
    assert "409" in operation["responses"]
    assert "conversation_held_by_agent" in operation["description"]
    body = schema["components"]["schemas"]["CustomerMessageIn"]["properties"]["role"]
    assert body["enum"] == ["customer", "bot"]
