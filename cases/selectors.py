"""Reads: querysets with their joins done, and the live queue figures the intake answers with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from cases.models import Case, Integration, Message
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
