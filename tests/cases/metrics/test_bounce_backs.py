"""The bounce-back rate (issue 16, item 3): of the period's cases returned to the bot, those
whose conversation came back within 24 h; per bot, per detected intent, in the bot scorecard
and on the metrics page. Expected values worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from cases.metrics import figures as metrics
from cases.models import Case
from tests.factories import CaseFactory, IntegrationFactory, UserFactory

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
PERIOD = metrics.Filters(start=date(2026, 11, 10), end=date(2026, 11, 16))


def returned(bot: Any, intent: str, name: str, *, when: datetime = DAY) -> Case:
    return CaseFactory(
        integration=bot,
        external_id=name,
        detected_intent=intent,
        current_intent=intent,
        handed_off_at=when,
        status=Case.Status.RETURNED,
        returned_at=when + timedelta(hours=1),
    )


def came_back(previous: Case, *, bounce: bool) -> Case:
    return CaseFactory(
        integration=previous.integration,
        external_id=previous.external_id,
        handed_off_at=previous.handed_off_at + timedelta(hours=5 if bounce else 30),
        previous_case=previous,
        is_repeat_contact=True,
        is_bounce_back=bounce,
    )


@pytest.fixture
def week() -> dict[str, Any]:
    """| case | bot | intent         | came back
    | a1   | one | billing.refund | within 24 h (bounce-back)
    | a2   | one | billing.refund | after 30 h (a repeat contact only)
    | a3   | one | orders.track   | no
    | b1   | two | orders.track   | within 24 h (bounce-back)
    | r    | two | billing.refund | resolved, came back: not a return
    | old  | one | orders.track   | returned the week before, bounced: another period
    """
    one, two = IntegrationFactory(name="one"), IntegrationFactory(name="two")
    a1, a2 = returned(one, "billing.refund", "a1"), returned(one, "billing.refund", "a2")
    returned(one, "orders.track", "a3")
    b1 = returned(two, "orders.track", "b1")
    came_back(a1, bounce=True)
    came_back(a2, bounce=False)
    came_back(b1, bounce=True)
    resolved = CaseFactory(
        integration=two,
        detected_intent="billing.refund",
        handed_off_at=DAY,
        status=Case.Status.RESOLVED,
        resolved_at=DAY + timedelta(hours=1),
    )
    came_back(resolved, bounce=False)
    came_back(returned(one, "orders.track", "old", when=DAY - timedelta(days=7)), bounce=True)
    return {"one": one, "two": two}


def test_the_bounce_back_rate_per_bot_and_per_intent(week):
    figures = metrics.bounce_backs(PERIOD)

    assert (figures.returned, figures.bounced) == (4, 2)
    assert figures.rate == pytest.approx(2 / 4)
    assert [
        (r["integration"], r["returned"], r["bounced_back"]) for r in figures.by_integration
    ] == [
        ("one", 3, 1),
        ("two", 1, 1),
    ]
    assert figures.by_integration[1]["bounce_back_rate"] == 1.0
    assert {r["intent"]: (r["returned"], r["bounced_back"]) for r in figures.by_intent} == {
        "billing.refund": (2, 1),
        "orders.track": (2, 1),
    }


def test_the_filters_apply_and_an_empty_period_divides_by_nothing(week):
    only_two = metrics.Filters(PERIOD.start, PERIOD.end, integration_id=week["two"].pk)
    assert metrics.bounce_backs(only_two).rate == 1.0
    refunds = metrics.Filters(PERIOD.start, PERIOD.end, intent="billing.refund")
    assert (metrics.bounce_backs(refunds).returned, metrics.bounce_backs(refunds).bounced) == (2, 1)

    empty = metrics.bounce_backs(metrics.Filters(date(2025, 1, 1), date(2025, 1, 7)))
    assert (empty.returned, empty.rate, empty.by_intent) == (0, None, [])


def test_the_bot_scorecard_carries_the_rate(week):
    _, tables = metrics.current(PERIOD)

    rows = {row["integration"]: row for row in tables.integrations}
    assert rows["one"]["returned_to_bot"] == 3
    assert rows["one"]["bounce_back_rate"] == pytest.approx(1 / 3)
    assert rows["two"]["bounce_back_rate"] == 1.0
    assert metrics.by_integration(PERIOD) == tables.integrations


def test_the_metrics_page_shows_it_and_exports_it(client, week):
    client.force_login(UserFactory(role="supervisor"))

    page = client.get("/metrics/?from=2026-11-10&to=2026-11-16").content.decode()
    csv = b"".join(
        client.get("/metrics/bounce-intents.csv?from=2026-11-10&to=2026-11-16").streaming_content
    ).decode()

    assert "of 4 cases returned to the bot came back within 24 hours (2)" in page
    assert "<strong>50.0%</strong>" in page and "Bounce-back" in page
    assert csv.splitlines()[0] == "intent,returned,bounced_back,bounce_back_rate"
    assert "billing.refund,2,1,0.5" in csv
