"""Supervisors move cases between queues and agents (cases/services/reassignment.py)."""

from __future__ import annotations

import pytest

from cases.models import Case, CaseEvent
from cases.services import agent_work as actions
from cases.services import reassignment
from tests.factories import (
    CaseFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def membership():
    return MembershipFactory(capacity=2)


@pytest.fixture
def agent(membership):
    return membership.agent


@pytest.fixture
def case(membership):
    return CaseFactory(queue=membership.queue)


def test_a_supervisor_reassigns_a_case_to_another_queue_and_its_rule_is_kept(case, agent):
    supervisor = UserFactory(role="supervisor")
    actions.case_claim(case_id=case.pk, agent=agent)
    other = MembershipFactory().queue

    moved = reassignment.case_reassign(
        case_id=case.pk, supervisor=supervisor, queue=other, reason="billing dispute"
    )

    assert moved.queue == other and moved.status == Case.Status.WAITING and moved.assignee is None
    assert moved.routed_queue_id == case.queue_id  # where the rules sent it, for the metric
    event = CaseEvent.objects.get(case=case, kind="reassigned")
    assert event.data["before"]["queue"] == case.queue_id
    assert event.data["after"]["queue"] == other.pk and event.data["reason"] == "billing dispute"


def test_reassign_to_an_agent_needs_a_member_of_the_queue(case, agent, membership):
    supervisor = UserFactory(role="supervisor")
    outsider = MembershipFactory().agent

    with pytest.raises(actions.CaseActionError, match="not in that queue"):
        reassignment.case_reassign(
            case_id=case.pk, supervisor=supervisor, agent=outsider, reason="x"
        )
    moved = reassignment.case_reassign(
        case_id=case.pk, supervisor=supervisor, agent=agent, reason="x"
    )
    assert moved.assignee == agent and moved.status == Case.Status.ASSIGNED


def test_agents_cannot_reassign_and_a_reason_is_required(case, agent):
    with pytest.raises(actions.CaseActionError, match="Only supervisors"):
        reassignment.case_reassign(case_id=case.pk, supervisor=agent, agent=agent, reason="x")
    supervisor = UserFactory(role="supervisor")
    with pytest.raises(actions.CaseActionError, match="why"):
        reassignment.case_reassign(case_id=case.pk, supervisor=supervisor, agent=agent, reason=" ")


def test_a_bulk_reassignment_moves_what_it_can_and_names_each_refusal(membership, agent):
    # given: two waiting cases and one already resolved
    supervisor = UserFactory(role="supervisor")
    target = MembershipFactory().queue
    waiting = [CaseFactory(queue=membership.queue) for _ in range(2)]
    resolved = CaseFactory(
        queue=membership.queue, status=Case.Status.RESOLVED, customer_name="Rui Sá"
    )

    # when
    outcome = reassignment.reassign_many(
        case_ids=[c.pk for c in [*waiting, resolved]],
        supervisor=supervisor,
        queue=target,
        agent=None,
        reason="billing backlog",
    )

    # then: the waiting cases moved, the resolved one is named with its customer and why
    assert outcome.moved == 2 and outcome.summary == "2 cases reassigned"
    assert [(pk, name) for pk, name, _ in outcome.refused] == [(resolved.pk, "Rui Sá")]
    assert set(Case.objects.filter(queue=target).values_list("pk", flat=True)) == {
        c.pk for c in waiting
    }
    assert CaseEvent.objects.filter(kind="reassigned").count() == 2
