"""Return to bot (issue 16, item 3), through the services: the person holding the conversation
hands it back with a note and an optional intent; the case leaves the queue as ``returned``;
the bot gets ``case.returned_to_bot``; a handoff of that conversation (or of that customer)
within 24 h of the return is linked as a bounce-back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cases.models import Case, CaseEvent, Delivery, Intent
from cases.package import HandoffPackage
from cases.selectors import queue_position
from cases.services import agent_work as actions
from cases.services import intake
from tests.factories import (
    CaseFactory,
    IntegrationFactory,
    MembershipFactory,
    MessageFactory,
    UserFactory,
    full_package,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def bot(default_queue):
    return IntegrationFactory(name="hooked-bot", callback_url="https://bot.example/hook")


@pytest.fixture
def agent(default_queue):
    return MembershipFactory(queue=default_queue, capacity=3).agent


@pytest.fixture
def held(bot, agent, default_queue):
    """A case of conversation conv-8812 (customer cus_42), claimed by the agent."""
    case = CaseFactory(
        queue=default_queue, integration=bot, external_id="conv-8812", customer_ref="cus_42"
    )
    MessageFactory(case=case, seq=1)
    MessageFactory(case=case, seq=2, role="bot")
    actions.case_claim(case_id=case.pk, agent=agent)
    return Case.objects.get(pk=case.pk)


def test_returning_closes_the_case_and_tells_the_bot_what_to_do_next(held, agent, settings):
    Intent.objects.create(name="orders.track", label="Track an order")

    returned = actions.case_return_to_bot(
        case_id=held.pk,
        agent=agent,
        note="  Refund issued for A-1009; confirm the new address.  ",
        resume_intent="orders.track",
        expected_version=held.version,
    )

    returned.refresh_from_db()
    assert returned.status == Case.Status.RETURNED and not returned.is_open
    assert returned.returned_at is not None and returned.held_by is None
    assert returned.resolved_at is None  # returned is not resolved: no resolution time
    assert queue_position(returned) is None  # it left the queue
    event = CaseEvent.objects.filter(case=held, kind="returned_to_bot").get()
    assert event.actor == agent
    assert event.data == {
        "note": "Refund issued for A-1009; confirm the new address.",
        "intent": "orders.track",
    }
    delivery = Delivery.objects.get(case=held, kind="case.returned_to_bot")
    data = delivery.payload["data"]
    assert data["note"] == "Refund issued for A-1009; confirm the new address."
    assert data["intent"] == "orders.track"
    assert data["transcript"]["url"] == f"{settings.HANDOFF_BASE_URL}/api/v1/cases/{held.pk}"
    assert data["transcript"]["messages"] == 2
    # and the bot hears it holds the conversation again, after the return
    kinds = list(Delivery.objects.filter(case=held).order_by("id").values_list("kind", flat=True))
    assert kinds[-2:] == ["case.returned_to_bot", "conversation.holder_changed"]


def test_the_intent_to_resume_is_optional(held, agent):
    actions.case_return_to_bot(case_id=held.pk, agent=agent, note="Done here.")

    delivery = Delivery.objects.get(case=held, kind="case.returned_to_bot")
    assert delivery.payload["data"]["intent"] is None


@pytest.mark.parametrize(
    ("note", "intent", "says"),
    [
        ("   ", "", "Write a note for the bot"),
        ("x" * 2001, "", "at most 2,000 characters"),
        ("Done.", "Not An Intent", "not an intent name"),
    ],
    ids=["blank-note", "long-note", "bad-intent"],
)
def test_a_return_without_a_note_or_with_a_bad_intent_is_refused(held, agent, note, intent, says):
    with pytest.raises(actions.CaseActionError, match=says):
        actions.case_return_to_bot(case_id=held.pk, agent=agent, note=note, resume_intent=intent)

    held.refresh_from_db()
    assert held.status == Case.Status.ASSIGNED and held.held_by == agent
    assert not Delivery.objects.filter(case=held, kind="case.returned_to_bot").exists()


def test_only_the_person_holding_the_conversation_returns_it(held, default_queue, bot):
    colleague = MembershipFactory(queue=default_queue).agent
    supervisor = UserFactory(role="supervisor")
    waiting = CaseFactory(queue=default_queue, integration=bot)

    for who in (colleague, supervisor):
        with pytest.raises(actions.CaseAlreadyClaimed):
            actions.case_return_to_bot(case_id=held.pk, agent=who, note="Mine now")
    with pytest.raises(actions.CaseActionError, match="Claim the case first"):
        actions.case_return_to_bot(case_id=waiting.pk, agent=colleague, note="Back you go")

    assert Case.objects.get(pk=held.pk).status == Case.Status.ASSIGNED
    assert Case.objects.get(pk=waiting.pk).status == Case.Status.WAITING


def test_a_return_from_a_stale_page_is_a_conflict(held, agent):
    with pytest.raises(actions.StaleCase):
        actions.case_return_to_bot(
            case_id=held.pk, agent=agent, note="Done.", expected_version=held.version - 1
        )


def test_a_returned_case_takes_no_more_work(held, agent):
    actions.case_return_to_bot(case_id=held.pk, agent=agent, note="Done.")

    with pytest.raises(actions.CaseActionError, match="returned to the bot"):
        actions.case_reply(case_id=held.pk, agent=agent, text="One more thing")
    with pytest.raises(actions.CaseActionError, match="Only a resolved case"):
        actions.case_reopen(case_id=held.pk, agent=agent)
    with pytest.raises(intake.CaseClosed):
        intake.case_customer_message_add(case_id=held.pk, text="hello?")


def hand_off(bot, **changes):
    return intake.handoff_receive(
        integration=bot, package=HandoffPackage.model_validate(full_package(**changes))
    )


def test_the_conversation_coming_back_within_24_hours_is_a_bounce_back(held, agent, bot):
    actions.case_return_to_bot(case_id=held.pk, agent=agent, note="Done.")

    outcome = hand_off(bot)  # the same conversation, conv-8812

    new = outcome.case
    assert outcome.created and new.pk != held.pk
    assert new.previous_case_id == held.pk and new.is_bounce_back and new.is_repeat_contact
    created = CaseEvent.objects.get(case=new, kind="created")
    assert created.data["bounce_back"] is True and created.data["previous_case_id"] == held.pk


def test_the_same_customer_in_another_conversation_is_a_bounce_back_too(held, agent, bot):
    actions.case_return_to_bot(case_id=held.pk, agent=agent, note="Done.")

    new = hand_off(bot, external_id="conv-other").case  # customer cus_42 again

    assert new.previous_case_id == held.pk and new.is_bounce_back


def test_a_conversation_coming_back_after_24_hours_is_a_repeat_contact_only(held, agent, bot):
    actions.case_return_to_bot(case_id=held.pk, agent=agent, note="Done.")
    Case.objects.filter(pk=held.pk).update(returned_at=timezone.now() - timedelta(hours=25))

    new = hand_off(bot).case

    assert new.previous_case_id == held.pk and new.is_repeat_contact
    assert not new.is_bounce_back


def test_a_resolved_conversation_coming_back_is_no_bounce_back(held, agent, bot):
    actions.case_resolve(
        case_id=held.pk, agent=agent, resolution_code="solved", customer_repeated=False
    )

    new = hand_off(bot).case

    assert new.previous_case_id == held.pk and not new.is_bounce_back
