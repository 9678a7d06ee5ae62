"""An intent correction names an intent of the desk's vocabulary, never a typo."""

from __future__ import annotations

import pytest

from cases.models import Case, Intent
from cases.services import agent_work
from tests.factories import CaseFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def held_case() -> Case:
    membership = MembershipFactory()
    case = CaseFactory(queue=membership.queue, detected_intent="billing.refund")
    return agent_work.case_claim(case_id=case.pk, agent=membership.agent)


@pytest.mark.parametrize("name", ["Refund please", "billing..refund", "BILLING.REFUND", "a b"])
def test_a_name_that_is_no_intent_name_is_refused(held_case: Case, name: str) -> None:
    with pytest.raises(agent_work.CaseActionError, match="is not an intent name"):
        agent_work.case_intent_correct(
            case_id=held_case.pk, agent=held_case.assignee, to_intent=name
        )


def test_with_a_catalogue_only_its_intents_and_those_bots_detected_are_taken(
    held_case: Case,
) -> None:
    # given a desk that keeps a catalogue, and a bot that detected orders.status somewhere
    Intent.objects.create(name="billing.double_charge", label="Double charge")
    CaseFactory(detected_intent="orders.status")
    agent = held_case.assignee

    # when the agent names something in neither
    with pytest.raises(agent_work.CaseActionError, match="not an intent the desk knows"):
        agent_work.case_intent_correct(case_id=held_case.pk, agent=agent, to_intent="billing.x")

    # then a catalogue intent and a detected one are both taken
    agent_work.case_intent_correct(
        case_id=held_case.pk, agent=agent, to_intent="billing.double_charge"
    )
    agent_work.case_intent_correct(case_id=held_case.pk, agent=agent, to_intent="orders.status")
    assert Case.objects.get(pk=held_case.pk).current_intent == "orders.status"
