"""SLA timers: waiting cases past their deadline are marked, made more urgent and announced."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from cases.live.events import publish_case
from cases.locks import lock_case
from cases.models import Case
from cases.services.audit import record_event
from cases.services.queue_updates import queue_changed_on_commit

logger = logging.getLogger(__name__)


def case_sla_breaches_mark(*, limit: int = 500) -> int:
    """Mark waiting cases past their SLA: breached, one step more urgent, an event, a live alert.

    Driven by ``sla_due_at`` and a periodic sweep (never by long countdowns, which a broker's
    visibility timeout would re-run). Each case is its own short transaction.
    """
    due = list(
        Case.objects.filter(
            status=Case.Status.WAITING, sla_breached=False, sla_due_at__lte=timezone.now()
        )
        .order_by("sla_due_at")
        .values_list("pk", flat=True)[:limit]
    )
    marked = 0
    for case_id in due:
        with transaction.atomic():
            case = lock_case(case_id)
            if case.status != Case.Status.WAITING or case.sla_breached:
                continue
            before = case.priority
            case.sla_breached = True
            case.priority = min(case.priority + 1, Case.Priority.URGENT)
            case.version += 1
            case.save(update_fields=["sla_breached", "priority", "version", "updated_at"])
            late = (timezone.now() - case.sla_due_at).total_seconds()
            event = record_event(
                case,
                kind="sla_breached",
                actor_label="sla",
                data={"priority_before": before, "priority": case.priority, "late_seconds": late},
            )
            publish_case(case, "case.sla_breached", cursor=event.pk, also_supervisors=True)
            queue_changed_on_commit(case.queue_id)  # more urgent: it moves up the line
            marked += 1
    if marked:
        logger.info("sla_breaches_marked count=%s", marked)
    return marked
