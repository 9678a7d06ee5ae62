"""No one available (cases/services/availability.py, through intake): outside business hours or
with nobody online, the customer is told when the team is back and offered email, the bot hears
``handoff.failed`` once through the outbox, supervisors are alerted live, and the case waits in
the queue with an SLA that counts business time only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers

from cases.models import Case, CaseEvent, Delivery
from cases.package import HandoffPackage
from cases.selectors import customer_promise
from cases.services import intake
from cases.services.availability import cases_unstaffed_mark
from tests.factories import (
    CaseFactory,
    IntegrationFactory,
    QueueFactory,
    UserFactory,
    agent_online,
    full_package,
)
from tests.sockets import communicator, frame

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS_9_TO_5 = [{"day": day, "opens": "09:00", "closes": "17:00"} for day in range(5)]
SATURDAY = datetime(2026, 12, 5, 14, 0, tzinfo=BERLIN)
MONDAY_MORNING = datetime(2026, 12, 7, 10, 0, tzinfo=BERLIN)


def package(**overrides: Any) -> HandoffPackage:
    return HandoffPackage.model_validate(full_package(**overrides))


def at(moment: datetime) -> Any:
    return mock.patch("django.utils.timezone.now", return_value=moment)


@pytest.fixture
def office() -> Any:
    return QueueFactory(
        slug="general",
        name="Billing",
        is_default=True,
        sla_seconds=900,
        time_zone="Europe/Berlin",
        business_hours=WEEKDAYS_9_TO_5,
        holidays=["2026-12-25"],
    )


@pytest.fixture
def bot() -> Any:
    return IntegrationFactory(name="acme-bot", callback_url="https://bot.example.com/hooks")


@pytest.mark.django_db
def test_a_handoff_on_a_weekend_is_told_when_the_team_is_back_and_waits_for_monday(office, bot):
    # when: a handoff arrives on Saturday afternoon
    with at(SATURDAY):
        outcome = intake.handoff_receive(integration=bot, package=package())

    # then: the case waits in the queue, told the team is away until Monday 09:00 Berlin time
    case = Case.objects.get(pk=outcome.case.pk)
    assert case.status == Case.Status.WAITING and case.queue == office
    assert case.unavailable_reason == "closed"
    assert case.team_back_at == datetime(2026, 12, 7, 9, 0, tzinfo=BERLIN)
    assert outcome.away is not None and outcome.estimate.basis == "team_closed"
    message = outcome.customer_message
    assert "Our Billing team is away right now and back on Monday 7 December at 09:00" in message
    assert "(Europe/Berlin time)" in message
    assert "we can continue by email at ana@example.com" in message
    # its SLA counts business time only: 15 minutes from Monday's opening
    assert case.sla_due_at == datetime(2026, 12, 7, 9, 15, tzinfo=BERLIN)
    # the bot hears handoff.failed with the message (and never handoff.accepted)
    (failed,) = Delivery.objects.filter(case=case)
    assert failed.kind == "handoff.failed"
    data = failed.payload["data"]
    assert data["reason"] == "closed" and data["customer_message"] == message
    assert data["team_back_at"] == "2026-12-07T08:00:00+00:00"
    # the agent sees what the customer was told
    promise = customer_promise(case)
    assert promise is not None and promise.away == "closed" and promise.message == message
    assert "team_away" in CaseEvent.objects.filter(case=case).values_list("kind", flat=True)


@pytest.mark.django_db
def test_inside_hours_with_an_agent_online_the_handoff_is_accepted_as_before(office, bot):
    agent_online(office)
    with at(MONDAY_MORNING):
        outcome = intake.handoff_receive(integration=bot, package=package())

    case = Case.objects.get(pk=outcome.case.pk)
    assert case.unavailable_reason == "" and outcome.away is None
    assert case.sla_due_at == MONDAY_MORNING + timedelta(minutes=15)
    assert Delivery.objects.get(case=case).kind == "handoff.accepted"
    assert "away" not in outcome.customer_message


@pytest.mark.django_db
def test_a_second_handoff_of_the_conversation_while_closed_is_not_reported_twice(office, bot):
    with at(SATURDAY):
        first = intake.handoff_receive(integration=bot, package=package())
    with at(SATURDAY + timedelta(hours=1)):
        again = intake.handoff_receive(integration=bot, package=package())

    assert again.case.pk == first.case.pk and not again.created
    assert again.away is not None and "back on Monday" in again.customer_message
    assert Delivery.objects.filter(case=first.case, kind="handoff.failed").count() == 1


@pytest.mark.django_db
def test_a_case_whose_team_closed_while_it_waited_is_told_on_its_next_handoff(office, bot):
    # given: a case handed off on Friday at 16:55, accepted
    friday = datetime(2026, 12, 4, 16, 55, tzinfo=BERLIN)
    agent_online(office)
    with at(friday):
        first = intake.handoff_receive(integration=bot, package=package())
    assert first.away is None

    # when: the bot hands the same conversation off again after closing
    with at(friday + timedelta(minutes=30)):
        again = intake.handoff_receive(integration=bot, package=package())

    # then: told now, once
    assert again.away is not None and again.away.reason == "closed"
    kinds = list(Delivery.objects.filter(case=first.case).values_list("kind", flat=True))
    assert kinds == ["handoff.accepted", "handoff.failed"]


@pytest.mark.django_db
def test_a_customer_without_an_email_is_asked_for_one(office, bot):
    anonymous = full_package()
    anonymous["customer"].pop("email")
    with at(SATURDAY):
        outcome = intake.handoff_receive(
            integration=bot, package=HandoffPackage.model_validate(anonymous)
        )
    assert "leave your email address and we will continue by email" in outcome.customer_message


# --- nobody online for the queue's minutes -------------------------------------------------------


@pytest.fixture
def unstaffed(bot: Any) -> Any:
    """A queue open around the clock whose customers are told after 10 minutes alone."""
    queue = QueueFactory(slug="night", name="Night desk", unstaffed_after_minutes=10)
    return queue


NOW = datetime(2026, 12, 2, 12, 0, tzinfo=BERLIN)


@pytest.mark.django_db
def test_a_case_that_waited_the_minutes_with_nobody_online_is_told_once(unstaffed, bot):
    # given: a case waiting 11 minutes, one waiting 5, in a queue with nobody online
    late = CaseFactory(queue=unstaffed, integration=bot, handed_off_at=NOW - timedelta(minutes=11))
    fresh = CaseFactory(queue=unstaffed, integration=bot, handed_off_at=NOW - timedelta(minutes=5))

    # when: the sweep runs, twice
    with at(NOW):
        assert cases_unstaffed_mark() == 1
        assert cases_unstaffed_mark() == 0

    # then: the late one's customer is told, its bot hears handoff.failed once, it stays waiting
    late.refresh_from_db()
    assert late.unavailable_reason == "unstaffed" and late.status == Case.Status.WAITING
    assert late.team_back_at is None
    (failed,) = Delivery.objects.filter(case=late)
    assert failed.kind == "handoff.failed" and failed.payload["data"]["reason"] == "unstaffed"
    assert (
        "No one from our Night desk team is available right now"
        in (failed.payload["data"]["customer_message"])
    )
    assert not Delivery.objects.filter(case=fresh).exists()
    event = CaseEvent.objects.get(case=late, kind="team_away")
    assert event.case_version == late.version


@pytest.mark.django_db
def test_an_agent_online_keeps_the_queue_staffed(unstaffed, bot):
    agent_online(unstaffed)
    CaseFactory(queue=unstaffed, integration=bot, handed_off_at=NOW - timedelta(hours=1))
    with at(NOW):
        assert cases_unstaffed_mark() == 0


@pytest.mark.django_db
def test_a_queue_without_the_setting_never_tells(bot):
    queue = QueueFactory(slug="plain")
    CaseFactory(queue=queue, integration=bot, handed_off_at=NOW - timedelta(hours=5))
    with at(NOW):
        assert cases_unstaffed_mark() == 0


@pytest.mark.django_db
def test_claimed_cases_are_left_alone(unstaffed, bot):
    CaseFactory(
        queue=unstaffed,
        integration=bot,
        status=Case.Status.ASSIGNED,
        handed_off_at=NOW - timedelta(hours=1),
    )
    with at(NOW):
        assert cases_unstaffed_mark() == 0


@pytest.mark.django_db
def test_nobody_online_after_closing_says_when_the_team_is_back(office, bot):
    office.unstaffed_after_minutes = 10
    office.save()
    friday_evening = datetime(2026, 12, 4, 17, 30, tzinfo=BERLIN)
    case = CaseFactory(
        queue=office, integration=bot, handed_off_at=friday_evening - timedelta(minutes=40)
    )
    with at(friday_evening):
        assert cases_unstaffed_mark() == 1
    case.refresh_from_db()
    assert case.unavailable_reason == "closed"
    assert case.team_back_at == datetime(2026, 12, 7, 9, 0, tzinfo=BERLIN)


# --- supervisors hear it live ---------------------------------------------------------------------


@pytest.fixture
def fresh_layer() -> Any:
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.mark.django_db(transaction=True)
async def test_supervisors_are_alerted_live_when_a_customer_is_told(fresh_layer):
    # given: a supervisor's open page, and a case alone in its queue for too long
    supervisor = await sync_to_async(UserFactory)(role="supervisor")
    queue = await sync_to_async(QueueFactory)(slug="night", unstaffed_after_minutes=10)
    case = await sync_to_async(CaseFactory)(
        queue=queue, handed_off_at=datetime.now(BERLIN) - timedelta(minutes=30)
    )
    comm = communicator(supervisor)
    connected, _ = await comm.connect()
    assert connected
    assert (await frame(comm, 5))["type"] == "hello"

    # when: the sweep tells the customer
    assert await sync_to_async(cases_unstaffed_mark)() == 1

    # then: the page gets the alert naming the case
    while (received := await frame(comm, 5))["type"] != "alert":
        pass
    assert received["kind"] == "case.team_away" and received["case_id"] == case.pk
    await comm.disconnect()
