"""The case page's two long lists, the transcript and the timeline, rendered in Python.

A case can carry 500+ messages and hundreds of events. Through the template engine each one
costs a dozen variable lookups and two date filters (~0.1 ms apiece), which made the lists most
of the page's time; here it is one f-string per row, with the same markup and escaping. The rows
are the plain dicts of ``selectors.case_transcript`` and ``selectors.case_timeline``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.safestring import SafeString, mark_safe

from cases.models import CaseEvent, Message

register = template.Library()

NO_TRANSCRIPT = '<p class="muted">The bot sent no transcript; its summary is on the right.</p>'
ROLE_LABELS = {str(role): str(role.label) for role in Message.Role}
NAMED_ROLES = {Message.Role.AGENT, Message.Role.NOTE}


class _Clock:
    """`|date:'c'` and `|date:'M j, H:i'` for many datetimes, in the current time zone."""

    def __init__(self) -> None:
        self.zone = timezone.get_current_timezone()
        self.months = {n: str(name).title() for n, name in MONTHS_3.items()}

    def local(self, moment: datetime) -> datetime:
        return timezone.localtime(moment, self.zone) if timezone.is_aware(moment) else moment

    def short(self, local: datetime, comma: str = ",") -> str:
        return f"{self.months[local.month]} {local.day}{comma} {local:%H:%M}"


def _person(row: Mapping[str, Any], prefix: str) -> str:
    """``models.person_name`` of a joined user read as ``<prefix>__first_name`` etc."""
    if row[f"{prefix}__username"] is None:
        return ""
    full = f"{row[f'{prefix}__first_name']} {row[f'{prefix}__last_name']}".strip()
    return full or str(row[f"{prefix}__username"])


def escape(value: object) -> str:
    """``django.utils.html.escape`` without its lazy-string wrapper, which checked every
    argument of every call: ~2,000 calls a 500-message page. The same characters, the same
    entities (it is the standard library's ``html.escape`` that Django calls)."""
    return html.escape(str(value))


NEWLINES = re.compile(r"\r\n|\r")  # django.utils.text.normalize_newlines


def _paragraph(text: str) -> str:
    """`{{ text|linebreaksbr }}` under autoescape."""
    return escape(NEWLINES.sub("\n", text)).replace("\n", "<br>")


@register.simple_tag
def transcript(messages: Iterable[Mapping[str, Any]], handed_off_at: datetime | None) -> SafeString:
    clock = _Clock()
    divider = ""
    if handed_off_at is not None:
        divider = (
            '<div class="divider">Handed off to a person · '
            f"{clock.short(clock.local(handed_off_at))}</div>"
        )
    rows: list[str] = []
    phase = None
    for m in messages:
        if m["phase"] != phase:
            phase = m["phase"]
            if phase == Message.Phase.AFTER_HANDOFF:
                rows.append(divider)
        role = m["role"]
        speaker = (_person(m, "author") if role in NAMED_ROLES else "") or ROLE_LABELS.get(
            role, role
        )
        sent = clock.local(m["sent_at"])
        note = " · internal note" if role == Message.Role.NOTE else ""
        rows.append(
            f'<article class="msg role-{escape(role)}" id="m{m["seq"]}">'
            f"<header><strong>{escape(speaker)}</strong>{note} "
            f'<time datetime="{sent.isoformat()}">{clock.short(sent)}</time></header>'
            f"<p>{_paragraph(m['text'])}</p></article>"
        )
    if not rows:
        return mark_safe(NO_TRANSCRIPT)  # noqa: S308 - our own constant
    return mark_safe("\n".join(rows))  # noqa: S308 - every value above is escaped


@register.simple_tag
def timeline(events: Iterable[Mapping[str, Any]]) -> SafeString:
    clock = _Clock()
    rows = []
    for e in events:
        at = clock.local(e["created_at"])
        label = CaseEvent.label_for(e["kind"])
        actor = _person(e, "actor") or e["actor_label"]
        rows.append(
            f'<li><time datetime="{at.isoformat()}">{clock.short(at, comma="")}</time> '
            f'{escape(label)} <span class="muted">{escape(actor)}</span></li>'
        )
    return mark_safe("".join(rows))  # noqa: S308 - every value above is escaped
