"""The admin never bypasses a service: cases and their records are read there, never written;
the audit trail can be neither edited nor deleted, by a superuser or the admin role."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db.models import Model
from django.test import Client
from django.utils import timezone

from cases.models import (
    AttemptedStep,
    Case,
    CaseEvent,
    CsatResponse,
    Delivery,
    DeliveryAttempt,
    IdempotencyKey,
    Integration,
    IntentCorrection,
    Message,
)
from cases.services.audit import record_event
from cases.services.integrations import hash_api_key
from tests.factories import CaseFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["superuser", "admin role"])
def admin(request: pytest.FixtureRequest, client: Client) -> Client:
    user: Any
    if request.param == "superuser":
        user = User.objects.create_superuser("root", "root@example.com", "pw-for-tests")
    else:
        user = UserFactory(role="admin")
    client.force_login(user)
    return client


@pytest.fixture
def case() -> Case:
    return CaseFactory()


def url(obj: Model, view: str) -> str:
    return f"/admin/{obj._meta.app_label}/{obj._meta.model_name}/{obj.pk}/{view}/"


def listing(model: type[Model]) -> str:
    return f"/admin/{model._meta.app_label}/{model._meta.model_name}/"


def fields_of(obj: Model) -> dict[str, Any]:
    return {field.attname: getattr(obj, field.attname) for field in obj._meta.concrete_fields}


# --- the audit trail ----------------------------------------------------------------------------


def test_an_audit_event_can_be_read_in_the_admin_but_not_changed(admin, case):
    event = record_event(case, kind="claimed", actor_label="bot")
    before = fields_of(event)

    page = admin.get(url(event, "change"))
    response = admin.post(
        url(event, "change"),
        {
            "case": case.pk,
            "kind": "resolved",
            "actor": "",
            "actor_label": "someone else",
            "data": "{}",
            "case_version": 7,
            "_save": "Save",
        },
    )

    assert page.status_code == 200 and "claimed" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert response.status_code == 403
    event.refresh_from_db()
    assert fields_of(event) == before


def test_an_audit_event_can_be_neither_added_nor_deleted_in_the_admin(admin, case):
    event = record_event(case, kind="claimed")

    add = admin.get(listing(CaseEvent) + "add/")
    add_post = admin.post(
        listing(CaseEvent) + "add/", {"case": case.pk, "kind": "forged", "case_version": 1}
    )
    delete = admin.get(url(event, "delete"))
    delete_post = admin.post(url(event, "delete"), {"post": "yes"})
    bulk = admin.post(
        listing(CaseEvent),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )

    assert [add.status_code, add_post.status_code] == [403, 403]
    assert [delete.status_code, delete_post.status_code] == [403, 403]
    assert bulk.status_code in (200, 302)
    assert list(CaseEvent.objects.values_list("pk", "kind")) == [(event.pk, "claimed")]
    assert "delete_selected" not in admin.get(listing(CaseEvent)).content.decode()


# --- cases and their records --------------------------------------------------------------------


def test_a_case_is_read_only_in_the_admin(admin, case):
    MessageFactory(case=case, text="my refund never came")
    before = fields_of(case)

    page = admin.get(url(case, "change"))
    change = admin.post(url(case, "change"), {"status": "resolved", "priority": 1, "_save": "Save"})
    delete = admin.post(url(case, "delete"), {"post": "yes"})
    bulk = admin.post(
        listing(Case), {"action": "delete_selected", "_selected_action": [case.pk], "post": "yes"}
    )

    assert page.status_code == 200 and "my refund never came" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert [change.status_code, delete.status_code] == [403, 403]
    assert bulk.status_code in (200, 302)
    case.refresh_from_db()
    assert fields_of(case) == before  # no silent edit, no version bump
    assert admin.get(listing(Case) + "add/").status_code == 403
    assert not CaseEvent.objects.exists()


def delivery_tried(case: Case) -> Delivery:
    delivery = Delivery.objects.create(
        case=case,
        integration=case.integration,
        kind="agent.message",
        payload={},
        next_attempt_at=timezone.now(),
    )
    DeliveryAttempt.objects.create(delivery=delivery, number=1, status=500, latency_ms=3)
    return delivery


RECORDS: dict[str, Callable[[Case], Any]] = {
    "message": lambda case: MessageFactory(case=case),
    "attempted step": lambda case: AttemptedStep.objects.create(
        case=case, position=1, name="refund", outcome="failed"
    ),
    "intent correction": lambda case: IntentCorrection.objects.create(
        case=case, from_intent="billing.refund", to_intent="billing.charge"
    ),
    "delivery": lambda case: delivery_tried(case),
    "csat": lambda case: CsatResponse.objects.create(case=case, score=4),
    "idempotency key": lambda case: IdempotencyKey.objects.create(
        integration=case.integration, key="k-1", request_hash="h"
    ),
}


@pytest.mark.parametrize("make", RECORDS.values(), ids=RECORDS.keys())
def test_a_cases_records_are_read_only_in_the_admin(admin, case, make):
    record = make(case)
    before = fields_of(record)
    model = type(record)
    registered = admin.get(listing(model)).status_code == 200
    page = admin.get(url(record, "change"))

    add = admin.get(listing(model) + "add/")
    change = admin.post(url(record, "change"), {"case": case.pk, "_save": "Save"})
    delete = admin.post(url(record, "delete"), {"post": "yes"})
    bulk = admin.post(
        listing(model),
        {"action": "delete_selected", "_selected_action": [record.pk], "post": "yes"},
    )

    # Messages and steps are inlines of the case (no page of their own): a 404 is as good.
    assert page.status_code == (200 if registered else 404)
    assert admin.get(url(case, "change")).status_code == 200  # with its inlines
    assert {add.status_code, change.status_code, delete.status_code} <= {403, 404}
    assert bulk.status_code in (200, 302, 404)
    record.refresh_from_db()
    assert fields_of(record) == before
    assert registered or model in (Message, AttemptedStep)


def test_the_admin_still_redelivers_through_the_service(
    admin, case, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr("cases.callbacks.outbox.enqueue_delivery", queued.append)
    dead = RECORDS["delivery"](case)
    Delivery.objects.filter(pk=dead.pk).update(state=Delivery.State.DEAD)

    with django_capture_on_commit_callbacks(execute=True):
        admin.post(listing(Delivery), {"action": "redeliver", "_selected_action": [dead.pk]})

    dead.refresh_from_db()
    assert dead.state == Delivery.State.PENDING
    assert queued == [dead.pk]  # sent again after the commit, as the desk's page does


# --- integrations -------------------------------------------------------------------------------


def test_an_integration_added_in_the_admin_gets_its_key_from_the_service(admin):
    response = admin.post(
        listing(Integration) + "add/",
        {"name": "Acme bot", "callback_url": "", "is_active": "on", "_save": "Save"},
        follow=True,
    )

    integration = Integration.objects.get(name="Acme bot")
    page = response.content.decode()
    raw_key = re.findall(r"API key \(shown once\): ([\w-]+)", page)[0]
    assert integration.key_hash == hash_api_key(raw_key)
    assert raw_key.startswith(integration.key_prefix)
    assert integration.signing_secret


def test_the_admin_rotates_an_integrations_api_key_through_the_service(admin, case):
    integration = case.integration
    old_hash = integration.key_hash

    response = admin.post(
        listing(Integration),
        {"action": "rotate_key", "_selected_action": [integration.pk]},
        follow=True,
    )

    integration.refresh_from_db()
    raw_key = re.findall(r"new API key ([\w-]+)", response.content.decode())[0]
    assert integration.key_hash == hash_api_key(raw_key) != old_hash
