"""Take next from a queue page: that queue first, and a word when the case comes from another."""

from __future__ import annotations

import pytest
from django.test import Client

from cases.models import Case
from tests.factories import CaseFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def test_take_next_on_a_queue_page_takes_from_that_queue_before_a_more_urgent_other() -> None:
    # given an agent in billing and technical, the more urgent case in technical
    billing = MembershipFactory(capacity=5)
    agent = billing.agent
    technical = MembershipFactory(agent=agent, capacity=5).queue
    mine = CaseFactory(queue=billing.queue, priority=Case.Priority.NORMAL)
    CaseFactory(queue=technical, priority=Case.Priority.URGENT)
    client = Client()
    client.force_login(agent)

    # when they take next on the billing page
    response = client.post(
        "/take-next/", {"queue": billing.queue.pk, "next": f"/queues/{billing.queue.slug}/"}
    )

    # then they get billing's case, and no word about another queue
    assert response.status_code == 302 and response["Location"] == f"/cases/{mine.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert "has no case you can take" not in page


def test_take_next_from_an_empty_queue_page_says_where_the_case_came_from() -> None:
    # given billing empty and a case waiting in technical
    billing = MembershipFactory(capacity=5)
    technical = MembershipFactory(agent=billing.agent, capacity=5).queue
    other = CaseFactory(queue=technical)
    client = Client()
    client.force_login(billing.agent)

    # when they take next on the billing page
    response = client.post("/take-next/", {"queue": billing.queue.pk})

    # then they get technical's case, and the case page says so
    assert response["Location"] == f"/cases/{other.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert f"{billing.queue.name} has no case you can take now" in page
    assert f"this one is from {technical.name}" in page


@pytest.mark.parametrize("queue", ["x", "-1", "9" * 30, "\x00"])
def test_a_garbled_queue_is_ignored_not_a_500(queue: str) -> None:
    membership = MembershipFactory()
    CaseFactory(queue=membership.queue)
    client = Client()
    client.force_login(membership.agent)

    response = client.post("/take-next/", {"queue": queue, "next": "/"})

    assert response.status_code == 302
