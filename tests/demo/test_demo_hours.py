"""The demo keeps one queue on office hours, closed when it is seeded, so a handoff there shows
the after-hours message; the other queues work around the clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from cases.models import Integration
from cases.package import HandoffPackage
from cases.services import intake
from demo.management.commands.seed_demo import OFFICE_ZONES, closed_zone, hours_until_open
from queues.hours import is_open
from queues.models import Queue

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("hour", range(0, 24, 1))
def test_some_zone_is_closed_for_hours_at_any_time(hour):
    for day in (1, 5, 7):  # a Tuesday (2026-12-01), a Saturday and a Monday
        now = datetime(2026, 12, day, hour, 30, tzinfo=UTC)
        zone = closed_zone(now)
        assert zone in OFFICE_ZONES
        assert hours_until_open(now, zone) >= 4


def test_the_seeded_office_hours_queue_is_closed_and_its_handoff_is_told_so(capsys):
    call_command("seed_demo", "--no-history")
    capsys.readouterr()

    office = Queue.objects.get(slug="account_access")
    assert len(office.business_hours) == 5 and office.time_zone in OFFICE_ZONES
    assert [q.slug for q in Queue.objects.exclude(business_hours=[])] == ["account_access"]
    assert not is_open(office.schedule, timezone.now())

    outcome = intake.handoff_receive(
        integration=Integration.objects.get(),
        package=HandoffPackage.model_validate(
            {
                "external_id": "demo-locked-out",
                "intent": {"name": "account.password_reset", "confidence": 0.9},
                "transcript": [{"role": "customer", "text": "I am locked out of my account"}],
            }
        ),
    )
    assert outcome.case.queue.slug == "account_access"
    assert outcome.away is not None and outcome.away.reason == "closed"
    assert "away right now" in outcome.customer_message


def test_a_reseed_keeps_an_admins_hours(capsys):
    call_command("seed_demo", "--no-history")
    office = Queue.objects.get(slug="account_access")
    office.business_hours = [{"day": 6, "opens": "10:00", "closes": "12:00"}]
    office.save(update_fields=["business_hours"])

    call_command("seed_demo", "--no-history")

    office.refresh_from_db()
    assert office.business_hours == [{"day": 6, "opens": "10:00", "closes": "12:00"}]
