"""Server time of the workspace pages on a full desk, beside a trivial page of the same server.

    cd /work/main && .venv/bin/python bench/pages.py --requests 200

What it does, in one run and under one configuration:

1. Drops and recreates a PostgreSQL database (``handoff_bench_pages``), migrates it with
   ``DJANGO_SETTINGS_MODULE=bench.settings`` (the roles migration makes the groups) and collects
   the static files, so ``{% static %}`` reads the manifest as in production (DEBUG off).
2. Seeds 100,000 cases over 6 queues with ``bulk_create``: 10,000 waiting in the queue measured
   (``billing``), the rest assigned, awaiting the customer or resolved, with realistic names,
   tiers, intents, triggers, risk flags, facts and missing context; a short transcript and the
   audit events of every case in SQL; and one case with a 500-message conversation (before and
   after the handoff, customer, bot, agent, notes, system), its events, steps and earlier cases.
   Then ``VACUUM ANALYZE``.
3. Logs in an agent who is a member of the queue (``Client.force_login``) and requests, in
   process with ``django.test.Client`` (Django's handling time: middleware, view, queries,
   templates; no HTTP, no network), round robin after a warm-up:

   - ``GET /healthz``: the baseline, the server's trivial page (one ``SELECT 1``, JSON);
   - ``GET /login/`` as an anonymous visitor: a trivial HTML page (a template, no query);
   - the queue page, the queue page filtered and searched, the queue page searched;
   - the case page of the 500-message case.

   Each request takes its connection from the psycopg pool and gives it back, as under the
   server. Queries per request are counted once with ``CaptureQueriesContext``.
4. Prints p50 / p95 / max per page and the ratio to the baseline, PASS/FAIL against the targets
   (p95 < 100 ms; p95 at most 3x the baseline's), and for each page that misses one, the plan of
   its slowest query (``EXPLAIN ANALYZE``) with a hint of what would change it.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import math
import os
import platform
import pstats
import random
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402  (needs ROOT on sys.path)
    add_database_arguments,
    cpu_snapshot,
    cpu_use,
    database_url,
    execute,
    other_cores,
    percentile,
    prepare_page_bench,
    run_main,
    scalar,
    setup_django,
    utc_timestamp,
    versions,
    wait_for_quiet,
    weighted,
)

BENCH_DB = "handoff_bench_pages"
P95_TARGET_MS = 100.0
RATIO_TARGET = 3.0
QUEUE_SLUG = "billing"
BATCH = 2000

QUEUES = [  # slug, name, SLA seconds, share of the cases that are not waiting
    ("billing", "Billing", 600, 0.25),
    ("accounts", "Accounts & access", 900, 0.20),
    ("orders", "Orders & delivery", 1200, 0.25),
    ("tech", "Technical support", 1800, 0.15),
    ("security", "Trust & safety", 300, 0.05),
    ("general", "General", 900, 0.10),
]
FIRST_NAMES = [
    "Ana", "Liam", "Sofia", "Noah", "Mia", "Lucas", "Emma", "Mateo", "Olivia", "Yusuf", "Aiko",
    "Chen", "Priya", "Kwame", "Fatima", "Ivan", "Elena", "Omar", "Hana", "Diego", "Zara", "Ravi",
    "Lena", "Tomás", "Ingrid", "Kofi", "Mei", "Jonas", "Amara", "Pedro", "Nadia", "Sven",
    "Leila", "Marco", "Aisha", "Felix", "Chloé", "Arjun", "Greta", "Malik",
]  # fmt: skip
LAST_NAMES = [
    "Ruiz", "Okafor", "Nguyen", "Schmidt", "Kowalski", "Haddad", "Tanaka", "Silva",
    "Johansson", "Moreau", "Rossi", "Petrov", "Novak", "Dubois", "Garcia", "Müller", "Ahmed",
    "Kim", "Singh", "O'Brien", "Costa", "Yilmaz", "Jansen", "Fischer", "Kaur", "Mensah",
    "Lindqvist", "Papadopoulos", "Brennan", "Castillo",
]  # fmt: skip
TIERS = [("", 20), ("standard", 45), ("silver", 15), ("gold", 12), ("platinum", 5), ("vip", 3)]
INTENTS = [
    "billing.refund", "billing.double_charge", "billing.invoice", "billing.payment_failed",
    "billing.cancel_subscription", "billing.change_plan", "account.locked", "account.password",
    "account.2fa", "account.close", "account.email_change", "order.where_is_my_order",
    "order.damaged", "order.missing_item", "order.return", "order.change_address",
    "tech.app_crash", "tech.login_error", "tech.sync", "tech.notifications",
    "security.fraud_report", "security.suspicious_login", "general.complaint", "general.other",
]  # fmt: skip
# Triggers, flags, channels and resolutions as bench/metrics.py seeds them, kept apart: each
# benchmark's data is part of what its figures mean.
TRIGGERS = [
    ("customer_request", 35),
    ("repeated_failure", 20),
    ("low_confidence", 15),
    ("frustration", 12),
    ("policy_sensitive", 8),
    ("high_value", 6),
    ("other", 4),
]
FLAG_ODDS = {
    "frustration": 0.15,
    "urgency": 0.08,
    "legal_threat": 0.02,
    "chargeback_threat": 0.04,
    "security": 0.05,
    "high_value": 0.06,
}
MISSING = [["order_id"], ["email"], ["account_id"], ["order_id", "amount"], ["device"]]
CHANNELS = ["web_chat", "web_chat", "whatsapp", "app", "messenger", "email"]
RESOLUTIONS = ["solved", "refund_issued", "information_given", "account_restored", "escalated"]
CUSTOMER_LINES = [
    "I was charged twice for my order and nobody is answering.",
    "Hi, my package says delivered but it's not here.",
    "Why is my account locked? I didn't do anything.",
    "Can I talk to a person please",
    "The app keeps crashing when I open the basket, I've reinstalled it twice already.",
    "I need the refund before Friday, the rent is due.\nPlease check it today.",
    "This is the third time I'm writing about the same invoice.",
    "ok",
    "My order number is A-10293 and the amount was 49.99 EUR.",
    "I got an email saying my password was changed but it wasn't me!",
]
BOT_LINES = [
    "I can help with that. Could you tell me your order number?",
    "Thanks! I'm looking that up for you now.",
    "I'm sorry, I couldn't find an order with that number. Could you check it?",
    "Here is what I found: your refund was requested on Monday and is being processed.",
    "I understand this is frustrating. Let me try something else.",
    "For your security I can't change account details in this chat.",
]
AGENT_LINES = [
    "Hi, I'm taking over from the assistant. I can see the whole conversation, so no need to "
    "repeat anything.",
    "I've found the duplicate charge and issued the refund; it shows in 3-5 working days.",
    "Could you confirm the last four digits of the card you paid with?",
    "Thanks, that matches. One moment while I check with the warehouse.",
    "I've unlocked the account and sent a reset link to the address on file.",
]
NOTE_LINES = [
    "Customer mentioned a chargeback; refund issued to avoid it.",
    "Warehouse confirms the parcel was left at the neighbour's. Asked the customer to check.",
    "Second contact this week about the same invoice; flagged to billing ops.",
]
SYSTEM_LINES = ["Agent joined the conversation.", "The customer is waiting for a reply."]


# --- seeding ----------------------------------------------------------------------------------


@dataclass
class Seeded:
    agent_id: int
    queue_id: int
    big_case_id: int
    big_case_messages: int
    big_case_events: int
    cases: int = 0
    waiting: int = 0
    search_term: str = ""
    search_flag: str = ""
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _customer(rng: random.Random) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    number = rng.randrange(40_000)
    tier = weighted(rng, TIERS)
    email = f"{first}.{last}{number % 97}@example.com".lower().replace("'", "")
    customer: dict[str, Any] = {
        "id": f"cus_{number}",
        "name": f"{first} {last}",
        "email": email,
        "language": rng.choice(["en", "en", "es", "de", "fr", "pt"]),
    }
    if tier:
        customer["tier"] = tier
    if rng.random() < 0.6:
        customer["lifetime_value"] = round(rng.lognormvariate(5.5, 1.2), 2)
        customer["account"] = {"plan": rng.choice(["basic", "family", "pro"]), "open_orders": 2}
    return customer


def _case_fields(rng: random.Random, number: int, now: datetime) -> dict[str, Any]:
    """Everything but status, queue, assignee and times: what a bot would have sent."""
    customer = _customer(rng)
    intent = rng.choice(INTENTS)
    confidence = round(rng.uniform(0.2, 0.99), 2)
    flags = [flag for flag, odds in FLAG_ODDS.items() if rng.random() < odds]
    facts: dict[str, Any] = {}
    if rng.random() < 0.7:
        facts["order_id"] = f"A-{rng.randrange(10_000, 99_999)}"
    if rng.random() < 0.5:
        facts["amount"] = f"{rng.uniform(5, 500):.2f}"
        facts["currency"] = rng.choice(["EUR", "USD", "GBP"])
    if rng.random() < 0.2:
        facts["device"] = rng.choice(["iPhone 15", "Pixel 8", "Galaxy S23", "Firefox on Windows"])
    trigger = weighted(rng, TRIGGERS)
    return {
        "external_id": f"conv-{number:07d}",
        "channel": rng.choice(CHANNELS),
        "priority": rng.choices([0, 1, 2, 3], weights=[15, 60, 20, 5])[0],
        "customer": customer,
        "customer_ref": customer["id"],
        "customer_name": customer["name"],
        "customer_email": customer["email"],
        "customer_tier": customer.get("tier", ""),
        "detected_intent": intent,
        "detected_confidence": confidence,
        "intent_alternatives": [
            {"name": rng.choice(INTENTS), "confidence": round(confidence / 2, 2)}
        ],
        "current_intent": intent,
        "trigger_reason": trigger,
        "trigger_detail": "refund flow failed twice" if trigger == "repeated_failure" else "",
        "trigger_derived": rng.random() < 0.2,
        "facts": facts,
        "risk_flags": flags,
        "risk_evidence": [{"flag": flag, "source": "bot"} for flag in flags],
        "missing_context": rng.choice(MISSING) if rng.random() < 0.2 else [],
        "summary": f"Customer asks about {intent.replace('.', ' ').replace('_', ' ')}.",
        "routing_rule": f"{intent.split('.')[0]} intents",
        "routing_explanation": f"rule 'intent starts with {intent.split('.')[0]}' matched",
        "ruleset_version": 1,
    }


def seed(args: argparse.Namespace) -> Seeded:
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from cases.models import AttemptedStep, Case, CaseEvent, Intent, IntentCorrection, Message
    from cases.services import integration_create
    from queues.models import Membership, Queue

    started = time.perf_counter()
    rng = random.Random(args.seed)
    now = timezone.now()
    queues = {
        slug: Queue.objects.create(
            slug=slug, name=name, sla_seconds=sla, sort_order=i, is_default=slug == "general"
        )
        for i, (slug, name, sla, _) in enumerate(QUEUES)
    }
    measured = queues[QUEUE_SLUG]
    integration, _ = integration_create(name="bench-bot")
    Intent.objects.bulk_create(
        Intent(name=name, label=name.replace(".", ": ").replace("_", " ")) for name in INTENTS
    )
    agent_group = Group.objects.get(name="agent")
    staff = []
    for number in range(40):
        user = User.objects.create_user(
            f"agent{number:02d}", first_name=rng.choice(FIRST_NAMES), last_name="Desk"
        )
        user.groups.add(agent_group)
        staff.append(user)
    Membership.objects.bulk_create(
        Membership(agent=user, queue=queues[QUEUES[i % len(QUEUES)][0]], capacity=5)
        for i, user in enumerate(staff)
    )
    agent = User.objects.create_user("bench-agent", first_name="Robin", last_name="Bench")
    agent.groups.add(agent_group)
    Membership.objects.create(agent=agent, queue=measured, capacity=5)

    # -- the cases: bulk_create in batches
    other_slugs = [slug for slug, *_ in QUEUES]
    other_weights = [share for *_, share in QUEUES]
    total, waiting = args.cases, args.waiting
    batch: list[Case] = []
    created = 0
    print(f"seeding {total:,} cases ({waiting:,} waiting in '{QUEUE_SLUG}') ...", flush=True)
    for number in range(total - 1):  # the 500-message case is the last
        fields = _case_fields(rng, number, now)
        if number < waiting:
            queue = measured
            status = Case.Status.WAITING
            handed = now - timedelta(seconds=rng.uniform(0, 3 * 3600))
            assignee = None
        else:
            queue = queues[rng.choices(other_slugs, weights=other_weights)[0]]
            roll = rng.random()
            status = (
                Case.Status.ASSIGNED
                if roll < 0.04
                else Case.Status.AWAITING_CUSTOMER
                if roll < 0.055
                else Case.Status.RESOLVED
            )
            handed = now - timedelta(
                seconds=rng.uniform(0, 8 * 3600)
                if status != Case.Status.RESOLVED
                else rng.uniform(3600, 90 * 86400)
            )
            assignee = rng.choice(staff)
        claimed = None if assignee is None else handed + timedelta(seconds=rng.uniform(20, 900))
        resolved = status == Case.Status.RESOLVED
        batch.append(
            Case(
                integration=integration,
                status=status,
                queue=queue,
                routed_queue=queue,
                assignee=assignee,
                handed_off_at=handed,
                sla_due_at=handed + timedelta(seconds=queue.sla_seconds),
                sla_breached=claimed is not None
                and claimed > handed + timedelta(seconds=queue.sla_seconds),
                first_claimed_at=claimed,
                first_human_reply_at=claimed + timedelta(seconds=40) if claimed else None,
                resolved_at=claimed + timedelta(seconds=rng.uniform(120, 3600))
                if resolved and claimed
                else None,
                resolution_code=rng.choice(RESOLUTIONS) if resolved else "",
                customer_repeated=rng.random() < 0.1 if resolved else None,
                version=1 if assignee is None else 3 if not resolved else 5,
                **fields,
            )
        )
        if len(batch) >= BATCH:
            Case.objects.bulk_create(batch)
            created += len(batch)
            batch = []
            if created % 20_000 == 0:
                print(f"  {created:,} cases", flush=True)
    Case.objects.bulk_create(batch)

    # -- the 500-message case: assigned to the agent, a customer with earlier cases
    fields = _case_fields(rng, total, now)
    fields.update(
        customer_name="Ana Ruiz",
        customer_tier="gold",
        risk_flags=["chargeback_threat", "frustration"],
        risk_evidence=[
            {"flag": "chargeback_threat", "source": "bot"},
            {"flag": "frustration", "source": "derived", "evidence": "third time", "message": "m5"},
        ],
        missing_context=["order_id"],
        facts={"order_id": "A-1009", "amount": "49.99", "currency": "EUR", "plan": "family"},
        trigger_reason="repeated_failure",
    )
    handed = now - timedelta(hours=2)
    big = Case.objects.create(
        integration=integration,
        status=Case.Status.ASSIGNED,
        queue=measured,
        routed_queue=measured,
        assignee=agent,
        handed_off_at=handed,
        sla_due_at=handed + timedelta(seconds=measured.sla_seconds),
        first_claimed_at=handed + timedelta(minutes=3),
        first_human_reply_at=handed + timedelta(minutes=4),
        handoff_count=2,
        **fields,
    )
    earlier = list(Case.objects.filter(status=Case.Status.RESOLVED).order_by("pk")[:4])
    Case.objects.filter(pk__in=[c.pk for c in earlier]).update(
        customer_ref=big.customer_ref, integration=integration
    )
    Case.objects.filter(pk=big.pk).update(previous_case=earlier[0])
    messages_, events = _big_transcript(rng, big, agent, staff[0], args.messages, handed)
    Message.objects.bulk_create(messages_, batch_size=BATCH)
    CaseEvent.objects.bulk_create(events, batch_size=BATCH)
    Case.objects.filter(pk=big.pk).update(version=len(events))
    AttemptedStep.objects.bulk_create(
        AttemptedStep(case=big, position=i, name=name, outcome=outcome, detail=detail)
        for i, (name, outcome, detail) in enumerate(
            [
                ("refund_lookup", "failed", "order not found"),
                ("refund_lookup", "failed", "order not found"),
                ("identity_check", "succeeded", ""),
            ]
        )
    )
    IntentCorrection.objects.create(
        case=big,
        from_intent=big.current_intent,
        to_intent="billing.double_charge",
        agent=agent,
        reason="charged twice",
    )
    print("seeding transcripts and audit events in SQL ...", flush=True)
    _seed_background_rows(args.transcript, big.pk)

    print("VACUUM ANALYZE ...", flush=True)
    execute("VACUUM ANALYZE")
    flag, term = args.flag, args.search
    rows = {
        table: int(scalar(f"SELECT count(*) FROM {table}"))
        for table in ("cases_case", "cases_message", "cases_caseevent", "auth_user")
    }
    return Seeded(
        agent_id=agent.pk,
        queue_id=measured.pk,
        big_case_id=big.pk,
        big_case_messages=len(messages_),
        big_case_events=len(events),
        cases=Case.objects.count(),
        waiting=Case.objects.filter(queue=measured, status=Case.Status.WAITING).count(),
        search_term=term,
        search_flag=flag,
        rows=rows,
        seconds=time.perf_counter() - started,
    )


def _big_transcript(
    rng: random.Random, case: Any, agent: Any, colleague: Any, count: int, handed: datetime
) -> tuple[list[Any], list[Any]]:
    from cases.models import CaseEvent, Message

    before = count * 3 // 5
    messages_: list[Message] = []
    events: list[CaseEvent] = [
        CaseEvent(case=case, kind="created", actor_label="integration:bench-bot", case_version=1),
        CaseEvent(case=case, kind="routed", actor_label="routing", case_version=1),
        CaseEvent(case=case, kind="claimed", actor=agent, case_version=2),
    ]
    start = handed - timedelta(seconds=20 * before)
    for seq in range(1, count + 1):
        if seq <= before:
            role = "customer" if seq % 2 else "bot"
            text = rng.choice(CUSTOMER_LINES if role == "customer" else BOT_LINES)
            at = start + timedelta(seconds=20 * seq)
            phase, author = "before_handoff", None
        else:
            role = rng.choices(["customer", "agent", "note", "system"], weights=[4, 4, 1, 1])[0]
            choices = {
                "customer": CUSTOMER_LINES,
                "agent": AGENT_LINES,
                "note": NOTE_LINES,
                "system": SYSTEM_LINES,
            }[role]
            text = rng.choice(choices)
            at = handed + timedelta(seconds=15 * (seq - before))
            phase = "after_handoff"
            author = (
                (agent if rng.random() < 0.8 else colleague) if role in {"agent", "note"} else None
            )
            kind = {"customer": "customer_message", "agent": "replied", "note": "noted"}.get(role)
            if kind:
                events.append(
                    CaseEvent(
                        case=case,
                        kind=kind,
                        actor=author,
                        actor_label="" if author else "integration:bench-bot",
                        case_version=len(events) + 1,
                    )
                )
        messages_.append(
            Message(
                case=case,
                seq=seq,
                external_id=f"m{seq}" if phase == "before_handoff" else "",
                dedupe_key=f"id:m{seq}" if phase == "before_handoff" else f"desk:{seq}",
                role=role,
                text=text,
                sent_at=at,
                author=author,
                phase=phase,
            )
        )
    return messages_, events


def _seed_background_rows(transcript: int, big_case_id: int) -> None:
    """A short transcript and the audit events of every other case, generated in PostgreSQL."""
    customer = [line.replace("'", "''") for line in CUSTOMER_LINES]
    bot = [line.replace("'", "''") for line in BOT_LINES]
    customer_array = "ARRAY[" + ",".join(f"'{line}'" for line in customer) + "]"
    bot_array = "ARRAY[" + ",".join(f"'{line}'" for line in bot) + "]"
    if transcript > 0:
        execute(
            f"""
            INSERT INTO cases_message
                (case_id, seq, external_id, dedupe_key, role, text, sent_at, phase, created_at)
            SELECT c.id, s, 'm' || s, 'id:m' || s,
                   CASE WHEN mod(s, 2) = 1 THEN 'customer' ELSE 'bot' END,
                   CASE WHEN mod(s, 2) = 1
                        THEN ({customer_array})[1 + mod(c.id + s, {len(customer)})]
                        ELSE ({bot_array})[1 + mod(c.id + s, {len(bot)})] END,
                   c.handed_off_at - make_interval(secs => ({transcript} - s) * 20),
                   'before_handoff', c.handed_off_at
            FROM cases_case c CROSS JOIN generate_series(1, {transcript}) AS s
            WHERE c.id <> %s
            """,
            [big_case_id],
        )
    execute(
        """
        INSERT INTO cases_caseevent (case_id, kind, actor_id, actor_label, data, case_version,
                                     created_at)
        SELECT c.id, k.kind,
               CASE WHEN k.kind IN ('claimed', 'resolved') THEN c.assignee_id END,
               CASE WHEN k.kind IN ('created', 'routed') THEN 'integration:bench-bot' ELSE '' END,
               '{}'::jsonb, k.version,
               CASE k.kind WHEN 'claimed' THEN c.first_claimed_at
                           WHEN 'resolved' THEN c.resolved_at ELSE c.handed_off_at END
        FROM cases_case c
        JOIN (VALUES ('created', 1, 0), ('routed', 1, 0), ('claimed', 2, 1), ('resolved', 5, 2))
             AS k(kind, version, needs) ON k.needs = 0
               OR (k.needs = 1 AND c.assignee_id IS NOT NULL)
               OR (k.needs = 2 AND c.status = 'resolved' AND c.resolved_at IS NOT NULL)
        WHERE c.id <> %s
        """,
        [big_case_id],
    )


# --- measuring --------------------------------------------------------------------------------


@dataclass
class Page:
    name: str
    path: str
    anonymous: bool = False
    baseline: bool = False
    reference: bool = False  # reported beside the baseline, not held to the targets
    status: int = 0
    bytes: int = 0
    queries: int = 0
    sql_ms: float = 0.0
    statements: list[str] = field(default_factory=list)
    slowest_sql: str = ""
    slowest_ms: float = 0.0
    split: dict[str, float] = field(default_factory=dict)
    query_ms: list[tuple[str, float]] = field(default_factory=list)
    samples: list[float] = field(default_factory=list, repr=False)
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    max_ms: float = 0.0
    mean_ms: float = 0.0
    note: str = ""


def _statement_shape(sql_text: str) -> str:
    text = " ".join(sql_text.split())
    verb = text.split(" ", 1)[0].upper()
    table = re.search(r'FROM\s+"?(\w+)"?', text, re.IGNORECASE)
    if verb != "SELECT":
        table = re.search(r'(?:INTO|UPDATE)\s+"?(\w+)"?', text, re.IGNORECASE) or table
    suffix = " (count)" if verb == "SELECT" and "COUNT(" in text.upper() else ""
    return f"{verb} {table.group(1) if table else ''}{suffix}".strip()


def profile_queries(page: Page, client: Any) -> None:
    """One request under CaptureQueriesContext: its queries, their time, the slowest, and how
    its time splits between SQL, Python in the templates and the rest of the Python."""
    from django.db import close_old_connections, connection
    from django.template.backends import django as django_templates
    from django.test.utils import CaptureQueriesContext

    timings: list[tuple[float, float]] = []  # (start, ms) of each query
    renders: list[tuple[float, float]] = []  # (start, end) of each outermost template render
    depth = [0]

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((started, (time.perf_counter() - started) * 1000))

    original = django_templates.Template.render

    def render(self: Any, context: Any = None, request: Any = None) -> Any:
        depth[0] += 1
        started = time.perf_counter()
        try:
            return original(self, context, request)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                renders.append((started, time.perf_counter()))

    django_templates.Template.render = render  # type: ignore[method-assign]
    try:
        with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timed):
            started = time.perf_counter()
            response = client.get(page.path)
            total = (time.perf_counter() - started) * 1000
    finally:
        django_templates.Template.render = original  # type: ignore[method-assign]
    close_old_connections()
    page.status = response.status_code
    page.bytes = len(response.content)
    queries = captured.captured_queries
    page.queries = len(queries)
    page.statements = [_statement_shape(q["sql"]) for q in queries]
    durations = [ms for _, ms in timings]
    page.sql_ms = round(sum(durations), 2)
    render_ms = sum((end - start) * 1000 for start, end in renders)
    sql_in_render = sum(
        ms for at, ms in timings if any(start <= at <= end for start, end in renders)
    )
    page.split = {
        "total_ms": round(total, 2),
        "sql_ms": page.sql_ms,
        "templates_ms": round(render_ms - sql_in_render, 2),
        "other_python_ms": round(total - page.sql_ms - (render_ms - sql_in_render), 2),
    }
    if queries and len(durations) == len(queries):
        page.query_ms = sorted(
            ((page.statements[i], round(ms, 2)) for i, ms in enumerate(durations)),
            key=lambda item: -item[1],
        )
        index = max(range(len(queries)), key=durations.__getitem__)
        page.slowest_sql = queries[index]["sql"]
        page.slowest_ms = round(durations[index], 2)


class Fetcher:
    """Requests a page the way the server runs it; returns its status.

    ``asgi`` (default): ``django.test.AsyncClient`` through Django's ASGI handler, as under
    uvicorn: the async middleware chain, and each request in its own ``ThreadSensitiveContext``
    (a fresh thread for the sync view, its connection taken from the pool and given back).
    ``sync``: ``django.test.Client`` through the WSGI handler; the async-only middleware
    (ServeStatic) is then adapted with ``async_to_sync`` on every request, which the server
    never does.
    """

    def __init__(self, kind: str, agent: Any) -> None:
        from django.test import AsyncClient, Client

        self.kind = kind
        self.loop: Any = None
        if kind == "asgi":
            try:
                import uvloop

                self.loop = uvloop.new_event_loop()
            except ImportError:  # pragma: no cover - uvloop is in the lock file
                import asyncio

                self.loop = asyncio.new_event_loop()
            self.clients: dict[bool, Any] = {False: AsyncClient(), True: AsyncClient()}
            self.loop.run_until_complete(self.clients[False].aforce_login(agent))
        else:
            self.clients = {False: Client(), True: Client()}
            self.clients[False].force_login(agent)

    async def _aget(self, client: Any, path: str) -> tuple[int, float]:
        from asgiref.sync import ThreadSensitiveContext, sync_to_async
        from django.db import close_old_connections

        started = time.perf_counter()
        async with ThreadSensitiveContext():  # as ASGIHandler does for every request
            response = await client.get(path)
            # The request's thread gives its connection back to the pool, as after a request.
            await sync_to_async(close_old_connections)()
        return response.status_code, (time.perf_counter() - started) * 1000

    def get(self, page: Page) -> tuple[int, float]:
        """(status, milliseconds)"""
        from django.db import close_old_connections

        client = self.clients[page.anonymous]
        if self.loop is not None:
            status, elapsed = self.loop.run_until_complete(self._aget(client, page.path))
            return int(status), float(elapsed)
        started = time.perf_counter()
        response = client.get(page.path)
        close_old_connections()  # the connection goes back to the pool, as after a request
        return response.status_code, (time.perf_counter() - started) * 1000

    def close(self) -> None:
        if self.loop is not None:
            self.loop.close()


CHUNK_ROUNDS = 10


def measure(
    pages: list[Page],
    fetcher: Fetcher,
    requests: int,
    warmup: int,
    database: str,
    quiet_threshold: float,
    wait_budget: float,
) -> dict[str, float]:
    """Round robin over the pages, so drift (autovacuum, caches) touches them all alike.

    Measured in chunks of ten rounds; a chunk during which other processes used more than
    ``quiet_threshold`` cores is dropped and measured again once the machine is quiet, for up
    to ``wait_budget`` seconds in all (after that every chunk is kept, and the report says how
    busy the machine was). Returns the CPU used in the chunks kept.
    """
    for _ in range(warmup):
        for page in pages:
            fetcher.get(page)
    deadline = time.monotonic() + wait_budget
    kept = dropped = 0
    seconds = 0.0
    totals = {"bench_cores": 0.0, "postgres_cores": 0.0, "other_cores": 0.0, "machine_cores": 0.0}
    while kept < requests:
        rounds = min(CHUNK_ROUNDS, requests - kept)
        chunk: dict[str, list[float]] = {page.name: [] for page in pages}
        before = cpu_snapshot([], database)
        for _ in range(rounds):
            for page in pages:
                status, elapsed = fetcher.get(page)
                if status != page.status:
                    raise RuntimeError(f"{page.path} answered {status} while measuring")
                chunk[page.name].append(elapsed)
        after = cpu_snapshot([], database)
        busy = other_cores(before, after)
        if busy > quiet_threshold and time.monotonic() < deadline:
            dropped += rounds
            print(
                f"  dropped {rounds} rounds: other processes used {busy:.2f} cores; waiting ...",
                flush=True,
            )
            wait_for_quiet(database, max(deadline - time.monotonic(), 0.0), quiet_threshold)
            continue
        for page in pages:
            page.samples.extend(chunk[page.name])
        wall = after.at - before.at
        use = cpu_use(before, after)
        totals["bench_cores"] += use["client_cores"] * wall
        totals["postgres_cores"] += use["postgres_cores"] * wall
        totals["other_cores"] += busy * wall
        totals["machine_cores"] += use["machine_cores"] * wall
        seconds += wall
        kept += rounds
        if kept % 50 == 0 or kept == requests:
            print(f"  {kept}/{requests} rounds", flush=True)
    for page in pages:
        ordered = sorted(page.samples)
        page.p50_ms = round(percentile(ordered, 50), 2)
        page.p95_ms = round(percentile(ordered, 95), 2)
        page.max_ms = round(ordered[-1], 2)
        page.mean_ms = round(sum(ordered) / len(ordered), 2)
    cpu = {key: round(value / seconds, 3) if seconds else 0.0 for key, value in totals.items()}
    cpu["rounds_dropped"] = dropped
    cpu["wait_exhausted"] = time.monotonic() >= deadline
    return cpu


def explain(sql_text: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql_text)
        return [str(row[0]) for row in cursor.fetchall()]


def plan_hints(plan: list[str], sql_text: str) -> list[str]:
    """What in a plan usually means an index or a query change would help."""
    text = "\n".join(plan)
    hints = []
    if re.search(r"Seq Scan on cases_case", text):
        hints.append(
            "a sequential scan of cases_case: an index matching the WHERE clause would avoid it"
        )
    removed = [int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", text)]
    if removed and max(removed) > 1000 and "LIKE" in sql_text.upper():
        hints.append(
            f"up to {max(removed):,} rows read and dropped by a LIKE filter: substring search "
            "(icontains) cannot use a b-tree; a pg_trgm GIN index on the searched columns "
            "(customer_name, customer_email, external_id, facts::text) or a search vector would"
        )
    if "COUNT(" in sql_text.upper() and removed:
        hints.append(
            "the paginator's COUNT(*) reads every matching row once more: cap the count "
            "(count up to 1,000 and show '1,000+') or reuse the list's own scan"
        )
    scanned = [int(n) for n in re.findall(r"Heap Scan on cases_case .*?rows=(\d+) loops", text)]
    if plan and "Aggregate" in plan[0] and scanned and max(scanned) > 5000:
        hints.append(
            f"an aggregate over {max(scanned):,} cases on every request (the queue's live "
            "figures over all its open cases): cache them for a second or two per queue, or keep "
            "per-queue counters updated by the services, instead of counting on every view"
        )
    if re.search(r"Sort Method: external", text):
        hints.append("the sort spilled to disk: an index in the ORDER BY order would avoid it")
    if re.search(r"Sort Method: top-N heapsort", text):
        hints.append(
            "a top-N sort over all matching rows: the order index (queue, status, -priority, "
            "sla_due_at) is not used for this filter"
        )
    if not hints:
        hints.append("no sign of a missing index or a bad plan in this plan")
    return hints


def cprofile_page(client: Any, path: str, repeat: int = 20, top: int = 25) -> str:
    from django.db import close_old_connections

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        client.get(path)
        close_old_connections()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


# --- the report -------------------------------------------------------------------------------


def verdict_for(pages: list[Page], baseline: Page) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for page in pages:
        if page.baseline or page.anonymous or page.reference:
            continue
        ratio = page.p95_ms / baseline.p95_ms if baseline.p95_ms else math.inf
        result[page.name] = {
            "p95_ms": page.p95_ms,
            "p95_pass": page.p95_ms < P95_TARGET_MS and page.status == 200,
            "ratio": round(ratio, 2),
            "ratio_p50": round(page.p50_ms / baseline.p50_ms, 2) if baseline.p50_ms else None,
            "ratio_pass": ratio <= RATIO_TARGET,
        }
    return result


def report(figures: dict[str, Any]) -> str:
    config = figures["config"]
    seeded = figures["seeded"]
    pages = [Page(**{k: v for k, v in page.items() if k != "samples"}) for page in figures["pages"]]
    baseline = next(page for page in pages if page.baseline)
    verdict = figures["verdict"]
    lines = [
        "",
        f"Handoff Desk page benchmark, {figures['started_at']}",
        "",
        "server : in process, {handler}, no HTTP: middleware, view, queries, templates; "
        "settings {settings}, DEBUG off".format(
            handler="django.test.AsyncClient through the ASGI handler (as under uvicorn)"
            if config["client"] == "asgi"
            else "django.test.Client through the WSGI handler",
            **config,
        ),
        "         Django {django}, Python {python}, PostgreSQL {postgres}, psycopg {psycopg} "
        "(pool; each request takes and returns a connection)".format(**config),
        "machine: {cores} cores, {machine}".format(**config),
        f"data   : {seeded['cases']:,} cases, {seeded['waiting']:,} waiting in '{QUEUE_SLUG}'; "
        f"case #{seeded['big_case_id']} has {seeded['big_case_messages']} messages and "
        f"{seeded['big_case_events']} events; rows "
        + ", ".join(f"{table} {count:,}" for table, count in seeded["rows"].items())
        + f"; seeded in {seeded['seconds']:.0f} s, then VACUUM ANALYZE",
        f"load   : {config['warmup']} warm-up rounds, then {config['requests']} rounds over the "
        "pages (round robin), one request at a time",
        "cpu    : while measuring, this process {bench_cores:.2f} cores, PostgreSQL (bench "
        "database) {postgres_cores:.2f}, other processes {other_cores:.2f} (before: "
        "{other_cores_before:.2f}), machine {machine_cores:.2f}; {rounds_dropped} rounds "
        "dropped and measured again, the machine being busy".format(**figures["cpu"]),
        "",
        f"{'page':<16}{'path':<44}{'status':>7}{'KB':>7}{'queries':>8}{'sql ms':>8}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'p95/base':>10}",
    ]
    for page in pages:
        ratio = page.p95_ms / baseline.p95_ms if baseline.p95_ms else math.nan
        mark = " (baseline)" if page.baseline else ""
        lines.append(
            f"{page.name:<16}{page.path[:43]:<44}{page.status:>7}{page.bytes / 1024:>7.1f}"
            f"{page.queries:>8}{page.sql_ms:>8.2f}{page.p50_ms:>9.2f}{page.p95_ms:>9.2f}"
            f"{page.max_ms:>9.2f}{ratio:>10.1f}{mark}"
        )
    lines.append("")
    lines.append(
        f"baseline: {baseline.name} ({baseline.path}); targets: p95 < {P95_TARGET_MS:.0f} ms and "
        f"p95 <= {RATIO_TARGET:.0f}x the baseline's p95 ({baseline.p95_ms:.2f} ms)"
    )
    for name, item in verdict.items():
        lines.append(
            f"{name:<16} p95 {item['p95_ms']:7.2f} ms < {P95_TARGET_MS:.0f} ms "
            f"{'PASS' if item['p95_pass'] else 'FAIL'};  {item['ratio']:5.1f}x the baseline "
            f"(p50 {item['ratio_p50']:.1f}x) <= {RATIO_TARGET:.0f}x "
            f"{'PASS' if item['ratio_pass'] else 'FAIL'}"
        )
    lines += [
        "",
        "one request each after the measuring, sync client, CaptureQueriesContext: where the "
        "time goes",
        f"  {'page':<16}{'total ms':>9}{'SQL':>8}{'templates':>10}{'other':>8}   "
        "queries (slowest first, ms)",
    ]
    for page in pages:
        split = page.split
        slowest = ", ".join(f"{shape} {ms:.1f}" for shape, ms in page.query_ms[:4])
        lines.append(
            f"  {page.name:<16}{split.get('total_ms', 0):>9.1f}{split.get('sql_ms', 0):>8.1f}"
            f"{split.get('templates_ms', 0):>10.1f}{split.get('other_python_ms', 0):>8.1f}   "
            f"{page.queries}: {slowest or 'none'}"
        )
    lines += [
        "  (templates: Python time inside template rendering, SQL run from templates left out; "
        "other: middleware, view, ORM row building and the client)",
        "",
        "queries per request:",
    ]
    for page in pages:
        shapes = Counter(page.statements)
        listed = ", ".join(f"{s} x{n}" if n > 1 else s for s, n in shapes.items()) or "none"
        lines.append(f"  {page.name:<16}{page.queries:>3}: {listed}")
    for item in figures.get("explains", []):
        lines += [
            "",
            f"slowest query of {item['page']} ({item['ms']:.2f} ms in the profiled request):",
            "  " + " ".join(item["sql"].split())[:1200],
            "  plan:",
            *(f"    {line}" for line in item["plan"]),
            "  hints:",
            *(f"    - {hint}" for hint in item["hints"]),
        ]
    if figures.get("profile"):
        lines += [
            "",
            f"cProfile of {config['profile']} (20 requests, by own time):",
            figures["profile"],
        ]
    notes = list(figures["notes"])
    if figures["cpu"].get("rounds_dropped"):
        notes.append(
            f"{figures['cpu']['rounds_dropped']} rounds were measured while other processes "
            "used more than the quiet threshold of this machine's cores; they were dropped and "
            "measured again"
            + (
                ", until --wait-quiet ran out: the rounds after that were kept however busy the "
                "machine was."
                if figures["cpu"].get("wait_exhausted")
                else " once it was quiet."
            )
        )
    if figures["cpu"]["other_cores"] > 0.3:
        notes.append(
            f"Other processes used {figures['cpu']['other_cores']:.2f} cores while measuring: "
            "they competed for this machine's cores, so these figures are slower and noisier "
            "than a quiet machine gives (the p95s most of all). Run again when it is quiet."
        )
    lines += ["", "honesty notes:"] + [f"  - {note}" for note in notes]
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Queue, search and case page server time on a full desk, beside /healthz."
    )
    parser.add_argument("--cases", type=int, default=100_000, help="cases (default 100,000)")
    parser.add_argument(
        "--waiting", type=int, default=10_000, help="waiting cases in the queue (default 10,000)"
    )
    parser.add_argument(
        "--messages", type=int, default=500, help="messages of the big case (default 500)"
    )
    parser.add_argument(
        "--transcript",
        type=int,
        default=8,
        help="messages of every other case, made in SQL (default 8)",
    )
    parser.add_argument(
        "--requests", type=int, default=200, help="measured requests per page (default 200)"
    )
    parser.add_argument("--warmup", type=int, default=20, help="warm-up rounds (default 20)")
    parser.add_argument("--flag", default="security", help="risk flag filtered on")
    parser.add_argument("--search", default="okaf", help="search term (a name fragment)")
    parser.add_argument(
        "--baseline",
        choices=["healthz", "login"],
        default="healthz",
        help="the trivial page the ratio is against (default healthz)",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed for the data")
    parser.add_argument(
        "--client",
        choices=["asgi", "sync"],
        default="asgi",
        help="asgi: django.test.AsyncClient through the ASGI handler, as the server runs "
        "(default); sync: django.test.Client through the WSGI handler",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=300.0,
        help="seconds to wait at most for other processes to go quiet, before measuring and "
        "again for the chunks dropped while measuring (default 300)",
    )
    parser.add_argument(
        "--quiet-threshold",
        type=float,
        default=0.3,
        help="cores other processes may use for the machine to count as quiet (default 0.3)",
    )
    parser.add_argument(
        "--profile",
        choices=["queue", "queue filtered", "queue search", "case"],
        default=None,
        help="also print a cProfile of 20 requests of this page",
    )
    parser.add_argument(
        "--explain-all",
        action="store_true",
        help="EXPLAIN ANALYZE the slowest query of every page, not only of those that miss",
    )
    add_database_arguments(parser, BENCH_DB)
    parser.add_argument(
        "--settings", default="bench.settings", help="Django settings (default bench.settings)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.cases < args.waiting + 10 or args.waiting < 1 or args.requests < 1:
        parser.error("--cases must exceed --waiting; --waiting and --requests must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = utc_timestamp()
    db_url = database_url(args.database_url, args.database_name)
    with tempfile.TemporaryDirectory(prefix="handoff-bench-static-") as static_root:
        prepare_page_bench(args, db_url, static_root)
        return run(args, started_at, db_url)


def run(args: argparse.Namespace, started_at: str, db_url: str) -> int:
    setup_django()
    from django.contrib.auth.models import User
    from django.db import close_old_connections, connection
    from django.test import Client

    seeded = seed(args)
    print(
        f"seeded in {seeded.seconds:.0f} s: "
        + ", ".join(f"{t} {n:,}" for t, n in seeded.rows.items()),
        flush=True,
    )
    agent = User.objects.get(pk=seeded.agent_id)
    queue = f"/queues/{QUEUE_SLUG}/"
    pages = [
        Page("healthz", "/healthz", baseline=args.baseline == "healthz"),
        Page("login", "/login/", anonymous=True, baseline=args.baseline == "login"),
        Page("empty page", "/bench/empty-page", reference=True),
        Page("queue", queue),
        Page("queue filtered", f"{queue}?flag={args.flag}&q={args.search}"),
        Page("queue search", f"{queue}?q={args.search}"),
        Page("case", f"/cases/{seeded.big_case_id}/"),
    ]
    # Queries are counted, and profiled, with the sync client in this thread: the same view
    # runs the same queries under either handler.
    inspector = Client()
    inspector.force_login(agent)
    anonymous = Client()
    for page in pages:
        response = (anonymous if page.anonymous else inspector).get(page.path)
        close_old_connections()
        if response.status_code != 200:
            raise SystemExit(f"{page.path} answered {response.status_code}, not 200")
        page.status = response.status_code
    # What the searches find, so the figures can be read against it.
    from cases.selectors import QueueFilters, waiting_cases
    from queues.models import Queue

    measured = Queue.objects.get(pk=seeded.queue_id)
    found_filtered = waiting_cases(measured, QueueFilters(flag=args.flag, q=args.search)).count()
    found_search = waiting_cases(measured, QueueFilters(q=args.search)).count()
    by_name = {page.name: page for page in pages}
    by_name["queue filtered"].note = f"{found_filtered} of {seeded.waiting:,} waiting match"
    by_name["queue search"].note = f"{found_search} of {seeded.waiting:,} waiting match"
    close_old_connections()
    # The server's entry point, for what it does to the process as uvicorn loads it (it freezes
    # what is loaded so far out of the garbage collector's full passes).
    import handoff_site.asgi  # noqa: F401

    quiet = wait_for_quiet(args.database_name, args.wait_quiet, args.quiet_threshold)
    print(
        f"measuring {len(pages)} pages through the {args.client} handler: {args.warmup} warm-up "
        f"+ {args.requests} rounds ...",
        flush=True,
    )
    fetcher = Fetcher(args.client, agent)
    try:
        cpu = measure(
            pages,
            fetcher,
            args.requests,
            args.warmup,
            args.database_name,
            args.quiet_threshold,
            args.wait_quiet,
        )
    finally:
        fetcher.close()
    for page in pages:  # after the warm-up: a cold first request is not typical
        profile_queries(page, anonymous if page.anonymous else inspector)
    baseline = next(page for page in pages if page.baseline)
    verdict = verdict_for(pages, baseline)
    explains = []
    for page in pages:
        item = verdict.get(page.name)
        missed = item is not None and not (item["p95_pass"] and item["ratio_pass"])
        if page.slowest_sql and (missed or args.explain_all) and not page.baseline:
            plan = explain(page.slowest_sql)
            hints = plan_hints(plan, page.slowest_sql)
            split = page.split
            if split.get("templates_ms", 0) + split.get("other_python_ms", 0) > split.get(
                "sql_ms", 0
            ):
                hints.insert(
                    0,
                    f"SQL is {split['sql_ms']:.1f} ms of this page's {split['total_ms']:.1f} ms; "
                    f"{split['templates_ms']:.1f} ms is Python in the templates and "
                    f"{split['other_python_ms']:.1f} ms other Python: no index changes that part",
                )
            explains.append(
                {
                    "page": page.name,
                    "sql": page.slowest_sql,
                    "ms": page.slowest_ms,
                    "plan": plan,
                    "hints": hints,
                }
            )
    profile = ""
    if args.profile:
        path = next(page.path for page in pages if page.name == args.profile)
        profile = cprofile_page(inspector, path)
    postgres = str(scalar("SHOW server_version"))
    library = versions("django", "psycopg")
    close_old_connections()
    with contextlib.suppress(AttributeError):
        connection.close_pool()  # type: ignore[attr-defined]

    figures: dict[str, Any] = {
        "started_at": started_at,
        "config": {
            "settings": args.settings,
            "django": library["django"],
            "psycopg": library["psycopg"],
            "python": platform.python_version(),
            "postgres": postgres,
            "cores": os.cpu_count(),
            "machine": platform.platform(terse=True),
            "requests": args.requests,
            "warmup": args.warmup,
            "database": args.database_name,
            "baseline": args.baseline,
            "profile": args.profile,
            "client": args.client,
        },
        "seeded": asdict(seeded),
        "pages": [asdict(page) for page in pages],
        "verdict": verdict,
        "explains": explains,
        "profile": profile,
        "cpu": {**cpu, "other_cores_before": round(quiet, 3)},
        "notes": [
            "Server time in process: the test client builds the request and runs Django's whole "
            "handler (middleware, view, ORM, templates); no socket and no HTTP parsing. With the "
            "ASGI handler each request also pays the hop to a fresh thread for the sync view, "
            "as under uvicorn. The same overheads are in the baseline's figure.",
            "One request at a time: this is the time of one request, not of the page under load.",
            f"queue filtered: {by_name['queue filtered'].note}; "
            f"queue search: {by_name['queue search'].note}.",
            "sql ms is the database time of the one profiled request (CaptureQueriesContext); "
            "the rest of a page's time is Python: middleware, view, ORM rows and templates.",
            "Queries counted with CaptureQueriesContext (which forces the debug cursor for that "
            "one request); the timed requests run without it, DEBUG off.",
        ],
    }
    print(report(figures), flush=True)
    if args.json:
        for page in figures["pages"]:
            page.pop("samples", None)
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
        print(f"\nfigures written to {args.json}")
    passed = all(item["p95_pass"] and item["ratio_pass"] for item in verdict.values())
    return 0 if passed else 1


if __name__ == "__main__":
    run_main(main)
