"""GET /prometheus (handoff_site/monitoring.py): off by default, refused without the token or
from another address, and the desk's figures right: queues, the outbox, intake and assess
latency, open sockets."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from cases.models import Case, Delivery, Offer
from tests.factories import CaseFactory, IntegrationFactory, QueueFactory, UserFactory, full_package
from tests.sockets import communicator, frame

PATH = "/prometheus"
TOKEN = "scrape-token-0123456789abcdef"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def prometheus_on(settings: Any) -> None:
    settings.HANDOFF_PROMETHEUS = True
    settings.HANDOFF_PROMETHEUS_TOKEN = TOKEN
    settings.HANDOFF_PROMETHEUS_ALLOWED_IPS = []


def scrape(client: Client | None = None) -> Samples:
    response = (client or Client()).get(PATH, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


# --- off, and protected when on -------------------------------------------------------------


@pytest.mark.django_db
def test_the_endpoint_is_off_by_default(settings):
    assert settings.HANDOFF_PROMETHEUS is False

    response = Client().get(PATH, headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 404
    assert b"desk_" not in response.content


@pytest.mark.django_db
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token-0123456789abcdef", f"Basic {TOKEN}", "Bearer"]
)
def test_a_scrape_without_the_token_is_refused_and_told_nothing(prometheus_on, authorization):
    QueueFactory(slug="billing")
    headers = {"Authorization": authorization} if authorization else {}

    response = Client().get(PATH, headers=headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="prometheus"'
    assert b"desk_" not in response.content and b"billing" not in response.content


@pytest.mark.django_db
def test_allowed_addresses_only_and_the_token_too_when_both_are_set(settings, prometheus_on):
    settings.HANDOFF_PROMETHEUS_ALLOWED_IPS = ["10.0.0.0/8", "::1/128"]
    bearer = {"Authorization": f"Bearer {TOKEN}"}

    outside = Client(REMOTE_ADDR="192.0.2.7").get(PATH, headers=bearer)
    inside_without_token = Client(REMOTE_ADDR="10.1.2.3").get(PATH)
    inside = Client(REMOTE_ADDR="10.1.2.3").get(PATH, headers=bearer)

    assert outside.status_code == 403 and b"desk_" not in outside.content
    assert inside_without_token.status_code == 401
    assert inside.status_code == 200 and b"desk_callbacks_dead" in inside.content


@pytest.mark.django_db
def test_addresses_alone_protect_it_without_a_token(settings, prometheus_on):
    settings.HANDOFF_PROMETHEUS_TOKEN = ""
    settings.HANDOFF_PROMETHEUS_ALLOWED_IPS = ["127.0.0.1/32"]

    assert Client(REMOTE_ADDR="127.0.0.1").get(PATH).status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.2").get(PATH).status_code == 403


def test_switched_on_without_protection_the_desk_refuses_to_start(tmp_path):
    env = {**os.environ, "HANDOFF_PROMETHEUS": "1", "HANDOFF_VAR_DIR": str(tmp_path)}
    env.pop("HANDOFF_PROMETHEUS_TOKEN", None)
    env.pop("HANDOFF_PROMETHEUS_ALLOWED_IPS", None)
    started = subprocess.run(
        [sys.executable, "-c", "import handoff_site.settings"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert started.returncode != 0
    assert "HANDOFF_PROMETHEUS_TOKEN" in started.stderr


# --- the figures ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_waiting_cases_and_the_oldest_wait_per_queue(prometheus_on):
    billing, vip = QueueFactory(slug="billing"), QueueFactory(slug="vip")
    now = timezone.now()
    for minutes in (2, 1, 0):
        CaseFactory(queue=billing, handed_off_at=now - timedelta(minutes=minutes))
    CaseFactory(
        queue=billing,
        status=Case.Status.ASSIGNED,
        assignee=UserFactory(role="agent"),
        handed_off_at=now - timedelta(hours=1),
    )
    CaseFactory(
        queue=billing,
        handed_off_at=now - timedelta(minutes=30),
        sla_due_at=now - timedelta(minutes=20),
        status=Case.Status.RESOLVED,
    )

    samples = scrape()

    assert value(samples, "desk_queue_waiting_cases", queue="billing") == 3
    assert value(samples, "desk_queue_assigned_cases", queue="billing") == 1
    assert 120 <= value(samples, "desk_queue_oldest_wait_seconds", queue="billing") < 180
    assert value(samples, "desk_queue_waiting_cases", queue="vip") == 0
    assert value(samples, "desk_queue_oldest_wait_seconds", queue="vip") == 0
    assert value(samples, "desk_queue_offers_open", queue="billing") == 0
    assert value(samples, "desk_queue_offers_open", queue=vip.slug) == 0


@pytest.mark.django_db
def test_pending_offers_are_counted_per_queue_and_answered_ones_are_not(prometheus_on):
    billing = QueueFactory(slug="billing")
    now = timezone.now()

    def offer(state: str) -> None:
        case = CaseFactory(queue=billing, handed_off_at=now)
        Offer.objects.create(
            case=case,
            agent=UserFactory(role="agent"),
            queue=billing,
            state=state,
            offered_at=now,
            expires_at=now + timedelta(seconds=30),
        )

    offer(Offer.State.PENDING)
    offer(Offer.State.PENDING)
    offer(Offer.State.DECLINED)

    assert value(scrape(), "desk_queue_offers_open", queue="billing") == 2


@pytest.mark.django_db
def test_a_breached_waiting_case_is_counted(prometheus_on):
    queue = QueueFactory(slug="billing")
    now = timezone.now()
    CaseFactory(queue=queue, handed_off_at=now - timedelta(hours=1), sla_due_at=now)
    CaseFactory(queue=queue)

    assert value(scrape(), "desk_queue_sla_breached_cases", queue="billing") == 1


@pytest.mark.django_db
def test_callbacks_pending_retrying_and_dead(prometheus_on):
    integration = IntegrationFactory(name="acme-bot", callback_url="https://bot.test/hook")
    case = CaseFactory(integration=integration)
    for state in ("pending", "failed", "dead", "delivered", "delivered"):
        Delivery.objects.create(
            case=case,
            integration=integration,
            kind="agent.joined",
            payload={},
            state=state,
            next_attempt_at=timezone.now(),
        )

    samples = scrape()

    assert value(samples, "desk_callbacks_pending") == 2
    assert value(samples, "desk_callbacks_retrying") == 1
    assert value(samples, "desk_callbacks_dead") == 1


@pytest.mark.django_db
def test_an_intake_is_observed_in_the_intake_histogram(prometheus_on, api):
    before = scrape()

    response = api.post("/api/v1/handoffs", full_package())

    after = scrape()
    assert response.status_code == 201
    count = "desk_intake_seconds_count"
    assert value(after, count) == value(before, count) + 1
    assert value(after, "desk_intake_seconds_sum") > value(before, "desk_intake_seconds_sum")
    top = value(after, "desk_intake_seconds_bucket", le="+Inf")
    assert top == value(after, count)
    # The new case is waiting in the default queue.
    assert value(after, "desk_queue_waiting_cases", queue="general") == 1


@pytest.mark.django_db
def test_an_assessment_is_observed_in_the_assess_histogram(prometheus_on, api):
    before = scrape()

    response = api.post(
        "/api/v1/assess", {"transcript": [{"role": "customer", "text": "I want a human"}]}
    )

    after = scrape()
    assert response.status_code == 200
    count = "desk_assess_seconds_count"
    assert value(after, count) == value(before, count) + 1
    assert value(after, "desk_intake_seconds_count") == value(before, "desk_intake_seconds_count")


@pytest.fixture
def fresh_layer() -> Any:
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.mark.django_db(transaction=True)
async def test_open_sockets_are_counted_and_uncounted(prometheus_on, fresh_layer):
    agent = await sync_to_async(UserFactory)(role="supervisor")
    before = value(await sync_to_async(scrape)(), "desk_websocket_connections")
    sockets = [communicator(agent), communicator(agent)]
    for comm in sockets:
        assert (await comm.connect())[0]
        assert (await frame(comm, 2))["type"] == "hello"

    during = value(await sync_to_async(scrape)(), "desk_websocket_connections")
    for comm in sockets:
        await comm.disconnect()
    after = value(await sync_to_async(scrape)(), "desk_websocket_connections")

    assert (during, after) == (before + 2, before)


@pytest.mark.django_db(transaction=True)
async def test_a_refused_socket_is_not_counted(prometheus_on, fresh_layer):
    before = value(await sync_to_async(scrape)(), "desk_websocket_connections")
    comm = communicator(AnonymousUser())

    assert (await comm.connect())[0] is False
    assert value(await sync_to_async(scrape)(), "desk_websocket_connections") == before
