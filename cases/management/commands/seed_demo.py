"""Seed the demo desk: queues, one user per role, intents, routing rules and a bot integration."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from cases.models import Integration, Intent
from cases.services import integration_create, integration_rotate_key
from queues.models import RuleSet
from queues.services import (
    membership_ensure,
    queue_ensure,
    rule_set_create_draft,
    rule_set_publish,
)

QUEUES = [
    ("billing", "Billing", 600, "Charges, refunds, invoices and payment problems."),
    ("technical", "Technical", 900, "Outages, bugs and devices that will not cooperate."),
    ("account_access", "Account access", 600, "Logins, passwords, two-factor and lockouts."),
    ("vip", "VIP", 300, "Gold and platinum customers: a specialist, fast."),
    ("compliance", "Compliance", 300, "Fraud, security incidents, legal and chargeback threats."),
    ("general", "General", 1200, "Everything else."),
]

# username, first name, last name, role, queues
USERS = [
    ("agent", "Sam", "Okafor", "agent", ["billing", "technical", "account_access", "general"]),
    ("agent2", "Riley", "Chen", "agent", ["billing", "general", "vip"]),
    ("supervisor", "Maya", "Lindqvist", "supervisor", []),
    ("admin", "Ada", "Park", "admin", []),
]

INTENTS = [
    ("billing.refund", "Refund request", "billing"),
    ("billing.double_charge", "Charged twice", "billing"),
    ("billing.invoice", "Invoice question", "billing"),
    ("account.password_reset", "Password reset", "account_access"),
    ("account.2fa_lockout", "Two-factor lockout", "account_access"),
    ("security.account_takeover", "Account takeover", "compliance"),
    ("technical.outage", "Service outage", "technical"),
    ("orders.damaged_item", "Damaged item", "general"),
    ("legal.complaint", "Legal complaint", "compliance"),
    ("general.question", "General question", "general"),
    ("bank_fraud_report", "Bank: report fraud", "compliance"),
    ("bank_balance", "Bank: balance", "billing"),
    ("ride_change", "Ride: change booking", "general"),
    ("hotel_book", "Hotel: booking", "general"),
    ("plane_book", "Flight: booking", "general"),
    ("spaceship_life_support", "Spaceship: life support", "technical"),
]

RULES: list[dict[str, Any]] = [
    {
        "name": "Security and fraud",
        "conditions": {
            "any": [
                {"field": "risk_flags", "op": "contains", "value": "security"},
                {"field": "intent.name", "op": "starts_with", "value": "security."},
                {"field": "intent.name", "op": "in", "value": ["bank_fraud_report"]},
            ]
        },
        "queue": "compliance",
        "priority": 3,
    },
    {
        "name": "Legal or chargeback threat",
        "conditions": {
            "any": [
                {"field": "risk_flags", "op": "in", "value": ["legal_threat", "chargeback_threat"]},
                {"field": "intent.name", "op": "starts_with", "value": "legal."},
            ]
        },
        "queue": "compliance",
        "priority": 2,
    },
    {
        "name": "VIP customers",
        "conditions": {
            "any": [
                {"field": "customer.tier", "op": "in", "value": ["gold", "platinum"]},
                {"field": "customer.lifetime_value", "op": "gte", "value": 5000},
            ]
        },
        "queue": "vip",
        "priority": 2,
    },
    {
        "name": "Billing intents",
        "conditions": {
            "any": [
                {"field": "intent.name", "op": "starts_with", "value": "billing."},
                {"field": "intent.name", "op": "starts_with", "value": "bank_"},
            ]
        },
        "queue": "billing",
    },
    {
        "name": "Account access",
        "conditions": {
            "all": [
                {"field": "intent.name", "op": "starts_with", "value": "account."},
            ]
        },
        "queue": "account_access",
    },
    {
        "name": "Technical problems",
        "conditions": {
            "any": [
                {"field": "intent.name", "op": "starts_with", "value": "technical."},
                {"field": "intent.name", "op": "starts_with", "value": "spaceship_"},
            ]
        },
        "queue": "technical",
    },
]


def demo_password(username: str) -> str:
    return f"{username}-demo-pass"


class Command(BaseCommand):
    help = "Seed the demo desk (idempotent): queues, users, intents, rules, an integration."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--integration", default="demo-bot")
        parser.add_argument("--callback-url", default="")
        parser.add_argument(
            "--demo-receiver",
            metavar="BASE_URL",
            help="Send the integration's callbacks to the demo bot platform served at BASE_URL.",
        )
        parser.add_argument(
            "--key-file", help="Also write the integration's new API key to this file (0600)."
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        queues = {}
        for order, (slug, name, sla, description) in enumerate(QUEUES):
            queues[slug] = queue_ensure(
                slug=slug,
                name=name,
                sla_seconds=sla,
                description=description,
                sort_order=order,
                is_default=slug == "general",
            )
        for name, label, queue in INTENTS:
            Intent.objects.update_or_create(
                name=name, defaults={"label": label, "queue_hint": queues[queue]}
            )
        self.stdout.write("Users (username / password):")
        for username, first, last, role, member_of in USERS:
            user, _ = User.objects.get_or_create(username=username)
            user.first_name, user.last_name = first, last
            user.email = f"{username}@desk.example"
            user.is_staff = role == "admin"
            user.set_password(demo_password(username))
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            for slug in member_of:
                membership_ensure(agent=user, queue=queues[slug], capacity=5)
            self.stdout.write(f"  {role:<10} {username} / {demo_password(username)}")
        if not RuleSet.objects.filter(status=RuleSet.Status.PUBLISHED).exists():
            admin = User.objects.get(username="admin")
            draft = rule_set_create_draft(rules=RULES, author=admin)
            rule_set_publish(ruleset=draft, publisher=admin, note="Demo rules")
        integration = Integration.objects.filter(name=options["integration"]).first()
        if integration is None:
            integration, key = integration_create(
                name=options["integration"], callback_url=options["callback_url"]
            )
        else:
            # Keys are shown once; seeding again issues a fresh one.
            key = integration_rotate_key(integration=integration)
            if options["callback_url"]:
                integration.callback_url = options["callback_url"]
                integration.save(update_fields=["callback_url"])
        if options["demo_receiver"]:
            # The stand-in bot platform of /demo/bot/ receives this integration's callbacks.
            base = options["demo_receiver"].rstrip("/")
            integration.callback_url = f"{base}/demo/bot/hooks/{integration.pk}/"
            integration.save(update_fields=["callback_url"])
        self.stdout.write(f"Integration {integration.name!r} API key: {key}")
        if options["key_file"]:
            path = Path(options["key_file"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(key)
            os.chmod(path, 0o600)
