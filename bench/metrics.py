"""Server time of the metrics page and its exports on 200,000 cases, beside a plain COUNT(*).

    cd /work/main && .venv/bin/python bench/metrics.py [--repeats 10] [--json figures.json]

What it does, in one run and under one configuration:

1. Drops and recreates a PostgreSQL database (``handoff_bench_metrics``), migrates it with
   ``DJANGO_SETTINGS_MODULE=bench.settings`` (the roles migration makes the groups) and collects
   the static files into a temporary ``STATIC_ROOT`` (DEBUG off, as in production).
2. Seeds with ``COPY``, in handoff order: 200,000 cases over 60 days, 6 queues, 3 bots and 30
   intents (about 70% resolved with their claim, first reply and resolution times and the
   agent's "did the customer repeat?" answer; some reassigned away from the queue their rule
   chose; missing context, triggers and risk flags); 20,000 intent corrections (some cases
   corrected twice, ``current_intent`` set from the last); 50,000 CSAT responses (at most one
   a case); and a few customer messages before the handoff of every corrected case (what the
   corrections export sends). Then ``VACUUM ANALYZE``.
3. Logs in a supervisor (``force_login``; the user is in the ``supervisor`` group) and requests
   in process with ``django.test.Client`` (Django's handler: middleware, view, queries,
   templates; no socket), round robin after a warm-up: ``GET /metrics/`` for the default 30-day
   window and for 60 days, each CSV export and the JSONL export (streamed bodies read to the
   end). The baseline is ``SELECT COUNT(*) FROM cases_case`` through a cursor, timed the same
   way (a pooled connection taken and given back each time).
4. Prints p50 / p95 / max of each, the queries of one request of each (``CaptureQueriesContext``,
   each query named by the metric that ran it), PASS/FAIL for the page (p95 < 500 ms) and, for
   a page that misses it, ``EXPLAIN ANALYZE`` of its slowest queries with what would help.
5. The page runs its queries inside ``cases.metrics.reporting()`` (on PostgreSQL: work_mem,
   random_page_cost and jit for that transaction only); the EXPLAINs run under the same
   settings, so they show the plans the page gets.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
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

BENCH_DB = "handoff_bench_metrics"
P95_TARGET_MS = 500.0
BASELINE_SQL = "SELECT COUNT(*) FROM cases_case"
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")
CSV_TABLES = ["queues", "integrations", "overrides", "confusion", "misroutes", "volume"]

QUEUES = [  # slug, name, SLA seconds, the intent prefix its rule routes
    ("billing", "Billing", 600, "billing"),
    ("accounts", "Accounts & access", 900, "account"),
    ("orders", "Orders & delivery", 1200, "order"),
    ("tech", "Technical support", 1800, "tech"),
    ("security", "Trust & safety", 300, "security"),
    ("general", "General", 900, "general"),
]
# name, share of the handoffs, how often its packages lack each key context
INTEGRATIONS: list[tuple[str, float, dict[str, float]]] = [
    ("web-assistant", 0.5, {"customer_identity": 0.03, "attempted_steps": 0.1}),
    ("whatsapp-bot", 0.3, {"customer_identity": 0.08, "attempted_steps": 0.25}),
    (
        "voice-ivr",
        0.2,
        {"customer_identity": 0.15, "attempted_steps": 0.4, "customer_message": 0.2},
    ),
]
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
# Triggers, flags, channels and resolutions as bench/pages.py seeds them, kept apart: each
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
CHANNELS = ["web_chat", "web_chat", "whatsapp", "app", "messenger", "email"]
RESOLUTIONS = ["solved", "refund_issued", "information_given", "account_restored", "escalated"]
NAMES = [
    "Ana Ruiz", "Liam Okafor", "Sofia Nguyen", "Noah Schmidt", "Mia Kowalski", "Yusuf Haddad",
    "Aiko Tanaka", "Priya Singh", "Kwame Mensah", "Elena Petrov", "Diego Castillo",
]  # fmt: skip
CUSTOMER_LINES = [
    "I was charged twice for my order and nobody is answering.",
    "Hi, my package says delivered but it's not here.",
    "Why is my account locked? I didn't do anything.",
    "Can I talk to a person please",
    "The app keeps crashing when I open the basket, I've reinstalled it twice already.",
    "I need the refund before Friday, the rent is due.",
    "This is the third time I'm writing about the same invoice.",
    "My order number is A-10293 and the amount was 49.99 EUR.",
    "I got an email saying my password was changed but it wasn't me!",
]
BOT_LINES = [
    "I can help with that. Could you tell me your order number?",
    "I'm sorry, I couldn't find an order with that number.",
    "For your security I can't change account details in this chat.",
]
REASONS = ["", "", "customer meant the other one", "wrong product area", "two issues, main one"]
MESSAGE_COLUMNS = [
    "case_id", "seq", "external_id", "dedupe_key", "role", "text", "sent_at", "phase", "created_at",
]  # fmt: skip
TABLES = ["cases_case", "cases_intentcorrection", "cases_csatresponse", "cases_message"]


# --- settings and database --------------------------------------------------------------------


def copy_rows(table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> int:
    """COPY rows into a table over Django's own connection (psycopg 3)."""
    from django.db import connection

    count = 0
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        names = ", ".join(f'"{column}"' for column in columns)
        with raw.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
    return count


# --- seeding ----------------------------------------------------------------------------------


@dataclass
class Seeded:
    supervisor_id: int
    cases: int = 0
    corrections: int = 0
    corrected_twice: int = 0
    csat: int = 0
    messages: int = 0
    shares: dict[str, float] = field(default_factory=dict)
    in_windows: dict[str, int] = field(default_factory=dict)
    table_mb: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class CaseRow:
    """What the corrections, CSAT and messages need to know of a seeded case."""

    id: int
    handed: datetime
    claimed: datetime | None
    resolved: datetime | None
    detected: str


def _handoff_times(rng: random.Random, count: int, days: int, now: datetime) -> list[datetime]:
    """Handoff times over the last ``days`` days: quieter weekends and nights, sorted."""
    start = now - timedelta(days=days)
    day_weights = [0.6 if (start + timedelta(days=d)).weekday() >= 5 else 1.0 for d in range(days)]
    hour_weights = [0.2] * 7 + [1.0] * 12 + [0.6] * 5
    times = []
    for day in rng.choices(range(days), weights=day_weights, k=count):
        hour = rng.choices(range(24), weights=hour_weights)[0]
        at = start + timedelta(days=day, hours=hour, seconds=rng.uniform(0, 3600))
        times.append(min(at, now - timedelta(seconds=rng.uniform(1, 60))))
    times.sort()
    return times


def _status(rng: random.Random, age: timedelta) -> str:
    if age < timedelta(hours=1):
        pairs = [("waiting", 50), ("assigned", 40), ("awaiting_customer", 10)]
    elif age < timedelta(days=2):
        pairs = [("resolved", 45), ("assigned", 20), ("awaiting_customer", 15), ("waiting", 20)]
    else:
        pairs = [("resolved", 73), ("assigned", 9), ("awaiting_customer", 12), ("waiting", 6)]
    return weighted(rng, pairs)


def case_rows(
    args: argparse.Namespace, rng: random.Random, now: datetime, ids: dict[str, Any]
) -> tuple[list[str], list[tuple[Any, ...]], list[CaseRow], dict[str, int]]:
    """The cases as COPY rows (every concrete column of Case), in handoff order."""
    from cases.models import Case

    fields = list(Case._meta.concrete_fields)
    columns = [str(f.column) for f in fields]
    defaults = {f.attname: f.get_default() for f in fields}
    queues: dict[str, tuple[int, int]] = ids["queues"]  # prefix -> (queue id, sla seconds)
    queue_ids = [queue_id for queue_id, _ in queues.values()]
    integration_ids: list[int] = ids["integrations"]
    staff: list[int] = ids["staff"]
    rows: list[tuple[Any, ...]] = []
    kept: list[CaseRow] = []
    counts = {"resolved": 0, "misrouted": 0, "missing": 0, "no_intent": 0, "repeat_yes": 0}
    times = _handoff_times(rng, args.cases, args.days, now)
    for number, handed in enumerate(times, start=1):
        which = rng.choices(range(len(INTEGRATIONS)), weights=[s for _, s, _ in INTEGRATIONS])[0]
        integration_id = integration_ids[which]
        gaps = INTEGRATIONS[which][2]
        detected = "" if rng.random() < 0.03 else rng.choice(INTENTS)
        prefix = detected.split(".")[0] if detected else "general"
        routed_id, sla = queues[prefix]
        rule = f"{prefix} intents" if detected and rng.random() > 0.05 else ""
        if not rule:
            routed_id, sla = queues["general"]
        queue_id = routed_id
        if rng.random() < (0.15 if not rule or prefix == "general" else 0.05):
            queue_id = rng.choice([q for q in queue_ids if q != routed_id])
            counts["misrouted"] += 1
        missing = [gap for gap, odds in gaps.items() if rng.random() < odds]
        if not detected:
            missing.insert(1 if "customer_identity" in missing else 0, "intent")
            counts["no_intent"] += 1
        counts["missing"] += bool(missing)
        status = _status(rng, now - handed)
        due = handed + timedelta(seconds=sla)
        claimed = reply = resolved = None
        assignee = None
        if status != "waiting":
            claimed = min(handed + timedelta(seconds=rng.lognormvariate(5.5, 1.0)), now)
            assignee = rng.choice(staff)
            if status != "assigned" or rng.random() < 0.7:
                reply = min(claimed + timedelta(seconds=rng.uniform(15, 300)), now)
        repeated = None
        if status == "resolved" and claimed is not None:
            worked = timedelta(seconds=rng.lognormvariate(7.3, 1.1))
            resolved = min((reply or claimed) + worked, now)
            repeated = None if rng.random() < 0.05 else rng.random() < 0.12
            counts["resolved"] += 1
            counts["repeat_yes"] += bool(repeated)
        flags = [flag for flag, odds in FLAG_ODDS.items() if rng.random() < odds]
        trigger = weighted(rng, TRIGGERS)
        name = rng.choice(NAMES)
        ref = f"cus_{rng.randrange(60_000)}"
        confidence = round(rng.uniform(0.2, 0.99), 2) if detected else None
        values = {
            **defaults,
            "id": number,
            "integration_id": integration_id,
            "external_id": f"conv-{number:07d}",
            "channel": rng.choice(CHANNELS),
            "status": status,
            "queue_id": queue_id,
            "assignee_id": assignee,
            "priority": rng.choices([0, 1, 2, 3], weights=[15, 60, 20, 5])[0],
            "customer": {"id": ref, "name": name, "email": f"{ref}@example.com"},
            "customer_ref": ref,
            "customer_name": name,
            "customer_email": f"{ref}@example.com",
            "customer_tier": rng.choice(["", "", "standard", "gold"]),
            "detected_intent": detected,
            "detected_confidence": confidence,
            "intent_alternatives": [{"name": rng.choice(INTENTS), "confidence": 0.2}]
            if detected
            else [],
            "current_intent": detected,
            "trigger_reason": trigger,
            "trigger_detail": "refund flow failed twice" if trigger == "repeated_failure" else "",
            "trigger_derived": rng.random() < 0.2,
            "facts": {"order_id": f"A-{rng.randrange(10_000, 99_999)}"}
            if rng.random() < 0.6
            else {},
            "risk_flags": flags,
            "risk_evidence": [{"flag": flag, "source": "bot"} for flag in flags],
            "missing_context": missing,
            "summary": f"Customer asks about {detected or 'something'}.",
            "routing_rule": rule,
            "routing_explanation": f"rule '{rule}' matched" if rule else "default queue",
            "ruleset_version": 1,
            "routed_queue_id": routed_id,
            "sla_due_at": due,
            "sla_breached": (claimed or now) > due,
            "handed_off_at": handed,
            "first_claimed_at": claimed,
            "first_human_reply_at": reply,
            "resolved_at": resolved,
            "resolution_code": rng.choice(RESOLUTIONS) if resolved else "",
            "customer_repeated": repeated,
            "repeat_detected": rng.random() < 0.07,
            "previous_case_id": None,
            "is_repeat_contact": False,
            "handoff_count": 1,
            "version": 1 if status == "waiting" else 5,
            "created_at": handed,
            "updated_at": resolved or claimed or handed,
        }
        rows.append(
            tuple(
                json.dumps(v) if isinstance(v, dict | list) else v
                for v in (values[f.attname] for f in fields)
            )
        )
        kept.append(CaseRow(number, handed, claimed, resolved, detected))
    return columns, rows, kept, counts


def seed(args: argparse.Namespace) -> Seeded:
    from django.contrib.auth.models import Group, User
    from django.db import transaction
    from django.utils import timezone

    from cases.models import Intent
    from cases.services import integration_create
    from queues.models import Membership, Queue

    started = time.perf_counter()
    rng = random.Random(args.seed)
    now = timezone.now()
    queues = {
        prefix: Queue.objects.create(
            slug=slug, name=name, sla_seconds=sla, sort_order=i, is_default=slug == "general"
        )
        for i, (slug, name, sla, prefix) in enumerate(QUEUES)
    }
    integrations = [integration_create(name=name)[0] for name, *_ in INTEGRATIONS]
    Intent.objects.bulk_create(
        Intent(name=name, label=name.replace(".", ": ").replace("_", " ")) for name in INTENTS
    )
    agent_group = Group.objects.get(name="agent")
    # No password hashing for 60 agents: they never log in here.
    staff = User.objects.bulk_create(
        User(username=f"agent{n:02d}", first_name=NAMES[n % 11][:4], last_name="Desk", password="!")
        for n in range(60)
    )
    agent_group.user_set.add(*staff)
    Membership.objects.bulk_create(
        Membership(agent=user, queue=list(queues.values())[i % len(queues)], capacity=5)
        for i, user in enumerate(staff)
    )
    supervisor = User.objects.create_user(
        "bench-supervisor", first_name="Sam", last_name="Supervisor"
    )
    supervisor.groups.add(Group.objects.get(name="supervisor"))
    ids: dict[str, Any] = {
        "queues": {prefix: (q.pk, q.sla_seconds) for prefix, q in queues.items()},
        "integrations": [i.pk for i in integrations],
        "staff": [u.pk for u in staff],
    }

    print(f"generating {args.cases:,} cases over {args.days} days ...", flush=True)
    columns, rows, kept, counts = case_rows(args, rng, now, ids)
    print(f"  COPY cases_case ({len(columns)} columns) ...", flush=True)
    with transaction.atomic():
        copy_rows("cases_case", columns, iter(rows))
        execute(
            "SELECT setval(pg_get_serial_sequence('cases_case', 'id'), "
            "(SELECT max(id) FROM cases_case))"
        )
    del rows

    # -- intent corrections: some cases twice; current_intent from the last one
    print(f"  {args.corrections:,} intent corrections, {args.csat:,} CSAT, messages ...")
    claimed = [row for row in kept if row.claimed is not None]
    twice = args.corrections // 7
    corrected = rng.sample(claimed, min(args.corrections - twice, len(claimed)))
    second = set(rng.sample(range(len(corrected)), min(twice, len(corrected))))
    corrections: list[tuple[Any, ...]] = []
    current: list[tuple[int, str]] = []
    for index, case in enumerate(corrected):
        assert case.claimed is not None
        area = (case.detected or "general.").split(".")[0]
        family = [i for i in INTENTS if i.split(".")[0] == area]
        choices = family if rng.random() < 0.6 else INTENTS
        first_to = rng.choice([i for i in choices if i != case.detected])
        at = min(case.claimed + timedelta(seconds=rng.uniform(30, 900)), now)
        agent = None if rng.random() < 0.03 else rng.choice(ids["staff"])
        corrections.append((case.id, case.detected, first_to, agent, rng.choice(REASONS), at))
        last = first_to
        if index in second:
            last = rng.choice([i for i in INTENTS if i not in {first_to, case.detected}])
            later = min(at + timedelta(seconds=rng.uniform(60, 3600)), now)
            corrections.append((case.id, first_to, last, agent, "second look", later))
        current.append((case.id, last))
    corrections.sort(key=lambda row: row[5])  # written as they happen: pk order = time order
    csat_cases = rng.sample(
        [row for row in kept if row.resolved is not None],
        min(args.csat, sum(1 for row in kept if row.resolved is not None)),
    )
    csat_cases.sort(key=lambda row: row.resolved or now)
    scores = rng.choices([1, 2, 3, 4, 5], weights=[8, 7, 15, 30, 40], k=len(csat_cases))
    messages: list[tuple[Any, ...]] = []
    for case_id, _ in current:
        handed = kept[case_id - 1].handed
        for seq, role in ((1, "customer"), (2, "bot"), (3, "customer")):
            text = rng.choice(CUSTOMER_LINES if role == "customer" else BOT_LINES)
            at = handed - timedelta(seconds=20 * (4 - seq))
            key = f"m{seq}"
            messages.append((case_id, seq, key, f"id:{key}", role, text, at, "before_handoff", at))
    with transaction.atomic():
        copy_rows(
            "cases_intentcorrection",
            ["case_id", "from_intent", "to_intent", "agent_id", "reason", "created_at"],
            iter(corrections),
        )
        # current_intent of each corrected case = its last correction's target
        execute("CREATE TEMP TABLE bench_current (id bigint, intent text) ON COMMIT DROP")
        copy_rows("bench_current", ["id", "intent"], iter(current))
        execute(
            "UPDATE cases_case c SET current_intent = b.intent FROM bench_current b "
            "WHERE c.id = b.id"
        )
        copy_rows(
            "cases_csatresponse",
            ["case_id", "score", "comment", "created_at", "updated_at"],
            (
                (
                    case.id,
                    score,
                    "" if rng.random() < 0.8 else "quick and friendly",
                    at := min((case.resolved or now) + timedelta(minutes=rng.uniform(1, 600)), now),
                    at,
                )
                for case, score in zip(csat_cases, scores, strict=True)
            ),
        )
        copy_rows(
            "cases_message",
            MESSAGE_COLUMNS,
            iter(messages),
        )
    print("  VACUUM ANALYZE ...", flush=True)
    execute("VACUUM ANALYZE")

    today = timezone.localdate()
    in_windows = {}
    for days in (30, 60):
        start = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), UTC)
        in_windows[f"{days}d"] = int(
            scalar("SELECT count(*) FROM cases_case WHERE handed_off_at >= %s", [start])
        )
    total = len(kept)
    return Seeded(
        supervisor_id=supervisor.pk,
        cases=int(scalar("SELECT count(*) FROM cases_case")),
        corrections=int(scalar("SELECT count(*) FROM cases_intentcorrection")),
        corrected_twice=len(second),
        csat=int(scalar("SELECT count(*) FROM cases_csatresponse")),
        messages=int(scalar("SELECT count(*) FROM cases_message")),
        shares={
            "resolved": round(counts["resolved"] / total, 3),
            "misrouted": round(counts["misrouted"] / total, 3),
            "missing_context": round(counts["missing"] / total, 3),
            "no_intent": round(counts["no_intent"] / total, 3),
            "corrected": round(len(current) / total, 3),
            "repeat_yes_of_resolved": round(counts["repeat_yes"] / max(counts["resolved"], 1), 3),
        },
        in_windows=in_windows,
        table_mb={
            table: round(int(scalar("SELECT pg_total_relation_size(%s)", [table])) / 2**20, 1)
            for table in TABLES
        },
        seconds=time.perf_counter() - started,
    )


# --- measuring --------------------------------------------------------------------------------


@dataclass
class Item:
    name: str
    path: str  # "" for the baseline
    baseline: bool = False
    page: bool = False
    status: int = 0
    bytes: int = 0
    queries: int = 0
    sql_ms: float = 0.0
    total_ms: float = 0.0
    by_source: list[tuple[str, int, float]] = field(default_factory=list)  # name, n, ms
    slowest: list[tuple[str, float, str]] = field(default_factory=list)  # source, ms, sql: top 12
    samples: list[float] = field(default_factory=list, repr=False)
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    max_ms: float = 0.0
    mean_ms: float = 0.0


def _source(stack: list[traceback.FrameSummary], sql_text: str) -> str:
    """The metric that ran a query: the cases/metrics.py functions on the stack (outer/inner),
    else the view's template or a statement shape."""
    names = [frame.name for frame in stack if frame.filename.endswith("cases/metrics.py")]
    if names:
        outer, inner = names[0], names[-1]
        return outer if outer == inner else f"{outer}/{inner}"
    text = " ".join(sql_text.split())
    table = re.search(r'FROM\s+"?(\w+)"?', text, re.IGNORECASE)
    where = "template" if any(f.filename.endswith(".html") or "template" in f.filename
                              for f in stack) else "view"  # fmt: skip
    return f"{where}: {table.group(1) if table else text[:30]}"


def get(client: Any, path: str) -> tuple[int, int]:
    """One request, its (streamed) body read to the end: (status, bytes)."""
    response = client.get(path)
    if response.streaming:
        size = sum(len(chunk) for chunk in response.streaming_content)
        response.close()
    else:
        size = len(response.content)
    return response.status_code, size


def run_once(item: Item, client: Any) -> tuple[int, int, float]:
    """(status, bytes, ms): a request, or the baseline's COUNT(*), with the pooled connection
    taken and given back as around a request."""
    from django.db import close_old_connections, connection

    started = time.perf_counter()
    if item.baseline:
        with connection.cursor() as cursor:
            cursor.execute(BASELINE_SQL)
            row = cursor.fetchone()
        status, size = 200, len(str(row[0] if row else ""))
    else:
        status, size = get(client, item.path)
    close_old_connections()
    elapsed = (time.perf_counter() - started) * 1000
    return status, size, elapsed


def profile_queries(item: Item, client: Any) -> None:
    """One request under CaptureQueriesContext: its queries, each one's time and source."""
    from django.db import close_old_connections, connection
    from django.test.utils import CaptureQueriesContext

    timings: list[tuple[str, float]] = []

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        stack = traceback.extract_stack()
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings.append((_source(stack, sql), (time.perf_counter() - started) * 1000))

    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timed):
        started = time.perf_counter()
        if item.baseline:
            with connection.cursor() as cursor:
                cursor.execute(BASELINE_SQL)
                cursor.fetchone()
            status, size = 200, 0
        else:
            status, size = get(client, item.path)
        item.total_ms = round((time.perf_counter() - started) * 1000, 2)
    close_old_connections()
    item.status, item.bytes = status, size
    # BEGIN / COMMIT of metrics.reporting() are captured but never pass the execute wrapper:
    # count and rank statements only, so each query lines up with its timing.
    queries = [
        query
        for query in captured.captured_queries
        if not str(query["sql"]).startswith(TRANSACTION_CONTROL)
    ]
    item.queries = len(queries)
    item.sql_ms = round(sum(ms for _, ms in timings), 2)
    grouped: dict[str, list[float]] = {}
    for source, ms in timings:
        grouped.setdefault(source, []).append(ms)
    item.by_source = sorted(
        ((source, len(mss), round(sum(mss), 2)) for source, mss in grouped.items()),
        key=lambda entry: -entry[2],
    )
    if len(timings) == len(queries):
        ranked = sorted(range(len(queries)), key=lambda i: -timings[i][1])
        item.slowest = [
            (timings[i][0], round(timings[i][1], 2), str(queries[i]["sql"])) for i in ranked[:12]
        ]


def measure(
    items: list[Item], client: Any, repeats: int, warmup: int, database: str
) -> dict[str, float]:
    """Round robin over the items, so drift (autovacuum, caches) touches them all alike."""
    for _ in range(warmup):
        for item in items:
            run_once(item, client)
    before = cpu_snapshot([], database)
    for number in range(repeats):
        for item in items:
            status, size, elapsed = run_once(item, client)
            if status != 200:
                raise RuntimeError(f"{item.path or item.name} answered {status} while measuring")
            item.samples.append(elapsed)
            item.bytes = size
        print(f"  round {number + 1}/{repeats}", flush=True)
    after = cpu_snapshot([], database)
    for item in items:
        ordered = sorted(item.samples)
        item.p50_ms = round(percentile(ordered, 50), 2)
        item.p95_ms = round(percentile(ordered, 95), 2)
        item.max_ms = round(ordered[-1], 2)
        item.mean_ms = round(sum(ordered) / len(ordered), 2)
    use = cpu_use(before, after)
    return {
        "bench_cores": use["client_cores"],
        "postgres_cores": use["postgres_cores"],
        "other_cores": round(other_cores(before, after), 3),
        "machine_cores": use["machine_cores"],
    }


def explain(sql_text: str) -> list[str]:
    """EXPLAIN ANALYZE under the settings the page's queries run with."""
    from django.db import connection

    from cases.metrics import reporting

    with reporting(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql_text)
        return [str(row[0]) for row in cursor.fetchall()]


def plan_hints(source: str, plan: list[str], sql_text: str) -> list[str]:
    """What in a plan (and in which metric ran it) points at an index or a query change."""
    text = "\n".join(plan)
    upper = sql_text.upper()
    hints = []
    if " OFFSET " in upper:
        hints.append(
            "an ORDER BY ... OFFSET k percentile: the portable form, two queries a figure; on "
            "PostgreSQL metrics.PercentileDisc does it inside the figures' own aggregate"
        )
    if "UPPER(" in upper and "MISSING_CONTEXT" in upper and "LIKE" in upper:
        hints.append(
            "missing_context matched as text: on PostgreSQL jsonb ? (has_key) counts the same "
            "about three times cheaper"
        )
    if re.search(r"Sort Method: external", text):
        hints.append(
            "a sort spilled to disk: is metrics.reporting()'s work_mem in effect for this query?"
        )
    if re.search(r"Seq Scan on cases_case", text) and "handed_off_at" in sql_text:
        hints.append(
            "a sequential scan of cases_case, not an index-only scan of case_metrics: a column "
            "the query reads may be missing from the index's INCLUDE list, or the planner's "
            "random_page_cost is not reporting()'s"
        )
    if re.search(r"Heap Fetches: [1-9]\d{3,}", text):
        hints.append(
            "index-only scan with many heap fetches: the visibility map is behind (VACUUM)"
        )
    if "JIT:" in text:
        hints.append("JIT compiled this query: is reporting()'s jit=off in effect?")
    if re.search(r"GroupAggregate[\s\S]*Sort Key", text) and "Sort Method" in text:
        hints.append(
            "grouped by sorting every row: an ORDER BY on the grouping makes PostgreSQL sort "
            "instead of hashing; sort the few groups in Python"
        )
    if not hints:
        hints.append("the plan has nothing obviously wrong: the time is the rows it must read")
    return hints


# --- the report -------------------------------------------------------------------------------


def report(figures: dict[str, Any]) -> str:
    config = figures["config"]
    seeded = figures["seeded"]
    items = [Item(**{k: v for k, v in item.items() if k != "samples"}) for item in figures["items"]]
    baseline = next(item for item in items if item.baseline)
    lines = [
        "",
        f"Handoff Desk metrics benchmark, {figures['started_at']}",
        "",
        "server : in process, django.test.Client (WSGI handler), logged in as a supervisor; "
        f"settings {config['settings']}, DEBUG off",
        "         Django {django}, Python {python}, PostgreSQL {postgres} (work_mem {work_mem}, "
        "shared_buffers {shared_buffers}), psycopg {psycopg} pool".format(**config),
        "machine: {cores} cores, {machine}".format(**config),
        f"data   : {seeded['cases']:,} cases over {config['days']} days "
        f"({seeded['in_windows']['30d']:,} in the last 30, {seeded['in_windows']['60d']:,} in "
        f"60), {seeded['corrections']:,} intent corrections ({seeded['corrected_twice']:,} "
        f"cases twice), {seeded['csat']:,} CSAT, {seeded['messages']:,} messages; seeded in "
        f"{seeded['seconds']:.0f} s, then VACUUM ANALYZE",
        "         shares: "
        + ", ".join(f"{name} {share:.1%}" for name, share in seeded["shares"].items())
        + "; MB: "
        + ", ".join(f"{table} {mb}" for table, mb in seeded["table_mb"].items()),
        f"load   : {config['warmup']} warm-up round(s), then {config['repeats']} rounds over "
        "the items (round robin), one at a time",
        "cpu    : while measuring, this process {bench_cores:.2f} cores, PostgreSQL (bench "
        "database) {postgres_cores:.2f}, other processes {other_cores:.2f} (before: "
        "{other_cores_before:.2f}), machine {machine_cores:.2f}".format(**figures["cpu"]),
    ]
    lines += [
        "",
        f"{'item':<26}{'path':<42}{'KB':>8}{'queries':>8}{'sql ms':>8}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'p50/base':>10}",
    ]
    for item in items:
        ratio = item.p50_ms / baseline.p50_ms if baseline.p50_ms else float("nan")
        path = item.path or BASELINE_SQL
        lines.append(
            f"{item.name:<26}{path[:41]:<42}{item.bytes / 1024:>8.1f}{item.queries:>8}"
            f"{item.sql_ms:>8.1f}{item.p50_ms:>9.2f}{item.p95_ms:>9.2f}{item.max_ms:>9.2f}"
            f"{ratio:>10.1f}{' (baseline)' if item.baseline else ''}"
        )
    lines.append("")
    lines.append(f"target: the page's p95 < {P95_TARGET_MS:.0f} ms")
    for name, verdict in figures["verdict"].items():
        lines.append(
            f"{name:<22} p95 {verdict['p95_ms']:8.2f} ms < {P95_TARGET_MS:.0f} ms "
            f"{'PASS' if verdict['pass'] else 'FAIL'}   ({verdict['ratio_p50']:.0f}x the "
            "baseline's p50)"
        )
    for item in items:
        if not item.page:
            continue
        lines += [
            "",
            f"{item.name}: {item.queries} queries, {item.sql_ms:.1f} ms SQL of {item.total_ms:.1f} "
            "ms in one profiled request (CaptureQueriesContext); by the metric that ran them:",
        ]
        lines += [f"  {ms:8.1f} ms  {n:>3} x  {source}" for source, n, ms in item.by_source]
    exports = [item for item in items if not item.page and not item.baseline]
    lines += ["", "exports, one profiled request each: queries (ms by source)"]
    for item in exports:
        top = ", ".join(f"{source} {n}x {ms:.0f}" for source, n, ms in item.by_source[:3])
        lines.append(f"  {item.name:<22}{item.queries:>4}: {top}")
    for entry in figures.get("explains", []):
        lines += [
            "",
            f"EXPLAIN ANALYZE of {entry['item']}'s query from {entry['source']} "
            f"({entry['ms']:.1f} ms in the profiled request):",
            "  " + " ".join(entry["sql"].split())[:900],
            "  plan:",
            *(f"    {line}" for line in entry["plan"]),
            "  hints:",
            *(f"    - {hint}" for hint in entry["hints"]),
        ]
    notes = list(figures["notes"])
    if figures["cpu"]["other_cores"] > 0.3:
        notes.append(
            f"Other processes used {figures['cpu']['other_cores']:.2f} cores while measuring: "
            "they competed for this machine's cores, so these figures are slower and noisier "
            "than a quiet machine gives. Run again when it is quiet."
        )
    lines += ["", "honesty notes:"] + [f"  - {note}" for note in notes]
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Metrics page and export server time on 200,000 cases, beside a COUNT(*)."
    )
    parser.add_argument("--cases", type=int, default=200_000, help="cases (default 200,000)")
    parser.add_argument("--days", type=int, default=60, help="days they span (default 60)")
    parser.add_argument(
        "--corrections", type=int, default=20_000, help="intent corrections (default 20,000)"
    )
    parser.add_argument("--csat", type=int, default=50_000, help="CSAT responses (default 50,000)")
    parser.add_argument(
        "--repeats", type=int, default=10, help="measured rounds over the items (default 10)"
    )
    parser.add_argument("--warmup", type=int, default=1, help="warm-up rounds (default 1)")
    parser.add_argument("--seed", type=int, default=11, help="random seed for the data")
    parser.add_argument(
        "--explain-all",
        action="store_true",
        help="EXPLAIN ANALYZE the slowest queries of the page even when it meets the target",
    )
    parser.add_argument(
        "--explain", type=int, default=4, help="how many of the slowest queries (default 4)"
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=60.0,
        help="seconds to wait at most for other processes to go quiet before measuring "
        "(default 60)",
    )
    add_database_arguments(parser, BENCH_DB)
    parser.add_argument(
        "--settings", default="bench.settings", help="Django settings (default bench.settings)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.cases < 1000 or args.days < 31 or args.repeats < 1:
        parser.error("--cases >= 1000, --days >= 31 and --repeats >= 1, please")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = utc_timestamp()
    db_url = database_url(args.database_url, args.database_name)
    with tempfile.TemporaryDirectory(prefix="handoff-bench-static-") as static_root:
        prepare_page_bench(args, db_url, static_root)
        return run(args, started_at)


def run(args: argparse.Namespace, started_at: str) -> int:
    setup_django()
    from django.contrib.auth.models import User
    from django.db import close_old_connections, connection
    from django.test import Client
    from django.utils import timezone

    seeded = seed(args)
    print(
        f"seeded in {seeded.seconds:.0f} s: {seeded.cases:,} cases, {seeded.corrections:,} "
        f"corrections, {seeded.csat:,} CSAT, {seeded.messages:,} messages",
        flush=True,
    )
    supervisor = User.objects.get(pk=seeded.supervisor_id)
    client = Client()
    client.force_login(supervisor)
    close_old_connections()
    today = timezone.localdate()
    sixty: date = today - timedelta(days=59)
    pages = {"30 days": "/metrics/", "60 days": f"/metrics/?from={sixty}&to={today}"}
    items = [
        Item("COUNT(*) (baseline)", "", baseline=True),
        *(Item(f"page, {name}", path, page=True) for name, path in pages.items()),
        *(Item(f"{table}.csv", f"/metrics/{table}.csv") for table in CSV_TABLES),
        Item("intent-corrections.jsonl", "/metrics/intent-corrections.jsonl"),
    ]
    for item in items:  # a first request each: 200, or stop here
        status, _, _ = run_once(item, client)
        if status != 200:
            raise SystemExit(f"{item.path} answered {status}, not 200")
    quiet = wait_for_quiet(args.database_name, args.wait_quiet)
    print(
        f"measuring {len(items)} items: {args.warmup} warm-up + {args.repeats} rounds ...",
        flush=True,
    )
    cpu = measure(items, client, args.repeats, args.warmup, args.database_name)
    print("profiling one request each (queries) ...", flush=True)
    for item in items:
        profile_queries(item, client)
    verdict: dict[str, Any] = {}
    for item in items:
        if item.page:
            verdict[item.name] = {
                "p95_ms": item.p95_ms,
                "pass": item.p95_ms < P95_TARGET_MS and item.status == 200,
                "ratio_p50": item.p50_ms / items[0].p50_ms if items[0].p50_ms else float("nan"),
            }
    explains = []
    for item in items:
        if item.page and (args.explain_all or not verdict[item.name]["pass"]):
            print(f"EXPLAIN ANALYZE of the slowest queries of {item.name} ...", flush=True)
            seen: set[tuple[str, str]] = set()
            for source, ms, sql_text in item.slowest:
                shape = (source, sql_text[:60])  # headline's totals and CSAT: one source
                if shape in seen or len(seen) >= args.explain:
                    continue
                seen.add(shape)
                plan = explain(sql_text)
                explains.append(
                    {
                        "item": item.name,
                        "source": source,
                        "ms": ms,
                        "sql": sql_text,
                        "plan": plan,
                        "hints": plan_hints(source, plan, sql_text),
                    }
                )
            break  # the 60-day page runs the same queries over more rows
    library = versions("django", "psycopg")
    config = {
        "settings": args.settings,
        "django": library["django"],
        "psycopg": library["psycopg"],
        "python": platform.python_version(),
        "postgres": str(scalar("SHOW server_version")),
        "work_mem": str(scalar("SHOW work_mem")),
        "shared_buffers": str(scalar("SHOW shared_buffers")),
        "cores": os.cpu_count(),
        "machine": platform.platform(terse=True),
        "repeats": args.repeats,
        "warmup": args.warmup,
        "days": args.days,
        "database": args.database_name,
    }
    close_old_connections()
    with contextlib.suppress(AttributeError):
        connection.close_pool()  # type: ignore[attr-defined]
    figures: dict[str, Any] = {
        "started_at": started_at,
        "config": config,
        "seeded": asdict(seeded),
        "items": [asdict(item) for item in items],
        "verdict": verdict,
        "explains": explains,
        "cpu": {**cpu, "other_cores_before": round(quiet, 3)},
        "notes": [
            "Server time in process: django.test.Client runs Django's whole handler "
            "(middleware, session and permission checks, view, ORM, templates); no socket, no "
            "HTTP parsing. The async-only ServeStatic middleware is adapted with async_to_sync "
            "on each request, which the ASGI server does not do (well under 1 ms).",
            "One request at a time: the time of one request on an otherwise idle desk, not "
            "under load, and with the data in PostgreSQL's cache after the warm-up.",
            f"p95 is the nearest rank of {args.repeats} samples: under 20 samples that is the "
            "slowest one (rank ceil(0.95 x n) = n), so read it as a max.",
            "The exports use the page's default window (the last 30 days). The JSONL body is "
            "read to the end inside the timing; its queries run while it streams.",
            "sql ms and the per-metric split come from one request under CaptureQueriesContext "
            "(debug cursor on for that request only); the timed requests run without it.",
            "The baseline is the least a figure over these cases can cost: one COUNT(*) of the "
            "whole table on a pooled connection (PostgreSQL may use a parallel index-only "
            "scan).",
        ],
    }
    print(report(figures), flush=True)
    if args.json:
        for item in figures["items"]:
            item.pop("samples", None)
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0 if all(v["pass"] for v in verdict.values()) else 1


if __name__ == "__main__":
    run_main(main)
