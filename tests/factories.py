from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

import factory
from django.apps import apps as django_apps
from django.contrib.auth.models import Group, User
from django.utils import timezone

from cases import presence
from cases.models import OPEN_WORK, Case, Integration, Message
from cases.services import agent_work
from cases.services.integrations import hash_api_key
from queues.models import Membership, Queue


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"queue-{n}")
    name = factory.LazyAttribute(lambda q: q.slug.replace("-", " ").title())
    sla_seconds = 600


def ensure_roles() -> None:
    """Transactional tests flush the groups the roles migration made: make them again."""
    if not Group.objects.filter(name="agent").exists():
        roles = importlib.import_module("cases.migrations.0002_roles")
        roles.create_roles(django_apps, None)
        canned = importlib.import_module("cases.migrations.0013_canned_replies")
        canned.grant_manage(django_apps, None)
        unlock = importlib.import_module("cases.migrations.0014_admin_unlocks_signins")
        unlock.grant_unlock(django_apps, None)
        escalation = importlib.import_module("cases.migrations.0017_escalation_roles")
        escalation.grant_escalation(django_apps, None)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests")

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        if create and extracted:
            ensure_roles()
            self.groups.add(Group.objects.get(name=extracted))
            if extracted == "admin":
                self.is_staff = True
            self.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    agent = factory.SubFactory(UserFactory, role="agent")
    queue = factory.SubFactory(QueueFactory)
    capacity = 5


RAW_KEY_PREFIX = "hd_test_"


class IntegrationFactory(factory.django.DjangoModelFactory):
    """An integration whose raw key is ``hd_test_<name>`` (``integration.raw_key``)."""

    class Meta:
        model = Integration
        django_get_or_create = ("name",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"bot-{n}")
    key_prefix = factory.LazyAttribute(lambda i: (RAW_KEY_PREFIX + i.name)[:10])
    key_hash = factory.LazyAttribute(lambda i: hash_api_key(RAW_KEY_PREFIX + i.name))
    signing_secret = "whsec_dGVzdC1zZWNyZXQtZm9yLXRlc3RzLW9ubHk="
    callback_url = ""

    @factory.post_generation
    def raw_key(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        self.raw_key = RAW_KEY_PREFIX + self.name


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Case

    integration = factory.SubFactory(IntegrationFactory)
    external_id = factory.Sequence(lambda n: f"conv-{n}")
    queue = factory.SubFactory(QueueFactory)
    routed_queue = factory.SelfAttribute("queue")
    customer_name = factory.Faker("name")
    customer_ref = factory.Sequence(lambda n: f"cus_{n}")
    detected_intent = "billing.refund"
    current_intent = "billing.refund"
    trigger_reason = Case.Trigger.CUSTOMER_REQUEST
    handed_off_at = factory.LazyFunction(timezone.now)
    sla_due_at = factory.LazyAttribute(lambda c: c.handed_off_at + timedelta(minutes=10))
    status = Case.Status.WAITING
    assignee = None
    # A person holds the conversation of a case being worked, as the services keep it.
    held_by = factory.LazyAttribute(lambda c: c.assignee if c.status in OPEN_WORK else None)


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    case = factory.SubFactory(CaseFactory)
    seq = factory.Sequence(lambda n: n + 1)
    dedupe_key = factory.Sequence(lambda n: f"id:m{n}")
    role = Message.Role.CUSTOMER
    text = factory.Faker("sentence")
    sent_at = factory.LazyFunction(timezone.now)
    phase = Message.Phase.BEFORE_HANDOFF


def full_package(**overrides: Any) -> dict[str, Any]:
    """DESIGN section 4's example package; keyword arguments replace top-level fields."""
    package: dict[str, Any] = {
        "external_id": "conv-8812",
        "channel": "web_chat",
        "customer": {
            "id": "cus_42",
            "name": "Ana Ruiz",
            "email": "ana@example.com",
            "language": "en",
            "tier": "gold",
            "lifetime_value": 4200.0,
            "account": {"plan": "family", "open_orders": 2},
        },
        "intent": {
            "name": "billing.refund",
            "confidence": 0.58,
            "alternatives": [{"name": "billing.double_charge", "confidence": 0.31}],
        },
        "trigger": {"reason": "repeated_failure", "detail": "refund flow failed twice"},
        "transcript": [
            {
                "id": "m1",
                "role": "customer",
                "text": "I was charged twice",
                "at": "2026-11-20T10:01:02Z",
            },
            {
                "id": "m2",
                "role": "bot",
                "text": "I can help with refunds...",
                "at": "2026-11-20T10:01:04Z",
            },
        ],
        "attempted_steps": [
            {"name": "refund_lookup", "outcome": "failed", "detail": "order not found"}
        ],
        "facts": {"order_id": "A-1009", "amount": "49.99", "currency": "EUR"},
        "risk_flags": ["chargeback_threat"],
        "summary": "Customer double-charged; refund lookup failed twice.",
    }
    package.update(overrides)
    return package


# --- a queue's staffing and history, for wait estimates -----------------------------------------


def agent_online(queue: Any, *, capacity: int = 2, holding: int = 0) -> Any:
    """An agent of the queue with an open page, holding ``holding`` open cases from it."""
    agent = MembershipFactory(queue=queue, capacity=capacity).agent
    presence.presence_join(channel_name=f"chan-{agent.pk}", user=agent, case_id=None)
    presence.agent_page_seen(user_id=agent.pk)  # as the page's socket does
    for _ in range(holding):
        CaseFactory(queue=queue, assignee=agent, status=Case.Status.ASSIGNED)
    return agent


def cases_handled(queue: Any, *minutes: int, claimed_ago: timedelta = timedelta(hours=1)) -> None:
    """Resolved cases of the queue that took these many minutes from claim to resolution."""
    claimed = timezone.now() - claimed_ago
    for took in minutes:
        CaseFactory(
            queue=queue,
            status=Case.Status.RESOLVED,
            first_claimed_at=claimed,
            resolved_at=claimed + timedelta(minutes=took),
        )


# --- a held case with risk flags, one raised from the customer's words ------------------------

FLAG_EVIDENCE = [
    {"flag": "chargeback_threat", "source": "derived", "evidence": "I'll do a chargeback"},
    {"flag": "high_value", "source": "bot", "evidence": ""},
]


def flagged_case() -> Any:
    """A case its agent holds, flagged chargeback_threat by the desk's detectors (from what the
    customer wrote) and high_value by the bot."""
    membership = MembershipFactory()
    case = CaseFactory(
        queue=membership.queue,
        risk_flags=["chargeback_threat", "high_value"],
        risk_evidence=FLAG_EVIDENCE,
    )
    MessageFactory(case=case, text="Refund me or I'll do a chargeback")
    return agent_work.case_claim(case_id=case.pk, agent=membership.agent)
