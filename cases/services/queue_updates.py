"""The customer kept informed while waiting: ``case.queue_updated`` callbacks when a waiting
case's place in line or expected wait changes materially, at most one a minute per case.

Worked out off the request path: the services that move a queue (a claim, a release, a
resolution, a reassignment, an SLA breach that makes a case more urgent) ask for the queue to
be recomputed after their commit (``queue_changed_on_commit``); a Celery task reads the queue's
line once, estimates every place with the queue's figures read once, and writes an outbox row
(cases/callbacks/outbox.py: signed, retried, in order) for each case whose news is worth
telling. A new handoff does not trigger it: it joins the line behind the cases of its priority.
A periodic sweep recomputes every queue with waiting cases, so an update held back by the
throttle, a change of who is online, or a lost task is told within the sweep's period.

"Materially" (``is_material``): the place in line changed (within the first
``POSITION_ALWAYS_TOLD`` places any move; further back, a move of at least a tenth), or the
wait changed by at least a minute and at least a fifth of what the customer was last told.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import shared_task
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from cases.callbacks.outbox import delivery_record
from cases.models import Case
from cases.notices import customer_language_of, queue_update_message, ready_request
from cases.selectors import InLine, WaitEstimate, WaitEstimator, cases_to_tell, waiting_line
from cases.services.audit import record_event
from queues.models import Queue

logger = logging.getLogger(__name__)

THROTTLE = timedelta(minutes=1)  # at most one queue update a minute per case
POSITION_ALWAYS_TOLD = 10
POSITION_SHARE = 0.1
WAIT_MIN_SECONDS = 60
WAIT_SHARE = 0.2
# Several changes of one queue within this long are recomputed once.
DEBOUNCE_SECONDS = 1


def is_material(
    *, told_position: int, told_wait_seconds: int, position: int, wait_seconds: int
) -> bool:
    """Whether the customer should hear of this place and wait, having been told the others."""
    if position != told_position:
        if position <= POSITION_ALWAYS_TOLD:
            return True
        if abs(position - told_position) >= POSITION_SHARE * told_position:
            return True
    change = abs(wait_seconds - told_wait_seconds)
    return change >= WAIT_MIN_SECONDS and change >= WAIT_SHARE * told_wait_seconds


@dataclass(frozen=True)
class QueueUpdates:
    """What one recompute of a queue did."""

    told: int = 0  # cases that got a case.queue_updated
    throttled: int = 0  # material news held back: told less than a minute ago
    baselined: int = 0  # cases from before the desk kept what it told: now kept, not sent


def queue_updates_send(*, queue_id: int, now: datetime | None = None) -> QueueUpdates:
    """Recompute the places and waits of a queue's waiting cases and tell the customers whose
    news is material and who have not heard from the desk for a minute."""
    queue = Queue.objects.filter(pk=queue_id).first()
    if queue is None:
        return QueueUpdates()
    now = now or timezone.now()
    line = waiting_line(queue_id)
    if not any(row.callback_url for row in line):
        return QueueUpdates()  # nobody to tell
    estimator = WaitEstimator(queue)
    news: list[tuple[InLine, int, WaitEstimate]] = []
    throttled = baselined = 0
    for position, row in enumerate(line, start=1):
        if not row.callback_url:
            continue
        estimate = estimator.estimate(position)
        if row.told_at is None:
            # Told at handoff, before the desk kept the figures: they are the baseline now.
            baselined += int(_claim_told(row, queue, position, estimate, now))
            continue
        material = is_material(
            told_position=row.told_position or 0,
            told_wait_seconds=row.told_wait_seconds or 0,
            position=position,
            wait_seconds=estimate.seconds,
        )
        if not material:
            continue
        if row.told_at > now - THROTTLE:
            throttled += 1
            continue
        news.append((row, position, estimate))
    cases = cases_to_tell([row.pk for row, _, _ in news])
    told = sum(
        _tell(cases[row.pk], row, position, estimate, now)
        for row, position, estimate in news
        if row.pk in cases
    )
    if told:
        logger.info("queue_updates queue=%s told=%s throttled=%s", queue.slug, told, throttled)
    return QueueUpdates(told, throttled, baselined)


def _claim_told(
    row: InLine, queue: Queue, position: int, estimate: WaitEstimate, now: datetime
) -> bool:
    """Record what the customer is told, if nobody else has since this line was read: a
    compare-and-set on the last told time, so two recomputes of a queue never tell twice."""
    return bool(
        Case.objects.filter(
            pk=row.pk,
            status=Case.Status.WAITING,
            queue_id=queue.pk,
            queue_told_at=row.told_at,
        ).update(
            queue_told_at=now,
            queue_told_position=position,
            queue_told_wait_seconds=estimate.seconds,
        )
    )


@transaction.atomic
def _tell(case: Case, row: InLine, position: int, estimate: WaitEstimate, now: datetime) -> int:
    """One case.queue_updated, with the customer_told event the case page reads."""
    if not _claim_told(row, case.queue, position, estimate, now):
        return 0
    message = queue_update_message(case, position, estimate)
    delivery_record(
        case,
        "case.queue_updated",
        {
            "queue": case.queue.slug,
            "position": position,
            "estimated_wait_seconds": estimate.seconds,
            "estimate_basis": estimate.basis,
            "previous_position": row.told_position,
            "previous_estimated_wait_seconds": row.told_wait_seconds,
            "language": customer_language_of(case),
            "customer_message": message,
        },
    )
    # The case page shows the latest of these: the agent keeps to what the customer last heard.
    record_event(
        case,
        kind="customer_told",
        actor_label="desk",
        data={
            "message": message,
            "position": position,
            "wait_seconds": estimate.seconds,
            "basis": estimate.basis,
            "ready": ready_request(case),
            "via": "case.queue_updated",
        },
    )
    return 1


def queues_updates_sweep() -> int:
    """Recompute every queue that has waiting cases; how many customers were told."""
    queue_ids = (
        Case.objects.filter(status=Case.Status.WAITING)
        .order_by()
        .values_list("queue_id", flat=True)
        .distinct()
    )
    return sum(queue_updates_send(queue_id=queue_id).told for queue_id in list(queue_ids))


# Named like the desk's other tasks, so the beat schedule and the worker agree on it.
@shared_task(name="cases.tasks.update_queue_positions", ignore_result=True, expires=60)
def update_queue_positions(queue_id: int) -> None:
    queue_updates_send(queue_id=queue_id)


def enqueue_queue_update(queue_id: int) -> None:
    """Recompute the queue in a second, once for all the changes of that second (per
    process): a burst of claims costs one recompute, not one each."""
    if not cache.add(f"queue-updates:{queue_id}", True, DEBOUNCE_SECONDS):
        return  # a recompute is already due, and it will read this change
    try:
        update_queue_positions.apply_async((queue_id,), countdown=DEBOUNCE_SECONDS)
    except Exception:
        # Broker down: the sweep recomputes the queue later.
        logger.warning("queue_update_enqueue_failed queue_id=%s", queue_id, exc_info=True)


def queue_changed_on_commit(*queue_ids: int | None) -> None:
    """Called by a service that moved these queues: recompute them once its change commits."""
    for queue_id in dict.fromkeys(queue_ids):
        if queue_id is not None:
            transaction.on_commit(functools.partial(enqueue_queue_update, queue_id))
