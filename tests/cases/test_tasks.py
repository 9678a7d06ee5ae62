"""Callbacks end to end through a real Celery worker on the Redis broker."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from cases import tasks
from cases.models import Case, Delivery
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

            # then the bot hears all four (the claim also says a person now holds the
            # conversation), in order, each verified, none twice
            try:
                wait_for(lambda: Delivery.objects.filter(state="delivered").count() == 4, 60)
            except AssertionError:
                states = list(
                    Delivery.objects.values_list("kind", "state", "attempts", "last_error")
                )
                raise AssertionError(f"{states}; received {len(receiver.received)}") from None
        kinds = [Webhook(SECRET).verify(r["body"], r["headers"])["type"] for r in receiver.received]
        assert kinds == [
            "handoff.accepted",
            "handoff.accepted",
            "agent.joined",
            "conversation.holder_changed",
            "agent.message",
        ]
        ids = [r["headers"]["webhook-id"] for r in receiver.received]
        assert ids[0] == ids[1] and len(set(ids)) == 4
        assert Case.objects.get(pk=case_id).deliveries.filter(attempts__gt=1).count() == 1
    finally:
        receiver.close()


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the prefork pool's children), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def test_a_worker_killed_mid_delivery_leaves_a_lease_the_sweeper_resends_under_the_same_id():
    # given a bot endpoint that is slow to answer its first callback
    receiver = Receiver(["slow"])
    try:
        QueueFactory(slug="general", is_default=True)
        integration = IntegrationFactory(
            name="hooked", callback_url=receiver.url, signing_secret=SECRET
        )
        with celery_worker() as worker:
            case_id = (
                ApiClient(integration.raw_key)
                .post("/api/v1/handoffs", full_package())
                .json()["case_id"]
            )
            # when the worker is killed (pool children too) while that request is in flight
            wait_for(lambda: len(receiver.received) == 1, 60)
            for pid in [worker.pid, *descendants(worker.pid)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            worker.wait(10)
        delivery = Delivery.objects.get(case_id=case_id)
        assert delivery.state == Delivery.State.PENDING and delivery.attempts == 0

        # and its lease runs out (time travel: the lease is the timeout plus 30 s)
        Delivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now() - timedelta(seconds=60)
        )
        with celery_worker():
            assert tasks.sweep_deliveries() == 1
            wait_for(lambda: Delivery.objects.get(pk=delivery.pk).state == "delivered", 60)

        # then the bot got it again under the same webhook-id, so it keeps it once
        ids = [r["headers"]["webhook-id"] for r in receiver.received]
        assert len(ids) == 2 and ids[0] == ids[1] == delivery.webhook_id
        assert Webhook(SECRET).verify(receiver.received[1]["body"], receiver.received[1]["headers"])
    finally:
        receiver.close()


def test_with_the_broker_down_the_intake_answers_and_the_sweeper_delivers_later(settings):
    receiver = Receiver([])
    try:
        QueueFactory(slug="general", is_default=True)
        integration = IntegrationFactory(
            name="hooked", callback_url=receiver.url, signing_secret=SECRET
        )
        # given a broker nobody answers at
        from handoff_site.celery import app

        working_broker = app.conf.broker_url
        app.conf.broker_url = "redis://127.0.0.1:1/0"
        app._after_fork()  # drop the pooled broker connections, as a forked process does
        try:
            started = time.monotonic()
            response = ApiClient(integration.raw_key).post("/api/v1/handoffs", full_package())
            answered_in = time.monotonic() - started
        finally:
            app.conf.broker_url = working_broker
            app._after_fork()

        # the handoff is stored and answered, its callback waits in the outbox
        assert response.status_code == 201, answered_in
        delivery = Delivery.objects.get(case_id=response.json()["case_id"])
        assert delivery.state == Delivery.State.PENDING

        # when the broker is back, the sweeper finds it (past its grace) and a worker sends it
        Delivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now() - timedelta(seconds=60)
        )
        with celery_worker():
            assert tasks.sweep_deliveries() == 1
            wait_for(lambda: Delivery.objects.get(pk=delivery.pk).state == "delivered", 60)
        assert [r["headers"]["webhook-id"] for r in receiver.received] == [delivery.webhook_id]
    finally:
        receiver.close()
