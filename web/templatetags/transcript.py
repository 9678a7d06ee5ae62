"""The case page's two long lists, the transcript and the timeline.

A case can carry 500+ messages and hundreds of events. Through Django's template engine each
one costs a dozen variable lookups and two date filters (~0.1 ms apiece, most of the page), so
their markup is in templates/cases/_transcript.jinja (Django's Jinja2 backend, compiled and
autoescaped). Here Python only turns the plain rows of ``selectors.case_transcript`` and
``selectors.case_timeline`` into the values shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from django import template
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from markupsafe import Markup

from cases.live.rows import jinja_macros
from cases.models import CaseEvent, Message

register = template.Library()

ROLE_LABELS = {str(role): str(role.label) for role in Message.Role}
NAMED_ROLES = {Message.Role.AGENT, Message.Role.NOTE}


def _person(row: Mapping[str, Any], prefix: str) -> str:
    """``models.person_name`` of a joined user read as ``<prefix>__first_name`` etc."""
    if row[f"{prefix}__username"] is None:
        return ""
    full = f"{row[f'{prefix}__first_name']} {row[f'{prefix}__last_name']}".strip()
    return full or str(row[f"{prefix}__username"])


def _local_clock() -> Callable[[datetime], datetime]:
    """Django's ``localtime`` into the current time zone, looked up once for a whole list."""
    zone = timezone.get_current_timezone()

    def local(moment: datetime) -> datetime:
        return timezone.localtime(moment, zone) if timezone.is_aware(moment) else moment

    return local


class Shown(NamedTuple):
    """One attachment as the ``transcript`` macro shows it: a stored image (a thumbnail), a
    stored file (a download), or a link the desk never fetched (marked external)."""

    kind: str  # "image", "file" or "external"
    name: str
    href: str
    content_type: str
    size: str  # "1.2 MB", or "" when not known


def _shown(row: Mapping[str, Any]) -> Shown:
    size = filesizeformat(row["size"]) if row["size"] is not None else ""
    if not row["file"]:
        return Shown("external", row["name"], row["url"], row["content_type"], size)
    href = reverse("cases:attachment", args=[row["message__case_id"], row["id"]])
    kind = "image" if row["content_type"].startswith("image/") else "file"
    return Shown(kind, row["name"], href, row["content_type"], size)


class Line(NamedTuple):
    """One message as the ``transcript`` macro shows it."""

    seq: int
    role: str
    handoff_before: bool  # the first message after the handoff: the divider goes above it
    speaker: str
    note: bool
    sent: datetime  # in the current time zone, as Django's templates show a datetime
    text: str
    attachments: tuple[Shown, ...] = ()


class Entry(NamedTuple):
    """One audit event as the ``timeline`` macro shows it."""

    at: datetime  # in the current time zone
    label: str
    actor: str


@register.simple_tag
def transcript(
    messages: Iterable[Mapping[str, Any]],
    handed_off_at: datetime | None,
    first_risk_seq: int | None = None,
) -> Markup:
    """The messages; the one after which the escalation policy would have handed off
    (``first_risk_seq``, when it came before the handoff) is marked."""
    local = _local_clock()
    lines = []
    phase = None
    for m in messages:
        role = m["role"]
        handoff_before = m["phase"] != phase and m["phase"] == Message.Phase.AFTER_HANDOFF
        phase = m["phase"]
        named = _person(m, "author") if role in NAMED_ROLES else ""
        lines.append(
            Line(
                seq=m["seq"],
                role=role,
                handoff_before=handoff_before,
                speaker=named or ROLE_LABELS.get(role, role),
                note=role == Message.Role.NOTE,
                sent=local(m["sent_at"]),
                text=m["text"],
                attachments=tuple(_shown(a) for a in m.get("attachments", ())),
            )
        )
    handed_off = local(handed_off_at) if handed_off_at is not None else None
    return jinja_macros("cases/_transcript.jinja").transcript(lines, handed_off, first_risk_seq)


@register.simple_tag
def timeline(events: Iterable[Mapping[str, Any]]) -> Markup:
    local = _local_clock()
    entries = [
        Entry(
            at=local(e["created_at"]),
            label=CaseEvent.label_for(e["kind"]),
            actor=_person(e, "actor") or e["actor_label"],
        )
        for e in events
    ]
    return jinja_macros("cases/_transcript.jinja").timeline(entries)
