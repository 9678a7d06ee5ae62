"""Escalation timing of each handoff, off the request path: after a new case commits, a worker
replays its transcript under the published policy (cases/risk.py) and keeps where the desk would
have handed off. It costs about 4 ms of CPU per STAR handoff, a third of the intake's own, so the
bot's answer does not wait for it; a sweep catches any case a lost task left without it."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from cases.models import Case
from cases.risk import Timing, escalation_timing, published_policy
from escalation.assess import Policy

logger = logging.getLogger(__name__)

SWEEP_WINDOW = timedelta(days=2)  # older cases without timing are left as they are


def _keep(case: Case, policy: Policy) -> Timing:
    timing = escalation_timing(case, policy)
    Case.objects.filter(pk=case.pk).update(
        first_risk_seq=timing.first_risk_seq,
        risk_lead_messages=timing.lead_messages,
        risk_lead_seconds=timing.lead_seconds,
        escalation_score=timing.score,
        escalation_policy_version=timing.policy_version,
        # the late-escalation figures read these: the metrics' rollup of its day is stale now
        updated_at=timezone.now(),
    )
    return timing


def case_escalation_time(*, case_id: int) -> Timing | None:
    """Compute and keep the case's escalation timing (None for a case that no longer exists).
    A plain update: no version bump, nothing for an open page to reload."""
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        return None
    return _keep(case, published_policy())


# Named like the desk's other tasks, so the beat schedule and the worker agree on it.
@shared_task(name="cases.tasks.time_escalation", ignore_result=True)
def time_escalation(case_id: int) -> None:
    case_escalation_time(case_id=case_id)


def enqueue_escalation_timing(case_id: int) -> None:
    try:
        time_escalation.delay(case_id)
    except Exception:
        # Broker down: the sweep times this case later.
        logger.warning("escalation_timing_enqueue_failed case_id=%s", case_id, exc_info=True)


def cases_escalation_time_sweep(*, limit: int = 200) -> int:
    """Time the recent cases that have no timing yet (a lost task, a broker outage)."""
    untimed = Case.objects.filter(
        escalation_policy_version__isnull=True, handed_off_at__gte=timezone.now() - SWEEP_WINDOW
    ).order_by("handed_off_at")
    policy = published_policy()
    done = 0
    for case in untimed[:limit]:
        _keep(case, policy)
        done += 1
    return done
