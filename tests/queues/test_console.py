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


# --- reassigning from the queue page ------------------------------------------------------------


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_the_queue_page_offers_supervisors_and_admins_a_reassign_form(client, desk, role):
    client.force_login(UserFactory(role=role))
    waiting = desk["cases"][1]

    page = client.get("/queues/billing/").content.decode()

    assert '<form id="reassign-form"' in page and 'action="/console/billing/reassign/"' in page
    assert 'name="next" value="/queues/billing/"' in page
    assert f'<option value="{desk["vip"].pk}">VIP</option>' in page
    assert f'<option value="{desk["ana"].pk}">Ana (Billing)</option>' in page
    assert '<div class="can-reassign">' in page
    assert f'value="{waiting.pk}" form="reassign-form"' in page
    assert f'data-reassign="{waiting.pk}"' in page


def test_agents_get_the_same_rows_without_the_reassign_form_and_a_403_if_they_post(client, desk):
    client.force_login(desk["ana"])
    waiting = desk["cases"][1]

    page = client.get("/queues/billing/").content.decode()
    response = client.post(
        "/console/billing/reassign/",
        {"case": [waiting.pk], "queue": desk["vip"].pk, "reason": "x", "next": "/queues/billing/"},
    )

    # The rows are the same for every viewer (they are also pushed live); the page hides them.
    assert f'data-reassign="{waiting.pk}"' in page
    assert 'id="reassign-form"' not in page and "can-reassign" not in page
    assert response.status_code == 403
    waiting.refresh_from_db()
    assert waiting.queue == desk["billing"]


def test_a_reassignment_from_the_queue_page_returns_to_it_and_tells_both_queues(
    client, desk, monkeypatch, django_capture_on_commit_callbacks
):
    client.force_login(desk["supervisor"])
    waiting, other = desk["cases"][1], desk["cases"][2]
    sent = []
    monkeypatch.setattr(
        "cases.events.broadcast", lambda groups, message: sent.append((groups, message))
    )

    # when the supervisor reassigns one row of the (filtered) queue page to VIP
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/console/billing/reassign/",
            {
                "case": [waiting.pk],
                "queue": desk["vip"].pk,
                "reason": "a VIP customer",
                "next": "/queues/billing/?tier=gold",
            },
        )

    # then they are back on that page, which says so and no longer lists the case
    assert response.status_code == 302 and response["Location"] == "/queues/billing/?tier=gold"
    page = client.get("/queues/billing/").content.decode()
    assert "1 case reassigned." in page
    assert f'id="case-row-{waiting.pk}"' not in page and f'id="case-row-{other.pk}"' in page
    # and the case moved, with its reason in the audit trail, and both queues' pages heard it
    waiting.refresh_from_db()
    assert waiting.queue == desk["vip"] and waiting.status == Case.Status.WAITING
    event = CaseEvent.objects.get(case=waiting, kind="reassigned")
    assert event.data["reason"] == "a VIP customer"
    ((groups, message),) = [s for s in sent if s[1].get("kind") == "case.reassigned"]
    assert sorted(groups) == sorted([f"queue.{desk['billing'].pk}", f"queue.{desk['vip'].pk}"])
    assert message["queue_id"] == desk["vip"].pk and f'id="case-row-{waiting.pk}"' in message["row"]


@pytest.mark.parametrize("back", ["https://elsewhere.example/", "//elsewhere.example/x", ""])
def test_a_reassignment_goes_back_only_to_a_page_of_this_site(client, desk, back):
    client.force_login(desk["supervisor"])

    response = client.post(
        "/console/billing/reassign/",
        {"case": [desk["cases"][1].pk], "queue": desk["vip"].pk, "reason": "x", "next": back},
    )

    assert response.status_code == 302 and response["Location"] == "/console/billing/"
