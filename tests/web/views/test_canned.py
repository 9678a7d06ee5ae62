"""The saved-replies management pages and the case page's picker, as each role sees them
(web/views/canned.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from cases.models import CannedReply
from cases.services.canned import (
    canned_reply_create,
    canned_reply_used,
)
from tests.factories import CaseFactory, MembershipFactory, QueueFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> dict[str, Any]:
    billing = QueueFactory(slug="billing", name="Billing")
    tech = QueueFactory(slug="technical", name="Technical")
    membership = MembershipFactory(queue=billing, agent=UserFactory(role="agent", first_name="Sam"))
    case = CaseFactory(
        queue=billing,
        customer_name="Ana Ruiz",
        customer_email="ana@example.com",
        facts={"order_id": "A-1009", "shipping": {"carrier": "DHL"}, "paid": True},
    )
    return {
        "billing": billing,
        "tech": tech,
        "agent": membership.agent,
        "supervisor": UserFactory(role="supervisor"),
        "case": case,
    }


def make(world: dict[str, Any], name: str, body: str = "Hello", queue: Any = None) -> CannedReply:
    return canned_reply_create(actor=world["supervisor"], name=name, body=body, queue=queue)


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_agent_gets_the_403_page_on_every_management_page(world: dict[str, Any]) -> None:
    reply = make(world, "Greeting")
    agent = client_for(world["agent"])

    for method, url in [
        ("get", "/canned/"),
        ("get", "/canned/new/"),
        ("post", "/canned/new/"),
        ("get", f"/canned/{reply.pk}/"),
        ("post", f"/canned/{reply.pk}/archive/"),
        ("post", "/canned/preview/"),
    ]:
        response = getattr(agent, method)(url)
        assert response.status_code == 403, url
    assert "Replies</a>" not in agent.get("/").content.decode()


def test_a_supervisor_lists_replies_by_queue_with_use_counts_and_previews(
    world: dict[str, Any],
) -> None:
    greeting = make(world, "Greeting", "Hi {{customer.first_name}}")
    make(world, "Refund timeline", "Order {{facts.order_id}} <refunded>", queue=world["billing"])
    canned_reply_used(reply_id=greeting.pk, case=world["case"], agent=world["agent"])
    supervisor = client_for(world["supervisor"])

    page = supervisor.get("/canned/").content.decode()

    assert 'href="/canned/" aria-current="page">Saved replies</a>' in page  # the top bar's link
    assert page.index(">All queues <span") < page.index(">Billing <span")
    assert "Hi Ana" in page and "Order A-1009 &lt;refunded&gt;" in page
    assert 'data-label="Uses, 30 days">1</td>' in page
    searched = supervisor.get("/canned/", {"q": "refund"}).content.decode()
    assert "Refund timeline" in searched and "Greeting" not in searched


def test_creating_a_reply_saves_it_and_returns_to_the_list(world: dict[str, Any]) -> None:
    supervisor = client_for(world["supervisor"])

    response = supervisor.post(
        "/canned/new/",
        {"name": "Refund timeline", "queue": world["billing"].pk, "body": "Hi {{facts.order_id}}"},
        follow=True,
    )

    assert response.status_code == 200
    assert "Saved “Refund timeline”" in response.content.decode()
    reply = CannedReply.objects.get()
    assert (reply.queue, reply.created_by) == (world["billing"], world["supervisor"])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "body": "x"}, "Give the reply a name"),
        ({"name": "x", "body": ""}, "Write the reply&#x27;s text"),
        ({"name": "x", "body": "Hi {{customer.nmae}}"}, "Unknown placeholder {{customer.nmae}}"),
        ({"name": "x", "body": "Hi {{customer name}}"}, "Unknown placeholder {{customer name}}"),
        ({"name": "x", "body": "x", "queue": "abc"}, "Pick a queue from the list"),
        ({"name": "x", "body": "x", "queue": "99999999999999999999"}, "Pick a queue"),
        ({"name": "x" * 121, "body": "x"}, "at most 120 characters"),
        ({"name": "x", "body": "a\x00b"}, "Null characters are not allowed"),
        ({"name": "greeting", "body": "x"}, "already a reply called"),
    ],
)
def test_bad_input_is_a_form_error_not_a_500(
    world: dict[str, Any], data: dict[str, Any], message: str
) -> None:
    make(world, "Greeting")

    response = client_for(world["supervisor"]).post("/canned/new/", data)

    assert response.status_code == 422
    assert message in response.content.decode()
    assert CannedReply.objects.count() == 1


def test_edit_archive_and_restore(world: dict[str, Any]) -> None:
    reply = make(world, "Greeting", "Hi")
    supervisor = client_for(world["supervisor"])

    assert "Hi" in supervisor.get(f"/canned/{reply.pk}/").content.decode()
    supervisor.post(f"/canned/{reply.pk}/", {"name": "Greeting", "body": "Hello {{case.id}}"})
    supervisor.post(f"/canned/{reply.pk}/archive/", {"action": "archive"})
    reply.refresh_from_db()
    assert (reply.body, reply.is_active) == ("Hello {{case.id}}", False)
    assert "Greeting" in supervisor.get("/canned/?show=archived").content.decode()

    supervisor.post(f"/canned/{reply.pk}/archive/", {"action": "restore"})
    bad = supervisor.post(f"/canned/{reply.pk}/archive/", {"action": "explode"}, follow=True)

    reply.refresh_from_db()
    assert reply.is_active
    assert "Choose archive or restore" in bad.content.decode()
    assert supervisor.get("/canned/424242/").status_code == 404


def test_the_live_preview_fills_a_sample_case(world: dict[str, Any]) -> None:
    response = client_for(world["supervisor"]).post(
        "/canned/preview/",
        {
            "body": "Hi {{customer.first_name}}, {{facts.order_id}} {{facts.nope}} <b> "
            "{{queue.name}}",
            "queue": "",
        },
    )

    page = response.content.decode()
    assert response.status_code == 200
    # A reply for all queues previews on a sample case of a sample queue.
    assert "Hi Ana, A-1009 [nope?] &lt;b&gt; Billing" in page
    assert "<code>facts.nope</code>" in page


def test_the_picker_lists_filled_replies_for_a_case_the_agent_works(world: dict[str, Any]) -> None:
    make(world, "Refund timeline", 'Hi {{customer.first_name}} "{{facts.tracking}}" <ok>')
    make(world, "Reboot", queue=world["tech"])

    response = client_for(world["agent"]).get(f"/cases/{world['case'].pk}/canned/", {"q": "ref"})

    page = response.content.decode()
    assert response.status_code == 200
    assert 'class="canned-option"' in page
    assert 'data-canned-text="Hi Ana &quot;[tracking?]&quot; &lt;ok&gt;"' in page
    assert 'data-canned-missing="facts.tracking"' in page
    assert "All queues" in page and "Reboot" not in page


def test_the_picker_says_when_nothing_matches(world: dict[str, Any]) -> None:
    response = client_for(world["agent"]).get(
        f"/cases/{world['case'].pk}/canned/", {"q": "<zzz>" * 40}
    )

    assert response.status_code == 200
    assert "No saved reply matches “&lt;zzz&gt;" in response.content.decode()


def test_the_picker_is_only_for_cases_the_user_may_work(world: dict[str, Any]) -> None:
    other_case = CaseFactory(queue=world["tech"])
    make(world, "Greeting")

    agent = client_for(world["agent"])
    assert agent.get(f"/cases/{other_case.pk}/canned/").status_code == 404
    assert agent.get("/cases/999999/canned/").status_code == 404
    assert Client().get(f"/cases/{world['case'].pk}/canned/").status_code == 302
    # Supervisors work any queue's case.
    supervisor = client_for(world["supervisor"])
    assert "Greeting" in supervisor.get(f"/cases/{other_case.pk}/canned/").content.decode()


def test_the_metrics_page_shows_uses_and_exports_them(world: dict[str, Any]) -> None:
    greeting = make(world, "Greeting")
    canned_reply_used(reply_id=greeting.pk, case=world["case"], agent=world["agent"])
    supervisor = client_for(world["supervisor"])

    page = supervisor.get("/metrics/").content.decode()
    export = b"".join(supervisor.get("/metrics/canned.csv").streaming_content).decode()

    assert "Saved replies used" in page and "Greeting" in page
    assert export.splitlines()[0] == "reply,queue,uses,cases,last_used,archived"
    assert export.splitlines()[1].startswith("Greeting,All queues,1,1,")
