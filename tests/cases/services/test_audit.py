"""The audit trail (cases/services/audit.py): one event per change, stamped with the case's
version, by a person or by a named part of the desk."""

from __future__ import annotations

import pytest

from cases.models import CaseEvent
from cases.services.audit import record_event
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_an_event_records_who_did_what_at_which_version():
    # given
    case = CaseFactory()
    case.version = 7
    agent = UserFactory()

    # when
    event = record_event(case, kind="noted", actor=agent, data={"message_id": 3})

    # then
    stored = CaseEvent.objects.get(pk=event.pk)
    assert (stored.case_id, stored.kind, stored.actor, stored.case_version) == (
        case.pk,
        "noted",
        agent,
        7,
    )
    assert stored.data == {"message_id": 3}


def test_a_part_of_the_desk_is_named_when_no_person_acted():
    case = CaseFactory()

    event = record_event(case, kind="sla_breached", actor_label="sla")

    stored = CaseEvent.objects.get(pk=event.pk)
    assert stored.actor is None and stored.actor_label == "sla"
    assert stored.data == {}


def test_events_are_kept_in_the_order_they_happened():
    case = CaseFactory()

    for kind in ["created", "routed", "customer_told"]:
        record_event(case, kind=kind, actor_label="desk")

    assert list(
        CaseEvent.objects.filter(case=case).order_by("pk").values_list("kind", flat=True)
    ) == [
        "created",
        "routed",
        "customer_told",
    ]
