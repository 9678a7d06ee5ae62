"""One owner at a time (issue 16, item 2), through the services: who holds a case's
conversation follows every action, each change of hands is audited, pushed live with the
action and told to the bot through the outbox; while a person holds it, the bot's messages are
refused."""

from __future__ import annotations

from typing import Any

import pytest

from cases.live import events as live_events
from cases.models import Case, CaseEvent, Delivery, Message
from cases.services import agent_work as actions
from cases.services import intake
from cases.services.ownership import HOLDER_CHANGED, ConversationHeldByAgent
from cases.services.reassignment import case_reassign
from tests.factories import CaseFactory, IntegrationFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def membership():
    return MembershipFactory(capacity=3)


@pytest.fixture
def case(membership):
    bot = IntegrationFactory(name="hooked-bot", callback_url="https://bot.example/hook")
    return CaseFactory(queue=membership.queue, integration=bot)


@pytest.fixture
def pushed(monkeypatch) -> list[dict[str, Any]]:
    """The live frames the desk broadcast (after commit)."""
    frames: list[dict[str, Any]] = []
    monkeypatch.setattr(live_events, "broadcast", lambda groups, message: frames.append(message))
    return frames


def hands(case: Case) -> list[tuple[str, Any]]:
    rows = CaseEvent.objects.filter(case=case, kind__startswith="conversation_to_").order_by("id")
    return [(row.kind, row.data["to_agent"]) for row in rows]


def told(case: Case) -> list[dict[str, Any]]:
    rows = Delivery.objects.filter(case=case, kind=HOLDER_CHANGED).order_by("id")
    return [row.payload["data"] for row in rows]


def test_a_waiting_case_is_held_by_the_bot(case):
    assert case.held_by is None and case.holder == "bot"


def test_a_claim_hands_the_conversation_to_the_agent_audited_pushed_and_told(
    case, membership, pushed, django_capture_on_commit_callbacks
):
    agent = membership.agent

    with django_capture_on_commit_callbacks(execute=True):
        actions.case_claim(case_id=case.pk, agent=agent)

    case.refresh_from_db()
    assert case.held_by == agent and case.holder == "agent" and case.held_since is not None
    assert hands(case) == [("conversation_to_agent", agent.pk)]
    change = CaseEvent.objects.get(case=case, kind="conversation_to_agent")
    assert change.actor == agent and change.data["from"] == "bot"
    assert change.case_version == case.version
    [payload] = told(case)
    assert payload["holder"] == "agent" and payload["reason"] == "claimed"
    assert payload["agent"] == (agent.first_name or agent.username)
    # the page hears of it with the claim, as the claim (a resync names the action)
    assert [(f["kind"], f["status"], f["holder"]) for f in pushed] == [
        ("case.claimed", "assigned", "agent")
    ]
    assert pushed[0]["cursor"] > change.pk


def test_release_and_resolve_give_the_conversation_back_to_the_bot(case, membership):
    agent = membership.agent
    actions.case_claim(case_id=case.pk, agent=agent)

    actions.case_release(case_id=case.pk, agent=agent)
    case.refresh_from_db()
    assert case.held_by is None

    actions.case_reply(case_id=case.pk, agent=agent, text="Back on it.")
    actions.case_resolve(
        case_id=case.pk, agent=agent, resolution_code="solved", customer_repeated=False
    )

    case.refresh_from_db()
    assert case.held_by is None and case.holder == "bot"
    assert hands(case) == [
        ("conversation_to_agent", agent.pk),
        ("conversation_to_bot", None),
        ("conversation_to_agent", agent.pk),
        ("conversation_to_bot", None),
    ]
    assert [p["holder"] for p in told(case)] == ["agent", "bot", "agent", "bot"]
    assert [p["reason"] for p in told(case)] == ["claimed", "released", "replied", "resolved"]


def test_actions_that_keep_the_holder_record_no_change_of_hands(case, membership):
    agent = membership.agent
    actions.case_claim(case_id=case.pk, agent=agent)

    actions.case_note_add(case_id=case.pk, agent=agent, text="internal")
    actions.case_await_customer(case_id=case.pk, agent=agent)
    actions.case_reply(case_id=case.pk, agent=agent, text="Anything else?")

    assert len(hands(case)) == 1 and len(told(case)) == 1


def test_a_reassignment_to_another_agent_hands_it_to_them(case, membership):
    first = membership.agent
    other = MembershipFactory(queue=membership.queue).agent
    actions.case_claim(case_id=case.pk, agent=first)

    case_reassign(
        case_id=case.pk, supervisor=UserFactory(role="supervisor"), agent=other, reason="skills"
    )

    case.refresh_from_db()
    assert case.held_by == other
    assert hands(case) == [("conversation_to_agent", first.pk), ("conversation_to_agent", other.pk)]
    assert [p["reason"] for p in told(case)] == ["claimed", "reassigned"]


def test_a_bot_message_is_refused_while_a_person_holds_the_conversation(case, membership):
    actions.case_claim(case_id=case.pk, agent=membership.agent)
    version = Case.objects.get(pk=case.pk).version

    with pytest.raises(ConversationHeldByAgent):
        intake.case_customer_message_add(case_id=case.pk, text="Still there?", role="bot")

    # nothing stored; the customer may still write
    assert not Message.objects.filter(case=case, role="bot").exists()
    assert Case.objects.get(pk=case.pk).version == version
    _, created = intake.case_customer_message_add(case_id=case.pk, text="Hello?")
    assert created


def test_a_bot_message_is_taken_while_the_bot_holds_the_conversation(case):
    message, created = intake.case_customer_message_add(
        case_id=case.pk, text="You are number 2 in line.", role="bot"
    )

    assert created and message.role == "bot" and message.phase == "after_handoff"
    assert CaseEvent.objects.filter(case=case, kind="bot_message").count() == 1
