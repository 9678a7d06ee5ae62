from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from cases.models import Case, CaseEvent, IdempotencyKey
from tests.conftest import ApiClient
from tests.factories import IntegrationFactory, full_package

HANDOFFS = "/api/v1/handoffs"


@pytest.mark.django_db
def test_same_key_and_body_replays_the_identical_response(api):
    first = api.post(HANDOFFS, full_package(), **{"Idempotency-Key": "k-1"})
    replay = api.post(HANDOFFS, full_package(), **{"Idempotency-Key": "k-1"})

    assert first.status_code == replay.status_code == 201
    assert replay.content == first.content
    assert replay["Idempotent-Replayed"] == "true"
    assert Case.objects.count() == 1
    assert CaseEvent.objects.filter(kind="created").count() == 1


@pytest.mark.django_db
def test_same_key_with_reordered_json_is_the_same_body(api):
    api.post(HANDOFFS, full_package(), **{"Idempotency-Key": "k-2"})
    reordered = json.dumps(dict(reversed(list(full_package().items()))), indent=2)

    replay = api.post(HANDOFFS, reordered, **{"Idempotency-Key": "k-2"})

    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_same_key_with_a_different_body_is_a_422(api):
    api.post(HANDOFFS, full_package(), **{"Idempotency-Key": "k-3"})

    response = api.post(HANDOFFS, full_package(summary="changed"), **{"Idempotency-Key": "k-3"})

    assert response.status_code == 422
    assert response.json()["type"].endswith("idempotency-key-reused")
    assert Case.objects.count() == 1


@pytest.mark.django_db
def test_same_key_still_in_flight_is_a_409(api, integration):
    IdempotencyKey.objects.create(
        integration=integration,
        key="k-4",
        request_hash="will-be-compared-first",
        locked_at=timezone.now(),
    )
    from api.idempotency import request_fingerprint

    IdempotencyKey.objects.filter(key="k-4").update(
        request_hash=request_fingerprint(full_package())
    )

    response = api.post(HANDOFFS, full_package(), **{"Idempotency-Key": "k-4"})

    assert response.status_code == 409
    assert Case.objects.count() == 0


@pytest.mark.django_db
def test_a_key_abandoned_by_a_dead_request_is_taken_over(api, integration):
    from api.idempotency import request_fingerprint

    IdempotencyKey.objects.create(
        integration=integration,
        key="k-5",
        request_hash=request_fingerprint(full_package()),
        locked_at=timezone.now() - timedelta(minutes=5),
    )

    response = api.post(HANDOFFS, full_package(), **{"Idempotency-Key": "k-5"})

    assert response.status_code == 201
    assert IdempotencyKey.objects.get(key="k-5").response_status == 201


@pytest.mark.django_db
def test_keys_are_scoped_to_the_integration(api):
    other = ApiClient(IntegrationFactory(name="other-bot").raw_key)
    api.post(HANDOFFS, full_package(), **{"Idempotency-Key": "shared"})

    response = other.post(HANDOFFS, full_package(), **{"Idempotency-Key": "shared"})

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Case.objects.count() == 2


@pytest.mark.django_db
def test_a_422_is_not_stored_so_the_key_stays_usable(api):
    bad = full_package(external_id="")
    assert api.post(HANDOFFS, bad, **{"Idempotency-Key": "k-6"}).status_code == 422

    response = api.post(HANDOFFS, full_package(), **{"Idempotency-Key": "k-6"})

    assert response.status_code == 201


@pytest.mark.django_db
def test_keys_older_than_the_ttl_are_purged(api, settings):
    from cases.tasks import purge_idempotency_keys

    api.post(HANDOFFS, full_package(), **{"Idempotency-Key": "old"})
    api.post(HANDOFFS, full_package(external_id="c2"), **{"Idempotency-Key": "new"})
    IdempotencyKey.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(seconds=settings.HANDOFF_IDEMPOTENCY_TTL_SECONDS + 1)
    )

    assert purge_idempotency_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_posts_with_one_key_create_one_case(integration):
    barrier = threading.Barrier(16)
    statuses: list[int] = []
    lock = threading.Lock()

    def post() -> None:
        client = ApiClient(integration.raw_key)
        barrier.wait()
        try:
            response = client.post(HANDOFFS, full_package(), **{"Idempotency-Key": "race"})
            with lock:
                statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(statuses) == 16
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1
    assert Case.objects.count() == 1
    assert CaseEvent.objects.filter(kind="created").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_handoffs_of_one_conversation_without_a_key_share_one_case(integration):
    barrier = threading.Barrier(8)
    statuses: list[int] = []
    lock = threading.Lock()

    def post(n: int) -> None:
        client = ApiClient(integration.raw_key)
        package = full_package()
        package["transcript"] = [
            *package["transcript"],
            {"id": f"extra-{n}", "role": "customer", "text": f"message {n}"},
        ]
        barrier.wait()
        try:
            response = client.post(HANDOFFS, package)
            with lock:
                statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [200] * 7 + [201]
    case = Case.objects.get()
    assert case.messages.count() == 2 + 8
    assert case.handoff_count == 8
