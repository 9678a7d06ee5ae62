"""Intake called directly (cases/services/intake.py): a package opens a routed case or refreshes
the conversation's open one, the customer is told what happens next, a returning customer is
linked to their last case; later customer messages and CSAT answers join the case."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from cases.models import Case, CaseEvent, CsatResponse, Delivery, Message
from cases.package import HandoffPackage
from cases.services import intake
from queues import services as queue_services
from tests.factories import IntegrationFactory, QueueFactory, UserFactory, full_package

pytestmark = pytest.mark.django_db


def package(**overrides: Any) -> HandoffPackage:
    return HandoffPackage.model_validate(full_package(**overrides))


def kinds(case: Case) -> list[str]:
    return list(CaseEvent.objects.filter(case=case).order_by("pk").values_list("kind", flat=True))


@pytest.fixture
def queues() -> dict[str, Any]:
    return {
        slug: QueueFactory(slug=slug, name=slug.title(), is_default=slug == "general")
        for slug in ("general", "billing")
    }


@pytest.fixture
def bot() -> Any:
    return IntegrationFactory(name="acme-bot", callback_url="https://bot.example.com/hooks")


def test_a_published_rule_routes_the_case_and_every_step_is_on_record(queues, bot):
    # given: a published rule sending billing intents to the billing queue
    admin = UserFactory(role="admin")
    draft = queue_services.rule_set_create_draft(
        rules=[
            {
                "name": "Billing",
                "conditions": {
                    "all": [{"field": "intent.name", "op": "starts_with", "value": "billing"}]
                },
                "queue": "billing",
            }
        ],
        author=admin,
    )
    published = queue_services.rule_set_publish(ruleset=draft, publisher=admin, note="start")

    # when: a billing package arrives
    outcome = intake.handoff_receive(integration=bot, package=package())

    # then: a new case in the billing queue, saying which rule of which version sent it there
    case = Case.objects.get(pk=outcome.case.pk)
    assert outcome.created and outcome.appended_messages == 2
    assert case.queue == queues["billing"] and case.routed_queue == queues["billing"]
    assert case.routing_rule == "Billing" and case.ruleset_version == published.version
    assert case.status == Case.Status.WAITING and case.current_intent == "billing.refund"
    assert list(case.messages.order_by("seq").values_list("role", flat=True)) == [
        Message.Role.CUSTOMER,
        Message.Role.BOT,
    ]
    assert kinds(case) == ["created", "routed", "customer_told"]
    routed = CaseEvent.objects.get(case=case, kind="routed")
    assert routed.data["queue"] == "billing" and routed.data["rule"] == "Billing"
    # and the bot is told, through the outbox, where its customer went
    accepted = Delivery.objects.get(case=case)
    assert accepted.kind == "handoff.accepted"
    assert accepted.payload["data"]["queue"] == "billing"
    assert accepted.payload["data"]["customer_message"] == outcome.customer_message


def test_without_a_matching_rule_the_case_goes_to_the_default_queue(queues, bot):
    # when
    outcome = intake.handoff_receive(
        integration=bot, package=package(intent={"name": "account.login", "confidence": 0.9})
    )

    # then
    assert outcome.case.queue == queues["general"]
    assert outcome.case.routing_rule == ""


def test_the_customer_is_told_their_place_and_wait_and_it_is_on_record(queues, bot):
    # when
    outcome = intake.handoff_receive(integration=bot, package=package())

    # then: the message the bot relays is the one the case's trail keeps
    told = CaseEvent.objects.get(case=outcome.case, kind="customer_told")
    assert outcome.position == 1 and told.data["position"] == 1
    assert told.data["message"] == outcome.customer_message
    assert told.data["wait_seconds"] == outcome.estimate.seconds
    assert "General" in outcome.customer_message


def test_a_second_handoff_of_an_open_conversation_refreshes_its_case(queues, bot):
    # given: an open case for conversation conv-8812
    first = intake.handoff_receive(integration=bot, package=package())
    later = full_package(summary="Still double-charged; customer asked again.")
    later["transcript"].append(
        {"id": "m3", "role": "customer", "text": "Any news?", "at": "2026-11-20T10:05:00Z"}
    )

    # when: the bot hands the same conversation off again, with one new message
    again = intake.handoff_receive(integration=bot, package=HandoffPackage.model_validate(later))

    # then: the same case, the new message once, the package fields refreshed
    case = Case.objects.get(pk=first.case.pk)
    assert not again.created and again.case.pk == case.pk and again.appended_messages == 1
    assert Case.objects.count() == 1 and case.messages.count() == 3
    assert case.summary == "Still double-charged; customer asked again."
    assert case.handoff_count == 2 and case.version > first.case.version
    assert kinds(case).count("customer_told") == 2
    assert Delivery.objects.filter(case=case, kind="handoff.accepted").count() == 1


def test_a_customer_back_after_resolution_gets_a_new_case_linked_to_the_last(queues, bot):
    # given: the conversation's case was resolved
    first = intake.handoff_receive(integration=bot, package=package())
    Case.objects.filter(pk=first.case.pk).update(
        status=Case.Status.RESOLVED, resolved_at=timezone.now()
    )

    # when: the same conversation is handed off again
    again = intake.handoff_receive(integration=bot, package=package())

    # then: a new case, marked as a repeat contact of the first
    assert again.created and again.case.pk != first.case.pk
    case = Case.objects.get(pk=again.case.pk)
    assert case.is_repeat_contact and case.previous_case_id == first.case.pk
    created = CaseEvent.objects.get(case=case, kind="created")
    assert created.data["previous_case_id"] == first.case.pk


def test_a_package_without_context_is_stored_and_says_what_is_missing(queues, bot):
    # given: a bare package (no customer, no intent, no steps the bot tried)
    bare = HandoffPackage.model_validate(
        {
            "external_id": "bare-1",
            "transcript": [
                {"role": "customer", "text": "help", "at": "2026-11-20T10:01:02Z"},
            ],
        }
    )

    # when
    outcome = intake.handoff_receive(integration=bot, package=bare)

    # then
    case = Case.objects.get(pk=outcome.case.pk)
    assert {"customer_identity", "intent", "attempted_steps"} <= set(case.missing_context)
    assert case.queue == queues["general"]
    assert CaseEvent.objects.get(case=case, kind="created").data["missing_context"] == (
        case.missing_context
    )


def test_on_stored_runs_with_the_outcome_before_the_answer(queues, bot):
    seen: list[intake.HandoffOutcome] = []

    outcome = intake.handoff_receive(integration=bot, package=package(), on_stored=seen.append)

    assert seen == [outcome]


# --- after the handoff --------------------------------------------------------------------------


def test_a_customer_message_joins_the_open_case_once(queues, bot):
    # given
    case = intake.handoff_receive(integration=bot, package=package()).case

    # when: the platform sends the same message twice (a retry)
    message, created = intake.case_customer_message_add(
        case_id=case.pk, text="Are you there?", external_id="m9"
    )
    again, created_again = intake.case_customer_message_add(
        case_id=case.pk, text="Are you there?", external_id="m9"
    )

    # then: one message, after the handoff, with one event and one version step
    assert created and not created_again and again.pk == message.pk
    assert message.role == Message.Role.CUSTOMER and message.phase == Message.Phase.AFTER_HANDOFF
    assert message.seq == 3
    assert kinds(case).count("customer_message") == 1
    assert Case.objects.get(pk=case.pk).version == case.version + 1


def test_a_customer_restating_the_problem_after_the_handoff_flags_the_case(queues, bot):
    # given: the customer told the bot about a double charge
    start = full_package()
    start["transcript"][0]["text"] = "I was charged twice for order A-1009 and want one refunded"
    case = intake.handoff_receive(
        integration=bot, package=HandoffPackage.model_validate(start)
    ).case

    # when: they say it again to the desk
    intake.case_customer_message_add(case_id=case.pk, text="Hello? still waiting")
    assert not Case.objects.get(pk=case.pk).repeat_detected
    intake.case_customer_message_add(
        case_id=case.pk, text="Again: I was charged twice for order A-1009, refund one please"
    )

    # then
    assert Case.objects.get(pk=case.pk).repeat_detected
    restated = CaseEvent.objects.filter(case=case, kind="customer_message").last()
    assert restated is not None and restated.data["restates_earlier"] is True


def test_a_resolved_case_refuses_customer_messages(queues, bot):
    # given
    case = intake.handoff_receive(integration=bot, package=package()).case
    Case.objects.filter(pk=case.pk).update(status=Case.Status.RESOLVED)

    # when / then
    with pytest.raises(intake.CaseClosed):
        intake.case_customer_message_add(case_id=case.pk, text="one more thing")
    assert case.messages.count() == 2
    assert "customer_message" not in kinds(case)


def test_csat_is_kept_once_per_case_and_a_second_rating_replaces_the_first(queues, bot):
    # given
    case = intake.handoff_receive(integration=bot, package=package()).case

    # when
    first, created = intake.case_csat_record(case_id=case.pk, score=2, comment="slow")
    second, created_again = intake.case_csat_record(case_id=case.pk, score=5)

    # then: one rating, the latest, and both answers on record
    assert created and not created_again and second.pk == first.pk
    assert CsatResponse.objects.filter(case=case).count() == 1
    stored = CsatResponse.objects.get(case=case)
    assert (stored.score, stored.comment) == (5, "")
    events = CaseEvent.objects.filter(case=case, kind="csat_recorded").order_by("pk")
    assert [e.data for e in events] == [
        {"score": 2, "replaced": False},
        {"score": 5, "replaced": True},
    ]
