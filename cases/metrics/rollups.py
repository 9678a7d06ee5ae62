"""Daily rollups of the metrics: which days of a period can be read from them, and the duration
histograms the medians and p90s come from.

A day (of ``handed_off_at``, in the current time zone) is *settled* when its rollup rows hold
its cases as they are now: it was computed under this time zone and late-escalation
threshold, no case handed off that day
changed since (``Case.updated_at`` against ``MetricsDay.computed_at``) and no unclaimed case
of it fell due since (``stale_after``, which moves the SLA figure). Every other day of a period,
today included, is read from the cases directly, so the figures are the direct queries' figures
whatever the beat task has done; the beat task (cases/services/metrics_rollups.py) only keeps
the direct part small.

Counts and sums roll up exactly. Percentiles cannot: durations are counted in buckets, exact
to the second under a minute and ``2^(1/16)`` wide above (the value given back is the bucket's
geometric middle), so a median or p90 read through the rollups is within ``BUCKET_ERROR``
(2.2%) of the exact one, and under a minute within a second.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Max, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from cases.models import Case, MetricsDay, MetricsDuration

EXACT_BELOW = 64  # seconds: one bucket a second below this
PER_DOUBLING = 16  # buckets between s and 2s above it
BUCKET_ERROR = 2 ** (1 / (2 * PER_DOUBLING)) - 1  # the most a bucket's middle is off: 2.19%
LAST_BUCKET = 1000  # ~ 2^58 s: no duration gets near it


def bucket_of(seconds: float) -> int:
    if seconds < EXACT_BELOW:
        return max(int(seconds), 0)
    step = math.floor(PER_DOUBLING * math.log2(seconds / EXACT_BELOW))
    return min(EXACT_BELOW + step, LAST_BUCKET)


def bucket_value(bucket: int) -> timedelta:
    """What a bucket stands for: its whole second below a minute, its geometric middle above."""
    if bucket < EXACT_BELOW:
        return timedelta(seconds=bucket)
    step = bucket - EXACT_BELOW
    return timedelta(seconds=EXACT_BELOW * 2 ** ((step + 0.5) / PER_DOUBLING))


def percentile_of(counts: dict[int, int], fraction: float) -> timedelta | None:
    """The bucketed value at ``fraction`` (nearest rank, as the direct queries)."""
    total = sum(counts.values())
    if not total:
        return None
    rank = min(max(math.ceil(round(fraction * total, 6)), 1), total)
    seen = 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if seen >= rank:
            return bucket_value(bucket)
    raise AssertionError("unreachable: the ranks add up to the total")


def zone_name() -> str:
    return str(timezone.get_current_timezone())


def day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = timezone.get_current_timezone()
    start = datetime.combine(day, datetime.min.time(), tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)


def changed_days(cases: QuerySet[Case], since: datetime) -> dict[date, datetime]:
    """The days of ``cases`` changed at or after ``since`` and the last change of each: a range
    of the ``case_updated`` index, as long as the time since ``since``, not the history."""
    rows = (
        cases.filter(updated_at__gte=since)
        .annotate(day=TruncDate("handed_off_at"))
        .values("day")
        .annotate(last=Max("updated_at"))
        .order_by()
    )
    return {row["day"]: row["last"] for row in rows}


def settled_days(start: date, end: date, now: datetime) -> list[date]:
    """The days from ``start`` to ``end`` (before today) whose rollups are the figures now."""
    last = min(end, timezone.localdate(now) - timedelta(days=1))
    if last < start:
        return []
    days = {
        row.day: row.computed_at
        for row in MetricsDay.objects.filter(
            day__range=(start, last),
            time_zone=zone_name(),
            late_after=settings.HANDOFF_LATE_ESCALATION_MESSAGES,
        )
        if row.stale_after is None or row.stale_after > now
    }
    if not days:
        return []
    window_start, _ = day_bounds(min(days))
    _, window_end = day_bounds(max(days))
    period = Case.objects.filter(handed_off_at__gte=window_start, handed_off_at__lt=window_end)
    for day, changed in changed_days(period, min(days.values())).items():
        if day in days and changed >= days[day]:
            del days[day]
    return sorted(days)


def runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) runs: a few ranges instead of a long IN list."""
    out: list[tuple[date, date]] = []
    for day in sorted(days):
        if out and out[-1][1] + timedelta(days=1) == day:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def handed_off_on(days: Iterable[date]) -> Q:
    """Cases handed off on any of ``days``; Q() matches nothing when there are none."""
    q = Q(pk__in=[])
    for first, last in runs(days):
        q |= Q(handed_off_at__gte=day_bounds(first)[0], handed_off_at__lt=day_bounds(last)[1])
    return q


def rolled_on(days: Iterable[date]) -> Q:
    """Rollup rows of ``days``."""
    q = Q(pk__in=[])
    for first, last in runs(days):
        q |= Q(day__range=(first, last))
    return q


def histogram(rows: Iterable[tuple[int, int]]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for bucket, n in rows:
        counts[bucket] = counts.get(bucket, 0) + n
    return counts


def bucketed(seconds: Iterable[float]) -> dict[int, int]:
    return histogram((bucket_of(value), 1) for value in seconds)


def rolled_histograms(
    days: list[date], queue_id: int | None, integration_id: int | None
) -> dict[int, dict[int, int]]:
    """Kind -> bucket -> count over the rollups of ``days``, summed in the database."""
    rows = MetricsDuration.objects.filter(rolled_on(days))
    if queue_id:
        rows = rows.filter(queue_id=queue_id)
    if integration_id:
        rows = rows.filter(integration_id=integration_id)
    out: dict[int, dict[int, int]] = {kind: {} for kind in MetricsDuration.Kind.values}
    for kind, bucket, n in (
        rows.values("kind", "bucket").annotate(n=Sum("n")).values_list("kind", "bucket", "n")
    ):
        out[kind][bucket] = n
    return out
