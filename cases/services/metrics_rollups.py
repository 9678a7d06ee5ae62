"""Keeping the metrics' daily rollups (cases/metrics/rollups.py): a day recomputed from its
cases, the days changed since the last pass found and recomputed (the beat task), and the
whole history rolled up once (``manage.py metrics_rollups``).

Recomputing a day replaces its rows in one transaction with the figures of its cases now, so
running it twice, or for a day nothing changed, gives the same rows. A day is never patched
with deltas: a late change (a resolution, a CSAT score, a correction weeks later) only makes
its day stale, read directly until the next pass recomputes it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from cases.metrics import rollups
from cases.metrics.figures import KEY_CONTEXT, REPLIED, RESOLVED, Filters, _counts, cases_in
from cases.models import Case, MetricsDay, MetricsDuration, MetricsRollup

# A change saved (``updated_at``) before a pass but committed after its queries ran is not in
# its rows: the pass stamps its rows this much earlier, so such a change still marks the day
# stale. Longer than any transaction that writes a case.
COMMIT_MARGIN = timedelta(minutes=5)
DIMENSIONS = (
    "queue_id",
    "integration_id",
    "routing_rule",
    "detected_intent",
    "current_intent",
    "trigger_reason",
)
DURATIONS = {  # kind -> (which cases, the duration's end)
    MetricsDuration.Kind.RESOLUTION: (RESOLVED, "resolved_at"),
    MetricsDuration.Kind.FIRST_RESPONSE: (REPLIED, "first_human_reply_at"),
}
LEADS = {  # kind -> the field counted, over the assessed cases that saw a risk
    MetricsDuration.Kind.LEAD_MESSAGES: "risk_lead_messages",
    MetricsDuration.Kind.LEAD_SECONDS: "risk_lead_seconds",
}
ASSESSED = Q(escalation_policy_version__isnull=False)


def _late_counts() -> dict[str, Any]:
    late = Q(risk_lead_messages__gte=settings.HANDOFF_LATE_ESCALATION_MESSAGES)
    return {"assessed": Count("pk", filter=ASSESSED), "late": Count("pk", filter=ASSESSED & late)}


@transaction.atomic
def metrics_day_rollup(*, day: date, now: datetime | None = None) -> int:
    """Replace ``day``'s rollup rows with its cases' figures now; returns the rows written.
    The day's MetricsDay row is locked first, so two passes over one day take turns."""
    now = now or timezone.now()
    MetricsDay.objects.get_or_create(
        day=day, defaults={"computed_at": now, "time_zone": "(computing)", "late_after": 0}
    )
    marker = MetricsDay.objects.select_for_update().get(day=day)
    late_after = settings.HANDOFF_LATE_ESCALATION_MESSAGES
    MetricsRollup.objects.filter(day=day).delete()
    MetricsDuration.objects.filter(day=day).delete()
    cases = cases_in(Filters(day, day))
    counts = _counts(now) | _late_counts()
    rows = [
        MetricsRollup(
            day=day,
            **{name: group[name] for name in DIMENSIONS},
            **{name: group[name] or 0 for name in counts if name not in KEY_CONTEXT},
            **{f"missing_{name}": group[name] for name in KEY_CONTEXT},
        )
        for group in cases.values(*DIMENSIONS).annotate(**counts).order_by()
    ]
    MetricsRollup.objects.bulk_create(rows, batch_size=1000)
    durations = []
    for kind, (which, end) in DURATIONS.items():
        buckets: dict[tuple[int, int, int], int] = {}
        for queue_id, integration_id, handed, ended in cases.filter(which).values_list(
            "queue_id", "integration_id", "handed_off_at", end
        ):
            key = (queue_id, integration_id, rollups.bucket_of((ended - handed).total_seconds()))
            buckets[key] = buckets.get(key, 0) + 1
        durations += [
            MetricsDuration(day=day, queue_id=q, integration_id=i, kind=kind, bucket=bucket, n=n)
            for (q, i, bucket), n in buckets.items()
        ]
    risky = cases.filter(ASSESSED, first_risk_seq__isnull=False)
    for kind, field in LEADS.items():
        leads = risky.exclude(**{f"{field}__isnull": True}).annotate(value=F(field))
        buckets = {}
        for queue_id, integration_id, value in leads.values_list(
            "queue_id", "integration_id", "value"
        ):
            key = (queue_id, integration_id, rollups.bucket_of(value))
            buckets[key] = buckets.get(key, 0) + 1
        durations += [
            MetricsDuration(day=day, queue_id=q, integration_id=i, kind=kind, bucket=bucket, n=n)
            for (q, i, bucket), n in buckets.items()
        ]
    MetricsDuration.objects.bulk_create(durations, batch_size=1000)
    # the SLA figure counts an unclaimed case once it is past due: the day moves then
    due = cases.filter(first_claimed_at__isnull=True, sla_due_at__gte=now).aggregate(
        first=Min("sla_due_at")
    )["first"]
    marker.computed_at = now - COMMIT_MARGIN
    marker.stale_after = due
    marker.time_zone, marker.late_after = rollups.zone_name(), late_after
    marker.save(update_fields=["computed_at", "stale_after", "time_zone", "late_after"])
    return len(rows) + len(durations)


def metrics_rollups_refresh(*, now: datetime | None = None, recent_days: int = 7) -> list[date]:
    """The beat task's pass: recompute every rolled-up day whose cases changed since it was
    computed (the ``case_updated`` index, from the oldest day's stamp: about the time since
    the last pass), that fell stale by an SLA due time or another time zone, and the last
    ``recent_days`` days before today if never rolled up. Then stamp the days it found
    unchanged, so the next pass (and the page) looks back only this far. Returns the days
    recomputed."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    zone = rollups.zone_name()
    days = {row.day: row for row in MetricsDay.objects.filter(day__lt=today)}
    todo = {
        day
        for day, row in days.items()
        if row.time_zone != zone
        or row.late_after != settings.HANDOFF_LATE_ESCALATION_MESSAGES
        or (row.stale_after is not None and row.stale_after <= now)
    }
    todo |= {today - timedelta(days=n) for n in range(1, recent_days + 1)} - set(days)
    if days:
        since = min(row.computed_at for row in days.values())
        changed = rollups.changed_days(Case.objects.all(), since)
        todo |= {
            day for day, last in changed.items() if day in days and last >= days[day].computed_at
        }
    for day in sorted(todo):
        metrics_day_rollup(day=day, now=now)
    # every other day was checked for changes up to ``now``: its rows still hold
    MetricsDay.objects.filter(day__in=set(days) - todo, time_zone=zone).update(
        computed_at=now - COMMIT_MARGIN
    )
    return sorted(todo)


def metrics_rollups_backfill(*, start: date | None = None, end: date | None = None) -> int:
    """Roll up every day from ``start`` (the first handoff) to ``end`` (yesterday); the days
    done so far stay done if it stops. Returns the days rolled up."""
    first = Case.objects.aggregate(first=Min("handed_off_at"))["first"]
    if first is None:
        return 0
    start = start or timezone.localdate(first)
    end = end or timezone.localdate() - timedelta(days=1)
    day, done = start, 0
    while day <= end:
        metrics_day_rollup(day=day)
        day, done = day + timedelta(days=1), done + 1
    return done
