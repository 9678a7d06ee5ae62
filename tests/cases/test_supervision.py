"""The console's read model (cases/supervision.py): each queue's agents with their load and
presence, its open cases, and where a supervisor may send them."""

from __future__ import annotations

import pytest

from cases import presence
from cases.models import AgentStatus, Case
from cases.services import assignment
from cases.supervision import console_rows, open_cases_of, reassign_choices
from tests.factories import CaseFactory, MembershipFactory, QueueFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_each_queue_row_counts_its_agents_load_and_who_is_online(django_assert_max_num_queries):
    # given: a queue with two agents, one online holding 2 of 2, and a second queue
    billing = QueueFactory(slug="billing", name="Billing")
    busy = MembershipFactory(queue=billing, capacity=2, agent__first_name="Ana")
    idle = MembershipFactory(queue=billing, capacity=3, agent__first_name="Ben")
    for _ in range(2):
        CaseFactory(queue=billing, status=Case.Status.ASSIGNED, assignee=busy.agent)
    CaseFactory(queue=billing)
    presence.presence_join(channel_name="c1", user=busy.agent, case_id=None)
    presence.agent_page_seen(user_id=busy.agent.pk)  # what the page's socket does
    other = QueueFactory(slug="technical", name="Technical")

    # when
    with django_assert_max_num_queries(5):
        rows = {row.queue.slug: row for row in console_rows([billing, other])}

    # then
    row = rows["billing"]
    ana, ben = row.agents
    assert (ana.membership, ana.open_cases, ana.online, ana.full, ana.percent) == (
        busy,
        2,
        True,
        True,
        100,
    )
    assert (ben.membership, ben.open_cases, ben.online, ben.full, ben.percent) == (
        idle,
        0,
        False,
        False,
        0,
    )
    assert row.online == 1 and row.capacity == 2
    assert rows["technical"].agents == [] and rows["technical"].online == 0


def test_an_agents_state_and_load_across_queues_show_beside_each_queue():
    # given: Ana away with a page open, one case here and one elsewhere, capped at 2 overall
    billing, tech = QueueFactory(slug="billing"), QueueFactory(slug="technical")
    ana = MembershipFactory(queue=billing, capacity=5).agent
    MembershipFactory(queue=tech, agent=ana)
    for queue in (billing, tech):
        CaseFactory(queue=queue, status=Case.Status.ASSIGNED, assignee=ana)
    presence.agent_page_seen(user_id=ana.pk)
    assignment.agent_state_choose(user=ana, state="away")
    AgentStatus.objects.filter(user=ana).update(max_open=2)

    # when
    (row,) = console_rows([billing])

    # then
    (load,) = row.agents
    assert (load.state, load.online, load.present) == ("away", False, True)
    assert (load.open_cases, load.open_overall, load.max_open, load.full) == (1, 2, 2, True)
    assert row.online == 0


def test_the_open_cases_come_by_status_the_most_urgent_first():
    queue = QueueFactory()
    agent = MembershipFactory(queue=queue).agent
    normal = CaseFactory(queue=queue, priority=Case.Priority.NORMAL)
    urgent = CaseFactory(queue=queue, priority=Case.Priority.URGENT)
    held = CaseFactory(queue=queue, status=Case.Status.ASSIGNED, assignee=agent)
    CaseFactory(queue=queue, status=Case.Status.RESOLVED)
    CaseFactory(queue=QueueFactory())

    listed = list(open_cases_of(queue))

    assert set(listed) == {normal, urgent, held}
    waiting = [c for c in listed if c.status == Case.Status.WAITING]
    assert waiting == [urgent, normal]


def test_reassign_choices_are_the_other_active_queues_and_every_agent_with_their_queues():
    # given
    billing = QueueFactory(slug="billing", name="Billing")
    tech = QueueFactory(slug="technical", name="Technical")
    QueueFactory(slug="closed", name="Closed", is_active=False)
    ana = UserFactory(first_name="Ana")
    MembershipFactory(queue=billing, agent=ana)
    MembershipFactory(queue=tech, agent=ana)

    # when
    choices = reassign_choices(billing)

    # then
    assert choices.queues == [tech]
    assert choices.agents == [(ana, "Billing, Technical", f"{billing.pk},{tech.pk}")]
