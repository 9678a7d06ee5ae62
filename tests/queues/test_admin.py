"""Memberships changed in the admin go through the console's services, so the agent's open pages
hear of it; rule sets are read there and written only by the rule editor."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from queues.models import Membership, Queue, RuleSet
from queues.services import rule_set_create_draft, rule_set_publish
from tests.factories import MembershipFactory, QueueFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["superuser", "admin role"])
def admin(request: pytest.FixtureRequest, client: Client) -> Client:
    user: Any
    if request.param == "superuser":
        user = User.objects.create_superuser("root", "root@example.com", "pw-for-tests")
    else:
        user = UserFactory(role="admin")
    client.force_login(user)
    return client


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict[str, Any]]]:
    messages: list[tuple[list[str], dict[str, Any]]] = []
    monkeypatch.setattr(
        "cases.live.events.broadcast", lambda groups, message: messages.append((groups, message))
    )
    return messages


def told(agent: Any) -> tuple[list[str], dict[str, Any]]:
    """What the console's services send an agent whose queues changed."""
    return [f"user.{agent.pk}"], {"type": "access.changed", "user_id": agent.pk}


def test_an_agent_added_in_the_admin_is_told_as_from_the_console(
    admin, sent, django_capture_on_commit_callbacks
):
    billing = QueueFactory(slug="billing")
    ana, ben = UserFactory(role="agent"), UserFactory(role="agent")
    supervisor = Client()
    supervisor.force_login(UserFactory(role="supervisor"))

    # when the console adds Ana and the admin adds Ben
    with django_capture_on_commit_callbacks(execute=True):
        supervisor.post("/console/billing/members/", {"agent": ana.pk, "capacity": "3"})
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            "/admin/queues/membership/add/",
            {"agent": ben.pk, "queue": billing.pk, "capacity": "3", "_save": "Save"},
        )

    # then both are members and each one's open pages were told, the same way
    assert response.status_code == 302
    assert set(Membership.objects.values_list("agent", "capacity")) == {(ana.pk, 3), (ben.pk, 3)}
    assert sent == [told(ana), told(ben)]


def test_a_capacity_changed_in_the_admin_keeps_the_agent_and_queue(admin, sent):
    membership = MembershipFactory(capacity=5)
    other = QueueFactory(slug="other")

    response = admin.post(
        f"/admin/queues/membership/{membership.pk}/change/",
        {"agent": UserFactory().pk, "queue": other.pk, "capacity": "2", "_save": "Save"},
    )

    assert response.status_code == 302
    assert list(Membership.objects.values_list("agent", "queue", "capacity")) == [
        (membership.agent_id, membership.queue_id, 2)
    ]


@pytest.mark.parametrize("how", ["delete page", "bulk action"])
def test_an_agent_removed_in_the_admin_is_told(
    admin, sent, how, django_capture_on_commit_callbacks
):
    membership = MembershipFactory()

    with django_capture_on_commit_callbacks(execute=True):
        if how == "delete page":
            admin.post(f"/admin/queues/membership/{membership.pk}/delete/", {"post": "yes"})
        else:
            admin.post(
                "/admin/queues/membership/",
                {"action": "delete_selected", "_selected_action": [membership.pk], "post": "yes"},
            )

    assert not Membership.objects.exists()
    assert sent == [told(membership.agent)]


def queue_form(queue: Queue, **extra: Any) -> dict[str, Any]:
    return {
        "slug": queue.slug,
        "name": queue.name,
        "description": queue.description,
        "sla_seconds": queue.sla_seconds,
        "customer_message_template": queue.customer_message_template,
        "is_active": "on",
        "sort_order": queue.sort_order,
        # assignment (issue 17), as the page shows them
        "assignment_mode": queue.assignment_mode,
        "offer_seconds": queue.offer_seconds,
        "misses_before_away": queue.misses_before_away,
        "reserved_slots": queue.reserved_slots,
        "_save": "Save",
        **extra,
    }


def test_members_added_and_removed_on_the_queue_page_are_told(
    admin, sent, django_capture_on_commit_callbacks
):
    staying = MembershipFactory(capacity=5)
    queue, ana = staying.queue, UserFactory(role="agent")
    leaving = MembershipFactory(queue=queue)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            f"/admin/queues/queue/{queue.pk}/change/",
            queue_form(
                queue,
                **{
                    "memberships-TOTAL_FORMS": "3",
                    "memberships-INITIAL_FORMS": "2",
                    "memberships-0-id": staying.pk,
                    "memberships-0-queue": queue.pk,
                    "memberships-0-agent": staying.agent_id,
                    "memberships-0-capacity": "4",
                    "memberships-1-id": leaving.pk,
                    "memberships-1-queue": queue.pk,
                    "memberships-1-agent": leaving.agent_id,
                    "memberships-1-capacity": "5",
                    "memberships-1-DELETE": "on",
                    "memberships-2-queue": queue.pk,
                    "memberships-2-agent": ana.pk,
                    "memberships-2-capacity": "2",
                },
            ),
        )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert set(Membership.objects.values_list("agent", "capacity")) == {
        (staying.agent_id, 4),
        (ana.pk, 2),
    }
    assert sorted(sent) == sorted([told(leaving.agent), told(ana)])


def test_a_queue_deleted_in_the_admin_tells_its_agents(
    admin, sent, django_capture_on_commit_callbacks
):
    membership = MembershipFactory()

    with django_capture_on_commit_callbacks(execute=True):
        admin.post(f"/admin/queues/queue/{membership.queue_id}/delete/", {"post": "yes"})

    assert not Queue.objects.filter(pk=membership.queue_id).exists()
    assert sent == [told(membership.agent)]


def test_a_rule_set_is_read_only_in_the_admin(admin):
    ruleset = rule_set_publish(ruleset=rule_set_create_draft(rules=[]), note="first")

    page = admin.get(f"/admin/queues/ruleset/{ruleset.pk}/change/")
    change = admin.post(
        f"/admin/queues/ruleset/{ruleset.pk}/change/", {"note": "rewritten", "_save": "Save"}
    )
    delete = admin.post(f"/admin/queues/ruleset/{ruleset.pk}/delete/", {"post": "yes"})

    assert page.status_code == 200 and "/routing/" in page.content.decode()
    assert [change.status_code, delete.status_code] == [403, 403]
    assert list(RuleSet.objects.values_list("note", flat=True)) == ["first"]
