"""Workspace pages' server time on a full desk beside a trivial page (bench/README.md)."""

from __future__ import annotations

import random
import sys
import time
from dataclasses import asdict
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.lib import db, inprocess, procs, report, seed

P95_TARGET_MS = 100.0
RATIO_TARGET = 3.0
QUEUE_SLUG = "billing"
LINES = seed.LINES | {
    "agent": [
        "Hi, I'm taking over from the assistant. I can see the whole conversation, so no need to "
        "repeat anything.",
        "I've found the duplicate charge and issued the refund; it shows in 3-5 working days.",
        "Could you confirm the last four digits of the card you paid with?",
        "Thanks, that matches. One moment while I check with the warehouse.",
    ],
    "note": [
        "Customer mentioned a chargeback; refund issued to avoid it.",
        "Warehouse confirms the parcel was left at the neighbour's. Asked the customer to check.",
    ],
    "system": ["Agent joined the conversation.", "The customer is waiting for a reply."],
}


def seed_desk(args: Any) -> dict[str, Any]:
    """``--cases`` cases over 90 days, ``--waiting`` of them waiting in billing; a transcript
    and the audit events of each; and one case, assigned to the agent, with a long conversation
    before and after the handoff, its events, steps, a correction and earlier cases."""
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from bench.lib import app

    started, rng, now = time.perf_counter(), random.Random(args.seed), timezone.now()
    ids = seed.desk(40)
    print(f"seeding {args.cases:,} cases ({args.waiting:,} waiting in '{QUEUE_SLUG}') ...")
    seed.cases(rng, args.cases, 90, now, ids, waiting=args.waiting)
    agent = User.objects.create_user("bench-agent", first_name="Robin", last_name="Bench")
    agent.groups.add(Group.objects.get(name="agent"))
    billing = app.Queue.objects.get(slug=QUEUE_SLUG)
    app.Membership.objects.create(agent=agent, queue=billing, capacity=5)
    Case, handed = app.Case, now - timedelta(hours=2)
    *earlier, big = Case.objects.filter(status=Case.Status.RESOLVED).order_by("pk")[:5]
    Case.objects.filter(pk__in=[c.pk for c in earlier]).update(customer_ref=big.customer_ref)
    Case.objects.filter(pk=big.pk).update(
        status=Case.Status.ASSIGNED, queue=billing, routed_queue=billing, assignee=agent,
        handed_off_at=handed, handoff_count=2, previous_case=earlier[0], resolved_at=None,
        sla_due_at=handed + timedelta(seconds=billing.sla_seconds), resolution_code="",
        first_claimed_at=handed + timedelta(minutes=3), customer_tier="gold",
        first_human_reply_at=handed + timedelta(minutes=4), current_intent="billing.refund",
        risk_flags=["chargeback_threat", "frustration"], missing_context=["order_id"],
        risk_evidence=[
            {"flag": "chargeback_threat", "source": "bot"},
            {"flag": "frustration", "source": "derived", "evidence": "third time", "message": "m5"},
        ],
        facts={"order_id": "A-1009", "amount": "49.99", "currency": "EUR", "plan": "family"},
    )  # fmt: skip
    colleague = User.objects.get(pk=ids["staff"][0])
    messages, events = big_transcript(rng, big, agent, colleague, args.messages, handed)
    app.Message.objects.bulk_create(messages, batch_size=2000)
    app.CaseEvent.objects.bulk_create(events, batch_size=2000)
    Case.objects.filter(pk=big.pk).update(version=len(events))
    steps = [("refund_lookup", "failed", "order not found")] * 2
    app.AttemptedStep.objects.bulk_create(
        app.AttemptedStep(case=big, position=i, name=name, outcome=outcome, detail=detail)
        for i, (name, outcome, detail) in enumerate([*steps, ("identity_check", "succeeded", "")])
    )
    app.IntentCorrection.objects.create(
        case=big, from_intent="billing.refund", to_intent="billing.double_charge", agent=agent,
        reason="charged twice",
    )  # fmt: skip
    print("seeding transcripts and audit events in SQL, then VACUUM ANALYZE ...", flush=True)
    background_rows(args.transcript, big.pk)
    db.execute("VACUUM ANALYZE")
    return {
        "agent_id": agent.pk, "big_case_id": big.pk, "big_case_messages": len(messages),
        "big_case_events": len(events), "cases": Case.objects.count(),
        "waiting": Case.objects.filter(queue=billing, status=Case.Status.WAITING).count(),
        "seconds": time.perf_counter() - started,
    }  # fmt: skip


def big_transcript(
    rng: random.Random, case: Any, agent: Any, colleague: Any, count: int, handed: datetime
) -> tuple[list[Any], list[Any]]:
    """A conversation before and after the handoff (customer, bot, agent, notes, system)."""
    from bench.lib import app

    before, messages = count * 3 // 5, []
    events = [
        app.CaseEvent(case=case, kind=kind, actor=actor, actor_label=label, case_version=version)
        for kind, actor, label, version in (
            ("created", None, "integration:bench-bot", 1), ("routed", None, "routing", 1),
            ("claimed", agent, "", 2),
        )
    ]  # fmt: skip
    start = handed - timedelta(seconds=20 * before)
    for seq in range(1, count + 1):
        author, early = None, seq <= before
        if early:
            role, at = ("customer" if seq % 2 else "bot"), start + timedelta(seconds=20 * seq)
        else:
            role = rng.choices(["customer", "agent", "note", "system"], weights=[4, 4, 1, 1])[0]
            at = handed + timedelta(seconds=15 * (seq - before))
            if role in {"agent", "note"}:
                author = agent if rng.random() < 0.8 else colleague
            kind = {"customer": "customer_message", "agent": "replied", "note": "noted"}.get(role)
            if kind:
                events.append(app.CaseEvent(
                    case=case, kind=kind, actor=author, case_version=len(events) + 1,
                    actor_label="" if author else "integration:bench-bot",
                ))  # fmt: skip
        messages.append(app.Message(
            case=case, seq=seq, external_id=f"m{seq}" if early else "", role=role, author=author,
            text=rng.choice(LINES[role]), dedupe_key=f"id:m{seq}" if early else f"desk:{seq}",
            sent_at=at, phase="before_handoff" if early else "after_handoff",
        ))  # fmt: skip
    return messages, events


def background_rows(transcript: int, big_case_id: int) -> None:
    """A short transcript and the audit events of every other case, generated in PostgreSQL."""
    if transcript > 0:
        seed.transcripts(transcript, "c.id <> %s", [big_case_id])
    db.execute(
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


async def fetch(client: Any, path: str) -> tuple[int, float]:
    """A request through Django's ASGI handler as under uvicorn: its own
    ``ThreadSensitiveContext``, its connection back to the pool at the end."""
    from asgiref.sync import ThreadSensitiveContext, sync_to_async
    from django.db import close_old_connections

    started = time.perf_counter()
    async with ThreadSensitiveContext():
        response = await client.get(path)
        await sync_to_async(close_old_connections)()
    return response.status_code, (time.perf_counter() - started) * 1000


def describe(config: dict[str, Any], seeded: dict[str, Any]) -> list[str]:
    return [
        "server : in process, django.test.AsyncClient through the ASGI handler, no HTTP, DEBUG off",
        f"data   : {seeded['cases']:,} cases, {seeded['waiting']:,} waiting in '{QUEUE_SLUG}'; "
        f"case #{seeded['big_case_id']} has {seeded['big_case_messages']} messages and "
        f"{seeded['big_case_events']} events; seeded in {seeded['seconds']:.0f} s",
        f"load   : {config['warmup']} warm-up rounds, then {config['requests']} rounds over the "
        "pages, one request at a time; queries and SQL time of one request each",
    ]


def main() -> int:
    parser = db.arguments(
        "Queue, search and case page server time on a full desk, beside /healthz.",
        "handoff_bench_pages",
        wait_quiet=300.0,
    )
    add = parser.add_argument
    add("--cases", type=int, default=100_000, help="cases (100,000)")
    add("--waiting", type=int, default=10_000, help="waiting cases in the queue (10,000)")
    add("--messages", type=int, default=500, help="messages of the big case (500)")
    add("--transcript", type=int, default=8, help="messages of every other case (8)")
    add("--requests", type=int, default=200, help="measured requests per page (200)")
    add("--warmup", type=int, default=20, help="warm-up rounds (20)")
    add("--flag", default="security", help="risk flag filtered on")
    add("--search", default="okaf", help="search term (a name fragment)")
    add("--seed", type=int, default=7, help="random seed for the data")
    add("--quiet-threshold", type=float, default=0.3, help="cores others may use (0.3)")
    args = parser.parse_args()
    if args.cases < args.waiting + 10 or args.waiting < 1 or args.requests < 1:
        parser.error("--cases must exceed --waiting; --waiting and --requests must be positive")
    started_at = report.utc_timestamp()
    with inprocess.django_here(args) as machine:
        from django.contrib.auth.models import User
        from django.test import AsyncClient, Client

        from bench.lib import app

        seeded = seed_desk(args)
        agent = User.objects.get(pk=seeded["agent_id"])
        queue = f"/queues/{QUEUE_SLUG}/"
        pages = [
            inprocess.Item("healthz", "/healthz", baseline=True),
            inprocess.Item("empty page", "/bench/empty-page"),  # reported, not held to targets
            inprocess.Item("queue", queue, held=True),
            inprocess.Item(
                "queue filtered", f"{queue}?flag={args.flag}&q={args.search}", held=True
            ),
            inprocess.Item("queue search", f"{queue}?q={args.search}", held=True),
            inprocess.Item("case", f"/cases/{seeded['big_case_id']}/", held=True),
        ]
        # Queries are profiled with the sync client: the same view runs the same queries.
        client = Client()
        client.force_login(agent)
        for page in pages:
            if (
                status := inprocess.profile(page, partial(client.get, page.path)).status_code
            ) != 200:
                raise SystemExit(f"{page.path} answered {status}, not 200")
        measured = app.Queue.objects.get(slug=QUEUE_SLUG)
        found = [
            f"{filters}: {app.waiting_cases(measured, app.QueueFilters(**filters)).count()} of "
            f"{seeded['waiting']:,} waiting match"
            for filters in ({"flag": args.flag, "q": args.search}, {"q": args.search})
        ]
        db.close_connections()
        import handoff_site.asgi  # noqa: F401  (as uvicorn loads it: it freezes the GC's heap)

        quiet = procs.wait_for_quiet(args.wait_quiet, args.database_name, args.quiet_threshold)
        print(f"measuring {len(pages)} pages: {args.requests} rounds ...", flush=True)
        loop, asgi = procs.new_loop(), AsyncClient()
        loop.run_until_complete(asgi.aforce_login(agent))
        try:
            cpu = inprocess.measure(
                pages, lambda page: loop.run_until_complete(fetch(asgi, page.path)),
                args.requests, args.warmup, args.database_name, args.quiet_threshold,
                args.wait_quiet,
            )  # fmt: skip
        finally:
            loop.close()
        for page in pages:  # after the warm-up: a cold first request is not typical
            page.bytes = len(inprocess.profile(page, partial(client.get, page.path)).content)
        db.close_connections()
    figures: dict[str, Any] = {
        "started_at": started_at, "seeded": seeded,
        "config": machine | dict(requests=args.requests, warmup=args.warmup),
        "items": [asdict(page) | {"samples": []} for page in pages],
        "cpu": cpu | {"other_cores_before": round(quiet, 3)},
        "notes": [
            "Server time in process: Django's whole handler, no socket and no HTTP parsing, one "
            "request at a time; the baseline pays the same. " + "; ".join(found),
        ],
    }  # fmt: skip
    text = describe(figures["config"], seeded)
    return inprocess.finish("page benchmark", figures, text, P95_TARGET_MS, RATIO_TARGET, args.json)


if __name__ == "__main__":
    report.run_main(main)
