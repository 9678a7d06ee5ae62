"""The demo bot platform: it checks callback signatures and drops duplicates (demo/views.py)."""

from __future__ import annotations

import json
import time

import pytest

from cases.callbacks import outbox as deliveries
from tests.factories import IntegrationFactory
from tests.servers import SECRET

pytestmark = pytest.mark.django_db


def test_the_demo_bot_platform_checks_signatures_and_drops_duplicates(client):
    integration = IntegrationFactory(name="demo", signing_secret=SECRET)
    body = json.dumps({"type": "agent.message", "data": {"external_id": "c1", "text": "Hi!"}})
    stamp = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": deliveries.sign(SECRET, "msg_1", stamp, body.encode()),
    }
    url = f"/demo/bot/hooks/{integration.pk}/"

    first = client.post(url, body, content_type="application/json", headers=headers)
    again = client.post(url, body, content_type="application/json", headers=headers)
    forged = client.post(
        url,
        body,
        content_type="application/json",
        headers={**headers, "webhook-signature": "v1,Zm9yZ2Vk"},
    )

    assert (first.status_code, again.status_code, forged.status_code) == (204, 204, 401)
    from demo.models import InboxMessage

    assert list(InboxMessage.objects.values_list("external_id", "text")) == [("c1", "Hi!")]
    assert "Hi!" in client.get("/demo/bot/").content.decode()
