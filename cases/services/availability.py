"""No one available: a handoff that the queue's team cannot take now.

Outside the queue's business hours (queues/hours.py), or when a waiting case has found no agent
of its queue online for the queue's ``unstaffed_after_minutes``, the customer is told when the
team is back and offered to go on by email (cases/notices.py), the bot hears
``handoff.failed`` through the outbox (in its platform's form: Bot Framework's
``handoff.status`` ``failed``), supervisors are alerted live, and the case stays in the queue
for the team's return. Each case is told once: ``Case.unavailable_reason`` records it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from cases.callbacks.outbox import delivery_record
from cases.live.events import publish_case
from cases.locks import lock_case
from cases.models import Case, CaseEvent
from cases.notices import team_away_message
from cases.presence import queue_online
from cases.selectors import WaitEstimate, queue_position
from cases.services.audit import record_event
from queues.hours import next_opening
from queues.models import Queue

logger = logging.getLogger(__name__)

CLOSED = "closed"
UNSTAFFED = "unstaffed"


@dataclass(frozen=True)
class Away:
    """Why the team cannot take the case now, and when it is back (None: not known)."""

    reason: str
    back_at: datetime | None


def queue_closed(queue: Queue, now: datetime) -> Away | None:
    opening = next_opening(queue.schedule, now)
    return Away(CLOSED, opening) if opening > now else None


def case_away(case: Case, now: datetime) -> Away | None:
    """Whether the team is away for this case now: outside hours, or still nobody online for a
    case that was already told so."""
    closed = queue_closed(case.queue, now)
    if closed is not None:
        return closed
    if case.unavailable_reason == UNSTAFFED and not queue_online(case.queue_id):
        return Away(UNSTAFFED, None)
    return None


def away_estimate(case: Case, away: Away, now: datetime) -> WaitEstimate:
    """The wait while the team is away: until the SLA's deadline, which counts business time."""
    seconds = max(int((case.sla_due_at - now).total_seconds()), 0)
    return WaitEstimate(seconds, f"team_{away.reason}")


def away_event_data(
    away: Away, *, message: str, position: int | None, estimate: WaitEstimate
) -> dict[str, Any]:
    """The ``team_away`` event's data; the case page reads it as what the customer was told."""
    return {
        "message": message,
        "position": position,
        "wait_seconds": estimate.seconds,
        "basis": estimate.basis,
        "ready": "",
        "reason": away.reason,
        "back_at": away.back_at.astimezone(UTC).isoformat() if away.back_at else None,
    }


def team_away_announce(case: Case, away: Away, event: CaseEvent) -> None:
    """The bot hears ``handoff.failed`` (an outbox row in this transaction, sent after commit,
    retried with the same webhook-id) and supervisors are alerted once it commits."""
    data = event.data
    delivery_record(
        case,
        "handoff.failed",
        {
            "reason": away.reason,
            "queue": case.queue.slug,
            "position": data.get("position"),
            "estimated_wait_seconds": data.get("wait_seconds"),
            "team_back_at": data.get("back_at"),
            "customer_message": data.get("message"),
        },
    )
    publish_case(case, "case.team_away", cursor=event.pk, also_supervisors=True)
    logger.info("team_away case_id=%s queue=%s reason=%s", case.pk, case.queue.slug, away.reason)


def case_team_away_mark(case: Case, away: Away, now: datetime) -> CaseEvent:
    """Tell the customer and the bot that the team is away (the case is locked by the caller
    and not told before)."""
    case.unavailable_reason = away.reason
    case.team_back_at = away.back_at
    case.version += 1
    case.save(update_fields=["unavailable_reason", "team_back_at", "version", "updated_at"])
    position = queue_position(case)
    estimate = away_estimate(case, away, now)
    message = team_away_message(case, back_at=away.back_at, now=now)
    event = record_event(
        case,
        kind="team_away",
        actor_label="desk",
        data=away_event_data(away, message=message, position=position, estimate=estimate),
    )
    team_away_announce(case, away, event)
    return event


def cases_unstaffed_mark(*, limit: int = 500) -> int:
    """Waiting cases that have waited their queue's ``unstaffed_after_minutes`` and find no
    agent of the queue online: their customers and bots are told, once. Driven by beat, each
    case in a short transaction of its own."""
    now = timezone.now()
    marked = 0
    queues = Queue.objects.filter(is_active=True, unstaffed_after_minutes__isnull=False)
    for queue in queues:
        assert queue.unstaffed_after_minutes is not None
        cutoff = now - timedelta(minutes=queue.unstaffed_after_minutes)
        due = list(
            Case.objects.filter(
                queue=queue,
                status=Case.Status.WAITING,
                unavailable_reason="",
                handed_off_at__lte=cutoff,
            )
            .order_by("handed_off_at")
            .values_list("pk", flat=True)[:limit]
        )
        if not due or queue_online(queue.pk):
            continue
        away = queue_closed(queue, now) or Away(UNSTAFFED, None)
        for case_id in due:
            with transaction.atomic():
                case = lock_case(case_id)
                if (
                    case.status != Case.Status.WAITING
                    or case.unavailable_reason
                    or case.queue_id != queue.pk
                ):
                    continue
                case_team_away_mark(case, away, now)
                marked += 1
    if marked:
        logger.info("unstaffed_cases_marked count=%s", marked)
    return marked
