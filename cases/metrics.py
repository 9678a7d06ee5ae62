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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import (
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from cases.models import Case, CsatResponse, IntentCorrection, Message

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


def percentile(values: QuerySet[Any], expression: Any, fraction: float) -> timedelta | None:
    """The value at ``fraction`` of the ordered expression (nearest rank), in two queries:
    portable across PostgreSQL and SQLite, and no Python loop over the rows."""
    annotated = values.annotate(_v=expression).exclude(_v__isnull=True)
    count = annotated.count()
    if not count:
        return None
    index = min(int(fraction * count + 0.999999) - 1, count - 1)
    return annotated.order_by("_v").values_list("_v", flat=True)[max(index, 0)]


def duration(end: str, start: str = "handed_off_at") -> ExpressionWrapper:
    return ExpressionWrapper(F(end) - F(start), output_field=DurationField())


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


def headline(filters: Filters) -> Headline:
    cases = cases_in(filters)
    now = timezone.now()
    totals = cases.aggregate(
        handoffs=Count("pk"),
        answered=Count(
            "pk", filter=Q(status=Case.Status.RESOLVED, customer_repeated__isnull=False)
        ),
        repeated=Count("pk", filter=Q(status=Case.Status.RESOLVED, customer_repeated=True)),
        detected=Count("pk", filter=Q(repeat_detected=True)),
        missing=Count("pk", filter=~Q(missing_context=[])),
        overridden=Count("pk", filter=~Q(current_intent=F("detected_intent"))),
        misrouted=Count("pk", filter=~Q(queue_id=F("routed_queue_id"))),
        sla_counted=Count("pk", filter=Q(first_claimed_at__isnull=False) | Q(sla_due_at__lt=now)),
        sla_met=Count("pk", filter=Q(first_claimed_at__lte=F("sla_due_at"))),
    )
    resolved = cases.filter(status=Case.Status.RESOLVED, resolved_at__isnull=False)
    replied = cases.filter(first_human_reply_at__isnull=False)
    csat = CsatResponse.objects.filter(case__in=cases).aggregate(
        mean=Avg("score"), n=Count("pk"), satisfied=Count("pk", filter=Q(score__gte=4))
    )
    return Headline(
        handoffs=totals["handoffs"],
        repeat_rate=ratio(totals["repeated"], totals["answered"]),
        repeat_detected_rate=ratio(totals["detected"], totals["handoffs"]),
        resolution_median=percentile(resolved, duration("resolved_at"), 0.5),
        resolution_p90=percentile(resolved, duration("resolved_at"), 0.9),
        first_response_median=percentile(replied, duration("first_human_reply_at"), 0.5),
        first_response_p90=percentile(replied, duration("first_human_reply_at"), 0.9),
        csat_mean=csat["mean"],
        csat_satisfied=ratio(csat["satisfied"], csat["n"]),
        csat_responses=csat["n"],
        missing_context_rate=ratio(totals["missing"], totals["handoffs"]),
        override_rate=ratio(totals["overridden"], totals["handoffs"]),
        misroute_rate=ratio(totals["misrouted"], totals["handoffs"]),
        sla_attainment=ratio(totals["sla_met"], totals["sla_counted"]),
    )


def _missing_counts() -> dict[str, Any]:
    # The JSON list as text: portable, and exact enough for these four fixed names.
    return {
        field: Count("pk", filter=Q(missing_context__icontains=f'"{field}"'))
        for field in KEY_CONTEXT
    }


def by_integration(filters: Filters) -> list[dict[str, Any]]:
    """The bot scorecard: what each bot team needs to fix."""
    rows = (
        cases_in(filters)
        .values("integration__name")
        .annotate(
            handoffs=Count("pk"),
            missing=Count("pk", filter=~Q(missing_context=[])),
            overridden=Count("pk", filter=~Q(current_intent=F("detected_intent"))),
            answered=Count("pk", filter=Q(customer_repeated__isnull=False)),
            repeated=Count("pk", filter=Q(customer_repeated=True)),
            csat_mean=Avg("csat__score"),
            csat_n=Count("csat"),
            **_missing_counts(),
        )
        .order_by("-handoffs")
    )
    return [
        {
            "integration": row["integration__name"],
            "handoffs": row["handoffs"],
            "missing_context_rate": ratio(row["missing"], row["handoffs"]),
            **{f"missing_{field}": dict(row)[field] for field in KEY_CONTEXT},
            "override_rate": ratio(row["overridden"], row["handoffs"]),
            "repeat_rate": ratio(row["repeated"], row["answered"]),
            "csat_mean": row["csat_mean"],
            "csat_responses": row["csat_n"],
        }
        for row in rows
    ]


def by_queue(filters: Filters) -> list[dict[str, Any]]:
    now = timezone.now()
    rows = (
        cases_in(filters)
        .values("queue__name")
        .annotate(
            handoffs=Count("pk"),
            resolved=Count("pk", filter=Q(status=Case.Status.RESOLVED)),
            sla_counted=Count(
                "pk", filter=Q(first_claimed_at__isnull=False) | Q(sla_due_at__lt=now)
            ),
            sla_met=Count("pk", filter=Q(first_claimed_at__lte=F("sla_due_at"))),
            csat_mean=Avg("csat__score"),
        )
        .order_by("queue__name")
    )
    return [
        {
            "queue": row["queue__name"],
            "handoffs": row["handoffs"],
            "resolved": row["resolved"],
            "sla_attainment": ratio(row["sla_met"], row["sla_counted"]),
            "csat_mean": row["csat_mean"],
        }
        for row in rows
    ]


def overrides_by_intent(filters: Filters) -> list[dict[str, Any]]:
    rows = (
        cases_in(filters)
        .exclude(detected_intent="")
        .values("detected_intent")
        .annotate(
            handoffs=Count("pk"),
            overridden=Count("pk", filter=~Q(current_intent=F("detected_intent"))),
        )
        .order_by("-overridden", "-handoffs")
    )
    return [
        {
            "detected_intent": row["detected_intent"],
            "handoffs": row["handoffs"],
            "overridden": row["overridden"],
            "override_rate": ratio(row["overridden"], row["handoffs"]),
        }
        for row in rows
    ]


def confusion(filters: Filters) -> list[dict[str, Any]]:
    """Detected → corrected, the last correction of each case (its ``current_intent``)."""
    rows = (
        cases_in(filters)
        .exclude(current_intent=F("detected_intent"))
        .values("detected_intent", "current_intent")
        .annotate(n=Count("pk"))
        .order_by("-n")
    )
    return [
        {
            "detected": r["detected_intent"] or "(none)",
            "corrected": r["current_intent"],
            "n": r["n"],
        }
        for r in rows
    ]


def misroutes_by_rule(filters: Filters) -> list[dict[str, Any]]:
    rows = (
        cases_in(filters)
        .values("routing_rule")
        .annotate(
            handoffs=Count("pk"),
            misrouted=Count("pk", filter=~Q(queue_id=F("routed_queue_id"))),
        )
        .order_by("-misrouted", "-handoffs")
    )
    return [
        {
            "rule": row["routing_rule"] or "(default queue)",
            "handoffs": row["handoffs"],
            "misrouted": row["misrouted"],
            "misroute_rate": ratio(row["misrouted"], row["handoffs"]),
        }
        for row in rows
    ]


def volume_by_day(filters: Filters) -> list[dict[str, Any]]:
    rows = (
        cases_in(filters)
        .annotate(day=TruncDate("handed_off_at"))
        .values("day", "trigger_reason")
        .annotate(n=Count("pk"))
        .order_by("day", "trigger_reason")
    )
    return [{"day": r["day"], "trigger": r["trigger_reason"], "n": r["n"]} for r in rows]


def corrections(filters: Filters, chunk: int = 500) -> Iterable[dict[str, Any]]:
    """Every intent correction (all of them, not only the last): training data for the bot.
    Streamed in chunks, two queries a chunk."""
    start, end = filters.window()
    rows = IntentCorrection.objects.filter(created_at__gte=start, created_at__lt=end)
    if filters.integration_id:
        rows = rows.filter(case__integration_id=filters.integration_id)
    if filters.queue_id:
        rows = rows.filter(case__queue_id=filters.queue_id)
    last = 0
    while True:
        batch = list(
            rows.filter(pk__gt=last).select_related("case", "agent").order_by("pk")[:chunk]
        )
        if not batch:
            return
        last = batch[-1].pk
        said: dict[int, list[str]] = {}
        for case_id, text in (
            Message.objects.filter(
                case_id__in={c.case_id for c in batch}, role="customer", phase="before_handoff"
            )
            .order_by("case_id", "seq")
            .values_list("case_id", "text")
        ):
            said.setdefault(case_id, []).append(text)
        for correction in batch:
            case = correction.case
            yield {
                "case_id": case.pk,
                "integration_id": case.integration_id,
                "external_id": case.external_id,
                "customer_text": said.get(case.pk, []),
                "detected_intent": case.detected_intent,
                "from_intent": correction.from_intent,
                "corrected_intent": correction.to_intent,
                "reason": correction.reason,
                "agent": correction.agent_name,
                "at": correction.created_at.isoformat(),
            }
