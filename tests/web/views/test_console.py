"""The supervisor console: figures, agents' load, bulk reassignment, moving agents."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cases import presence
from cases.models import AgentStatus, Case, CaseEvent, Presence
from cases.services import agent_work as actions
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

    assert "2 cases reassigned to VIP." in response.content.decode()
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
    ana, billing = desk["ana"].pk, desk["billing"].pk
    assert f'<option value="{ana}" data-queues="{billing}">Ana (Billing)</option>' in page
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
        "cases.live.events.broadcast", lambda groups, message: sent.append((groups, message))
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
    assert "1 case reassigned to VIP." in page
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


# --- the console's live parts, pages and form errors --------------------------------------------


def test_the_queue_console_pages_its_open_cases_under_the_action_bar(
    client, desk, django_assert_max_num_queries
):
    client.force_login(desk["supervisor"])
    for _ in range(27):
        CaseFactory(queue=desk["billing"])  # 30 open cases in all

    with django_assert_max_num_queries(18):
        page = client.get("/console/billing/").content.decode()
    second = client.get("/console/billing/?page=2").content.decode()

    assert page.count('form="reassign-form"') == 25 and second.count('form="reassign-form"') == 5
    assert "Page 1 of 2 · 30 open cases" in page
    assert page.index('<form id="reassign-form"') < page.index('id="console-cases"')
    assert 'name="next" value="/console/billing/"' in page
    assert "data-reassign-all" in page


@pytest.mark.parametrize(
    ("target", "holds", "lacks"),
    [
        ("console-cases", 'id="console-cases"', 'id="console-agents"'),
        ("console-agents", 'id="console-agents"', 'id="console-cases"'),
    ],
)
def test_the_queue_console_sends_the_part_a_live_refresh_asks_for(
    client, desk, target, holds, lacks
):
    client.force_login(desk["supervisor"])

    response = client.get("/console/billing/", headers={"HX-Request": "true", "HX-Target": target})

    body = response.content.decode()
    assert response.status_code == 200 and "HX-Request" in response["Vary"]
    assert holds in body and lacks not in body and "<html" not in body


def test_the_console_sends_its_table_to_a_live_refresh_with_presence_and_load(client, desk):
    # given Ana on the desk with one open case of two
    Presence.objects.create(channel_name="page-1", user=desk["ana"], seen_at=timezone.now())
    presence.agent_page_seen(user_id=desk["ana"].pk)  # as her page's socket does
    client.force_login(desk["supervisor"])

    body = client.get("/console/", headers={"HX-Request": "true"}).content.decode()

    assert "<html" not in body
    assert f'data-agents-online="{desk["billing"].pk}">1 / 1<' in body
    assert "Ana 1/2" in body and "load online" in body


def test_a_lapsed_presence_row_does_not_count_as_online(client, desk):
    Presence.objects.create(
        channel_name="page-1", user=desk["ana"], seen_at=timezone.now() - timedelta(minutes=5)
    )
    # her state was online, its page's heartbeat stopped, and no sweep has said so yet
    AgentStatus.objects.create(
        user=desk["ana"], state="online", online_until=timezone.now() - timedelta(minutes=4)
    )
    client.force_login(desk["supervisor"])

    body = client.get(
        "/console/billing/", headers={"HX-Request": "true", "HX-Target": "console-agents"}
    ).content.decode()

    assert "0 of 1 online" in body and "Offline" in body


@pytest.mark.parametrize(
    ("post", "message"),
    [
        ({"queue": "vip", "reason": "x"}, "Tick the cases to reassign."),
        ({"case": ["abc"], "queue": "vip", "reason": "x"}, "not a case number"),
        ({"case": ["-4"], "queue": "vip", "reason": "x"}, "not a case number"),
        ({"case": ["waiting"], "reason": "x"}, "Pick a queue or an agent"),
        ({"case": ["waiting"], "queue": "vip"}, "Say why the cases are reassigned."),
        ({"case": ["waiting"], "queue": "999999", "reason": "x"}, "That queue is gone"),
        ({"case": ["waiting"], "agent": "nobody", "reason": "x"}, "no longer active"),
    ],
)
def test_a_bad_reassignment_says_what_is_wrong_and_moves_nothing(client, desk, post, message):
    client.force_login(desk["supervisor"])
    waiting = desk["cases"][1]
    post = dict(post)
    post["case"] = [str(waiting.pk) if v == "waiting" else v for v in post.get("case", [])]
    if post.get("queue") == "vip":
        post["queue"] = desk["vip"].pk

    response = client.post("/console/billing/reassign/", post, follow=True)

    assert response.status_code == 200
    assert message in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.queue == desk["billing"]


def test_a_refused_case_is_named_with_its_customer_and_the_reason(client, desk):
    client.force_login(desk["supervisor"])
    waiting = desk["cases"][1]
    waiting.customer_name = "Tom Becker"
    waiting.save(update_fields=["customer_name"])
    vic = MembershipFactory(queue=desk["vip"], agent__first_name="Vic").agent

    response = client.post(
        "/console/billing/reassign/",
        {"case": [waiting.pk], "agent": vic.pk, "reason": "x"},
        follow=True,
    )

    page = response.content.decode()
    assert f"Not moved: #{waiting.pk} (Tom Becker). Vic" in page and "not in that queue" in page
    assert "reassigned" not in page.split('role="status"')[1].split("</div>")[0]


@pytest.mark.parametrize(
    ("post", "message"),
    [
        ({"capacity": "0"}, "from 1 to 100"),
        ({"capacity": "lots"}, "from 1 to 100"),
        ({}, "from 1 to 100"),
        ({"agent": "999999", "capacity": "3"}, "no longer active"),
    ],
)
def test_a_bad_membership_change_says_what_is_wrong(client, desk, post, message):
    client.force_login(desk["supervisor"])
    post = {"agent": desk["ana"].pk} | post

    response = client.post("/console/billing/members/", post, follow=True)

    assert response.status_code == 200 and message in response.content.decode()
    assert Membership.objects.get(agent=desk["ana"]).capacity == 2
