"""What the customer is told: the wait estimate from live queue figures (position, agents online
and their free capacity, recent handling times) and the message around it."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from cases.models import Case
from cases.notices import customer_message, format_wait, team_away_message, when_back
from cases.selectors import WaitEstimate, queue_position, wait_estimate
from queues.models import Queue
from tests.factories import (
    CaseFactory,
    MembershipFactory,
    QueueFactory,
    agent_online,
    cases_handled,
)

pytestmark = pytest.mark.django_db

MIN = 60


@pytest.fixture
def queue() -> Queue:
    return QueueFactory(slug="billing", name="Billing", sla_seconds=10 * MIN)


def test_live_estimate_is_cases_beyond_free_slots_times_handling_time_over_slots(queue):
    # given two agents online with 2 slots each (4), holding 2 and 1 (1 slot free),
    # and recent cases that took 10, 20 and 30 minutes (median 20 minutes)
    agent_online(queue, holding=2)
    agent_online(queue, holding=1)
    cases_handled(queue, 10, 20, 30)

    # when the fifth case in line asks
    estimate = wait_estimate(queue, 5)

    # then (5 - 1 free) x 20 min / 4 slots = 20 minutes, said with its basis
    assert estimate == WaitEstimate(20 * MIN, "live", agents_online=2, handling_seconds=20 * MIN)
    assert format_wait(estimate) == (
        "about 20 minutes, going by the 2 people on the team right now and how long recent "
        "conversations took"
    )


def test_more_agents_online_shorten_the_wait(queue):
    cases_handled(queue, 12, 12, 12)
    agent_online(queue, capacity=1, holding=1)
    alone = wait_estimate(queue, 3)
    agent_online(queue, capacity=1, holding=1)
    agent_online(queue, capacity=1, holding=1)
    together = wait_estimate(queue, 3)

    assert alone.seconds == 3 * 12 * MIN  # 3 ahead x 12 min / 1 slot
    assert together.seconds == 12 * MIN  # 3 x 12 min / 3 slots
    assert format_wait(together).startswith("about 12 minutes, going by the 3 people")


def test_an_agent_with_room_means_about_a_minute(queue):
    agent_online(queue, capacity=3, holding=1)  # 2 free slots
    cases_handled(queue, 30, 30, 30)

    assert wait_estimate(queue, 2) == WaitEstimate(MIN, "agent_free", agents_online=1)
    assert format_wait(wait_estimate(queue, 2)) == (
        "about a minute: someone on the team is free to take it now"
    )
    assert wait_estimate(queue, 3).basis == "live"  # one more than the free slots


def test_no_agents_online_is_said_plainly_with_history_or_without(queue):
    cases_handled(queue, 5, 5, 5)
    MembershipFactory(queue=queue)  # a member, but with no page open

    estimate = wait_estimate(queue, 1)

    assert estimate == WaitEstimate(10 * MIN, "no_agents_online")
    assert format_wait(estimate) == "hard to say: no one from the team is online right now"


def test_busy_agents_and_no_history_say_a_few_minutes(queue):
    agent_online(queue, capacity=1, holding=1)
    cases_handled(queue, 10, 10)  # two are not history enough

    estimate = wait_estimate(queue, 2)

    assert estimate == WaitEstimate(10 * MIN, "sla_target", agents_online=1)
    assert format_wait(estimate) == "a few minutes"
    long_sla = WaitEstimate(40 * MIN, "sla_target")
    assert format_wait(long_sla) == "up to about 40 minutes"


def test_the_message_names_the_queue_the_reason_the_place_and_the_wait(queue):
    agent_online(queue, capacity=1, holding=1)
    cases_handled(queue, 6, 6, 6)
    CaseFactory(queue=queue)  # one case ahead
    case = CaseFactory(
        queue=queue,
        customer_name="Ana Ruiz",
        trigger_reason=Case.Trigger.REPEATED_FAILURE,
        current_intent="billing.refund",
        facts={},
    )
    position = queue_position(case)

    message = customer_message(case, position, wait_estimate(queue, position))

    assert message == (
        "Thanks for your patience, Ana. I'm handing this conversation to our Billing team "
        "because I couldn't sort this out for you myself. You are number 2 in line and the "
        "expected wait is about 12 minutes, going by the 1 person on the team right now and how "
        "long recent conversations took. To speed things up, please have your order number "
        "ready. You won't need to repeat anything: they can see this whole conversation."
    )


def test_facts_already_given_are_not_asked_for(queue):
    case = CaseFactory(queue=queue, current_intent="billing.refund", facts={"order_id": "A-1"})
    message = customer_message(case, 1, WaitEstimate(10 * MIN, "sla_target"))
    assert "order number" not in message

    case.missing_context = ["customer_identity"]
    message = customer_message(case, 1, WaitEstimate(10 * MIN, "sla_target"))
    assert "please have the email address on your account ready" in message


def test_a_queues_own_template_is_used_and_a_broken_one_falls_back(queue):
    queue.customer_message_template = "{queue_name}: wait {eta_text}, place {position}."
    case = CaseFactory(queue=queue)
    assert customer_message(case, 4, WaitEstimate(10 * MIN, "sla_target")) == (
        "Billing: wait a few minutes, place 4."
    )

    queue.customer_message_template = "Hello {customer.__class__} {position"
    fallback = customer_message(case, 4, WaitEstimate(10 * MIN, "sla_target"))
    assert fallback == ("I'm handing you to our Billing team. The expected wait is a few minutes.")


# --- the team is away (issue 16) ---------------------------------------------------------------


def test_the_team_back_in_words_in_the_queues_time_zone():

    tokyo = ZoneInfo("Asia/Tokyo")
    # Friday 23:30 UTC is Saturday 08:30 in Tokyo: the team is back "today" there at 09:00
    now = datetime(2026, 12, 4, 23, 30, tzinfo=UTC)
    assert when_back(datetime(2026, 12, 5, 0, 0, tzinfo=UTC), now, tokyo) == "today at 09:00"
    assert when_back(datetime(2026, 12, 6, 0, 0, tzinfo=UTC), now, tokyo) == "tomorrow at 09:00"
    assert (
        when_back(datetime(2026, 12, 7, 0, 0, tzinfo=UTC), now, tokyo)
        == "on Monday 7 December at 09:00"
    )


def test_the_away_message_says_when_the_team_is_back_and_offers_email():

    queue = QueueFactory(slug="support", name="Support", time_zone="America/New_York")
    case = CaseFactory.build(
        queue=queue, customer_name="Ana Ruiz", customer_email="ana@example.com"
    )
    now = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)  # Saturday 15:00 in New York
    message = team_away_message(case, back_at=datetime(2026, 12, 7, 14, 0, tzinfo=UTC), now=now)

    assert message == (
        "Thanks for your patience, Ana. Our Support team is away right now and back on Monday "
        "7 December at 09:00 (America/New_York time). Your conversation stays in their queue "
        "and they will pick it up then. You won't need to repeat anything: they can see this "
        "whole conversation. If you would rather not wait, we can continue by email at "
        "ana@example.com: just say so."
    )


def test_with_nobody_online_and_no_email_the_customer_is_asked_for_one():

    case = CaseFactory.build(queue=QueueFactory(slug="night", name="Night"), customer_name="")
    message = team_away_message(case, back_at=None, now=datetime(2026, 12, 5, tzinfo=UTC))

    assert message.startswith("Thanks for your patience. No one from our Night team is available")
    assert "the first person back will pick it up" in message
    assert message.endswith("leave your email address and we will continue by email.")
