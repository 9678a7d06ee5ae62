"""An admin finds a dead callback on its page, reads its attempts and redelivers it, in a real
browser; the row changes in place."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from cases.callbacks import outbox as deliveries
from cases.models import Delivery
from handoff_site.celery import app
from tests.e2e.conftest import log_in
from tests.factories import CaseFactory, IntegrationFactory, UserFactory
from tests.servers import SECRET, Receiver

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_admin_redelivers_a_dead_callback_and_its_row_turns_delivered(
    new_page: Any, live_server: Any, settings: Any, monkeypatch: Any
) -> None:
    # given a callback that died after two 500s from the bot's endpoint, which is back now
    settings.HANDOFF_CALLBACK_RETRY_SECONDS = [0]
    settings.HANDOFF_ALLOW_PRIVATE_CALLBACKS = True
    # Tasks run where they are sent (after the commit), not in a broker no worker here reads:
    # the first attempt and its retry run as the delivery is written, the redelivery in the
    # request that asks for it.
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    receiver = Receiver([500, 500])
    try:
        integration = IntegrationFactory(
            name="web-bot", callback_url=receiver.url, signing_secret=SECRET
        )
        delivery = deliveries.delivery_record(
            CaseFactory(integration=integration), "agent.message", {"text": "Hi"}
        )
        assert delivery is not None
        delivery.refresh_from_db()
        assert (delivery.state, delivery.attempts) == (Delivery.State.DEAD, 2)
        UserFactory(username="ada", first_name="Ada", role="admin")

        # when the admin opens the page from the menu, reads the attempts and redelivers
        page = new_page()
        log_in(page, live_server, "ada")
        page.get_by_role("link", name="Callbacks").click()
        row = page.locator(f"#delivery-{delivery.pk}")
        expect(row.locator(".badge")).to_have_text("Dead")
        row.locator("summary").click()
        expect(row.locator("details table tbody tr")).to_have_count(2)
        expect(row.locator("details")).to_contain_text("nope")
        row.get_by_role("button", name=f"Redeliver delivery {delivery.pk}").click()

        # then the row says delivered, without a reload, and the bot got the same webhook-id
        expect(row.locator(".badge")).to_have_text("Delivered")
        expect(row.get_by_role("button")).to_have_count(0)
        assert {r["headers"]["webhook-id"] for r in receiver.received} == {delivery.webhook_id}
        assert len(receiver.received) == 3
    finally:
        receiver.close()
