"""A desk full of realistic cases, for the benchmarks that read them (pages, metrics): queues,
bots, intents and agents, then cases written with COPY in handoff order (pk order is time order,
as on a live desk), every concrete column filled as the intake and the agents would."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

from bench.lib import db

QUEUES = [  # slug, name, SLA seconds, the intent prefix its rule routes
    ("billing", "Billing", 600, "billing"), ("accounts", "Accounts & access", 900, "account"),
    ("orders", "Orders & delivery", 1200, "order"), ("tech", "Technical support", 1800, "tech"),
    ("security", "Trust & safety", 300, "security"), ("general", "General", 900, "general"),
]  # fmt: skip
INTEGRATIONS = [  # name, share of the handoffs, how often its packages lack each key context
    ("web-assistant", 0.5, {"customer_identity": 0.03, "attempted_steps": 0.1}),
    ("whatsapp-bot", 0.3, {"customer_identity": 0.08, "attempted_steps": 0.25}),
    ("voice-ivr", 0.2, {"customer_identity": 0.15, "attempted_steps": 0.4,
                        "customer_message": 0.2}),
]  # fmt: skip
INTENTS = [
    "billing.refund", "billing.double_charge", "billing.invoice", "billing.payment_failed",
    "billing.cancel_subscription", "billing.change_plan", "billing.coupon",
    "account.locked", "account.password", "account.2fa", "account.close",
    "account.email_change", "account.data_export",
    "order.where_is_my_order", "order.damaged", "order.missing_item", "order.return",
    "order.change_address", "order.cancel",
    "tech.app_crash", "tech.login_error", "tech.sync", "tech.notifications", "tech.payment_page",
    "security.fraud_report", "security.suspicious_login", "security.phishing",
    "general.complaint", "general.feedback", "general.other",
]  # fmt: skip
NAMES = [
    "Ana Ruiz", "Liam Okafor", "Sofia Nguyen", "Noah Schmidt", "Mia Kowalski", "Yusuf Haddad",
    "Aiko Tanaka", "Priya Singh", "Kwame Mensah", "Elena Petrov", "Diego Castillo",
]  # fmt: skip
LINES = {
    "customer": [
        "I was charged twice for my order and nobody is answering.",
        "Hi, my package says delivered but it's not here.",
        "Why is my account locked? I didn't do anything.", "Can I talk to a person please",
        "The app keeps crashing when I open the basket, I've reinstalled it twice already.",
        "I need the refund before Friday, the rent is due.",
        "This is the third time I'm writing about the same invoice.",
        "My order number is A-10293 and the amount was 49.99 EUR.",
        "I got an email saying my password was changed but it wasn't me!",
    ],
    "bot": [
        "I can help with that. Could you tell me your order number?",
        "I'm sorry, I couldn't find an order with that number.",
        "For your security I can't change account details in this chat.",
    ],
}  # fmt: skip
TRIGGERS = [
    ("customer_request", 35), ("repeated_failure", 20), ("low_confidence", 15),
    ("frustration", 12), ("policy_sensitive", 8), ("high_value", 6), ("other", 4),
]  # fmt: skip
FLAG_ODDS = {
    "frustration": 0.15, "urgency": 0.08, "legal_threat": 0.02, "chargeback_threat": 0.04,
    "security": 0.05, "high_value": 0.06,
}  # fmt: skip
CHANNELS = ["web_chat", "web_chat", "whatsapp", "app", "messenger", "email"]
RESOLUTIONS = ["solved", "refund_issued", "information_given", "account_restored", "escalated"]


def weighted(rng: random.Random, pairs: list[tuple[str, int]]) -> str:
    return rng.choices([value for value, _ in pairs], weights=[w for _, w in pairs])[0]


def desk(agents: int) -> dict[str, Any]:
    """The queues, the bots, the intent catalogue and ``agents`` agents, each a member of one
    queue (no password hashing: they never log in); the ids the cases refer to."""
    from django.contrib.auth.models import Group, User

    from bench.lib import app

    queues = {
        prefix: app.Queue.objects.create(
            slug=slug, name=name, sla_seconds=sla, sort_order=i, is_default=slug == "general"
        )
        for i, (slug, name, sla, prefix) in enumerate(QUEUES)
    }
    integrations = [app.integration_create(name=name)[0] for name, *_ in INTEGRATIONS]
    app.Intent.objects.bulk_create(
        app.Intent(name=name, label=name.replace(".", ": ").replace("_", " ")) for name in INTENTS
    )
    staff = User.objects.bulk_create(
        User(username=f"agent{n:02d}", first_name=NAMES[n % 11][:4], last_name="Desk", password="!")
        for n in range(agents)
    )
    Group.objects.get(name="agent").user_set.add(*staff)
    app.Membership.objects.bulk_create(
        app.Membership(agent=user, queue=list(queues.values())[i % len(queues)], capacity=5)
        for i, user in enumerate(staff)
    )
    return {
        "queues": {prefix: (q.pk, q.sla_seconds) for prefix, q in queues.items()},
        "integrations": [i.pk for i in integrations],
        "staff": [u.pk for u in staff],
    }


def handoff_times(rng: random.Random, count: int, days: int, now: datetime) -> list[datetime]:
    """Handoff times over the last ``days`` days: quieter weekends and nights, sorted."""
    start = now - timedelta(days=days)
    day_weights = [0.6 if (start + timedelta(days=d)).weekday() >= 5 else 1.0 for d in range(days)]
    hour_weights = [0.2] * 7 + [1.0] * 12 + [0.6] * 5
    times = []
    for day in rng.choices(range(days), weights=day_weights, k=count):
        hour = rng.choices(range(24), weights=hour_weights)[0]
        at = start + timedelta(days=day, hours=hour, seconds=rng.uniform(0, 3600))
        times.append(min(at, now - timedelta(seconds=rng.uniform(1, 60))))
    return sorted(times)


def status_of(rng: random.Random, age: timedelta) -> str:
    if age < timedelta(hours=1):
        return weighted(rng, [("waiting", 50), ("assigned", 40), ("awaiting_customer", 10)])
    if age < timedelta(days=2):
        pairs = [("resolved", 45), ("assigned", 20), ("awaiting_customer", 15), ("waiting", 20)]
    else:
        pairs = [("resolved", 73), ("assigned", 9), ("awaiting_customer", 12), ("waiting", 6)]
    return weighted(rng, pairs)


def cases(
    rng: random.Random, count: int, days: int, now: datetime, ids: dict[str, Any], waiting: int = 0
) -> list[tuple[int, datetime, Any, Any, str]]:
    """COPY ``count`` cases into cases_case; with ``waiting``, the last that many wait in
    billing (handed off in the last three hours) and no other case waits. Returns (id, handed,
    claimed, resolved, detected intent) of each."""
    from django.db import transaction

    from bench.lib import app

    fields = list(app.Case._meta.concrete_fields)
    defaults = {f.attname: f.get_default() for f in fields}
    queues: dict[str, tuple[int, int]] = ids["queues"]  # prefix -> (queue id, sla seconds)
    queue_ids = [queue_id for queue_id, _ in queues.values()]
    rows: list[tuple[Any, ...]] = []
    kept: list[tuple[int, datetime, Any, Any, str]] = []
    times = handoff_times(rng, count - waiting, days, now)
    times += sorted(now - timedelta(seconds=rng.uniform(0, 3 * 3600)) for _ in range(waiting))
    for number, handed in enumerate(times, start=1):
        which = rng.choices(range(len(INTEGRATIONS)), weights=[s for _, s, _ in INTEGRATIONS])[0]
        detected = "" if rng.random() < 0.03 else rng.choice(INTENTS)
        prefix = detected.split(".")[0] if detected else "general"
        routed_id, sla = queues[prefix]
        rule = f"{prefix} intents" if detected and rng.random() > 0.05 else ""
        if not rule:
            routed_id, sla = queues["general"]
        queue_id = routed_id
        if rng.random() < (0.15 if not rule or prefix == "general" else 0.05):
            queue_id = rng.choice([q for q in queue_ids if q != routed_id])
        missing = [gap for gap, odds in INTEGRATIONS[which][2].items() if rng.random() < odds]
        if not detected:
            missing.insert(1 if "customer_identity" in missing else 0, "intent")
        waits = number > count - waiting
        status = "waiting" if waits else status_of(rng, now - handed)
        if waits:
            (queue_id, sla), routed_id = queues["billing"], queues["billing"][0]
        elif waiting and status == "waiting":
            status = "resolved"
        due = handed + timedelta(seconds=sla)
        claimed = reply = resolved = assignee = repeated = None
        if status != "waiting":
            claimed = min(handed + timedelta(seconds=rng.lognormvariate(5.5, 1.0)), now)
            assignee = rng.choice(ids["staff"])
            if status != "assigned" or rng.random() < 0.7:
                reply = min(claimed + timedelta(seconds=rng.uniform(15, 300)), now)
        if status == "resolved" and claimed is not None:
            worked = timedelta(seconds=rng.lognormvariate(7.3, 1.1))
            resolved = min((reply or claimed) + worked, now)
            repeated = None if rng.random() < 0.05 else rng.random() < 0.12
        flags = [flag for flag, odds in FLAG_ODDS.items() if rng.random() < odds]
        trigger, name = weighted(rng, TRIGGERS), rng.choice(NAMES)
        ref = f"cus_{rng.randrange(60_000)}"
        confidence = round(rng.uniform(0.2, 0.99), 2) if detected else None
        values = defaults | dict(
            id=number, integration_id=ids["integrations"][which], external_id=f"conv-{number:07d}",
            channel=rng.choice(CHANNELS), status=status, queue_id=queue_id, assignee_id=assignee,
            priority=rng.choices([0, 1, 2, 3], weights=[15, 60, 20, 5])[0],
            customer={"id": ref, "name": name, "email": f"{ref}@example.com"}, customer_ref=ref,
            customer_name=name, customer_email=f"{ref}@example.com",
            customer_tier=rng.choice(["", "", "standard", "gold"]), detected_intent=detected,
            detected_confidence=confidence,
            intent_alternatives=[{"name": rng.choice(INTENTS), "confidence": 0.2}]
            if detected else [],
            current_intent=detected, trigger_reason=trigger,
            trigger_detail="refund flow failed twice" if trigger == "repeated_failure" else "",
            trigger_derived=rng.random() < 0.2,
            facts={"order_id": f"A-{rng.randrange(10_000, 99_999)}"} if rng.random() < 0.6 else {},
            risk_flags=flags, risk_evidence=[{"flag": flag, "source": "bot"} for flag in flags],
            missing_context=missing, summary=f"Customer asks about {detected or 'something'}.",
            routing_rule=rule,
            routing_explanation=f"rule '{rule}' matched" if rule else "default queue",
            ruleset_version=1, routed_queue_id=routed_id, sla_due_at=due,
            sla_breached=(claimed or now) > due, handed_off_at=handed, first_claimed_at=claimed,
            first_human_reply_at=reply, resolved_at=resolved,
            resolution_code=rng.choice(RESOLUTIONS) if resolved else "",
            customer_repeated=repeated, repeat_detected=rng.random() < 0.07, previous_case_id=None,
            is_repeat_contact=False, handoff_count=1, version=1 if status == "waiting" else 5,
            created_at=handed, updated_at=resolved or claimed or handed,
        )  # fmt: skip
        row = (values[f.attname] for f in fields)
        rows.append(tuple(json.dumps(v) if isinstance(v, dict | list) else v for v in row))
        kept.append((number, handed, claimed, resolved, detected))
    with transaction.atomic():
        db.copy_rows("cases_case", [str(f.column) for f in fields], rows)
        db.execute("SELECT setval(pg_get_serial_sequence('cases_case', 'id'), %s)", [len(rows)])
    return kept


def transcripts(count: int, where: str, params: Any = None) -> None:
    """``count`` messages before the handoff, customer and bot in turn, for each case ``where``
    (SQL on ``c``, a row of cases_case) selects; generated in PostgreSQL."""

    def array(lines: list[str]) -> str:
        return "ARRAY[" + ",".join("'" + line.replace("'", "''") + "'" for line in lines) + "]"

    customer, bot = LINES["customer"], LINES["bot"]
    db.execute(
        f"""
        INSERT INTO cases_message
            (case_id, seq, external_id, dedupe_key, role, text, sent_at, phase, created_at)
        SELECT c.id, s, 'm' || s, 'id:m' || s,
               CASE WHEN mod(s, 2) = 1 THEN 'customer' ELSE 'bot' END,
               CASE WHEN mod(s, 2) = 1
                    THEN ({array(customer)})[1 + mod(c.id + s, {len(customer)})]
                    ELSE ({array(bot)})[1 + mod(c.id + s, {len(bot)})] END,
               c.handed_off_at - make_interval(secs => ({count} - s) * 20),
               'before_handoff', c.handed_off_at
        FROM cases_case c CROSS JOIN generate_series(1, {count}) AS s
        WHERE {where}
        """,
        params,
    )
