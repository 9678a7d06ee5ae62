"""The queue row and tier badge, rendered in Python for the list and the live push alike."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse, set_script_prefix
from django.utils import translation
from django.utils.timesince import timesince
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from cases.templatetags.rows import case_url, queue_row_html, span, tier_badge_html
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


SPANS = [
    timedelta(0),
    timedelta(seconds=59, microseconds=999_999),
    timedelta(minutes=1),
    timedelta(minutes=61),
    timedelta(hours=2),
    timedelta(hours=25),
    timedelta(days=1, minutes=5),  # no hours between: Django stops at the gap
    timedelta(days=8, hours=3),
    timedelta(weeks=3, days=6, hours=23, minutes=59),
    timedelta(days=28),  # months from here on: Django's own code
    timedelta(days=400),
    -timedelta(seconds=1),  # in the future
    -timedelta(days=3),
]


@pytest.mark.parametrize("elapsed", SPANS, ids=str)
def test_span_says_what_djangos_timesince_says(elapsed):
    start = NOW - elapsed

    assert span(start, NOW) == timesince(start, NOW)


@given(
    seconds=st.integers(min_value=-(10**6), max_value=40 * 24 * 3600), micro=st.integers(0, 999_999)
)
@hyp_settings(max_examples=500, deadline=None)
def test_span_matches_timesince_for_any_elapsed_time(seconds, micro):
    start = NOW - timedelta(seconds=seconds, microseconds=micro)

    assert span(start, NOW) == timesince(start, NOW)


def test_span_across_a_dst_change_in_another_zone_is_djangos():
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    start = datetime(2026, 3, 29, 0, 30, tzinfo=berlin)  # clocks go forward at 02:00
    end = (start + timedelta(hours=2)).astimezone(UTC)

    assert span(start, end) == timesince(start, end)


def test_span_in_another_language_is_djangos_translation():
    start = NOW - timedelta(hours=3, minutes=5)
    with translation.override("de"):
        assert span(start, NOW) == timesince(start, NOW) == "3\xa0Stunden, 5\xa0Minuten"


def test_case_url_is_reverse_under_any_script_prefix():
    assert case_url(42) == reverse("cases:detail", args=[42])
    set_script_prefix("/desk/")
    try:
        assert case_url(42) == reverse("cases:detail", args=[42]) == "/desk/cases/42/"
    finally:
        set_script_prefix("/")
