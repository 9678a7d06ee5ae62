"""Botpress HITL: startHitl built from the HITL interface definition's field names (Botpress
publishes no Python SDK) opens a case; hitlAssigned / hitlStopped go back in its form."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict

from cases.live import events as live_events
from cases.models import Case, Integration
from cases.services import agent_work
from tests.api.adapters.conftest import send_all
from tests.conftest import ApiClient
from tests.factories import IntegrationFactory, MembershipFactory

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


@pytest.mark.parametrize("title", [None, " "], ids=["no-title", "blank-title"])
def test_start_hitl_without_a_title_opens_a_case_summarised_by_its_description(api, stored, title):
    # HITL interface 2.1.0 made the title optional; 0.4.0's bots still send one
    body = start_hitl(title=title)
    if title is None:
        del body["title"]

    response = api.post(URL, body)

    assert response.status_code == 201
    case = stored(StartHitlOutput.model_validate(response.json()).handoffDesk["case_id"]).case
    assert case.summary == "Customer was double-charged for order A-1009."


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"userId": None}, ["body", "userId"]),
        ({"messageHistory": "hi"}, ["body", "messageHistory"]),
        ({"messageHistory": [{"type": "text"}]}, ["body", "messageHistory", 0, "source"]),
        (
            {"messageHistory": [{"source": {"type": "agent"}, "type": "text"}]},
            ["body", "messageHistory", 0, "source", "type"],
        ),
    ],
    ids=["no-user", "history-not-a-list", "no-source", "unknown-source"],
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


# --- stopHitl: the bot ends the session ---------------------------------------------------------

STOP_URL = "/api/v1/adapters/botpress/stop-hitl"


class StopHitlInput(Strict):
    conversationId: str


class StopHitlOutput(BaseModel):
    # The action's output is ``z.object({})``: zod drops unknown keys, so the desk's own answer
    # may ride beside it; nothing else is expected.
    model_config = ConfigDict(extra="forbid")
    handoffDesk: dict[str, Any]


def test_stop_hitl_ends_a_worked_session_audited_pushed_and_answered_in_botpress_form(
    api, integration: Integration, default_queue, monkeypatch, django_capture_on_commit_callbacks
):
    # given: a HITL session an agent is working
    frames: list[dict[str, Any]] = []
    monkeypatch.setattr(live_events, "broadcast", lambda groups, message: frames.append(message))
    agent = MembershipFactory(queue=default_queue).agent
    case_id = api.post(URL, start_hitl()).json()["handoffDesk"]["case_id"]
    agent_work.case_claim(case_id=case_id, agent=agent)
    frames.clear()

    # when: the customer typed /end, and the plugin calls stopHitl
    body = StopHitlInput(conversationId="bp-conv-3").model_dump()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(STOP_URL, body)

    # then: answered in the action's own form, the case closed and the bot holding it again
    assert response.status_code == 200
    answer = StopHitlOutput.model_validate(response.json()).handoffDesk
    assert answer == {
        "case_id": case_id,
        "status": "resolved",
        "resolution": "ended_by_bot",
        "ended": True,
    }
    case = Case.objects.get(pk=case_id)
    assert (case.status, case.resolution_code, case.holder) == ("resolved", "ended_by_bot", "bot")
    assert case.resolved_at is not None and case.held_by is None
    kinds = list(case.events.order_by("id").values_list("kind", "actor_label"))
    assert kinds[-2:] == [
        ("conversation_to_bot", f"integration:{integration.name}"),
        ("ended_by_bot", f"integration:{integration.name}"),
    ]
    assert case.events.get(kind="ended_by_bot").data["action"] == "stopHitl"
    assert [f["kind"] for f in frames] == ["case.ended_by_bot"]
    assert frames[0]["case_id"] == case_id and frames[0]["version"] == case.version
    # the bot did this itself: no hitlStopped back, only the change of hands
    assert not case.deliveries.filter(kind__in=["case.resolved", "case.returned_to_bot"]).exists()
    # and the bot may write again (a new handoff opens a new case)
    again = api.post(f"/api/v1/cases/{case_id}/messages", {"role": "bot", "text": "Back!"})
    assert again.status_code == 409 and again.json()["type"].endswith("case-resolved")


def test_stop_hitl_on_a_waiting_case_takes_it_out_of_the_queue(api, stored):
    case_id = api.post(URL, start_hitl()).json()["handoffDesk"]["case_id"]

    response = api.post(STOP_URL, {"conversationId": "bp-conv-3"})

    assert response.status_code == 200
    case = Case.objects.get(pk=case_id)
    assert case.status == "resolved" and case.assignee is None
    assert "Ended from the bot" in stored(case_id).page
    assert "ended from the bot" in stored(case_id).page  # the audit trail's line


def test_stop_hitl_twice_is_answered_the_same_and_changes_nothing(api):
    case_id = api.post(URL, start_hitl()).json()["handoffDesk"]["case_id"]
    api.post(STOP_URL, {"conversationId": "bp-conv-3"})
    version = Case.objects.get(pk=case_id).version

    retry = api.post(STOP_URL, {"conversationId": "bp-conv-3"})

    assert retry.status_code == 200
    assert retry.json()["handoffDesk"]["ended"] is False
    assert retry.json()["handoffDesk"]["case_id"] == case_id
    assert Case.objects.get(pk=case_id).version == version
    assert Case.objects.get(pk=case_id).events.filter(kind="ended_by_bot").count() == 1


def test_stop_hitl_for_a_session_never_started_is_a_404_naming_the_conversation(api):
    response = api.post(STOP_URL, {"conversationId": "bp-nobody"})

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["body", "conversationId"]


def test_stop_hitl_of_another_integration_is_not_found(api):
    api.post(URL, start_hitl())
    other = IntegrationFactory(name="other-bot")

    response = ApiClient(other.raw_key).post(STOP_URL, {"conversationId": "bp-conv-3"})

    assert response.status_code == 404
    assert Case.objects.get().status == "waiting"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({}, ["body", "conversationId"]),
        ({"conversationId": " "}, ["body", "conversationId"]),
        ({"conversationId": 42}, ["body", "conversationId"]),
        ({"conversationId": "a\x00b"}, ["body", "conversationId"]),
        (["bp-conv-3"], ["body"]),
    ],
    ids=["missing", "blank", "number", "nul", "not-an-object"],
)
def test_stop_hitl_that_cannot_be_read_is_a_422_in_botpress_terms(api, body, loc):
    api.post(URL, start_hitl())

    response = api.post(STOP_URL, body)

    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["loc"] == loc
    assert "stopHitl" in problem["detail"]
    assert Case.objects.get().status == "waiting"


def test_stop_hitl_that_is_not_json_is_a_400(api):
    response = api.post(STOP_URL, "{")
    assert response.status_code == 400


def test_stop_hitl_needs_the_integration_key(integration):
    assert ApiClient(None).post(STOP_URL, {"conversationId": "x"}).status_code == 401
