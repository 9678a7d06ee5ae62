"""A queue's business hours page (admins): the form per weekday, holidays and the minutes with
nobody online; mistakes come back on the page; the queue and console pages show a closed queue
and the cases told the team is away."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from queues.models import Queue
from tests.factories import CaseFactory, MembershipFactory, QueueFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/console/billing/hours/"


@pytest.fixture
def billing() -> Queue:
    return QueueFactory(slug="billing", name="Billing")


def hours_post(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "time_zone": "Europe/Madrid",
        "holidays": "2026-12-25\n\n2027-01-01\n2026-12-25",
        "unstaffed_after_minutes": "15",
    }
    for day in range(5):
        data[f"opens_{day}"], data[f"closes_{day}"] = "09:00", "18:00"
    data["opens_5"], data["closes_5"] = "22:00", "06:00"
    data.update(changes)
    return data


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_only_admins_set_business_hours(client, billing, role):
    client.force_login(UserFactory(role=role))

    assert client.get(URL).status_code == 403
    assert client.post(URL, hours_post()).status_code == 403
    assert Queue.objects.get(pk=billing.pk).business_hours == []


def test_an_admin_sets_hours_holidays_and_the_minutes_alone(client, billing):
    client.force_login(UserFactory(role="admin"))
    assert "Business hours of Billing" in client.get(URL).content.decode()

    response = client.post(URL, hours_post())

    assert response.status_code == 302 and response["Location"] == "/console/billing/"
    queue = Queue.objects.get(pk=billing.pk)
    assert queue.time_zone == "Europe/Madrid"
    assert queue.business_hours[0] == {"day": 0, "opens": "09:00", "closes": "18:00"}
    assert queue.business_hours[-1] == {"day": 5, "opens": "22:00", "closes": "06:00"}
    assert len(queue.business_hours) == 6
    assert queue.holidays == ["2026-12-25", "2027-01-01"]
    assert queue.unstaffed_after_minutes == 15
    # and the form shows them again
    page = client.get(URL).content.decode()
    assert 'value="22:00"' in page and "2027-01-01" in page


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"holidays": "25/12/2026"}, "is not a date as YYYY-MM-DD"),
        ({"closes_2": ""}, "Wednesday needs both an opening and a closing time"),
        ({"opens_1": "9 o'clock"}, "Enter a valid time"),
        ({"time_zone": "Mars/Olympus"}, "Select a valid choice"),
        ({"unstaffed_after_minutes": "0"}, "greater than or equal to 1"),
    ],
)
def test_a_mistake_comes_back_on_the_page_and_nothing_is_saved(client, billing, changes, says):
    client.force_login(UserFactory(role="admin"))

    response = client.post(URL, hours_post(**changes))

    assert response.status_code == 400
    assert says in response.content.decode()
    assert Queue.objects.get(pk=billing.pk).business_hours == []


def closed_now(queue: Queue) -> None:
    """Open 09:00-17:00 every day but on holiday this whole week: closed whenever tests run."""
    today = timezone.now().date()
    queue.business_hours = [{"day": d, "opens": "09:00", "closes": "17:00"} for d in range(7)]
    queue.holidays = [(today + timedelta(days=n)).isoformat() for n in range(-1, 8)]
    queue.save()


def test_the_queue_and_console_pages_show_a_closed_queue_and_its_away_cases(client, billing):
    closed_now(billing)
    away = CaseFactory(queue=billing, unavailable_reason="closed", customer_name="Ana Ruiz")
    agent = MembershipFactory(queue=billing).agent

    client.force_login(agent)
    page = client.get("/queues/billing/").content.decode()
    assert "Closed now" in page and "(UTC time)" in page
    assert "after hours" in page and f"case-row-{away.pk}" in page

    client.force_login(UserFactory(role="supervisor"))
    console = client.get("/console/").content.decode()
    assert 'class="badge away"' in console
    queue_page = client.get("/console/billing/").content.decode()
    assert "Closed now" in queue_page and "after hours" in queue_page
    assert "Business hours…" not in queue_page  # an admin's link
