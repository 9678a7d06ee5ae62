"""Push assignment's figures (cases/metrics/assignment.py): time to first offer and to
acceptance, declines and time-outs, and the load balance per agent; on the page and as CSV."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cases.metrics.assignment import offers_by_agent, offers_by_queue
from cases.metrics.figures import Filters
from cases.models import Offer
from tests.factories import CaseFactory, MembershipFactory, QueueFactory, UserFactory

pytestmark = pytest.mark.django_db


def offer(case, agent, state, *, after: int, answered: int | None = None) -> Offer:
    at = case.handed_off_at + timedelta(seconds=after)
    return Offer.objects.create(
        case=case,
        agent=agent,
        queue=case.queue,
        state=state,
        offered_at=at,
        expires_at=at + timedelta(seconds=30),
        answered_at=case.handed_off_at + timedelta(seconds=answered) if answered else None,
    )


@pytest.fixture
def offered():
    queue = QueueFactory(slug="billing", name="Billing", assignment_mode="push")
    ana = MembershipFactory(queue=queue, capacity=3, agent__first_name="Ana").agent
    ben = MembershipFactory(queue=queue, capacity=1, agent__first_name="Ben").agent
    first, second = CaseFactory(queue=queue), CaseFactory(queue=queue)
    offer(first, ben, "declined", after=2, answered=5)
    offer(first, ana, "accepted", after=6, answered=10)
    offer(second, ben, "timed_out", after=4, answered=34)
    offer(second, ana, "accepted", after=35, answered=40)
    today = timezone.localdate()
    return Filters(today - timedelta(days=1), today)


def test_times_to_first_offer_and_to_acceptance_and_how_offers_ended(offered):
    (row,) = offers_by_queue(offered)

    assert row["cases_offered"] == 2
    assert row["median_s_to_first_offer"] == 3.0  # 2 s and 4 s
    assert row["median_s_to_acceptance"] == 25.0  # 10 s and 40 s
    assert (row["offers"], row["accepted"], row["declined"], row["timed_out"]) == (4, 2, 1, 1)


def test_load_balance_is_share_of_cases_over_share_of_capacity(offered):
    ana, ben = offers_by_agent(offered)

    assert (ana["agent"], ana["accepted"], ana["share_of_cases"]) == ("Ana", 2, 1.0)
    assert ana["share_of_capacity"] == 0.75 and ana["balance"] == 1.33
    assert (ben["declined"], ben["timed_out"], ben["balance"]) == (1, 1, 0.0)


def test_the_metrics_page_and_csv_show_them(client, offered):
    client.force_login(UserFactory(role="supervisor"))

    page = client.get("/metrics/").content.decode()
    csv = b"".join(client.get("/metrics/offers-agents.csv").streaming_content).decode()

    assert "Push assignment by queue" in page and "1.33" in page
    assert csv.splitlines()[0].startswith("queue,agent,offers,accepted")
    assert "Ana" in csv
