"""Callbacks to a real local HTTP receiver: signatures, retries, dead letters, order, SSRF."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from cases.callbacks import outbox as deliveries
from cases.models import Delivery
from tests.factories import CaseFactory, IntegrationFactory
from tests.servers import SECRET, Receiver, free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver_for() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(*script: Any) -> Receiver:
        made.append(Receiver(list(script)))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture(autouse=True)
def fast_retries(settings: Any) -> None:
    settings.HANDOFF_CALLBACK_RETRY_SECONDS = [0, 0, 0]
    settings.HANDOFF_CALLBACK_TIMEOUT_SECONDS = 0.5
    settings.HANDOFF_ALLOW_PRIVATE_CALLBACKS = True


def outbox(url: str, kind: str = "agent.message", case: Any = None) -> Delivery:
    integration = IntegrationFactory(name="hooked", callback_url=url, signing_secret=SECRET)
    case = case or CaseFactory(integration=integration)
    delivery = deliveries.delivery_record(case, kind, {"text": "Hi Ana"})
    assert delivery is not None
    return delivery


def attempt_until_settled(delivery: Delivery, most: int = 10) -> Delivery:
    for _ in range(most):
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        deliveries.delivery_attempt(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        if delivery.state in {Delivery.State.DELIVERED, Delivery.State.DEAD}:
            break
    return delivery


@pytest.mark.parametrize(
    "failure", [500, 302, "slow", "refused"], ids=["500", "3xx", "timeout", "refused"]
)
def test_failures_are_retried_with_the_same_id_until_delivered(receiver_for, failure):
    receiver = receiver_for(*([failure] * 2 if failure != "refused" else []), 200)
    url = receiver.url
    if failure == "refused":
        url = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens there
    delivery = outbox(url)

    if failure == "refused":
        for _ in range(2):
            Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
            deliveries.delivery_attempt(delivery_id=delivery.pk)
        Delivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now(), last_status=None
        )
        delivery.integration.callback_url = receiver.url
        delivery.integration.save()
    settled = attempt_until_settled(delivery)

    assert settled.state == Delivery.State.DELIVERED
    assert settled.attempts == 3
    assert [t.status for t in settled.tries.all()][-1] == 200
    if failure != "refused":
        ids = {r["headers"]["webhook-id"] for r in receiver.received}
        assert ids == {delivery.webhook_id} and len(receiver.received) == 3
    # every request verifies with the Standard Webhooks library and the integration's secret
    for request in receiver.received:
        payload = Webhook(SECRET).verify(request["body"], request["headers"])
        assert payload["type"] == "agent.message" and payload["data"]["text"] == "Hi Ana"


def test_after_the_last_attempt_a_delivery_is_dead_then_redelivered(receiver_for):
    receiver = receiver_for(500, 500, 500, 500, 200)
    delivery = attempt_until_settled(outbox(receiver.url))

    assert delivery.state == Delivery.State.DEAD and delivery.attempts == 4
    assert [t.status for t in delivery.tries.all()] == [500, 500, 500, 500]
    assert delivery.tries.first().response == "nope"

    deliveries.delivery_redeliver(delivery_id=delivery.pk)
    deliveries.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()

    assert delivery.state == Delivery.State.DELIVERED
    assert len({r["headers"]["webhook-id"] for r in receiver.received}) == 1


def test_the_admin_lists_dead_deliveries_and_redelivers(receiver_for, admin_client):
    receiver = receiver_for(500, 500, 500, 500)
    delivery = attempt_until_settled(outbox(receiver.url))

    page = admin_client.get("/admin/cases/delivery/?state__exact=dead")
    assert page.status_code == 200 and f"{delivery.pk}" in page.content.decode()
    detail = admin_client.get(f"/admin/cases/delivery/{delivery.pk}/change/")
    assert "nope" in detail.content.decode()

    admin_client.post(
        "/admin/cases/delivery/", {"action": "redeliver", "_selected_action": [delivery.pk]}
    )
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.PENDING


def test_a_cases_callbacks_arrive_in_order(receiver_for):
    receiver = receiver_for(500, 200, 200)
    first = outbox(receiver.url, "agent.joined")
    second = deliveries.delivery_record(first.case, "agent.message", {"text": "second"})
    assert second is not None

    # the second waits while the first is undelivered
    deliveries.delivery_attempt(delivery_id=first.pk)
    assert deliveries.delivery_attempt(delivery_id=second.pk) is None
    attempt_until_settled(first)
    attempt_until_settled(second)

    kinds = [json.loads(r["body"])["type"] for r in receiver.received]
    assert kinds == ["agent.joined", "agent.joined", "agent.message"]


def test_a_delivery_whose_task_was_lost_is_found_by_the_sweeper(receiver_for):
    receiver = receiver_for(200)
    delivery = outbox(receiver.url)
    Delivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=1)
    )

    assert deliveries.due_delivery_ids() == [delivery.pk]


def test_an_exception_after_the_write_rolls_back_the_change_and_its_delivery(receiver_for):
    from django.db import transaction

    receiver = receiver_for()
    case = outbox(receiver.url).case
    before = Delivery.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        deliveries.delivery_record(case, "agent.message", {"text": "lost"})
        raise RuntimeError("after the write")

    assert Delivery.objects.count() == before


def test_callbacks_to_one_endpoint_share_a_kept_alive_connection(monkeypatch):
    # given an endpoint that keeps connections open
    receiver = Receiver([], keep_alive=True)
    try:
        first, second = outbox(receiver.url), outbox(receiver.url)

        # when a worker process sends two callbacks, and then a forked child sends one
        attempt_until_settled(first)
        attempt_until_settled(second)
        parent_client = deliveries._http_client()
        monkeypatch.setattr(deliveries.os, "getpid", lambda: -1)
        attempt_until_settled(outbox(receiver.url))

        # then the two went over one connection, and the child opened its own
        peers = [r["peer"] for r in receiver.received]
        assert len(peers) == 3 and peers[0] == peers[1] != peers[2]
        assert deliveries._http_client() is not parent_client
    finally:
        receiver.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.0.0.8/hook",
        "http://169.254.169.254/latest",
        "http://localhost:8000/x",
        "ftp://example.com/",
    ],
)
def test_private_and_loopback_callback_urls_are_refused(settings, url):
    settings.HANDOFF_ALLOW_PRIVATE_CALLBACKS = False

    with pytest.raises(deliveries.UnsafeCallbackUrl):
        deliveries.check_callback_url(url)


def test_after_a_secret_rotation_both_secrets_sign_for_a_while(receiver_for):
    from cases.services.integrations import integration_rotate_secret

    receiver = receiver_for(200)
    delivery = outbox(receiver.url)
    new_secret = integration_rotate_secret(integration=delivery.integration)

    attempt_until_settled(delivery)

    request = receiver.received[0]
    assert len(request["headers"]["webhook-signature"].split()) == 2
    for secret in (SECRET, new_secret):
        assert (
            Webhook(secret).verify(request["body"], request["headers"])["type"] == "agent.message"
        )
