"""case.queue_updated end to end: a claim commits, a real Celery worker (Redis broker)
recomputes the queue and the bot receives the signed update in the customer's language."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone
from standardwebhooks import Webhook

from cases.models import Case
from cases.services import agent_work as actions
from tests.conftest import ApiClient
from tests.factories import IntegrationFactory, MembershipFactory, QueueFactory, full_package
from tests.servers import SECRET, Receiver, celery_worker

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]


def wait_for(condition: Any, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_claim_tells_the_customer_behind_through_a_worker():
    cache.clear()
    receiver = Receiver([])
    try:
        queue = QueueFactory(slug="general", is_default=True, sla_seconds=600)
        agent = MembershipFactory(queue=queue).agent
        integration = IntegrationFactory(
            name="hooked", callback_url=receiver.url, signing_secret=SECRET
        )
        api = ApiClient(integration.raw_key)
        with celery_worker():
            # given two customers in line, the second writing German, told their places a
            # while ago (past the one-a-minute throttle)
            first = api.post("/api/v1/handoffs", full_package(external_id="c-1")).json()
            german = full_package(external_id="c-2")
            german["customer"]["language"] = "de"
            second = api.post("/api/v1/handoffs", german).json()
            assert second["position"] == 2
            Case.objects.filter(pk=second["case_id"]).update(
                queue_told_at=timezone.now() - timedelta(minutes=5)
            )

            # when an agent claims the first
            actions.case_claim(case_id=first["case_id"], agent=agent)

            # then the second hears, signed, that it is next, in German
            def update() -> dict[str, Any] | None:
                for request in list(receiver.received):
                    body = Webhook(SECRET).verify(request["body"], request["headers"])
                    if body["type"] == "case.queue_updated":
                        return body
                return None

            wait_for(lambda: update() is not None)
        body = update()
        assert body is not None
        assert body["data"]["case_id"] == second["case_id"]
        assert (body["data"]["position"], body["data"]["previous_position"]) == (1, 2)
        assert body["data"]["customer_message"].startswith("Sie sind als Nächstes an der Reihe.")
    finally:
        receiver.close()
