from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from cases import presence
from cases.callbacks import outbox as deliveries
from cases.models import IdempotencyKey
from cases.services import (
    assignment,
    availability,
    escalation_timing,
    metrics_rollups,
    queue_updates,
    sla,
)


@shared_task(ignore_result=True)
def sweep_deliveries() -> int:
    due = deliveries.due_delivery_ids()
    for delivery_id in due:
        deliveries.deliver_callback.delay(delivery_id)
    return len(due)


@shared_task(ignore_result=True, expires=5)
def mark_sla_breaches() -> int:
    return sla.case_sla_breaches_mark()


@shared_task(ignore_result=True, expires=30)
def mark_unstaffed_cases() -> int:
    return availability.cases_unstaffed_mark()


@shared_task(ignore_result=True)
def purge_presence() -> int:
    return presence.presence_purge()


@shared_task(ignore_result=True)
def purge_idempotency_keys() -> int:
    cutoff = timezone.now() - timedelta(seconds=settings.HANDOFF_IDEMPOTENCY_TTL_SECONDS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


@shared_task(ignore_result=True, expires=60)
def sweep_escalation_timing() -> int:
    return escalation_timing.cases_escalation_time_sweep()


@shared_task(ignore_result=True, expires=15)
def sweep_queue_updates() -> int:
    return queue_updates.queues_updates_sweep()


@shared_task(ignore_result=True, expires=5)
def sweep_assignment() -> int:
    return assignment.assignment_sweep()


@shared_task(ignore_result=True, expires=240)
def refresh_metrics_rollups() -> int:
    return len(metrics_rollups.metrics_rollups_refresh())
