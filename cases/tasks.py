from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from cases import deliveries, presence, services
from cases.models import Delivery, IdempotencyKey


@shared_task(acks_late=True, ignore_result=True)
def deliver_callback(delivery_id: int) -> None:
    state = deliveries.delivery_attempt(delivery_id=delivery_id)
    if state == Delivery.State.FAILED:
        delivery = Delivery.objects.only("next_attempt_at").get(pk=delivery_id)
        wait = max((delivery.next_attempt_at - timezone.now()).total_seconds(), 0)
        # Short waits ride on the broker; long ones are left to the sweeper, so no countdown is
        # longer than the broker's visibility timeout.
        if wait <= 300:
            deliver_callback.apply_async((delivery_id,), countdown=wait)


@shared_task(ignore_result=True)
def sweep_deliveries() -> int:
    due = deliveries.due_delivery_ids()
    for delivery_id in due:
        deliver_callback.delay(delivery_id)
    return len(due)


@shared_task(ignore_result=True, expires=5)
def mark_sla_breaches() -> int:
    return services.case_sla_breaches_mark()


@shared_task(ignore_result=True)
def purge_presence() -> int:
    return presence.presence_purge()


@shared_task(ignore_result=True)
def purge_idempotency_keys() -> int:
    cutoff = timezone.now() - timedelta(seconds=settings.HANDOFF_IDEMPOTENCY_TTL_SECONDS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
