"""Row locks (cases/locks.py), read for what they return: the next waiting case across queues
in the desk's order, and a conversation's open case. What they hold off under concurrency is
tested where it matters, in tests/cases/services/test_agent_work.py (PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from cases import locks
from cases.models import Case
from tests.factories import CaseFactory, IntegrationFactory, QueueFactory

pytestmark = pytest.mark.django_db


def test_the_next_waiting_case_is_the_most_urgent_then_the_soonest_due_of_the_queues():
    # given: two queues, and a more urgent case in a queue not asked about
    first, second, elsewhere = QueueFactory(), QueueFactory(), QueueFactory()
    soon, later = timezone.now() + timedelta(minutes=1), timezone.now() + timedelta(minutes=30)
    CaseFactory(queue=first, priority=Case.Priority.NORMAL, sla_due_at=soon)
    high_later = CaseFactory(queue=first, priority=Case.Priority.HIGH, sla_due_at=later)
    high_soon = CaseFactory(queue=second, priority=Case.Priority.HIGH, sla_due_at=soon)
    CaseFactory(queue=second, priority=Case.Priority.URGENT, status=Case.Status.ASSIGNED)
    CaseFactory(queue=elsewhere, priority=Case.Priority.URGENT)

    # when
    with transaction.atomic():
        picked = locks.lock_next_waiting([first.pk, second.pk])

    # then
    assert picked == high_soon
    Case.objects.filter(pk=high_soon.pk).update(status=Case.Status.ASSIGNED)
    with transaction.atomic():
        assert locks.lock_next_waiting([first.pk, second.pk]) == high_later


def test_nothing_waiting_is_none():
    with transaction.atomic():
        assert locks.lock_next_waiting([QueueFactory().pk]) is None


def test_a_conversations_open_case_is_found_and_a_resolved_one_is_not():
    bot = IntegrationFactory()
    resolved = CaseFactory(integration=bot, external_id="conv-1", status=Case.Status.RESOLVED)
    open_case = CaseFactory(integration=bot, external_id="conv-1")
    CaseFactory(integration=IntegrationFactory(), external_id="conv-2")

    with transaction.atomic():
        assert locks.lock_open_conversation(bot.pk, "conv-1") == open_case
        assert locks.lock_open_conversation(bot.pk, "conv-2") is None
        assert locks.lock_case(resolved.pk) == resolved
