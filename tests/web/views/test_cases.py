"""The desk's pages (web/views/cases.py): home, the queue page and its tabs, the case page and its
actions; who may do what, what a mistake looks like, what is escaped, how many queries."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from cases.models import Case, CaseEvent
from tests.factories import (
    CaseFactory,
    MembershipFactory,
    MessageFactory,
    QueueFactory,
    UserFactory,
    flagged_case,
)

pytestmark = pytest.mark.django_db

ACTIONS = {
    "claim": {},
    "reply": {"mode": "reply", "text": "Hello"},
    "note": {"mode": "note", "text": "internal"},
    "intent": {"intent": "billing.double_charge", "reason": "x"},
    "await": {},
    "release": {},
    "resolve": {
        "mode": "reply",
        "submit": "resolve",
        "resolution_code": "solved",
        "customer_repeated": "no",
    },
    "reopen": {},
}
# The composer posts replies, notes and resolutions to one endpoint.
COMPOSED = {"reply", "note", "resolve"}


def action_url(case: Case, action: str) -> str:
    return f"/cases/{case.pk}/{'compose' if action in COMPOSED else action}/"


@pytest.fixture
def world() -> dict[str, Any]:
    membership = MembershipFactory()
    return {
        "case": CaseFactory(queue=membership.queue),
        "member": membership.agent,
        "outsider": MembershipFactory(queue=QueueFactory()).agent,
        "supervisor": UserFactory(role="supervisor"),
        "admin": UserFactory(role="admin"),
    }


@pytest.mark.parametrize(
    ("who", "expected"),
    [("member", 200), ("outsider", 404), ("supervisor", 200), ("admin", 200)],
)
def test_pages_by_role(client, world, who, expected):
    case = world["case"]
    client.force_login(world[who])

    assert client.get(f"/cases/{case.pk}/").status_code == expected
    assert client.get(f"/queues/{case.queue.slug}/").status_code == expected
    assert client.get("/").status_code == 200


def test_anonymous_gets_the_login_page_for_every_page_and_action(client, world):
    case = world["case"]
    urls = ["/", f"/queues/{case.queue.slug}/", f"/cases/{case.pk}/"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    for action in [*ACTIONS, "take-next"]:
        url = "/take-next/" if action == "take-next" else action_url(case, action)
        response = client.post(url, ACTIONS.get(action, {}))
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert CaseEvent.objects.count() == 0


@pytest.mark.parametrize("action", list(ACTIONS))
def test_an_agent_outside_the_queue_gets_404_for_every_action(client, world, action):
    case = world["case"]
    client.force_login(world["outsider"])

    response = client.post(action_url(case, action), ACTIONS[action])

    assert response.status_code == 404
    assert CaseEvent.objects.filter(case=case).count() == 0


@pytest.mark.parametrize("who", ["member", "supervisor", "admin"])
def test_members_supervisors_and_admins_can_work_the_case(client, world, who):
    case = world["case"]
    client.force_login(world[who])

    for action in ["claim", "reply", "note", "intent", "await", "resolve", "reopen", "release"]:
        response = client.post(action_url(case, action), ACTIONS[action], HTTP_HX_REQUEST="true")
        assert response.status_code == 200, (action, response.content[:300])
        assert b'class="alert ok' in response.content, action

    events = CaseEvent.objects.filter(case=case).exclude(kind__startswith="conversation_to_")
    kinds = list(events.values_list("kind", flat=True))
    assert kinds == [
        "claimed",
        "replied",
        "noted",
        "intent_corrected",
        "awaiting_customer",
        "resolved",
        "reopened",
        "released",
    ]


def test_an_htmx_action_returns_the_case_fragment_not_the_page(client, world):
    client.force_login(world["member"])

    response = client.post(f"/cases/{world['case'].pk}/claim/", {}, HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert body.startswith('<div id="case-main"') and "<html" not in body


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        ("reply", {"mode": "reply", "text": "   "}, "Write a reply first."),
        ("note", {"mode": "note", "text": ""}, "Write the note first."),
        ("intent", {"intent": "x" * 101}, "An intent name is at most 100 characters."),
        (
            "resolve",
            {
                "mode": "reply",
                "submit": "resolve",
                "resolution_code": "made_up",
                "customer_repeated": "no",
            },
            "Pick a resolution",
        ),
        (
            "resolve",
            {"mode": "reply", "submit": "resolve", "resolution_code": "solved"},
            "Answer whether the customer had to repeat",
        ),
    ],
)
def test_form_mistakes_are_shown_inline_and_change_nothing(client, world, action, data, message):
    case = world["case"]
    client.force_login(world["member"])
    client.post(f"/cases/{case.pk}/claim/", {})  # the composer is the holder's
    case.refresh_from_db()

    response = client.post(action_url(case, action), data, HTTP_HX_REQUEST="true")

    assert response.status_code == 422
    assert 'class="field-error"' in response.content.decode()
    assert message in response.content.decode()
    assert Case.objects.get(pk=case.pk).version == case.version


def test_a_stale_version_is_a_409_with_the_fresh_case(client, world):
    case = world["case"]
    client.force_login(world["member"])

    response = client.post(
        f"/cases/{case.pk}/intent/",
        {"intent": "billing.other", "version": case.version - 1},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 409
    assert "Someone changed this case" in response.content.decode()
    assert Case.objects.get(pk=case.pk).current_intent == case.current_intent


def test_take_next_opens_the_claimed_case(client, world):
    client.force_login(world["member"])

    response = client.post("/take-next/")

    assert response.status_code == 302
    assert response["Location"] == f"/cases/{world['case'].pk}/"
    assert Case.objects.get(pk=world["case"].pk).assignee == world["member"]


def test_take_next_with_nothing_to_take_says_so(client, world):
    client.force_login(world["outsider"])

    response = client.post("/take-next/", follow=True)

    assert "Nothing to take" in response.content.decode()


def test_queue_filters_and_search(client, world):
    queue = world["case"].queue
    CaseFactory(
        queue=queue,
        customer_name="Vera Quillfeather",  # a name Faker's random ones never contain
        customer_tier="gold",
        risk_flags=["security"],
        facts={"order_id": "Z-77"},
        current_intent="security.x",
    )
    client.force_login(world["member"])

    def names(**params: str) -> int:
        response = client.get(f"/queues/{queue.slug}/", params, HTTP_HX_REQUEST="true")
        return response.content.decode().count("data-href=")

    assert names() == 2
    assert names(flag="security") == 1
    assert names(tier="gold") == 1
    assert names(intent="security.x") == 1
    assert names(q="Z-77") == 1
    assert names(q="quillfeather") == 1
    assert names(q="nobody-has-this") == 0


def test_queue_page_queries_do_not_grow_with_the_number_of_cases(
    client, world, django_assert_max_num_queries
):
    queue = world["case"].queue
    client.force_login(world["member"])
    client.get(f"/queues/{queue.slug}/")  # warm the session
    with django_assert_max_num_queries(12) as few:
        client.get(f"/queues/{queue.slug}/")
    CaseFactory.create_batch(60, queue=queue)

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(f"/queues/{queue.slug}/")
    assert response.status_code == 200


def test_case_page_queries_do_not_grow_with_the_number_of_messages(
    client, world, django_assert_max_num_queries
):
    case = world["case"]
    agent = world["member"]
    client.force_login(agent)
    MessageFactory(case=case, role="agent", author=agent)
    client.get(f"/cases/{case.pk}/")
    with django_assert_max_num_queries(30) as few:
        client.get(f"/cases/{case.pk}/")
    for _ in range(40):
        MessageFactory(case=case, role="note", author=UserFactory())
    CaseFactory.create_batch(
        5, queue=case.queue, customer_ref=case.customer_ref, integration=case.integration
    )

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(f"/cases/{case.pk}/")
    assert response.content.decode().count('class="msg ') == 41


def test_only_supervisors_see_and_use_the_reassign_form(client, world):
    case = world["case"]
    target = QueueFactory()
    client.force_login(world["member"])
    assert "Reassign" not in client.get(f"/cases/{case.pk}/").content.decode()
    refused = client.post(
        f"/cases/{case.pk}/reassign/", {"queue": target.pk, "reason": "x"}, HTTP_HX_REQUEST="true"
    )
    assert refused.status_code == 422 and Case.objects.get(pk=case.pk).queue == case.queue

    client.force_login(world["supervisor"])
    assert "Reassign" in client.get(f"/cases/{case.pk}/").content.decode()
    response = client.post(
        f"/cases/{case.pk}/reassign/",
        {"queue": target.pk, "reason": "wrong team"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert Case.objects.get(pk=case.pk).queue == target


def test_a_long_queue_pages_in_place_and_keeps_its_filters(client, world, monkeypatch):
    monkeypatch.setattr("web.views.cases.PAGE_SIZE", 2)
    for _ in range(4):
        CaseFactory(queue=world["case"].queue, trigger_reason="frustration")
    client.force_login(world["member"])
    path = f"/queues/{world['case'].queue.slug}/?trigger=frustration"

    first = client.get(path).content.decode()
    second = client.get(path + "&page=2", HTTP_HX_REQUEST="true").content.decode()

    assert "Page 1 of 2 · 4 cases" in first
    assert 'hx-get="?trigger=frustration&amp;page=2" hx-target="#case-list"' in first
    assert "Page 2 of 2 · 4 cases" in second and "← Previous" in second
    assert "Next →" not in second


# --- what each person sees, and the queue page's tabs and the home page's lists ---------------

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>{{ secret }}"


def test_agent_sees_cases_of_own_queues_only(client):
    membership = MembershipFactory()
    own = CaseFactory(queue=membership.queue, customer_name="Own Customer")
    other = CaseFactory(queue=QueueFactory(), customer_name="Other Customer")
    client.force_login(membership.agent)

    queue_page = client.get(f"/queues/{membership.queue.slug}/")
    assert b"Own Customer" in queue_page.content and b"Other Customer" not in queue_page.content
    assert client.get(f"/queues/{other.queue.slug}/").status_code == 404
    assert client.get(f"/cases/{own.pk}/").status_code == 200
    assert client.get(f"/cases/{other.pk}/").status_code == 404


def test_customer_supplied_text_is_rendered_as_text(client):
    case = CaseFactory(
        customer_name=XSS,
        summary=XSS,
        facts={"order": XSS},
        customer={"name": XSS},
        trigger_detail=XSS,
    )
    MessageFactory(case=case, text=XSS)
    client.force_login(UserFactory(role="supervisor"))

    content = client.get(f"/cases/{case.pk}/").content.decode()

    assert "<script>alert(1)</script>" not in content
    assert "<img src=x" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "{{ secret }}" in content


def test_the_assigned_and_awaiting_tabs_list_teammates_cases_with_their_assignee(client):
    membership = MembershipFactory()
    queue = membership.queue
    ben = MembershipFactory(queue=queue, agent__first_name="Ben").agent
    CaseFactory(queue=queue, customer_name="Still Waiting")
    held = CaseFactory(queue=queue, customer_name="Held Case", status="assigned", assignee=ben)
    MessageFactory(case=held, text=XSS)
    CaseFactory(queue=queue, customer_name="Quiet Case", status="awaiting_customer", assignee=ben)
    CaseFactory(queue=QueueFactory(), customer_name="Elsewhere", status="assigned", assignee=ben)
    client.force_login(membership.agent)

    assigned = client.get(f"/queues/{queue.slug}/?view=assigned").content.decode()
    awaiting = client.get(f"/queues/{queue.slug}/?view=awaiting", HTTP_HX_REQUEST="true")

    assert "Held Case" in assigned and '<td class="q-assignee">Ben</td>' in assigned
    assert "Still Waiting" not in assigned and "Elsewhere" not in assigned
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in assigned and "<script>alert" not in assigned
    assert 'href="?view=assigned" hx-get="?view=assigned"' in assigned
    assert 'aria-current="page">Assigned</a>' in assigned
    assert '<input type="hidden" name="view" value="assigned" form="queue-filters">' in assigned
    fragment = awaiting.content.decode()
    assert "<html" not in fragment and 'id="case-list"' in fragment
    assert "Quiet Case" in fragment and "Held Case" not in fragment


def test_an_unknown_view_is_the_waiting_list_and_a_tab_keeps_the_filters(client):
    membership = MembershipFactory()
    CaseFactory(queue=membership.queue, customer_name="Still Waiting")
    client.force_login(membership.agent)

    page = client.get(f"/queues/{membership.queue.slug}/?view=<nope>&tier=gold&page=2")

    content = page.content.decode()
    assert page.status_code == 200
    assert 'aria-current="page">Waiting</a>' in content
    assert 'href="?tier=gold&amp;view=awaiting"' in content  # no page, no stale view
    assert 'name="view"' not in content.split('id="case-list"')[1].split("<table")[0]


def test_home_lists_my_cases_with_the_latest_message_and_their_sla(client):
    membership = MembershipFactory()
    agent = membership.agent
    case = CaseFactory(queue=membership.queue, status="assigned", assignee=agent, channel="sms")
    case.first_claimed_at = case.sla_due_at  # just in time
    case.save()
    MessageFactory(case=case, text="Please call me back")
    client.force_login(agent)

    content = client.get("/").content.decode()

    assert '<span class="preview">Please call me back</span>' in content
    assert '<span class="badge channel">sms</span>' in content
    assert '<span class="badge ok">SLA met</span>' in content
    assert 'data-countdown="ago"' in content  # handed off, ticking


def test_the_case_page_offers_the_verdicts_and_shows_the_one_given() -> None:
    flagged = flagged_case()
    client = Client()
    client.force_login(flagged.assignee)

    response = client.post(
        f"/cases/{flagged.pk}/flag/",
        {"flag": "chargeback_threat", "verdict": "confirmed", "version": flagged.version},
        HTTP_HX_REQUEST="true",
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert "✓ Confirmed by" in body
    assert 'aria-label="Dismiss the high value flag"' in body


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
