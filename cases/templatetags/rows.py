"""A waiting case's queue row and a customer's tier badge, rendered in Python.

The queue row is the desk's most rendered piece of HTML: fifty per queue page, and once per
live event that touches a waiting case (``cases.events`` pushes it to every viewer). Through the
template engine a row cost ~0.3 ms; here it is one f-string with the same markup and escaping,
and the page's list and the live push share this one renderer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from django import template
from django.conf import settings
from django.template.defaultfilters import floatformat, slugify
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince

from cases.models import Case

register = template.Library()

STARRED_TIERS = {"gold", "platinum", "vip"}


def tier_badge_html(tier: str) -> str:
    if not tier:
        return ""
    star = "★ " if tier.lower() in STARRED_TIERS else ""
    return f' <span class="badge tier-{escape(slugify(tier))}">{star}{escape(tier)}</span>'


@register.simple_tag
def tier_badge(tier: str) -> SafeString:
    """The customer's tier, starred for the tiers a desk treats as VIP."""
    return mark_safe(tier_badge_html(tier))  # noqa: S308 - escaped above


def _sla(due: datetime | None, now: datetime) -> str:
    if due is None:
        return ""
    if due < now:
        return f'<span class="badge danger">{span(due, now)} over</span>'
    return span(now, due)


ONE_SECOND = timedelta(seconds=1)
# Under four weeks a span has no months or years, so it is whole weeks, days, hours and minutes.
SHORT_SPAN_SECONDS = 28 * 24 * 60 * 60
SPAN_UNITS = (
    (7 * 24 * 60 * 60, "week", "weeks"),
    (24 * 60 * 60, "day", "days"),
    (60 * 60, "hour", "hours"),
    (60, "minute", "minutes"),
)


def span(start: datetime, end: datetime) -> str:
    """``timesince(start, end)`` ("3\xa0hours, 5\xa0minutes"), word for word.

    Django's version goes through the translation machinery for every unit: two of them per row
    were a seventh of a queue page. In English and under four weeks this computes the same
    words directly; anything else is Django's own.
    """
    seconds = (end - start) // ONE_SECOND  # whole seconds, as Django drops microseconds
    language = translation.get_language() or "en"  # None: translations off, which is English
    if (
        seconds >= SHORT_SPAN_SECONDS
        or not language.startswith("en")
        # Django subtracts wall-clock times in start's zone: across a DST change that is not
        # the elapsed time. The desk's datetimes are all UTC; anything else is Django's.
        or start.utcoffset() != end.utcoffset()
    ):
        return timesince(start, end)
    seconds = max(seconds, 0)  # in the future: "0 minutes", as Django says
    parts: list[str] = []
    for size, one, many in SPAN_UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}\xa0{one if count == 1 else many}")
        elif parts:
            break  # units are shown only next to each other, as Django does
        if len(parts) == 2:
            break
    return ", ".join(parts) or "0\xa0minutes"


@lru_cache(maxsize=16)
def _case_url_around_pk(script_prefix: str, urlconf: str) -> tuple[str, str]:
    marker = "987654321"
    head, _, tail = reverse("cases:detail", args=[marker], urlconf=urlconf).partition(marker)
    return head, tail


def case_url(pk: int) -> str:
    """``reverse("cases:detail", args=[pk])``, resolved once per script prefix and URLconf."""
    head, tail = _case_url_around_pk(get_script_prefix(), get_urlconf() or settings.ROOT_URLCONF)
    return f"{head}{pk}{tail}"


def queue_row_html(case: Case, now: datetime) -> SafeString:
    """One waiting case in a queue list; the same for every viewer (see cases/queue.html)."""
    pk = case.pk
    url = case_url(pk)
    due = str(int(case.sla_due_at.timestamp())) if case.sla_due_at else ""
    confidence = ""
    if case.detected_confidence is not None:
        confidence = f' <span class="muted">{floatformat(case.detected_confidence, 2)}</span>'
    flags = "".join(f'<span class="badge flag">{escape(flag)}</span> ' for flag in case.risk_flags)
    if case.missing_context:
        missing = escape(", ".join(str(field) for field in case.missing_context))
        flags += f'<span class="badge warn" title="Missing: {missing}">missing context</span>'
    repeat = " · repeat contact" if case.is_repeat_contact else ""
    # The row is rendered once for every viewer, so the reassign controls are in it for all;
    # only a page whose viewer may reassign shows them (.can-reassign in cases/queue.html).
    return mark_safe(  # noqa: S308 - every value below is escaped or a number
        f'<tr id="case-row-{pk}" class="prio-row-{case.priority}" data-href="{url}" '
        f'data-priority="{case.priority}" data-due="{due}" data-case="{pk}">\n'
        f'<td><input class="reassign-control reassign-pick" type="checkbox" name="case" '
        f'value="{pk}" form="reassign-form" aria-label="Select case #{pk} to reassign">\n'
        f'<a href="{url}">{escape(case.customer_name or "Unknown customer")}</a>'
        f"{tier_badge_html(case.customer_tier)}\n"
        f'<div class="muted small">#{pk} · {escape(case.external_id)}{repeat}'
        f'<button type="button" class="reassign-control reassign-one" data-reassign="{pk}" '
        f'aria-label="Reassign case #{pk}">Reassign…</button></div></td>\n'
        f"<td>{escape(case.current_intent or '—')}{confidence}</td>\n"
        f"<td>{escape(case.get_trigger_reason_display())}</td>\n"
        f"<td>{flags}</td>\n"
        f'<td class="num">{span(case.handed_off_at, now)}</td>\n'
        f'<td class="num">{_sla(case.sla_due_at, now)}</td>\n'
        "</tr>"
    )


@register.simple_tag
def queue_row(case: Case, now: datetime) -> SafeString:
    return queue_row_html(case, now)
