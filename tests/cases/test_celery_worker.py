"""Callbacks end to end through a real Celery worker on the Redis broker."""

from __future__ import annotations

import time
from typing import Any

import pytest
from standardwebhooks import Webhook

from cases import actions
from cases.models import Case, Delivery
from tests.cases.test_deliveries import SECRET, Receiver
from tests.conftest import ApiClient
from tests.factories import IntegrationFactory, MembershipFactory, QueueFactory, full_package
from tests.servers import celery_worker

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def wait_for(condition: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_worker_delivers_each_callback_signed_once_and_in_order():
    receiver = Receiver([500])  # the first try fails: the worker retries it
    try:
        queue = QueueFactory(slug="general", is_default=True)
        agent = MembershipFactory(queue=queue).agent
        integration = IntegrationFactory(
            name="hooked", callback_url=receiver.url, signing_secret=SECRET
        )
        api = ApiClient(integration.raw_key)
        with celery_worker():
            # when a handoff arrives and an agent joins and answers
            case_id = api.post("/api/v1/handoffs", full_package()).json()["case_id"]
            actions.case_claim(case_id=case_id, agent=agent)
            actions.case_reply(case_id=case_id, agent=agent, text="I see both charges.")

            # then the bot hears all three, in order, each verified, none twice
            try:
                wait_for(lambda: Delivery.objects.filter(state="delivered").count() == 3, 60)
            except AssertionError:
                states = list(
                    Delivery.objects.values_list("kind", "state", "attempts", "last_error")
                )
                raise AssertionError(f"{states}; received {len(receiver.received)}") from None
        kinds = [Webhook(SECRET).verify(r["body"], r["headers"])["type"] for r in receiver.received]
        assert kinds == ["handoff.accepted", "handoff.accepted", "agent.joined", "agent.message"]
        ids = [r["headers"]["webhook-id"] for r in receiver.received]
        assert ids[0] == ids[1] and len(set(ids)) == 3
        assert Case.objects.get(pk=case_id).deliveries.filter(attempts__gt=1).count() == 1
    finally:
        receiver.close()
