"""The case page's transcript and timeline, rendered in Python for speed, keep the page's markup."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.template import engines

from cases import selectors
from cases.models import Message
from tests.factories import CaseFactory, UserFactory

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
    assert html.index("Handed off to a person") < html.index("Hi, I&#x27;m Sam.")
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
