"""The supervisor console: figures, agents' load, bulk reassignment, moving agents."""

from __future__ import annotations

import pytest

from cases import actions
from cases.models import Case, CaseEvent
from queues.models import Membership
from tests.factories import CaseFactory, MembershipFactory, QueueFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk():
    billing = QueueFactory(slug="billing", name="Billing")
    vip = QueueFactory(slug="vip", name="VIP")
    ana = MembershipFactory(queue=billing, capacity=2, agent__first_name="Ana").agent
    cases = [CaseFactory(queue=billing) for _ in range(3)]
    actions.case_claim(case_id=cases[0].pk, agent=ana)
    return {
        "billing": billing,
        "vip": vip,
        "ana": ana,
        "cases": cases,
        "supervisor": UserFactory(role="supervisor"),
    }


@pytest.mark.parametrize("role", ["agent"])
def test_agents_cannot_open_the_console(client, desk, role):
    client.force_login(desk["ana"])

    assert client.get("/console/").status_code == 403
    assert client.get("/console/billing/").status_code == 403
    assert (
        client.post("/console/billing/reassign/", {"case": desk["cases"][1].pk}).status_code == 403
    )


def test_the_console_shows_each_queue_and_each_agents_load(
    client, desk, django_assert_max_num_queries
):
    client.force_login(desk["supervisor"])

    with django_assert_max_num_queries(12):
        page = client.get("/console/").content.decode()

    assert "Billing" in page and "VIP" in page
    assert "Ana" in page and "1/2" in page  # one open case of a capacity of two
    assert f'data-queue-stat="waiting" data-queue="{desk["billing"].pk}">2<' in page


def test_bulk_reassignment_moves_each_case_and_reports_refusals(client, desk):
    client.force_login(desk["supervisor"])
    waiting = [c.pk for c in desk["cases"][1:]]

    response = client.post(
        "/console/billing/reassign/",
        {"case": waiting, "queue": desk["vip"].pk, "reason": "VIP customers"},
        follow=True,
    )

    assert "2 cases reassigned." in response.content.decode()
    assert set(Case.objects.filter(pk__in=waiting).values_list("queue__slug", flat=True)) == {"vip"}
    assert CaseEvent.objects.filter(kind="reassigned").count() == 2

    refused = client.post(
        "/console/billing/reassign/",
        {"case": [desk["cases"][0].pk], "agent": desk["supervisor"].pk, "reason": "x"},
        follow=True,
    )
    assert "is not in that queue" in refused.content.decode()


def test_supervisors_move_agents_between_queues_and_set_capacity(client, desk):
    client.force_login(desk["supervisor"])
    ana = desk["ana"]

    client.post("/console/vip/members/", {"agent": ana.pk, "capacity": "3"})
    client.post("/console/billing/members/", {"agent": ana.pk, "remove": "1"})
    bad = client.post("/console/vip/members/", {"agent": ana.pk, "capacity": "0"}, follow=True)

    assert list(Membership.objects.filter(agent=ana).values_list("queue__slug", "capacity")) == [
        ("vip", 3)
    ]
    assert "from 1 to 100" in bad.content.decode()
