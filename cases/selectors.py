"""Reads: querysets with their joins done, and the live queue figures the intake answers with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Min, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from cases.models import Case, Integration, Message
from cases.permissions import visible_cases
from queues.models import Queue


def integration_cases(integration: Integration) -> QuerySet[Case]:
    return Case.objects.filter(integration=integration).select_related("queue", "assignee")


def integration_case(integration: Integration, case_id: int) -> Case:
    """A case of this integration; another integration's case is a 404, so ids do not leak."""
    case = integration_cases(integration).filter(pk=case_id).first()
    if case is None:
        raise Http404(case_id)
    return case


def case_customer_visible_messages(case: Case) -> QuerySet[Message]:
    """What the bot platform may read back: everything but internal notes."""
    return case.messages.exclude(role=Message.Role.NOTE).order_by("seq")


REPEAT_CONTACT_WINDOW = timedelta(days=7)


def previous_contact(
    *, integration: Integration, external_id: str, customer_ref: str | None
) -> Case | None:
    """The resolved case this handoff follows: the same conversation, or the same customer's
    case closed in the last week (a repeat contact)."""
    same = Q(external_id=external_id)
    if customer_ref:
        recent = timezone.now() - REPEAT_CONTACT_WINDOW
        same |= Q(customer_ref=customer_ref, resolved_at__gte=recent)
    return (
        Case.objects.filter(same, integration=integration, status=Case.Status.RESOLVED)
        .order_by("-resolved_at", "-pk")
        .first()
    )


def queue_position(case: Case) -> int | None:
    """1 for the next case an agent of the queue will take; None once the case is taken."""
    if case.status != Case.Status.WAITING:
        return None
    ahead = (
        Case.objects.filter(queue_id=case.queue_id, status=Case.Status.WAITING)
        .filter(
            Q(priority__gt=case.priority)
            | Q(priority=case.priority, sla_due_at__lt=case.sla_due_at)
            | Q(priority=case.priority, sla_due_at=case.sla_due_at, pk__lt=case.pk)
        )
        .count()
    )
    return ahead + 1


@dataclass(frozen=True)
class WaitEstimate:
    seconds: int
    basis: str  # "recent_claims" or "sla_target"


RECENT_CLAIMS = 20


def wait_estimate(queue: Queue, position: int | None) -> WaitEstimate:
    """Position times the recent interval between claims here; the SLA target without data."""
    if position is None:
        return WaitEstimate(0, "claimed")
    since = timezone.now() - timedelta(hours=2)
    claims = [
        claimed
        for claimed in Case.objects.filter(queue=queue, first_claimed_at__gte=since)
        .order_by("-first_claimed_at")
        .values_list("first_claimed_at", flat=True)[:RECENT_CLAIMS]
        if claimed is not None
    ]
    if len(claims) >= 3:
        span = (claims[0] - claims[-1]).total_seconds()
        interval = span / (len(claims) - 1)
        return WaitEstimate(max(int(interval * position), 30), "recent_claims")
    return WaitEstimate(queue.sla_seconds, "sla_target")


# --- the agent workspace ----------------------------------------------------------------------


@dataclass(frozen=True)
class QueueStats:
    waiting: int = 0
    assigned: int = 0
    breached: int = 0
    oldest: datetime | None = None


def queue_stats(queue_ids: list[int]) -> dict[int, QueueStats]:
    """Live figures of each queue in one grouped query over open cases only."""
    now = timezone.now()
    rows = (
        Case.objects.filter(
            queue_id__in=queue_ids, status__in=[Case.Status.WAITING, Case.Status.ASSIGNED]
        )
        .values("queue_id")
        .annotate(
            waiting=Count("pk", filter=Q(status=Case.Status.WAITING)),
            assigned=Count("pk", filter=Q(status=Case.Status.ASSIGNED)),
            breached=Count("pk", filter=Q(status=Case.Status.WAITING, sla_due_at__lt=now)),
            oldest=Min("handed_off_at", filter=Q(status=Case.Status.WAITING)),
        )
    )
    return {
        row["queue_id"]: QueueStats(row["waiting"], row["assigned"], row["breached"], row["oldest"])
        for row in rows
    }


def my_open_cases(user: Any) -> QuerySet[Case]:
    return (
        Case.objects.filter(
            assignee=user,
            status__in=[Case.Status.ASSIGNED, Case.Status.AWAITING_CUSTOMER],
        )
        .select_related("queue")
        .order_by("status", "-priority", "sla_due_at")
    )


@dataclass(frozen=True)
class QueueFilters:
    intent: str = ""
    trigger: str = ""
    flag: str = ""
    tier: str = ""
    q: str = ""

    @property
    def active(self) -> bool:
        return any((self.intent, self.trigger, self.flag, self.tier, self.q))


def waiting_cases(queue: Queue, filters: QueueFilters) -> QuerySet[Case]:
    """The queue page's list: waiting cases by priority, then SLA due time."""
    cases = Case.objects.filter(queue=queue, status=Case.Status.WAITING)
    if filters.intent:
        cases = cases.filter(current_intent=filters.intent)
    if filters.trigger:
        cases = cases.filter(trigger_reason=filters.trigger)
    if filters.flag:
        # JSON containment is not portable to SQLite; the quoted name is exact enough.
        cases = cases.filter(risk_flags__icontains=f'"{filters.flag}"')
    if filters.tier:
        cases = cases.filter(customer_tier__iexact=filters.tier)
    if filters.q:
        term = filters.q
        cases = cases.filter(
            Q(customer_name__icontains=term)
            | Q(customer_email__icontains=term)
            | Q(external_id__icontains=term)
            | Q(customer_ref__iexact=term)
            | Q(facts__icontains=term)
        )
    return cases.only(*QUEUE_ROW_FIELDS).order_by("-priority", "sla_due_at", "pk")


QUEUE_ROW_FIELDS = (
    "pk",
    "queue_id",
    "status",
    "priority",
    "customer_name",
    "customer_tier",
    "current_intent",
    "detected_intent",
    "detected_confidence",
    "trigger_reason",
    "risk_flags",
    "missing_context",
    "handed_off_at",
    "sla_due_at",
    "external_id",
    "is_repeat_contact",
    "version",
)


def queue_filter_choices(queue: Queue) -> dict[str, list[str]]:
    """Values the queue's waiting cases actually have, for the filter menus."""
    waiting = Case.objects.filter(queue=queue, status=Case.Status.WAITING)
    intents = waiting.order_by().values_list("current_intent", flat=True).distinct()
    tiers = waiting.order_by().values_list("customer_tier", flat=True).distinct()
    return {
        "intents": sorted(i for i in intents[:200] if i),
        "tiers": sorted(t for t in tiers[:50] if t),
    }


def case_for_page(user: Any, case_id: int) -> Case:
    case = (
        visible_cases(user)
        .select_related("queue", "assignee", "integration", "previous_case", "routed_queue")
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise Http404("No such case")
    return case


# The case page reads its long lists as plain rows: building 500 model instances (and their
# authors) cost twice the query itself.
NAME = ("first_name", "last_name", "username")
TRANSCRIPT_FIELDS = ("seq", "role", "phase", "text", "sent_at", *(f"author__{f}" for f in NAME))
TIMELINE_FIELDS = ("kind", "created_at", "actor_label", *(f"actor__{f}" for f in NAME))


def case_transcript(case: Case) -> list[dict[str, Any]]:
    return list(case.messages.order_by("seq").values(*TRANSCRIPT_FIELDS))


def case_timeline(case: Case) -> list[dict[str, Any]]:
    return list(case.events.order_by("id").values(*TIMELINE_FIELDS))


def related_cases(case: Case, limit: int = 10) -> QuerySet[Case]:
    """Earlier and later cases of the same conversation or the same customer."""
    same = Q(integration_id=case.integration_id, external_id=case.external_id)
    if case.customer_ref:
        same |= Q(integration_id=case.integration_id, customer_ref=case.customer_ref)
    return (
        Case.objects.filter(same)
        .exclude(pk=case.pk)
        .select_related("queue")
        .only("pk", "status", "handed_off_at", "current_intent", "resolution_code", "queue__name")
        .order_by("-handed_off_at")[:limit]
    )
