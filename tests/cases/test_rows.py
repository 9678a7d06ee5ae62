"""The queue row and tier badge, rendered in Python for the list and the live push alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cases.templatetags.rows import queue_row_html, tier_badge_html
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def test_a_row_escapes_what_the_customer_and_bot_sent():
    case = CaseFactory(
        customer_name='<script>alert("x")</script>',
        customer_tier="<b>gold</b>",
        external_id="conv-<1>",
        current_intent="billing.<refund>",
        risk_flags=["<img onerror=x>"],
        missing_context=["order_id", "<email>"],
        handed_off_at=NOW - timedelta(minutes=12),
        sla_due_at=NOW + timedelta(minutes=3),
    )

    row = queue_row_html(case, NOW)

    assert "<script>" not in row and "<img" not in row and "<b>" not in row
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in row
    assert "conv-&lt;1&gt;" in row and "billing.&lt;refund&gt;" in row
    assert 'title="Missing: order_id, &lt;email&gt;">missing context</span>' in row
    assert f'<tr id="case-row-{case.pk}" class="prio-row-{case.priority}"' in row
    assert f'data-due="{int(case.sla_due_at.timestamp())}"' in row
    assert '<td class="num">12\xa0minutes</td>' in row
    assert '<td class="num">3\xa0minutes</td>' in row


def test_a_breached_row_says_how_late_and_an_unknown_customer_is_named_so():
    case = CaseFactory(
        customer_name="",
        detected_confidence=0.4,
        handed_off_at=NOW - timedelta(hours=2),
        sla_due_at=NOW - timedelta(minutes=30),
    )

    row = queue_row_html(case, NOW)

    assert '<span class="badge danger">30\xa0minutes over</span>' in row
    assert ">Unknown customer</a>" in row
    assert '<span class="muted">0.40</span>' in row


@pytest.mark.parametrize(
    ("tier", "badge"),
    [
        ("", ""),
        ("Gold", ' <span class="badge tier-gold">★ Gold</span>'),
        ("VIP", ' <span class="badge tier-vip">★ VIP</span>'),
        ("silver plus", ' <span class="badge tier-silver-plus">silver plus</span>'),
    ],
)
def test_tier_badges_star_the_vip_tiers(tier, badge):
    assert tier_badge_html(tier) == badge
