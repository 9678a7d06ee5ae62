"""Who may see what (cases/permissions.py): agents their own queues' cases, supervisors and
admins every queue; signed-out visitors nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from cases import permissions
from tests.factories import CaseFactory, MembershipFactory, QueueFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_an_agent_sees_only_the_queues_and_cases_they_are_a_member_of():
    # given: an agent of one queue, and a case in another
    membership = MembershipFactory()
    own = CaseFactory(queue=membership.queue)
    other = CaseFactory(queue=QueueFactory())
    agent = membership.agent

    # then
    assert not permissions.sees_all_queues(agent)
    assert list(permissions.visible_queues(agent)) == [membership.queue]
    assert permissions.visible_queue_ids(agent) == {membership.queue_id}
    assert list(permissions.visible_cases(agent)) == [own]
    assert permissions.may_work_queue(agent, membership.queue_id)
    assert not permissions.may_work_queue(agent, other.queue_id)


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_supervisors_and_admins_see_every_queue_and_case(role):
    # given: cases in two queues, neither of which the user is a member of
    cases = [CaseFactory(queue=QueueFactory()) for _ in range(2)]
    user = UserFactory(role=role)

    # then
    assert permissions.sees_all_queues(user)
    assert set(permissions.visible_cases(user)) == set(cases)
    assert {c.queue_id for c in cases} <= permissions.visible_queue_ids(user)
    assert all(permissions.may_work_queue(user, c.queue_id) for c in cases)


def test_an_inactive_queue_is_not_listed_even_for_its_members():
    membership = MembershipFactory(queue=QueueFactory(is_active=False))

    assert list(permissions.visible_queues(membership.agent)) == []
    assert list(permissions.visible_queues(UserFactory(role="supervisor"))) == []


def test_a_signed_out_visitor_sees_nothing_of_everything():
    assert not permissions.sees_all_queues(AnonymousUser())
