"""Canned replies: filling placeholders, scoping to queues, search, counting uses, and the
management pages and the case page's picker as each role sees them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from cases.models import CannedReply, CannedReplyUse
from cases.services.canned import (
    CannedReplyError,
    canned_fill,
    canned_replies_for,
    canned_reply_archive,
    canned_reply_create,
    canned_reply_update,
    canned_reply_used,
    canned_usage,
    seed_demo_canned_replies,
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


# --- filling ----------------------------------------------------------------------------------


def test_fill_replaces_every_placeholder_from_the_case(world: dict[str, Any]) -> None:
    body = (
        "Hi {{customer.first_name}} ({{ customer.name }}, {{customer.email}}): order "
        "{{facts.order_id}} via {{facts.shipping.carrier}}, paid {{facts.paid}}. "
        "{{agent.first_name}}, {{queue.name}}, case {{case.id}}."
    )

    filled = canned_fill(body, case=world["case"], agent=world["agent"])

    assert filled.text == (
        "Hi Ana (Ana Ruiz, ana@example.com): order A-1009 via DHL, paid yes. "
        f"Sam, Billing, case {world['case'].pk}."
    )
    assert filled.missing == []


def test_unknown_or_empty_placeholders_stay_visible_and_are_listed(world: dict[str, Any]) -> None:
    case = world["case"]
    case.customer_email = ""

    filled = canned_fill(
        "Order {{facts.tracking}} to {{customer.email}}; {{facts.tracking}}; {{nope.x}}; "
        "{{facts.shipping}}",
        case=case,
        agent=world["agent"],
    )

    assert filled.text == (
        "Order [tracking?] to [customer.email?]; [tracking?]; [nope.x?]; [shipping?]"
    )
    assert filled.missing == ["facts.tracking", "customer.email", "nope.x", "facts.shipping"]


def test_a_body_is_never_run_as_a_template(world: dict[str, Any]) -> None:
    body = "{% now 'Y' %} {{ customer.name|upper }} {{customer.name}} <b>{{ case }}</b>"

    filled = canned_fill(body, case=world["case"], agent=world["agent"])

    # Only the strict form is a placeholder; the rest is text, as written.
    assert filled.text == "{% now 'Y' %} {{ customer.name|upper }} Ana Ruiz <b>{{ case }}</b>"


def test_a_value_holding_braces_is_not_filled_again(world: dict[str, Any]) -> None:
    case = world["case"]
    case.customer_name = "{{customer.email}}"

    filled = canned_fill("Hi {{customer.name}}", case=case, agent=world["agent"])

    assert filled.text == "Hi {{customer.email}}"


# --- scoping, search, writes -------------------------------------------------------------------


def test_an_agent_sees_global_and_the_case_queue_replies_active_by_name(
    world: dict[str, Any],
) -> None:
    make(world, "Zeta greeting")
    make(world, "Refund timeline", "Refund for {{facts.order_id}}", queue=world["billing"])
    make(world, "Reboot steps", queue=world["tech"])
    archived = make(world, "Old greeting")
    canned_reply_archive(actor=world["supervisor"], reply_id=archived.pk)

    choices = canned_replies_for(world["case"], world["agent"])

    assert [(c.name, c.scope) for c in choices] == [
        ("Refund timeline", "Billing"),
        ("Zeta greeting", "All queues"),
    ]
    assert choices[0].text == "Refund for A-1009"


def test_search_reads_names_and_bodies_case_insensitively(world: dict[str, Any]) -> None:
    make(world, "Refund timeline", "5-10 business days")
    make(world, "Greeting", "Hi there, about your REFUND")
    make(world, "Password reset", "Use the link")

    names = [c.name for c in canned_replies_for(world["case"], world["agent"], "refund")]

    assert names == ["Greeting", "Refund timeline"]
    assert canned_replies_for(world["case"], world["agent"], "nothing like it") == []


def test_only_managers_write_and_a_reply_needs_a_name_and_text(world: dict[str, Any]) -> None:
    with pytest.raises(CannedReplyError, match="supervisors and admins"):
        canned_reply_create(actor=world["agent"], name="x", body="y")
    with pytest.raises(CannedReplyError, match="name"):
        make(world, "   ", "text")

    reply = make(world, "  Greeting   all ", "Hi")
    canned_reply_update(
        actor=world["supervisor"], reply_id=reply.pk, name="Hello", body="Hi!", queue=world["tech"]
    )

    reply.refresh_from_db()
    assert (reply.name, reply.body, reply.queue) == ("Hello", "Hi!", world["tech"])


def test_uses_are_counted_only_for_a_reply_of_the_case_queue(world: dict[str, Any]) -> None:
    greeting = make(world, "Greeting")
    tech_only = make(world, "Reboot", queue=world["tech"])
    case, agent = world["case"], world["agent"]

    assert canned_reply_used(reply_id=greeting.pk, case=case, agent=agent) is not None
    canned_reply_used(reply_id=greeting.pk, case=case, agent=agent)
    assert canned_reply_used(reply_id=tech_only.pk, case=case, agent=agent) is None
    assert canned_reply_used(reply_id=999_999, case=case, agent=agent) is None
    assert canned_reply_used(reply_id=None, case=case, agent=agent) is None

    assert CannedReplyUse.objects.filter(reply=greeting).count() == 2
    assert not CannedReplyUse.objects.filter(reply=tech_only).exists()


def test_usage_counts_per_reply_within_the_period(world: dict[str, Any]) -> None:
    greeting, refund = make(world, "Greeting"), make(world, "Refund", queue=world["billing"])
    case, agent = world["case"], world["agent"]
    other = CaseFactory(queue=world["billing"])
    for reply, on in [(greeting, case), (greeting, other), (refund, case)]:
        canned_reply_used(reply_id=reply.pk, case=on, agent=agent)
    old = canned_reply_used(reply_id=refund.pk, case=case, agent=agent)
    assert old is not None
    old.used_at = timezone.now() - timedelta(days=40)
    old.save()
    now = timezone.now()

    rows = canned_usage(now - timedelta(days=30), now + timedelta(minutes=1))

    assert [(r["reply"], r["queue"], r["uses"], r["cases"]) for r in rows] == [
        ("Greeting", "All queues", 2, 2),
        ("Refund", "Billing", 1, 1),
    ]
    narrowed = canned_usage(now - timedelta(days=30), now, queue_id=world["tech"].pk)
    assert narrowed == []


def test_demo_replies_are_seeded_once(world: dict[str, Any]) -> None:
    made = seed_demo_canned_replies()

    assert len(made) >= 6
    assert seed_demo_canned_replies() == []
    refund = CannedReply.objects.get(name="Refund timeline")
    assert refund.queue == world["billing"]
    assert "{{facts.order_id}}" in refund.body
    assert CannedReply.objects.filter(queue__isnull=True).count() >= 2


# --- management pages ---------------------------------------------------------------------------


# --- the picker -----------------------------------------------------------------------------------
