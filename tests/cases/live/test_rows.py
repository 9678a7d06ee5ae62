"""The queue row and tier badge (templates/cases/_queue_row.jinja, _badges.jinja), one template
for the list and the live push alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template
from django.urls import set_script_prefix
from django.utils import timezone

from cases.live.rows import (
    countdown,
    countdown_text,
    preview_text,
    queue_row_html,
    tier_badge,
)
from cases.models import Message
from tests.factories import CaseFactory, MembershipFactory, MessageFactory, UserFactory

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
    # Jinja2 escapes " as &#34; where Django writes &quot;: the same character in HTML
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in row
    assert "conv-&lt;1&gt;" in row and "billing.&lt;refund&gt;" in row
    assert 'title="Missing: order_id, &lt;email&gt;">missing context</span>' in row
    assert f'<tr id="case-row-{case.pk}" class="prio-row-{case.priority}"' in row
    assert f'data-due="{int(case.sla_due_at.timestamp())}"' in row
    assert (
        '<time data-countdown class="sla" datetime="2026-03-04T12:03:00+00:00">3 min left</time>'
        in row
    )
    assert (
        '<time data-countdown="since" class="waited muted small" '
        'datetime="2026-03-04T11:48:00+00:00">waited 12 min</time>' in row
    )


def test_a_breached_row_says_how_late_and_an_unknown_customer_is_named_so():
    case = CaseFactory(
        customer_name="",
        detected_confidence=0.4,
        handed_off_at=NOW - timedelta(hours=2),
        sla_due_at=NOW - timedelta(minutes=30),
    )

    row = queue_row_html(case, NOW)

    assert 'class="sla overdue" datetime="2026-03-04T11:30:00+00:00">30 min over</time>' in row
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
    assert tier_badge(tier) == badge


def test_a_row_shows_the_latest_customer_message_on_one_line_and_the_channel():
    case = CaseFactory(channel="web_chat", handed_off_at=NOW, sla_due_at=NOW)
    MessageFactory(case=case, seq=1, text="I was charged twice")
    MessageFactory(case=case, seq=2, role=Message.Role.BOT, text="Let me check")
    MessageFactory(case=case, seq=3, text="Still <b>waiting</b>\nfor   my refund")
    MessageFactory(case=case, seq=4, role=Message.Role.NOTE, text="internal only")

    # a live push: the case as a service holds it, no annotation
    row = queue_row_html(case, NOW)

    assert '<span class="preview">Still &lt;b&gt;waiting&lt;/b&gt; for my refund</span>' in row
    assert '<span class="badge channel">web chat</span>' in row
    assert "internal only" not in row and "Let me check" not in row


def test_a_case_without_a_customer_message_says_so():
    row = queue_row_html(CaseFactory(channel=""), NOW)

    assert "No message from the customer yet" in row
    assert '<span class="badge channel">unknown channel</span>' in row


def test_a_screenshot_sent_alone_is_previewed_as_such():
    case = CaseFactory()
    MessageFactory(case=case, seq=1, text="")  # files alone (tests/api/test_attachments.py)

    row = queue_row_html(case, NOW)

    assert '<span class="preview">Sent an attachment</span>' in row


def test_a_long_preview_is_cut_at_a_word():
    text = "word " * 60

    cut = preview_text(text)

    assert len(cut) <= 141 and cut.endswith("word…")
    assert preview_text(None) == "" and preview_text("  short\n text ") == "short text"


@pytest.mark.parametrize(
    ("offset", "mode", "words"),
    [
        (timedelta(minutes=12, seconds=30), "", "12 min left"),
        (timedelta(seconds=59), "", "under 1 min left"),
        (timedelta(0), "", "under 1 min left"),
        (-timedelta(seconds=1), "", "under 1 min over"),
        (-timedelta(minutes=3), "", "3 min over"),
        (timedelta(hours=1, minutes=5), "", "1 h 5 min left"),
        (timedelta(hours=2), "", "2 h left"),
        (-timedelta(days=1, hours=2, minutes=9), "", "1 d 2 h over"),
        (-timedelta(days=3), "", "3 d over"),
        (-timedelta(minutes=4, seconds=59), "since", "waited 4 min"),
        (-timedelta(seconds=20), "since", "waited under 1 min"),
        (-timedelta(hours=1, minutes=1), "since", "waited 1 h 1 min"),
        (-timedelta(seconds=20), "ago", "just now"),
        (-timedelta(minutes=7), "ago", "7 min ago"),
    ],
)
def test_countdown_words_are_those_clock_js_writes(offset, mode, words):
    assert countdown_text(NOW + offset, NOW, mode) == words


def test_a_past_deadline_is_marked_overdue_and_elapsed_times_never_are():
    past = NOW - timedelta(minutes=3)

    assert 'class="sla overdue"' in countdown(past, NOW, css="sla")
    assert "overdue" not in countdown(past, NOW, "since")
    assert countdown(NOW + timedelta(minutes=3), NOW) == (
        '<time data-countdown datetime="2026-03-04T12:03:00+00:00">3 min left</time>'
    )


@pytest.mark.parametrize(
    ("claimed", "shown"),
    [
        (None, "9 min left</time>"),
        (NOW - timedelta(minutes=5), '<span class="badge ok">SLA met</span>'),
        (NOW + timedelta(minutes=12), '<span class="badge danger">claimed 3 min late</span>'),
    ],
)
def test_the_sla_tag_counts_down_until_a_claim_then_says_whether_it_came_in_time(claimed, shown):
    case = CaseFactory.build(sla_due_at=NOW + timedelta(minutes=9), first_claimed_at=claimed)

    html = Template("{% load rows %}{% sla case now %}").render(Context({"case": case, "now": NOW}))

    assert shown in html


def test_the_rows_link_is_reverse_under_any_script_prefix():
    case = CaseFactory(handed_off_at=NOW, sla_due_at=NOW)
    set_script_prefix("/desk/")
    try:
        row = queue_row_html(case, NOW)
    finally:
        set_script_prefix("/")

    assert f'data-href="/desk/cases/{case.pk}/"' in row
    assert f'<a href="/desk/cases/{case.pk}/">' in row


HOSTILE = "<script>alert(1)</script> and <b>bold</b>"


def markup_free(html: str) -> bool:
    return "<script>alert(1)" not in html and "<b>" not in html


@pytest.fixture
def hostile_case():
    membership = MembershipFactory()
    agent = UserFactory(first_name="<b>Sam</b>", last_name="<script>alert(1)</script>")
    now = timezone.now()
    case = CaseFactory(queue=membership.queue, handed_off_at=now - timedelta(minutes=2))
    MessageFactory(case=case, seq=1, text=HOSTILE)
    MessageFactory(case=case, seq=2, role=Message.Role.BOT, text=f"Bot says {HOSTILE}\nagain")
    MessageFactory(
        case=case,
        seq=3,
        role=Message.Role.NOTE,
        author=agent,
        phase=Message.Phase.AFTER_HANDOFF,
        text="note",
    )
    case.events.create(kind="routed", actor_label=HOSTILE, case_version=1)
    case.events.create(kind="claimed", actor=agent, case_version=2)
    return case, membership.agent


def test_the_queue_row_shows_the_customers_markup_as_text(client, hostile_case):
    # given a waiting case whose customer wrote markup
    case, member = hostile_case
    client.force_login(member)

    # when the queue page lists it, and a live event carries its row
    page = client.get(f"/queues/{case.queue.slug}/").content.decode()
    pushed = queue_row_html(case, timezone.now())

    # then the preview is the customer's text, escaped, in both
    for html in (page, pushed):
        row = html[html.index(f'id="case-row-{case.pk}"') :]
        row = row[: row.index("</tr>")]
        assert markup_free(row)
        assert "&lt;script&gt;alert(1)&lt;/script&gt; and &lt;b&gt;bold&lt;/b&gt;" in row
