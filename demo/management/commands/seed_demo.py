"""Seed the demo desk: queues, one user per role, intents, routing rules and a bot integration."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from cases.models import CannedReply, Integration, Intent
from cases.services.canned import canned_reply_create
from cases.services.integrations import integration_create, integration_rotate_key
from demo.day import seed_day
from queues.models import AssignmentMode, RuleSet
from queues.services import (
    membership_ensure,
    queue_assignment_set,
    queue_ensure,
    queue_hours_set,
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

# One queue keeps office hours, so the demo shows a handoff outside them (the customer is told
# when the team is back, the bot gets handoff.failed, the case waits for the morning): Account
# access works weekdays 09:00-17:00, in the time zone (of these) where its day is over longest
# at seeding time, so whenever the demo runs the team is away for hours. The other queues work
# around the clock.
OFFICE_HOURS_QUEUE = "account_access"
OFFICE_HOURS = [{"day": day, "opens": "09:00", "closes": "17:00"} for day in range(5)]
OFFICE_ZONES = [
    "America/New_York",
    "America/Los_Angeles",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
]


def hours_until_open(now: datetime, zone: str) -> float:
    """Hours until a weekday 09:00-17:00 team in this zone opens (0 while it is open)."""
    local = now.astimezone(ZoneInfo(zone))
    if local.weekday() < 5 and 9 <= local.hour < 17:
        return 0.0
    opens = local.replace(hour=9, minute=0, second=0, microsecond=0)
    if local >= opens:
        opens += timedelta(days=1)
    while opens.weekday() >= 5:
        opens += timedelta(days=1)
    return (opens - local).total_seconds() / 3600


def closed_zone(now: datetime) -> str:
    return max(OFFICE_ZONES, key=lambda zone: hours_until_open(now, zone))


PUSH_QUEUE = "billing"

# username, first name, last name, role, queues
USERS = [
    ("agent", "Sam", "Okafor", "agent", ["billing", "technical", "account_access", "general"]),
    ("agent2", "Riley", "Chen", "agent", ["billing", "general", "vip"]),
    ("agent3", "Priya", "Natarajan", "agent", ["compliance", "vip", "account_access"]),
    ("agent4", "Leo", "Martins", "agent", ["technical", "general", "billing"]),
    ("supervisor", "Maya", "Lindqvist", "supervisor", []),
    ("admin", "Ada", "Park", "admin", []),
]

# The support intents agents pick from; the demo's recorded conversations (STAR, mapped by
# demo.replay.SUPPORT_INTENTS) and its own handoffs use these names.
INTENTS = [
    ("billing.refund", "Refund request", "billing"),
    ("billing.double_charge", "Charged twice", "billing"),
    ("billing.invoice", "Invoice question", "billing"),
    ("billing.balance", "Balance or statement", "billing"),
    ("billing.payment_failed", "Payment declined", "billing"),
    ("account.password_reset", "Password reset", "account_access"),
    ("account.2fa_lockout", "Two-factor lockout", "account_access"),
    ("account.locked", "Account locked", "account_access"),
    ("account.email_change", "Change of login email", "account_access"),
    ("security.account_takeover", "Account takeover", "compliance"),
    ("security.fraud_report", "Fraud report", "compliance"),
    ("legal.complaint", "Legal complaint", "compliance"),
    ("legal.data_request", "Personal data request", "compliance"),
    ("technical.outage", "Service outage", "technical"),
    ("technical.app_crash", "App crashes", "technical"),
    ("technical.service_request", "Repair or service request", "technical"),
    ("orders.damaged_item", "Damaged item", "general"),
    ("orders.ride_status", "Where is my ride", "general"),
    ("orders.change_booking", "Change a booking", "general"),
    ("orders.new_booking", "New booking", "general"),
    ("general.question", "General question", "general"),
]
# Names of earlier demos' catalogue (STAR's own task names): retired, not deleted, so cases
# that carry them keep their label.
RETIRED_INTENTS = [
    "bank_fraud_report",
    "bank_balance",
    "ride_change",
    "hotel_book",
    "plane_book",
    "spaceship_life_support",
]

# Saved replies (name, queue or None for every queue, body); the day's agents open with the first.
CANNED = [
    (
        "Greeting",
        None,
        "Hi {{customer.first_name}}, I'm {{agent.first_name}} from the {{queue.name}} team. I've "
        "read your conversation with our assistant, so you won't need to repeat anything.",
    ),
    (
        "Refund on its way",
        "billing",
        "I've issued the refund of {{facts.amount}} {{facts.currency}}. It shows on your "
        "statement within 3-5 business days.",
    ),
    (
        "Sign-in link by SMS",
        "account_access",
        "I've sent a one-time sign-in link by SMS to the number on your account; it works for "
        "15 minutes. Once you are in, please set a new password.",
    ),
    (
        "Known issue, fix rolling out",
        "technical",
        "This is a known issue and the fix is rolling out today. Meanwhile the web app at "
        "app.example.com works; I'll write to you here once it reaches you.",
    ),
    (
        "Card blocked, dispute opened",
        "compliance",
        "Your card is blocked and I've opened a dispute for the payments you don't recognise. "
        "A new card is on its way; nobody will ever ask you for your PIN.",
    ),
    (
        "Booking changed",
        "general",
        "Done: your booking {{facts.booking_id}} now has the new details, with no change fee.",
    ),
]

RULES: list[dict[str, Any]] = [
    {
        "name": "Security and fraud",
        "conditions": {
            "any": [
                {"field": "risk_flags", "op": "contains", "value": "security"},
                {"field": "intent.name", "op": "starts_with", "value": "security."},
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
            "all": [
                {"field": "intent.name", "op": "starts_with", "value": "billing."},
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
            "all": [
                {"field": "intent.name", "op": "starts_with", "value": "technical."},
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
        parser.add_argument(
            "--no-history",
            action="store_true",
            help="Only the desk's setup: no cases from the days before and today's shift.",
        )
        parser.add_argument(
            "--star",
            metavar="PATH",
            help="STAR dialogues: their support conversations join the history, and --live of "
            "them are written to --live-file for a replay once the desk is up.",
        )
        parser.add_argument("--live", type=int, default=0, metavar="N")
        parser.add_argument("--live-file", metavar="PATH")

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
        office = queues[OFFICE_HOURS_QUEUE]
        if not office.business_hours:  # an admin's own hours survive a reseed
            queue_hours_set(
                queue=office,
                time_zone=closed_zone(timezone.now()),
                business_hours=OFFICE_HOURS,
                holidays=[],
                unstaffed_after_minutes=None,
            )

        # Billing pushes (issue 17): the desk offers its cases to Sam and Riley in the browser.
        queue_assignment_set(
            queue=queues[PUSH_QUEUE],
            mode=AssignmentMode.PUSH,
            offer_seconds=30,
            misses_before_away=3,
            reserved_slots=0,
        )
        for name, label, queue in INTENTS:
            Intent.objects.update_or_create(
                name=name, defaults={"label": label, "queue_hint": queues[queue], "is_active": True}
            )
        Intent.objects.filter(name__in=RETIRED_INTENTS).update(is_active=False)
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
        if options["live"] < 0:
            raise CommandError("--live must be 0 or more.")
        manager = User.objects.get(username="admin")
        for title, scope, body in CANNED:
            if not CannedReply.objects.filter(name=title).exists():
                canned_reply_create(
                    actor=manager, name=title, body=body, queue=queues[scope] if scope else None
                )
        if options["no_history"]:
            return
        report = seed_day(
            integration=integration,
            supervisor=User.objects.get(username="supervisor"),
            star=Path(options["star"]) if options["star"] else None,
            live_file=Path(options["live_file"]) if options["live_file"] else None,
            live=options["live"],
            greeting=CannedReply.objects.filter(name=CANNED[0][0], is_active=True).first(),
        )
        if report.cases:
            self.stdout.write(
                f"History: {report.cases} cases over the days before and today's shift, "
                f"{report.resolved} resolved ({report.rated} rated), {report.corrected} intents "
                f"corrected, {report.reassigned} reassigned."
            )
        else:
            self.stdout.write("History: already seeded.")
        if report.live:
            self.stdout.write(f"Live: {report.live} recorded conversations to replay.")
