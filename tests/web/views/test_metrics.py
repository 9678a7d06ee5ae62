"""The metrics page and its exports, for supervisors only (web/views/metrics.py)."""

from __future__ import annotations

from typing import Any

import pytest

from cases.models import Intent
from tests.factories import (
    MembershipFactory,
    UserFactory,
)
from tests.metrics_week import seed_week

pytestmark = pytest.mark.django_db


@pytest.fixture
def fixture() -> dict[str, Any]:
    return seed_week()


def test_the_page_and_exports_are_for_supervisors_only(client, fixture):
    client.force_login(MembershipFactory().agent)
    assert client.get("/metrics/").status_code == 403
    assert client.get("/metrics/queues.csv").status_code == 403
    assert client.get("/metrics/intent-corrections.jsonl").status_code == 403

    client.force_login(UserFactory(role="supervisor"))
    page = client.get("/metrics/?from=2026-11-10&to=2026-11-16")
    assert page.status_code == 200
    body = page.content.decode()
    assert "50.0%" in body  # repeat rate
    assert "<svg" in body and "billing.double_charge" in body
    csv = b"".join(
        client.get("/metrics/integrations.csv?from=2026-11-10&to=2026-11-16").streaming_content
    )
    assert csv.decode().splitlines()[0].startswith("integration,handoffs,missing_context_rate")
    empty = client.get("/metrics/?from=2025-01-01&to=2025-01-07").content.decode()
    assert "no data" in empty


def test_the_intent_filter_lists_the_catalogue_and_the_periods_intents(client, fixture):
    Intent.objects.create(name="orders.late", label="Late order")
    client.force_login(UserFactory(role="supervisor"))

    page = client.get("/metrics/?from=2026-11-10&to=2026-11-16&intent=billing.refund")

    body = page.content.decode()
    options = body[
        body.index('name="intent"') : body.index("</select>", body.index('name="intent"'))
    ]
    # the catalogue, the intent filtered on, and (without a filter) what bots detected
    assert "<option >orders.late</option>" in options
    assert "<option selected>billing.refund</option>" in options
    assert "account.login" not in options  # the filtered period only saw billing.refund
    unfiltered = client.get("/metrics/?from=2026-11-10&to=2026-11-16").content.decode()
    assert "<option >account.login</option>" in unfiltered
