"""The case page's transcript and timeline (templates/cases/_transcript.jinja) keep the page's
markup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.template import engines
from django.utils import timezone

from cases import selectors
from cases.models import Message
from tests.factories import CaseFactory, MembershipFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db

HANDED_OFF = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


def render(source: str, **context: object) -> str:
    return engines["django"].from_string("{% load transcript %}" + source).render(context)


def add(case, seq: int, role: str, phase: str, text: str, author=None) -> None:
    Message.objects.create(
        case=case,
        seq=seq,
        dedupe_key=f"k{seq}",
        role=role,
        phase=phase,
        text=text,
        sent_at=datetime(2026, 3, 4, 9, seq, tzinfo=UTC),
        author=author,
    )


def test_messages_are_escaped_split_at_the_handoff_and_attributed(settings):
    settings.TIME_ZONE = "Europe/Berlin"  # an hour ahead of UTC in March
    case = CaseFactory(handed_off_at=HANDED_OFF)
    sam = UserFactory(username="sam", first_name="Sam", last_name="Ortiz")
    add(case, 1, "customer", "before_handoff", 'My <b>card</b>\r\nwas "charged" twice & more')
    add(case, 2, "bot", "before_handoff", "Let me get someone.")
    add(case, 3, "agent", "after_handoff", "Hi, I'm Sam.", author=sam)
    add(case, 4, "note", "after_handoff", "Refund over the limit", author=sam)

    html = render(
        "{% transcript messages handed_off_at %}",
        messages=selectors.case_transcript(case),
        handed_off_at=case.handed_off_at,
    )

    assert "My &lt;b&gt;card&lt;/b&gt;<br>was &quot;charged&quot; twice &amp; more" in html
    assert html.count('class="divider"') == 1
    assert html.index("Let me get someone.") < html.index("Handed off to a person · Mar 4, 11:00")
    # a line without a line break is escaped by Jinja2: ' as &#39; (Django's linebreaksbr: &#x27;)
    assert html.index("Handed off to a person") < html.index("Hi, I&#39;m Sam.")
    assert '<article class="msg role-note" id="m4">' in html
    assert "<strong>Sam Ortiz</strong> · internal note" in html
    assert "<strong>Customer</strong> <time" in html
    assert '<time datetime="2026-03-04T10:01:00+01:00">Mar 4, 10:01</time>' in html


def test_an_empty_transcript_says_so_and_the_timeline_escapes_labels():
    case = CaseFactory()
    case.events.create(kind="routed", actor_label="rule <vip>", case_version=1)
    case.events.create(
        kind="claimed", actor=UserFactory(first_name="", username="kim"), case_version=2
    )

    assert "The bot sent no transcript" in render(
        "{% transcript messages None %}", messages=selectors.case_transcript(case)
    )
    timeline = render("{% timeline events %}", events=selectors.case_timeline(case))
    assert timeline.startswith("<li><time datetime=")
    assert 'routed <span class="muted">rule &lt;vip&gt;</span></li>' in timeline


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


def test_the_transcript_and_timeline_show_everyones_markup_as_text(client, hostile_case):
    # given a case whose customer, bot and agent wrote markup
    case, member = hostile_case
    client.force_login(member)

    # when its page is opened
    html = client.get(f"/cases/{case.pk}/").content.decode()

    # then the transcript and the timeline carry it as text
    transcript = html[html.index('id="messages"') : html.index('id="jump-latest"')]
    timeline = html[html.index('<ol class="timeline">') :]
    timeline = timeline[: timeline.index("</ol>")]
    for part in (transcript, timeline):
        assert markup_free(part)
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; and &lt;b&gt;bold&lt;/b&gt;"
    assert f"<p>{escaped}</p>" in transcript
    assert f"Bot says {escaped}<br>again" in transcript
    assert (
        "<strong>&lt;b&gt;Sam&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;</strong>"
        in transcript
    )
    assert f'<span class="muted">{escaped}</span>' in timeline
    assert '<span class="muted">&lt;b&gt;Sam&lt;/b&gt; &lt;script&gt;' in timeline
