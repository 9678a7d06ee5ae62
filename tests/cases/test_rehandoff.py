from __future__ import annotations

import pytest
from django.utils import timezone

from cases.models import Case, CaseEvent
from tests.factories import full_package

pytestmark = pytest.mark.django_db

HANDOFFS = "/api/v1/handoffs"


def test_second_handoff_of_an_open_conversation_appends_new_messages_once(api):
    first = api.post(HANDOFFS, full_package())
    later = full_package(summary="Still waiting; customer added the order date.")
    later["transcript"] = [
        *later["transcript"],
        {"id": "m3", "role": "customer", "text": "It was on the 3rd", "at": "2099-01-01T00:00:00Z"},
    ]
    later["facts"] = {"order_date": "2026-11-03"}

    second = api.post(HANDOFFS, later)
    third = api.post(HANDOFFS, later)

    assert first.status_code == 201
    assert second.status_code == third.status_code == 200
    assert second.json()["case_id"] == first.json()["case_id"]
    assert second.json()["appended_messages"] == 1
    assert third.json()["appended_messages"] == 0
    case = Case.objects.get()
    assert list(case.messages.values_list("external_id", flat=True)) == ["m1", "m2", "m3"]
    assert case.messages.get(external_id="m3").phase == "after_handoff"
    assert case.facts["order_date"] == "2026-11-03" and case.facts["order_id"] == "A-1009"
    assert case.summary.startswith("Still waiting")
    assert case.handoff_count == 3
    assert CaseEvent.objects.filter(kind="handoff_updated").count() == 2


def test_messages_without_ids_are_matched_by_role_time_and_text(api):
    package = full_package()
    for message in package["transcript"]:
        message.pop("id")
    api.post(HANDOFFS, package)
    package["transcript"].append(
        {"role": "customer", "text": "hello?", "at": "2099-01-01T00:00:00Z"}
    )

    response = api.post(HANDOFFS, package)

    assert response.json()["appended_messages"] == 1
    assert Case.objects.get().messages.count() == 3


def test_an_agents_intent_correction_survives_a_rehandoff(api):
    case_id = api.post(HANDOFFS, full_package()).json()["case_id"]
    Case.objects.filter(pk=case_id).update(current_intent="billing.double_charge")
    refreshed = full_package()
    refreshed["intent"] = {"name": "billing.refund_status", "confidence": 0.7}

    api.post(HANDOFFS, refreshed)

    case = Case.objects.get(pk=case_id)
    assert case.detected_intent == "billing.refund_status"
    assert case.current_intent == "billing.double_charge"


def test_after_resolution_a_new_case_is_opened_and_linked_as_a_repeat_contact(api):
    first_id = api.post(HANDOFFS, full_package()).json()["case_id"]
    Case.objects.filter(pk=first_id).update(status="resolved", resolved_at=timezone.now())

    response = api.post(HANDOFFS, full_package())

    assert response.status_code == 201
    body = response.json()
    assert body["case_id"] != first_id
    assert body["repeat_contact"] is True and body["previous_case_id"] == first_id
    new = Case.objects.get(pk=body["case_id"])
    assert new.previous_case_id == first_id and new.is_repeat_contact
    assert new.messages.count() == 2


def test_the_database_refuses_two_open_cases_for_one_conversation(api, integration):
    from django.db import IntegrityError, transaction

    case = Case.objects.get(pk=api.post(HANDOFFS, full_package()).json()["case_id"])
    case.pk = None
    with pytest.raises(IntegrityError), transaction.atomic():
        case.save()
