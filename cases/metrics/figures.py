"""Whether handoffs help: every figure is an SQL aggregation over a filtered set of cases.

Definitions (also on the metrics page and in the README):
- repeat-explanation rate: resolved cases whose agent answered "the customer had to repeat
  information" ÷ resolved cases with an answer; beside it, the share of cases where the desk
  itself saw a customer message after the handoff restating one from before it.
- resolution time: handoff → resolved, median and p90, over resolved cases.
- time to first human response: handoff → the first agent reply, median and p90.
- CSAT after escalation: mean score, share of 4 and 5, number of responses.
- missing key context: handoffs that lacked customer identity, intent, attempted steps or a
  customer message ÷ handoffs, and how often each was missing.
- intent override rate: cases whose intent an agent corrected ÷ cases, per detected intent; the
  confusion matrix counts detected → corrected with the last correction of each case.
- misroute rate: cases reassigned away from the queue their rule chose ÷ cases, per rule.
- SLA attainment: cases first claimed by their SLA due time ÷ cases claimed or past due.
- bounce-back rate: cases an agent returned to the bot whose conversation was handed off again
  within 24 h of the return ÷ cases returned to the bot, per bot and per detected intent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    Count,
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone

from cases.metrics import rollups
from cases.models import (
    Case,
    Integration,
    IntentCorrection,
    Message,
    MetricsDuration,
    MetricsRollup,
    RiskFlagReview,
)
from queues.models import Queue

KEY_CONTEXT = ("customer_identity", "intent", "attempted_steps", "customer_message")


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # inclusive
    queue_id: int | None = None
    integration_id: int | None = None
    intent: str = ""

    def window(self) -> tuple[datetime, datetime]:
        zone = timezone.get_current_timezone()
        start = datetime.combine(self.start, time.min, tzinfo=zone)
        end = datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=zone)
        return start, end

    def previous(self) -> Filters:
        """The period of the same length just before this one."""
        days = (self.end - self.start).days + 1
        return Filters(
            self.start - timedelta(days=days),
            self.start - timedelta(days=1),
            self.queue_id,
            self.integration_id,
            self.intent,
        )


def period_from(query: Any, today: date, days: int = 30) -> tuple[date, date]:
    """``from`` and ``to`` (YYYY-MM-DD) of a query string; the last ``days`` days by default."""

    def day(name: str, default: date) -> date:
        try:
            return date.fromisoformat(query.get(name, ""))
        except ValueError:
            return default

    end = day("to", today)
    return min(day("from", end - timedelta(days=days - 1)), end), end


def cases_in(filters: Filters) -> QuerySet[Case]:
    start, end = filters.window()
    cases = Case.objects.filter(handed_off_at__gte=start, handed_off_at__lt=end)
    if filters.queue_id:
        cases = cases.filter(queue_id=filters.queue_id)
    if filters.integration_id:
        cases = cases.filter(integration_id=filters.integration_id)
    if filters.intent:
        cases = cases.filter(detected_intent=filters.intent)
    return cases


def ratio(part: int | None, whole: int | None) -> float | None:
    """None means "no data", never a division by zero."""
    return None if not whole else (part or 0) / whole


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


# For the metric queries' transaction only, on PostgreSQL:
# - work_mem: room to sort and hash a period's rows in memory; at the default 4 MB the
#   percentiles' sorts spill to disk;
# - random_page_cost: the ``case_metrics`` index is cached; at the default 4, a period covering
#   most of the table is read by a sequential scan of the wide rows, about three times slower;
# - jit: once a bigger table lifts these queries' estimated cost past jit_above_cost, compiling
#   them takes longer (about 250 ms measured) than running them.
REPORTING_SETTINGS = {"work_mem": "32MB", "random_page_cost": "1.1", "jit": "off"}


def _configure(settings: dict[str, str]) -> None:
    names = list(settings)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(names)),
            [value for name in names for value in (name, settings[name])],
        )


def _current(names: Iterable[str]) -> dict[str, str]:
    names = list(names)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(names)), names)
        row = cursor.fetchone()
    return dict(zip(names, row or (), strict=True))


@contextmanager
def reporting() -> Iterator[None]:
    """One transaction around the metric queries of a page or an export, with
    ``REPORTING_SETTINGS`` on PostgreSQL. Inside a caller's transaction the settings would
    outlive this block, so they are put back after it."""
    tune, nested = on_postgresql(), connection.in_atomic_block
    before = _current(REPORTING_SETTINGS) if tune and nested else {}
    with transaction.atomic():
        if tune:
            _configure(REPORTING_SETTINGS)
        yield
    if before:  # (after an error, rolling back the savepoint has undone them already)
        _configure(before)


def nearest_rank(fraction: float, count: int) -> int:
    """1-based rank of the value at ``fraction`` of ``count`` ordered values: ceil(p x n), with
    the float noise of p x n rounded away (0.14 x 50 is 7.000000000000001: rank 7)."""
    return min(max(math.ceil(round(fraction * count, 6)), 1), count)


def percentile(values: QuerySet[Any], expression: Any, fraction: float) -> timedelta | None:
    """The value at ``fraction`` of the ordered expression (nearest rank), in two queries: the
    portable form (SQLite), no Python loop over the rows."""
    annotated = values.annotate(_v=expression).exclude(_v__isnull=True)
    count = annotated.count()
    if not count:
        return None
    return annotated.order_by("_v").values_list("_v", flat=True)[nearest_rank(fraction, count) - 1]


EPOCH = datetime(1970, 1, 1)


class PercentileDisc(Aggregate):
    """PostgreSQL's nearest-rank percentile of a duration, as an ordered-set aggregate, so it
    runs in the same pass as the other figures.

    - percentile_disc takes rank ceil(p x n) in floating point, which ranks 0.14 x 50
      (7.000000000000001) as 8; a hair below p gives ``nearest_rank`` for fractions with a
      few decimals and fewer than 10^8 values.
    - It sorts ``epoch + duration`` (a timestamp without time zone: plain calendar arithmetic,
      no daylight saving) rather than the interval: timestamps sort with a fast int64
      comparison, intervals through a function call per comparison (twice as slow here). The
      result goes back to a duration on the way out.
    """

    function = "percentile_disc"
    template = (
        "%(function)s(%(fraction)s) WITHIN GROUP "
        "(ORDER BY TIMESTAMP '1970-01-01' + (%(expressions)s))"
    )
    output_field = DateTimeField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=f"{fraction - 1e-9:.12f}", **extra)

    def get_db_converters(self, connection: Any) -> list[Any]:
        return [*super().get_db_converters(connection), self._to_duration]

    @staticmethod
    def _to_duration(value: datetime | None, *_: Any) -> timedelta | None:
        return None if value is None else value.replace(tzinfo=None) - EPOCH


def duration(end: str, start: str = "handed_off_at") -> ExpressionWrapper:
    return ExpressionWrapper(F(end) - F(start), output_field=DurationField())


# Resolution time is the team's: a case the bot ended (Botpress's stopHitl: the customer left,
# often while still waiting) was not resolved by a person, and its short wait would flatter it.
RESOLVED = Q(status=Case.Status.RESOLVED, resolved_at__isnull=False) & ~Q(
    resolution_code=Case.Resolution.ENDED_BY_BOT
)
REPLIED = Q(first_human_reply_at__isnull=False)
PERCENTILES = {  # figure -> (the duration's end, which cases, fraction)
    "resolution_median": ("resolved_at", RESOLVED, 0.5),
    "resolution_p90": ("resolved_at", RESOLVED, 0.9),
    "first_response_median": ("first_human_reply_at", REPLIED, 0.5),
    "first_response_p90": ("first_human_reply_at", REPLIED, 0.9),
}


def _percentile_aggregates() -> dict[str, Any]:
    return {
        name: PercentileDisc(duration(end), fraction, filter=which)
        for name, (end, which, fraction) in PERCENTILES.items()
    }


def _percentiles(filters: Filters, period: Period | None = None) -> dict[str, timedelta | None]:
    """The four durations' percentiles: one query on PostgreSQL, two per figure elsewhere;
    with settled days (and no intent filter: the histograms are by queue and bot), from their
    histograms and the other days' durations bucketed alike (within ``rollups.BUCKET_ERROR``)."""
    if period is not None and period.settled and not filters.intent:
        return _bucketed_percentiles(filters, period)
    cases = cases_in(filters)
    if on_postgresql():
        return cases.aggregate(**_percentile_aggregates())
    return {
        name: percentile(cases.filter(which), duration(end), fraction)
        for name, (end, which, fraction) in PERCENTILES.items()
    }


PERCENTILE_KINDS = {  # figure -> the histogram it is read from
    "resolution_median": MetricsDuration.Kind.RESOLUTION,
    "resolution_p90": MetricsDuration.Kind.RESOLUTION,
    "first_response_median": MetricsDuration.Kind.FIRST_RESPONSE,
    "first_response_p90": MetricsDuration.Kind.FIRST_RESPONSE,
}


def _bucketed_percentiles(filters: Filters, period: Period) -> dict[str, timedelta | None]:
    histograms = rollups.rolled_histograms(period.settled, filters.queue_id, filters.integration_id)
    for name, (end, which, _) in PERCENTILES.items():
        kind = PERCENTILE_KINDS[name]
        if name.endswith("_median"):  # one read per duration: the median's and p90's are alike
            rows = period.direct.filter(which).values_list("handed_off_at", end)
            seconds = ((ended - handed).total_seconds() for handed, ended in rows)
            for bucket, n in rollups.bucketed(seconds).items():
                histograms[kind][bucket] = histograms[kind].get(bucket, 0) + n
    return {
        name: rollups.percentile_of(histograms[PERCENTILE_KINDS[name]], fraction)
        for name, (_, _, fraction) in PERCENTILES.items()
    }


def _missing_counts() -> dict[str, Any]:
    if on_postgresql():
        # jsonb's ? (a string element of the list): a third of the cost of matching the text.
        return {
            field: Count("pk", filter=Q(missing_context__has_key=field)) for field in KEY_CONTEXT
        }
    # SQLite's has_key reads object keys, not list elements: the list as text, exact for
    # these four names.
    return {
        field: Count("pk", filter=Q(missing_context__icontains=f'"{field}"'))
        for field in KEY_CONTEXT
    }


def _counts(now: datetime) -> dict[str, Any]:
    """Every count the headline and the tables are made of, defined once. All are sums over
    cases, so a period's totals are the sums of its groups'."""
    resolved = Q(status=Case.Status.RESOLVED)
    return {
        "handoffs": Count("pk"),
        "resolved": Count("pk", filter=resolved),
        # the headline's repeat rate: resolved cases with the agent's answer
        "answered": Count("pk", filter=resolved & Q(customer_repeated__isnull=False)),
        "repeated": Count("pk", filter=resolved & Q(customer_repeated=True)),
        # the scorecard's: every answer
        "answered_any": Count("pk", filter=Q(customer_repeated__isnull=False)),
        "repeated_any": Count("pk", filter=Q(customer_repeated=True)),
        "detected": Count("pk", filter=Q(repeat_detected=True)),
        "missing": Count("pk", filter=~Q(missing_context=[])),
        "overridden": Count("pk", filter=~Q(current_intent=F("detected_intent"))),
        "misrouted": Count("pk", filter=~Q(queue_id=F("routed_queue_id"))),
        "sla_counted": Count(
            "pk", filter=Q(first_claimed_at__isnull=False) | Q(sla_due_at__lt=now)
        ),
        "sla_met": Count("pk", filter=Q(first_claimed_at__lte=F("sla_due_at"))),
        # CSAT is one-to-one with its case: the LEFT JOIN adds no rows. A sum and a count,
        # not a mean, so that groups add up.
        "csat_sum": Sum("csat__score"),
        "csat_n": Count("csat"),
        "csat_satisfied": Count("csat", filter=Q(csat__score__gte=4)),
        **_missing_counts(),
    }


@dataclass
class Headline:
    handoffs: int
    repeat_rate: float | None
    repeat_detected_rate: float | None
    resolution_median: timedelta | None
    resolution_p90: timedelta | None
    first_response_median: timedelta | None
    first_response_p90: timedelta | None
    csat_mean: float | None
    csat_satisfied: float | None
    csat_responses: int
    missing_context_rate: float | None
    override_rate: float | None
    misroute_rate: float | None
    sla_attainment: float | None


def _mean(total: int | None, count: int | None) -> float | None:
    return None if not count else (total or 0) / count


def _headline(totals: dict[str, Any]) -> Headline:
    return Headline(
        handoffs=totals["handoffs"],
        repeat_rate=ratio(totals["repeated"], totals["answered"]),
        repeat_detected_rate=ratio(totals["detected"], totals["handoffs"]),
        resolution_median=totals["resolution_median"],
        resolution_p90=totals["resolution_p90"],
        first_response_median=totals["first_response_median"],
        first_response_p90=totals["first_response_p90"],
        csat_mean=_mean(totals["csat_sum"], totals["csat_n"]),
        csat_satisfied=ratio(totals["csat_satisfied"], totals["csat_n"]),
        csat_responses=totals["csat_n"],
        missing_context_rate=ratio(totals["missing"], totals["handoffs"]),
        override_rate=ratio(totals["overridden"], totals["handoffs"]),
        misroute_rate=ratio(totals["misrouted"], totals["handoffs"]),
        sla_attainment=ratio(totals["sla_met"], totals["sla_counted"]),
    )


def headline(filters: Filters) -> Headline:
    """One query on PostgreSQL: the counts, CSAT and the four percentiles in a single pass over
    the period's cases (the ``case_metrics`` index). Elsewhere the percentiles take two queries
    each. With settled days, their rollups and a pass over the other days' cases."""
    period = Period.of(filters)
    if period.settled:
        groups = _groups(filters, period)
        totals = _add_up(groups).get(None) or dict.fromkeys(_counts(timezone.now()), 0)
        return _headline(totals | _percentiles(filters, period))
    cases = cases_in(filters)
    counts = _counts(timezone.now())
    if on_postgresql():
        return _headline(cases.aggregate(**counts, **_percentile_aggregates()))
    return _headline(cases.aggregate(**counts) | _percentiles(filters))


GROUP_KEYS = ("queue_id", "integration_id", "routing_rule")


@dataclass(frozen=True)
class Period:
    """A period split in two: the settled days read from their rollups, and the cases of every
    other day (today's, and any whose cases changed since their rollup) read directly."""

    settled: list[date]
    direct: QuerySet[Case]

    @classmethod
    def of(cls, filters: Filters) -> Period:
        settled = rollups.settled_days(filters.start, filters.end, timezone.now())
        if not settled:
            return cls(settled, cases_in(filters))
        # the other days as ranges of handed_off_at, not "not the settled days": an index
        # range scan of those days rather than of the whole period
        days = (filters.end - filters.start).days + 1
        other = {filters.start + timedelta(days=n) for n in range(days)} - set(settled)
        return cls(settled, cases_in(filters).filter(rollups.handed_off_on(other)))

    def rolled(self, filters: Filters) -> QuerySet[MetricsRollup]:
        rows = MetricsRollup.objects.filter(rollups.rolled_on(self.settled))
        if filters.queue_id:
            rows = rows.filter(queue_id=filters.queue_id)
        if filters.integration_id:
            rows = rows.filter(integration_id=filters.integration_id)
        if filters.intent:
            rows = rows.filter(detected_intent=filters.intent)
        return rows


def _rolled_counts(names: Iterable[str]) -> dict[str, Any]:
    """The rollups' sums under the names of ``_counts`` (their missing-context columns are
    ``missing_<field>``)."""
    return {name: Sum(f"missing_{name}" if name in KEY_CONTEXT else name) for name in names}


def _groups(filters: Filters, period: Period | None = None) -> list[dict[str, Any]]:
    """The period's counts by queue, bot and rule in one pass: the per-queue, per-bot and
    per-rule tables and the headline add these (few) groups up instead of each reading the
    cases again. Settled days add their rollups' groups."""
    period = period or Period.of(filters)
    counts = _counts(timezone.now())
    groups = list(period.direct.values(*GROUP_KEYS).annotate(**counts).order_by())
    if period.settled:
        rolled = period.rolled(filters).values(*GROUP_KEYS).annotate(**_rolled_counts(counts))
        groups += list(rolled.order_by())
    return groups


def _add_up(groups: list[dict[str, Any]], key: str | None = None) -> dict[Any, dict[str, int]]:
    """The groups' counts summed by ``key`` (all of them under None without one)."""
    totals: dict[Any, dict[str, int]] = {}
    for group in groups:
        into = totals.setdefault(group[key] if key else None, {})
        for name, value in group.items():
            if name not in GROUP_KEYS:
                into[name] = into.get(name, 0) + (value or 0)
    return totals


def _names(model: Any, ids: Iterable[int]) -> dict[int, str]:
    return dict(model.objects.filter(pk__in=set(ids)).values_list("pk", "name"))


def _integrations(
    groups: list[dict[str, Any]], bounces: BounceBacks | None = None
) -> list[dict[str, Any]]:
    rows = _add_up(groups, "integration_id")
    names = _names(Integration, rows)
    returns = bounces.per_integration if bounces is not None else {}
    ordered = sorted(rows.items(), key=lambda r: (-r[1]["handoffs"], names.get(r[0], "")))
    return [
        {
            "integration": names.get(pk, "?"),
            "handoffs": row["handoffs"],
            "missing_context_rate": ratio(row["missing"], row["handoffs"]),
            **{f"missing_{field}": row[field] for field in KEY_CONTEXT},
            "override_rate": ratio(row["overridden"], row["handoffs"]),
            "repeat_rate": ratio(row["repeated_any"], row["answered_any"]),
            "csat_mean": _mean(row["csat_sum"], row["csat_n"]),
            "csat_responses": row["csat_n"],
            "returned_to_bot": returns.get(pk, (0, 0))[0],
            "bounce_back_rate": ratio(returns.get(pk, (0, 0))[1], returns.get(pk, (0, 0))[0]),
        }
        for pk, row in ordered
    ]


def _queues(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = _add_up(groups, "queue_id")
    names = _names(Queue, rows)
    return [
        {
            "queue": names.get(pk, "?"),
            "handoffs": row["handoffs"],
            "resolved": row["resolved"],
            "sla_attainment": ratio(row["sla_met"], row["sla_counted"]),
            "csat_mean": _mean(row["csat_sum"], row["csat_n"]),
        }
        for pk, row in sorted(rows.items(), key=lambda r: (names.get(r[0], ""), r[0]))
    ]


def _misroutes(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = sorted(
        _add_up(groups, "routing_rule").items(),
        key=lambda r: (-r[1]["misrouted"], -r[1]["handoffs"], r[0]),
    )
    return [
        {
            "rule": rule or "(default queue)",
            "handoffs": row["handoffs"],
            "misrouted": row["misrouted"],
            "misroute_rate": ratio(row["misrouted"], row["handoffs"]),
        }
        for rule, row in rows
    ]


def by_integration(filters: Filters) -> list[dict[str, Any]]:
    """The bot scorecard: what each bot team needs to fix."""
    return _integrations(_groups(filters), bounce_backs(filters))


@dataclass(frozen=True)
class BounceBacks:
    """Of the period's cases an agent returned to the bot, those whose conversation came back
    (a handoff of the same conversation, or of the same customer, within 24 h of the return:
    ``Case.is_bounce_back`` on the new case)."""

    returned: int
    bounced: int
    rate: float | None
    by_integration: list[dict[str, Any]]
    by_intent: list[dict[str, Any]]
    per_integration: dict[int, tuple[int, int]]  # integration id -> (returned, bounced)


def bounce_backs(filters: Filters) -> BounceBacks:
    """One query over the few returned cases (the partial ``case_returned`` index), grouped by
    bot and intent; the totals and both tables add those groups up."""
    came_back = Case.objects.filter(previous_case=OuterRef("pk"), is_bounce_back=True)
    groups = list(
        cases_in(filters)
        .filter(status=Case.Status.RETURNED)
        .values("integration_id", "detected_intent")
        .annotate(returned=Count("pk"), bounced=Count("pk", filter=Q(Exists(came_back))))
        .order_by()
    )
    per_integration: dict[int, tuple[int, int]] = {}
    per_intent: dict[str, tuple[int, int]] = {}

    def add(into: dict[Any, tuple[int, int]], key: Any, group: Mapping[str, Any]) -> None:
        returned, bounced = into.get(key, (0, 0))
        into[key] = (returned + group["returned"], bounced + group["bounced"])

    for group in groups:
        add(per_integration, group["integration_id"], group)
        add(per_intent, group["detected_intent"] or "(none)", group)
    names = _names(Integration, per_integration)

    def table(rows: dict[Any, tuple[int, int]], name: str, label: Any) -> list[dict[str, Any]]:
        ordered = sorted(rows.items(), key=lambda r: (-r[1][1], -r[1][0], str(label(r[0]))))
        return [
            {
                name: label(key),
                "returned": returned,
                "bounced_back": bounced,
                "bounce_back_rate": ratio(bounced, returned),
            }
            for key, (returned, bounced) in ordered
        ]

    returned = sum(group["returned"] for group in groups)
    bounced = sum(group["bounced"] for group in groups)
    return BounceBacks(
        returned=returned,
        bounced=bounced,
        rate=ratio(bounced, returned),
        by_integration=table(per_integration, "integration", lambda pk: names.get(pk, "?")),
        by_intent=table(per_intent, "intent", lambda intent: intent),
        per_integration=per_integration,
    )


def bounce_backs_by_integration(filters: Filters) -> list[dict[str, Any]]:
    return bounce_backs(filters).by_integration


def bounce_backs_by_intent(filters: Filters) -> list[dict[str, Any]]:
    return bounce_backs(filters).by_intent


def by_queue(filters: Filters) -> list[dict[str, Any]]:
    return _queues(_groups(filters))


def misroutes_by_rule(filters: Filters) -> list[dict[str, Any]]:
    return _misroutes(_groups(filters))


def _overrides(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    intents: dict[str, dict[str, int]] = {}
    for pair in pairs:
        if not pair["detected_intent"]:
            continue
        row = intents.setdefault(pair["detected_intent"], {"handoffs": 0, "overridden": 0})
        row["handoffs"] += pair["n"]
        if pair["current_intent"] != pair["detected_intent"]:
            row["overridden"] += pair["n"]
    ordered = sorted(intents.items(), key=lambda r: (-r[1]["overridden"], -r[1]["handoffs"], r[0]))
    return [
        {
            "detected_intent": intent,
            "handoffs": row["handoffs"],
            "overridden": row["overridden"],
            "override_rate": ratio(row["overridden"], row["handoffs"]),
        }
        for intent, row in ordered
    ]


def _confusion(pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    moved = [p for p in pairs if p["current_intent"] != p["detected_intent"]]
    moved.sort(key=lambda p: (-p["n"], p["detected_intent"], p["current_intent"]))
    return [
        {
            "detected": p["detected_intent"] or "(none)",
            "corrected": p["current_intent"],
            "n": p["n"],
        }
        for p in moved
    ]


def overrides_by_intent(filters: Filters) -> list[dict[str, Any]]:
    return _overrides(_pairs_and_days(filters, Period.of(filters))[0])


def confusion(filters: Filters) -> list[dict[str, Any]]:
    """Detected → corrected, the last correction of each case (its ``current_intent``)."""
    return _confusion(_pairs_and_days(filters, Period.of(filters))[0])


def _volume(days: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    ordered = sorted(days, key=lambda r: (r["day"], r["trigger_reason"]))
    return [{"day": r["day"], "trigger": r["trigger_reason"], "n": r["n"]} for r in ordered]


def volume_by_day(filters: Filters) -> list[dict[str, Any]]:
    return _volume(_pairs_and_days(filters, Period.of(filters))[1])


def volume_by_hour(filters: Filters) -> list[dict[str, Any]]:
    """Handoffs by hour (local time) and trigger: the chart of a one-day period."""
    hours = (
        cases_in(filters)
        .annotate(hour=TruncHour("handed_off_at", tzinfo=timezone.get_current_timezone()))
        .values("hour", "trigger_reason")
        .annotate(n=Count("pk"))
        .order_by()
    )
    ordered = sorted(hours, key=lambda r: (r["hour"], r["trigger_reason"]))
    return [{"hour": r["hour"], "trigger": r["trigger_reason"], "n": r["n"]} for r in ordered]


def _pairs_and_days(
    filters: Filters, period: Period
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The intent pairs and the volume by day and trigger: the settled days' rollups, and the
    other days' cases (on PostgreSQL in one pass)."""
    pairs, days = _direct_pairs_and_days(period.direct)
    if not period.settled:
        return pairs, days
    rolled = period.rolled(filters)
    merged: dict[tuple[str, str], int] = {}
    for pair in [
        *pairs,
        *rolled.values("detected_intent", "current_intent").annotate(n=Sum("handoffs")).order_by(),
    ]:
        key = (pair["detected_intent"], pair["current_intent"])
        merged[key] = merged.get(key, 0) + pair["n"]
    days += [
        dict(row)
        for row in rolled.values("day", "trigger_reason").annotate(n=Sum("handoffs")).order_by()
    ]
    return [
        {"detected_intent": detected, "current_intent": current, "n": n}
        for (detected, current), n in merged.items()
    ], days


def _direct_pairs_and_days(
    cases: QuerySet[Case],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The intent pairs and the volume by day and trigger. On PostgreSQL in one pass with
    GROUPING SETS, which the ORM cannot say: the period's cases are the ORM's own SQL, grouped
    around it. Elsewhere two queries."""
    if not on_postgresql():
        by_pair = cases.values("detected_intent", "current_intent").annotate(n=Count("pk"))
        by_day = (
            cases.annotate(day=TruncDate("handed_off_at"))
            .values("day", "trigger_reason")
            .annotate(n=Count("pk"))
        )
        return [dict(p) for p in by_pair.order_by()], [dict(d) for d in by_day.order_by()]
    rows_of = (
        cases.annotate(day=TruncDate("handed_off_at"))
        .values("day", "trigger_reason", "detected_intent", "current_intent")
        .order_by()
    )
    try:
        inner, params = rows_of.query.sql_with_params()  # values stay parameters
    except EmptyResultSet:  # every day of the period is rolled up: no case to read directly
        return [], []
    with connection.cursor() as cursor:
        grouped = (
            "SELECT GROUPING(day, trigger_reason) = 0, day, trigger_reason, "  # noqa: S608
            f"detected_intent, current_intent, COUNT(*) FROM ({inner}) AS period "
            "GROUP BY GROUPING SETS ((day, trigger_reason), (detected_intent, current_intent))"
        )
        cursor.execute(grouped, params)
        rows = cursor.fetchall()
    pairs = [
        {"detected_intent": detected, "current_intent": corrected, "n": n}
        for by_day, _, _, detected, corrected, n in rows
        if not by_day
    ]
    days = [
        {"day": day, "trigger_reason": trigger, "n": n}
        for by_day, day, trigger, _, _, n in rows
        if by_day
    ]
    return pairs, days


@dataclass
class Tables:
    queues: list[dict[str, Any]]
    integrations: list[dict[str, Any]]
    misroutes: list[dict[str, Any]]
    overrides: list[dict[str, Any]]
    confusion: list[dict[str, Any]]
    volume: list[dict[str, Any]]
    bounce_backs: BounceBacks


def current(filters: Filters) -> tuple[Headline, Tables]:
    """The page's period: its headline and every table in three passes over its cases on
    PostgreSQL. The headline's counts are the sums of the per-queue/bot/rule groups, so only
    its percentiles need a pass of their own; the intent tables and the volume by day share
    the third."""
    period = Period.of(filters)
    groups, (pairs, days) = _groups(filters, period), _pairs_and_days(filters, period)
    bounces = bounce_backs(filters)
    totals = _add_up(groups).get(None) or dict.fromkeys(_counts(timezone.now()), 0)
    return _headline(totals | _percentiles(filters, period)), Tables(
        queues=_queues(groups),
        integrations=_integrations(groups, bounces),
        misroutes=_misroutes(groups),
        overrides=_overrides(pairs),
        confusion=_confusion(pairs),
        volume=_volume(days),
        bounce_backs=bounces,
    )


def _customer_texts_before_handoff(case_ids: set[int]) -> dict[int, list[str]]:
    said: dict[int, list[str]] = {}
    for case_id, text in (
        Message.objects.filter(case_id__in=case_ids, role="customer", phase="before_handoff")
        .order_by("case_id", "seq")
        .values_list("case_id", "text")
    ):
        said.setdefault(case_id, []).append(text)
    return said


def _labelled_cases(
    rows: QuerySet[Any], fields: Sequence[str], chunk: int
) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Each row (a correction or a verdict, by pk) with its case's context for retraining:
    the bot, the conversation, the detected intent and what the customer said before the
    handoff. In chunks, two queries a chunk; not the case's wide JSON columns."""
    case_fields = ("case__integration_id", "case__external_id", "case__detected_intent")
    agent_fields = ("agent__first_name", "agent__last_name", "agent__username")
    last = 0
    while True:
        batch = list(
            rows.filter(pk__gt=last)
            .select_related("case", "agent")
            .only(*fields, *case_fields, *agent_fields)
            .order_by("pk")[:chunk]
        )
        if not batch:
            return
        last = batch[-1].pk
        said = _customer_texts_before_handoff({row.case_id for row in batch})
        for row in batch:
            case = row.case
            yield (
                row,
                {
                    "case_id": case.pk,
                    "integration_id": case.integration_id,
                    "external_id": case.external_id,
                    "customer_text": said.get(case.pk, []),
                    "detected_intent": case.detected_intent,
                },
            )


def _for_filters(rows: QuerySet[Any], filters: Filters) -> QuerySet[Any]:
    if filters.integration_id:
        rows = rows.filter(case__integration_id=filters.integration_id)
    if filters.queue_id:
        rows = rows.filter(case__queue_id=filters.queue_id)
    return rows


def corrections(filters: Filters, chunk: int = 500) -> Iterable[dict[str, Any]]:
    """Every intent correction (all of them, not only the last): training data for the bot."""
    start, end = filters.window()
    rows = _for_filters(
        IntentCorrection.objects.filter(created_at__gte=start, created_at__lt=end), filters
    )
    fields = ("from_intent", "to_intent", "reason", "created_at")
    for correction, context in _labelled_cases(rows, fields, chunk):
        yield context | {
            "from_intent": correction.from_intent,
            "corrected_intent": correction.to_intent,
            "reason": correction.reason,
            "agent": correction.agent_name,
            "at": correction.created_at.isoformat(),
        }


def flag_precision(filters: Filters) -> list[dict[str, Any]]:
    """Each risk signal as agents judged it on the period's cases: how often it was right.
    By flag and by who raised it (the bot, or the desk's own detectors)."""
    rows = (
        RiskFlagReview.objects.filter(case__in=cases_in(filters))
        .values("flag", "raised_by")
        .annotate(
            confirmed=Count("pk", filter=Q(verdict=RiskFlagReview.Verdict.CONFIRMED)),
            dismissed=Count("pk", filter=Q(verdict=RiskFlagReview.Verdict.DISMISSED)),
        )
        .order_by("flag", "raised_by")
    )
    return [
        {
            "flag": row["flag"],
            "raised_by": row["raised_by"],
            "confirmed": row["confirmed"],
            "dismissed": row["dismissed"],
            "precision": ratio(row["confirmed"], row["confirmed"] + row["dismissed"]),
        }
        for row in rows
    ]


def flag_reviews(filters: Filters, chunk: int = 500) -> Iterable[dict[str, Any]]:
    """Every risk flag verdict of the period with what the customer said before the handoff:
    labelled examples for ``escalation_train``."""
    start, end = filters.window()
    rows = _for_filters(
        RiskFlagReview.objects.filter(reviewed_at__gte=start, reviewed_at__lt=end), filters
    )
    fields = ("flag", "raised_by", "verdict", "reviewed_at")
    for review, context in _labelled_cases(rows, fields, chunk):
        yield context | {
            "flag": review.flag,
            "raised_by": review.raised_by,
            "verdict": review.verdict,
            "agent": review.agent_name,
            "at": review.reviewed_at.isoformat(),
        }


@dataclass(frozen=True)
class LateEscalations:
    """How late bots hand off: of the period's handoffs assessed at intake, those whose first
    risk (where the published escalation policy would have handed off) came at least
    HANDOFF_LATE_ESCALATION_MESSAGES customer messages before the bot did."""

    assessed: int
    late: int
    share: float | None
    median_messages: int | None  # customer messages between the first risk and the handoff
    median_seconds: int | None
    by_integration: list[dict[str, Any]]
    by_intent: list[dict[str, Any]]


def _median_of(cases: QuerySet[Case], field: str) -> int | None:
    values = cases.exclude(**{f"{field}__isnull": True})
    count = values.count()
    if not count:
        return None
    return values.order_by(field).values_list(field, flat=True)[nearest_rank(0.5, count) - 1]


def late_escalations(filters: Filters) -> LateEscalations:
    period = Period.of(filters)
    if not period.settled:
        return _late_escalations_direct(filters)
    threshold = settings.HANDOFF_LATE_ESCALATION_MESSAGES
    assessed = period.direct.filter(escalation_policy_version__isnull=False)
    late = Q(risk_lead_messages__gte=threshold)
    keys = ("integration_id", "detected_intent")
    groups = [
        *assessed.values(*keys).annotate(n=Count("pk"), late=Count("pk", filter=late)).order_by(),
        *period.rolled(filters)
        .values(*keys)
        .annotate(n=Sum("assessed"), late=Sum("late"))
        .filter(n__gt=0)
        .order_by(),
    ]
    names = _names(Integration, {group["integration_id"] for group in groups})

    def grouped(key: str, label: Any, name: str) -> list[dict[str, Any]]:
        rows: dict[Any, list[int]] = {}
        for group in groups:
            row = rows.setdefault(label(group[key]), [0, 0])
            row[0], row[1] = row[0] + group["n"], row[1] + group["late"]
        # as the direct query's ORDER BY -late, key (the database's C collation: code points)
        ordered = sorted(rows.items(), key=lambda item: (-item[1][1], item[0]))
        return [
            {
                name: value or "(none)",
                "handoffs": n,
                "late": n_late,
                "late_rate": ratio(n_late, n),
            }
            for value, (n, n_late) in ordered
        ]

    total = sum(group["n"] for group in groups)
    total_late = sum(group["late"] for group in groups)
    if filters.intent:  # the histograms are by queue and bot: the medians read the cases
        direct = _late_escalations_direct(filters)
        median_messages, median_seconds = direct.median_messages, direct.median_seconds
    else:
        median_messages, median_seconds = _bucketed_lead_medians(filters, period)
    return LateEscalations(
        assessed=total,
        late=total_late,
        share=ratio(total_late, total),
        median_messages=median_messages,
        median_seconds=median_seconds,
        by_integration=grouped("integration_id", lambda pk: names.get(pk, "?"), "integration"),
        by_intent=grouped("detected_intent", lambda intent: intent, "intent"),
    )


LEAD_KINDS = {
    "risk_lead_messages": MetricsDuration.Kind.LEAD_MESSAGES,
    "risk_lead_seconds": MetricsDuration.Kind.LEAD_SECONDS,
}


def _bucketed_lead_medians(filters: Filters, period: Period) -> tuple[int | None, int | None]:
    """The medians of the lead in messages (exact: under 64 a bucket is one value) and in
    seconds (within ``rollups.BUCKET_ERROR`` from a minute up)."""
    histograms = rollups.rolled_histograms(period.settled, filters.queue_id, filters.integration_id)
    risky = period.direct.filter(
        escalation_policy_version__isnull=False, first_risk_seq__isnull=False
    )
    medians = []
    for field, kind in LEAD_KINDS.items():
        values = risky.exclude(**{f"{field}__isnull": True}).values_list(field, flat=True)
        for bucket, n in rollups.bucketed(values).items():
            histograms[kind][bucket] = histograms[kind].get(bucket, 0) + n
        median = rollups.percentile_of(histograms[kind], 0.5)
        medians.append(None if median is None else round(median.total_seconds()))
    return medians[0], medians[1]


def _late_escalations_direct(filters: Filters) -> LateEscalations:
    threshold = settings.HANDOFF_LATE_ESCALATION_MESSAGES
    assessed = cases_in(filters).filter(escalation_policy_version__isnull=False)
    late = Q(risk_lead_messages__gte=threshold)
    totals = assessed.aggregate(n=Count("pk"), late=Count("pk", filter=late))
    risky = assessed.filter(first_risk_seq__isnull=False)

    def grouped(key: str, name: str) -> list[dict[str, Any]]:
        rows = (
            assessed.values(key)
            .annotate(handoffs=Count("pk"), late=Count("pk", filter=late))
            .order_by("-late", key)
        )
        return [
            {
                name: row[key] or "(none)",
                "handoffs": row["handoffs"],
                "late": row["late"],
                "late_rate": ratio(row["late"], row["handoffs"]),
            }
            for row in rows
        ]

    return LateEscalations(
        assessed=totals["n"],
        late=totals["late"],
        share=ratio(totals["late"], totals["n"]),
        median_messages=_median_of(risky, "risk_lead_messages"),
        median_seconds=_median_of(risky, "risk_lead_seconds"),
        by_integration=grouped("integration__name", "integration"),
        by_intent=grouped("detected_intent", "intent"),
    )


def late_by_integration(filters: Filters) -> list[dict[str, Any]]:
    return late_escalations(filters).by_integration


def late_by_intent(filters: Filters) -> list[dict[str, Any]]:
    return late_escalations(filters).by_intent
