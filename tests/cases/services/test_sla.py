"""SLA timers called directly (cases/services/sla.py): waiting cases past their deadline are
marked once, made more urgent, and put on record."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from cases.models import Case, CaseEvent
from cases.services.sla import case_sla_breaches_mark
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def test_waiting_cases_past_their_sla_are_marked_once_and_made_more_urgent():
    late = CaseFactory(sla_due_at=NOW - timedelta(seconds=1), priority=Case.Priority.NORMAL)
    urgent = CaseFactory(sla_due_at=NOW - timedelta(minutes=5), priority=Case.Priority.URGENT)
    on_time = CaseFactory(sla_due_at=NOW + timedelta(minutes=1))
    taken = CaseFactory(sla_due_at=NOW - timedelta(minutes=1), status=Case.Status.ASSIGNED)

    with mock.patch("django.utils.timezone.now", return_value=NOW):
        assert case_sla_breaches_mark() == 2
        assert case_sla_breaches_mark() == 0  # marked once

    late.refresh_from_db()
    urgent.refresh_from_db()
    assert late.sla_breached and late.priority == Case.Priority.HIGH
    assert urgent.sla_breached and urgent.priority == Case.Priority.URGENT
    assert not Case.objects.get(pk=on_time.pk).sla_breached
    assert not Case.objects.get(pk=taken.pk).sla_breached
    event = CaseEvent.objects.get(case=late, kind="sla_breached")
    assert event.data["priority_before"] == Case.Priority.NORMAL
    assert event.data["late_seconds"] == pytest.approx(1, abs=0.01)


def test_the_clock_decides_not_a_countdown():
    case = CaseFactory(sla_due_at=NOW + timedelta(minutes=10))

    with mock.patch("django.utils.timezone.now", return_value=NOW + timedelta(minutes=9)):
        assert case_sla_breaches_mark() == 0
    with mock.patch("django.utils.timezone.now", return_value=NOW + timedelta(minutes=10)):
        assert case_sla_breaches_mark() == 1
    assert Case.objects.get(pk=case.pk).sla_breached


def test_the_most_overdue_cases_are_marked_first_within_the_limit():
    # given: three waiting cases past their SLA by different amounts
    oldest = CaseFactory(sla_due_at=NOW - timedelta(minutes=30))
    middle = CaseFactory(sla_due_at=NOW - timedelta(minutes=20))
    newest = CaseFactory(sla_due_at=NOW - timedelta(minutes=10))

    # when: a sweep may mark two
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        marked = case_sla_breaches_mark(limit=2)

    # then: the two that waited longest, and the next sweep takes the third
    assert marked == 2
    assert Case.objects.get(pk=oldest.pk).sla_breached
    assert Case.objects.get(pk=middle.pk).sla_breached
    assert not Case.objects.get(pk=newest.pk).sla_breached
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        assert case_sla_breaches_mark(limit=2) == 1


def test_a_breach_is_one_version_step_and_an_event_of_the_sla_sweep():
    case = CaseFactory(sla_due_at=NOW - timedelta(minutes=1))

    with mock.patch("django.utils.timezone.now", return_value=NOW):
        case_sla_breaches_mark()

    marked = Case.objects.get(pk=case.pk)
    assert marked.version == case.version + 1
    event = CaseEvent.objects.get(case=case, kind="sla_breached")
    assert event.actor_label == "sla" and event.case_version == marked.version
