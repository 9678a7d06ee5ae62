"""What the Prometheus endpoint reads from the database at each scrape (#18): plain figures,
from the same indexed queries the pages use; ``handoff_site.monitoring`` names them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count
from django.utils import timezone

from cases.models import Delivery, Offer
from cases.selectors import QueueStats, queue_stats
from queues.selectors import active_queues


@dataclass(frozen=True)
class QueueGauges:
    slug: str
    waiting: int
    assigned: int
    breached: int
    oldest_wait_seconds: float
    offers_open: int


@dataclass(frozen=True)
class DeskGauges:
    queues: list[QueueGauges]
    callbacks_pending: int  # not yet delivered: first try due, or a retry after a failure
    callbacks_retrying: int  # of those, the ones that failed at least once
    callbacks_dead: int  # every retry used up: a person must look (the Deliveries page)


def desk_gauges(now: datetime | None = None) -> DeskGauges:
    """Three queries whatever the history: the active queues, their live figures (the partial
    index of waiting cases, index only) and the outbox's undelivered rows by state (the
    (state, next_attempt_at) index)."""
    now = now or timezone.now()
    queues = active_queues()
    stats = queue_stats([queue.pk for queue in queues])
    offers = offers_open_by_queue()
    rows = []
    for queue in sorted(queues, key=lambda q: q.slug):
        figures = stats.get(queue.pk, QueueStats())
        oldest = (now - figures.oldest).total_seconds() if figures.oldest else 0.0
        rows.append(
            QueueGauges(
                slug=queue.slug,
                waiting=figures.waiting,
                assigned=figures.assigned,
                breached=figures.breached,
                oldest_wait_seconds=max(oldest, 0.0),
                offers_open=offers.get(queue.pk, 0),
            )
        )
    states = dict(
        Delivery.objects.filter(
            state__in=[Delivery.State.PENDING, Delivery.State.FAILED, Delivery.State.DEAD]
        )
        .values("state")
        .annotate(n=Count("*"))
        .order_by()
        .values_list("state", "n")
    )
    retrying = states.get(Delivery.State.FAILED, 0)
    return DeskGauges(
        queues=rows,
        callbacks_pending=states.get(Delivery.State.PENDING, 0) + retrying,
        callbacks_retrying=retrying,
        callbacks_dead=states.get(Delivery.State.DEAD, 0),
    )


def offers_open_by_queue() -> dict[int, int]:
    """Offers of push queues (#17) waiting for an agent's answer, by queue id: one grouped
    count over the partial unique index of pending offers."""
    pending = Offer.objects.filter(state=Offer.State.PENDING)
    return dict(
        pending.values_list("queue").annotate(open=Count("id")).values_list("queue", "open")
    )
