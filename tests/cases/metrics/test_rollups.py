"""The metrics read through the daily rollups are the direct queries' figures: on seeded random
desks every count, rate and table is equal, and every median and p90 within the histograms'
stated error (rollups.BUCKET_ERROR, or a second under a minute)."""

from __future__ import annotations

import importlib
import random
from datetime import date, timedelta
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Sum
from django.utils import timezone

from cases.metrics import figures as metrics
from cases.metrics import rollups
from cases.models import (
    Case,
    CsatResponse,
    MetricsDay,
    MetricsDuration,
    MetricsRollup,
)
from cases.services import metrics_rollups
from tests.factories import CaseFactory, IntegrationFactory, QueueFactory

pytestmark = pytest.mark.django_db

INTENTS = ["billing.refund", "billing.invoice", "order.damaged", "account.locked", ""]
TRIGGERS = ["customer_request", "repeated_failure", "frustration", "other"]
CONTEXT = list(metrics.KEY_CONTEXT)
PERCENTILE_NAMES = list(metrics.PERCENTILES)


def lead(rng: random.Random) -> dict[str, Any]:
    """Escalation timing as intake sets it: not assessed, assessed without a risk, or with one
    some messages and seconds before the handoff."""
    if rng.random() < 0.3:
        return {}
    if rng.random() < 0.3:
        return {"escalation_policy_version": 1}
    return {
        "escalation_policy_version": 1,
        "first_risk_seq": rng.randint(1, 9),
        "risk_lead_messages": rng.choice([0, 1, 2, 3, 5, 8, 80]),
        "risk_lead_seconds": rng.choice([0, 5, 59, 64, 300, 4000, rng.randint(0, 9000)]),
    }


def seed_desk(seed: int, count: int = 300, days: int = 9) -> dict[str, Any]:
    """``count`` cases handed off over the last ``days`` days (today included), every field the
    metrics read drawn at random, written in bulk and last changed an hour ago."""
    rng = random.Random(seed)
    now = timezone.now()
    queues = [QueueFactory(slug=f"q{n}", sla_seconds=600) for n in range(3)]
    bots = [IntegrationFactory(name=f"bot{n}") for n in range(2)]
    cases = []
    for number in range(count):
        handed = now - timedelta(seconds=rng.uniform(0, days * 86400))
        routed = rng.choice(queues)
        queue = routed if rng.random() < 0.8 else rng.choice(queues)
        detected = rng.choice(INTENTS)
        status = rng.choice(["waiting", "assigned", "awaiting_customer", "resolved", "resolved"])
        claimed = reply = resolved = None
        if status != "waiting":
            claimed = min(handed + timedelta(seconds=rng.lognormvariate(5, 1.5)), now)
            if rng.random() < 0.8:  # some replies within the exact-second buckets
                reply = min(claimed + timedelta(seconds=rng.expovariate(1 / 90)), now)
        if status == "resolved":
            resolved = min(
                (reply or claimed or handed) + timedelta(seconds=rng.lognormvariate(7, 1.2)), now
            )
        cases.append(
            CaseFactory.build(
                integration=rng.choice(bots),
                external_id=f"conv-{number}",
                queue=queue,
                routed_queue=routed,
                routing_rule=rng.choice(["", "billing rule", "orders rule"]),
                detected_intent=detected,
                current_intent=detected if rng.random() < 0.8 else rng.choice(INTENTS),
                trigger_reason=rng.choice(TRIGGERS),
                missing_context=[field for field in CONTEXT if rng.random() < 0.15],
                status=status,
                handed_off_at=handed,
                # some unclaimed cases not yet due: the SLA figure moves when they fall due
                sla_due_at=handed + timedelta(seconds=rng.choice([60, 600, 3 * 86400])),
                first_claimed_at=claimed,
                first_human_reply_at=reply,
                resolved_at=resolved,
                customer_repeated=rng.choice([None, True, False]) if rng.random() < 0.7 else None,
                repeat_detected=rng.random() < 0.1,
                **lead(rng),
                held_by=None,
            )
        )
    Case.objects.bulk_create(cases)
    for case in Case.objects.filter(status="resolved"):
        if rng.random() < 0.5:
            CsatResponse.objects.create(case=case, score=rng.randint(1, 5))
    Case.objects.update(updated_at=now - timedelta(hours=1))
    return {"queues": queues, "bots": bots, "now": now}


def filter_sets(desk: dict[str, Any]) -> list[metrics.Filters]:
    today = timezone.localdate()
    week = (today - timedelta(days=6), today)
    return [
        metrics.Filters(*week),
        metrics.Filters(today - timedelta(days=8), today - timedelta(days=1)),  # no today
        metrics.Filters(*week, queue_id=desk["queues"][1].pk),
        metrics.Filters(*week, integration_id=desk["bots"][0].pk),
        metrics.Filters(*week, intent="billing.refund"),
        metrics.Filters(today - timedelta(days=3), today - timedelta(days=3)),  # one day
        # every day rolled up (no SLA falls due there): no case is left to read directly
        metrics.Filters(today - timedelta(days=8), today - timedelta(days=5)),
    ]


def everything(filters: metrics.Filters) -> dict[str, Any]:
    """Every figure the page, the CSV exports and the previous period's headline show."""
    with metrics.reporting():
        headline, tables = metrics.current(filters)
        return {
            "headline": vars(headline),
            "previous": vars(metrics.headline(filters.previous())),
            "alone": vars(metrics.headline(filters)),
            "queues": tables.queues,
            "integrations": tables.integrations,
            "misroutes": tables.misroutes,
            "overrides": tables.overrides,
            "confusion": tables.confusion,
            "volume": tables.volume,
            "late": vars(metrics.late_escalations(filters)),
            "csv": [
                metrics.by_queue(filters),
                metrics.by_integration(filters),
                metrics.overrides_by_intent(filters),
                metrics.confusion(filters),
                metrics.misroutes_by_rule(filters),
                metrics.volume_by_day(filters),
            ],
        }


def direct(filters: metrics.Filters, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    with monkeypatch.context() as patch:
        patch.setattr(rollups, "settled_days", lambda *args: [])
        return everything(filters)


def assert_same(rolled: dict[str, Any], exact: dict[str, Any]) -> None:
    for part in ("headline", "previous", "alone"):
        for name in PERCENTILE_NAMES:
            got, want = rolled[part].pop(name), exact[part].pop(name)
            if want is None:
                assert got is None, (part, name)
                continue
            error = abs((got - want).total_seconds())
            allowed = max(1.0, rollups.BUCKET_ERROR * want.total_seconds())
            assert error <= allowed, (part, name, got, want)
    got, want = rolled["late"].pop("median_seconds"), exact["late"].pop("median_seconds")
    assert (got is None) == (want is None)
    if want is not None:
        assert abs(got - want) <= max(1.0, rollups.BUCKET_ERROR * want), (got, want)
    assert rolled == exact


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_figure_through_rollups_is_the_direct_figure(seed, monkeypatch):
    # given a random desk and its figures read straight from the cases
    desk = seed_desk(seed)
    periods = filter_sets(desk)
    exact = [direct(filters, monkeypatch) for filters in periods]
    # when its history is rolled up
    call_command("metrics_rollups")
    # then the figures read the rollups (every day before today) and are the same
    today = timezone.localdate()
    assert rollups.settled_days(today - timedelta(days=6), today, timezone.now()) == [
        today - timedelta(days=n) for n in range(6, 0, -1)
    ]
    for filters, want in zip(periods, exact, strict=True):
        assert_same(everything(filters), want)


def test_percentiles_from_buckets_stay_within_the_stated_error():
    rng = random.Random(7)
    for _ in range(2000):
        seconds = rng.choice([rng.uniform(0, 64), rng.lognormvariate(7, 2)])
        value = rollups.bucket_value(rollups.bucket_of(seconds)).total_seconds()
        assert abs(value - seconds) <= max(1.0, rollups.BUCKET_ERROR * seconds)
    assert rollups.percentile_of({}, 0.5) is None
    assert rollups.percentile_of({3: 1, 10: 1}, 0.5) == timedelta(seconds=3)
    assert rollups.percentile_of({3: 1, 10: 1}, 0.9) == timedelta(seconds=10)


def test_a_late_change_is_read_directly_until_the_next_pass(monkeypatch):
    # given a rolled-up desk
    desk = seed_desk(4)
    call_command("metrics_rollups")
    today = timezone.localdate()
    week = metrics.Filters(today - timedelta(days=6), today)
    three_days_ago = today - timedelta(days=3)
    # when a case of three days ago is resolved now (saved as the services save)
    start, end = rollups.day_bounds(three_days_ago)
    case = Case.objects.filter(
        handed_off_at__gte=start, handed_off_at__lt=end, status="waiting"
    ).first()
    assert case is not None
    case.status, case.resolved_at = Case.Status.RESOLVED, timezone.now()
    case.first_claimed_at = case.first_human_reply_at = case.resolved_at
    case.save(
        update_fields=[
            "status",
            "resolved_at",
            "first_claimed_at",
            "first_human_reply_at",
            "updated_at",
        ]
    )
    # then that day is no longer settled, and the figures are the direct ones
    assert three_days_ago not in rollups.settled_days(week.start, week.end, timezone.now())
    assert_same(everything(week), direct(week, monkeypatch))
    # and the beat task's passes recompute that day alone: within the commit margin the change
    # may not have been committed when they read it, so the day settles with the first pass
    # after it
    assert metrics_rollups.metrics_rollups_refresh() == [three_days_ago]
    assert three_days_ago not in rollups.settled_days(week.start, week.end, timezone.now())
    later = timezone.now() + metrics_rollups.COMMIT_MARGIN + timedelta(seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert metrics_rollups.metrics_rollups_refresh() == [three_days_ago]
    assert three_days_ago in rollups.settled_days(week.start, week.end, later)
    assert metrics_rollups.metrics_rollups_refresh() == []
    assert_same(everything(week), direct(week, monkeypatch))
    assert desk["now"] < later


def test_a_pass_twice_writes_the_same_rows():
    seed_desk(5, count=120)
    yesterday = timezone.localdate() - timedelta(days=1)

    def rows() -> tuple[list[Any], list[Any]]:
        counts = MetricsRollup.objects.filter(day=yesterday).order_by(
            "queue_id",
            "integration_id",
            "routing_rule",
            "detected_intent",
            "current_intent",
            "trigger_reason",
        )
        buckets = MetricsDuration.objects.filter(day=yesterday).order_by(
            "queue_id", "integration_id", "kind", "bucket"
        )
        return (
            [tuple(vars(r)[k] for k in vars(r) if k not in {"_state", "id"}) for r in counts],
            [(r.queue_id, r.integration_id, r.kind, r.bucket, r.n) for r in buckets],
        )

    metrics_rollups.metrics_day_rollup(day=yesterday)
    first = rows()
    metrics_rollups.metrics_day_rollup(day=yesterday)
    assert rows() == first and first[0] and first[1]
    start, end = rollups.day_bounds(yesterday)
    rolled = MetricsRollup.objects.filter(day=yesterday).aggregate(n=Sum("handoffs"))["n"]
    assert rolled == Case.objects.filter(handed_off_at__gte=start, handed_off_at__lt=end).count()


def test_an_sla_falling_due_unsettles_its_day():
    # given a day whose one unclaimed case falls due in an hour
    queue = QueueFactory(slug="slow")
    day = timezone.localdate() - timedelta(days=2)
    handed = rollups.day_bounds(day)[0] + timedelta(hours=12)
    CaseFactory(queue=queue, handed_off_at=handed, sla_due_at=timezone.now() + timedelta(hours=1))
    Case.objects.update(updated_at=timezone.now() - timedelta(hours=1))
    metrics_rollups.metrics_day_rollup(day=day)
    now = timezone.now()
    # then it is settled until then, and stale after it
    assert rollups.settled_days(day, day, now) == [day]
    assert rollups.settled_days(day, day, now + timedelta(hours=1, seconds=1)) == []
    # and the next pass recomputes it then
    later = now + timedelta(hours=1, seconds=1)
    assert day in metrics_rollups.metrics_rollups_refresh(now=later)
    assert MetricsDay.objects.get(day=day).stale_after is None


def test_rollups_of_another_time_zone_are_not_read(settings):
    seed_desk(6, count=60)
    yesterday = timezone.localdate() - timedelta(days=1)
    metrics_rollups.metrics_day_rollup(day=yesterday)
    MetricsDay.objects.update(time_zone="Asia/Tokyo")
    assert rollups.settled_days(yesterday, yesterday, timezone.now()) == []
    assert yesterday in metrics_rollups.metrics_rollups_refresh()
    assert rollups.settled_days(
        yesterday, yesterday, timezone.now() + metrics_rollups.COMMIT_MARGIN
    ) == [yesterday]


def test_days_rolled_up_before_resolution_time_was_redefined_are_recomputed():
    # given: a day rolled up under the old definition (cases the bot ended counted)
    seed_desk(6, count=60)
    yesterday = timezone.localdate() - timedelta(days=1)
    metrics_rollups.metrics_day_rollup(day=yesterday)

    # when the migration that redefined it runs
    migration = importlib.import_module("cases.migrations.0026_resolution_time_without_bot_ended")
    migration.unsettle_rolled_up_days(django_apps, None)

    # then the day is read directly until the next pass has recomputed it
    assert rollups.settled_days(yesterday, yesterday, timezone.now()) == []
    assert yesterday in metrics_rollups.metrics_rollups_refresh()
    assert rollups.settled_days(
        yesterday, yesterday, timezone.now() + metrics_rollups.COMMIT_MARGIN
    ) == [yesterday]


def test_backfill_command_refuses_a_bad_date():
    with pytest.raises(CommandError, match="not a date"):
        call_command("metrics_rollups", "--from", "yesterday")
    with pytest.raises(CommandError, match="after"):
        call_command("metrics_rollups", "--from", "2026-02-02", "--to", "2026-02-01")
    assert call_command("metrics_rollups") is None and not MetricsDay.objects.exists()


def test_days_run_together():
    days = [date(2026, 1, d) for d in (1, 2, 3, 5, 7, 8)]
    assert rollups.runs(days) == [
        (date(2026, 1, 1), date(2026, 1, 3)),
        (date(2026, 1, 5), date(2026, 1, 5)),
        (date(2026, 1, 7), date(2026, 1, 8)),
    ]
