"""The admins' page of callbacks that need a person: who may see it, what it lists, and
"Redeliver" updating its row in place."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from cases.callbacks import outbox as deliveries
from cases.models import Delivery, DeliveryAttempt
from tests.factories import CaseFactory, IntegrationFactory, UserFactory
from tests.servers import SECRET, Receiver

pytestmark = pytest.mark.django_db

PAGE = "/deliveries/"


def client_for(role: str) -> Client:
    client = Client()
    client.force_login(UserFactory(role=role))
    return client


def a_delivery(
    *, state: str = Delivery.State.DEAD, integration: Any = None, answers: tuple[Any, ...] = ()
) -> Delivery:
    """A delivery in ``state`` whose attempts got these answers: a status and body, or an
    error string (no answer)."""
    integration = integration or IntegrationFactory(name="acme-bot", callback_url="https://x.test")
    case = CaseFactory(integration=integration)
    delivery = Delivery.objects.create(
        case=case,
        integration=integration,
        kind="agent.message",
        payload={"type": "agent.message", "data": {"case_id": case.pk}},
        state=state,
        attempts=len(answers),
        next_attempt_at=timezone.now(),
    )
    for number, answer in enumerate(answers, start=1):
        status, text = answer if isinstance(answer, tuple) else (None, "")
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=number,
            status=status,
            latency_ms=40 + number,
            response=text,
            error="" if status else str(answer),
        )
    return delivery


@pytest.mark.parametrize("role", ["agent", "supervisor"])
def test_agents_and_supervisors_are_refused(role):
    delivery = a_delivery()
    client = client_for(role)

    assert client.get(PAGE).status_code == 403
    redeliver = client.post(f"/deliveries/{delivery.pk}/redeliver/", headers={"HX-Request": "true"})
    assert redeliver.status_code == 403
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DEAD
    assert "Callbacks</a>" not in client.get("/").content.decode()


def test_anonymous_visitors_are_sent_to_sign_in():
    response = Client().get(PAGE)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_admins_see_dead_deliveries_with_every_attempt_and_the_link_to_the_page():
    dead = a_delivery(answers=((500, "upstream <b>exploded</b>"), "ConnectError: refused"))
    failing = a_delivery(state=Delivery.State.FAILED, answers=((502, "bad gateway"),))
    delivered = a_delivery(state=Delivery.State.DELIVERED, answers=((200, "ok"),))
    client = client_for("admin")

    page = client.get(PAGE)
    html = page.content.decode()

    assert page.status_code == 200
    assert f'id="delivery-{dead.pk}"' in html and dead.webhook_id in html
    assert f'id="delivery-{failing.pk}"' not in html
    assert f'id="delivery-{delivered.pk}"' not in html
    # every attempt: its status, latency and answer (escaped: it comes from the bot's server)
    assert "upstream &lt;b&gt;exploded&lt;/b&gt;" in html and "<b>exploded" not in html
    assert "41 ms" in html and "42 ms" in html
    assert "ConnectError: refused" in html and "no answer" in html
    assert html.count("Redeliver</button>") == 1
    assert 'href="/deliveries/"' in client.get("/").content.decode()


def test_failing_deliveries_and_the_integration_filter():
    ours = IntegrationFactory(name="ours", callback_url="https://ours.test")
    theirs = IntegrationFactory(name="theirs", callback_url="https://theirs.test")
    mine = a_delivery(integration=ours)
    other = a_delivery(integration=theirs)
    failing = a_delivery(state=Delivery.State.FAILED, integration=ours, answers=((503, ""),))
    client = client_for("admin")

    filtered = client.get(PAGE, {"integration": ours.pk}).content.decode()
    assert f'id="delivery-{mine.pk}"' in filtered and f'id="delivery-{other.pk}"' not in filtered

    only_failing = client.get(PAGE, {"show": "failing"}).content.decode()
    assert f'id="delivery-{failing.pk}"' in only_failing
    assert f'id="delivery-{mine.pk}"' not in only_failing
    assert "next try in" in only_failing

    both = client.get(PAGE, {"show": "all", "integration": ours.pk}).content.decode()
    assert f'id="delivery-{failing.pk}"' in both and f'id="delivery-{mine.pk}"' in both

    fragment = client.get(PAGE, {"show": "all"}, headers={"HX-Request": "true"})
    assert fragment.content.decode().startswith('<section id="deliveries"')
    assert "<html" not in fragment.content.decode()


def test_nothing_dead_says_so():
    html = client_for("admin").get(PAGE).content.decode()
    assert "No dead callbacks" in html


def test_redeliver_requeues_the_delivery_and_answers_with_its_row(
    django_capture_on_commit_callbacks,
):
    delivery = a_delivery(answers=((500, "nope"),) * 3)
    client = client_for("admin")

    with django_capture_on_commit_callbacks() as sent:
        response = client.post(
            f"/deliveries/{delivery.pk}/redeliver/", headers={"HX-Request": "true"}
        )

    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith(f'<tbody id="delivery-{delivery.pk}"')
    assert 'data-state="pending"' in html and "queued again, same webhook-id" in html
    assert "Redeliver</button>" not in html
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.PENDING
    assert len(sent) == 1  # the task is sent once the change commits


def test_redeliver_without_htmx_goes_back_to_the_list():
    delivery = a_delivery()
    client = client_for("admin")

    response = client.post(f"/deliveries/{delivery.pk}/redeliver/", follow=True)

    assert response.redirect_chain == [("/deliveries/", 302)]
    assert f"Delivery #{delivery.pk} queued again" in response.content.decode()
    assert Delivery.objects.get(pk=delivery.pk).state == Delivery.State.PENDING


def test_redeliver_needs_a_post_and_a_real_delivery():
    client = client_for("admin")
    delivery = a_delivery()

    assert client.get(f"/deliveries/{delivery.pk}/redeliver/").status_code == 405
    assert client.post("/deliveries/999999/redeliver/").status_code == 404


def test_a_dead_callback_redelivered_from_the_page_arrives_with_its_webhook_id(settings):
    # given a bot endpoint that failed every attempt, then recovers
    settings.HANDOFF_CALLBACK_RETRY_SECONDS = [0]
    settings.HANDOFF_ALLOW_PRIVATE_CALLBACKS = True
    receiver = Receiver([500, 500])
    try:
        integration = IntegrationFactory(
            name="hooked", callback_url=receiver.url, signing_secret=SECRET
        )
        delivery = deliveries.delivery_record(CaseFactory(integration=integration), "x", {})
        assert delivery is not None
        for _ in range(2):
            Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
            deliveries.delivery_attempt(delivery_id=delivery.pk)
        client = client_for("admin")
        assert f'id="delivery-{delivery.pk}"' in client.get(PAGE).content.decode()

        # when an admin redelivers it and the worker sends it
        client.post(f"/deliveries/{delivery.pk}/redeliver/", headers={"HX-Request": "true"})
        deliveries.delivery_attempt(delivery_id=delivery.pk)

        # then it arrived, with the same webhook-id, and the page no longer lists it
        delivery.refresh_from_db()
        assert delivery.state == Delivery.State.DELIVERED and delivery.attempts == 3
        assert {r["headers"]["webhook-id"] for r in receiver.received} == {delivery.webhook_id}
        assert f'id="delivery-{delivery.pk}"' not in client.get(PAGE).content.decode()
    finally:
        receiver.close()
