"""A waiting case's queue row, a customer's tier badge and the desk's ticking times (in the
words static/js/clock.js keeps current). Pages use them through web/templatetags/rows.py.

The markup is in templates/cases/_queue_row.jinja and _badges.jinja (Django's Jinja2 backend):
the queue row is the desk's most rendered piece of HTML, fifty per queue page and once per live
event that touches a waiting case (``cases.live.events`` pushes it to every viewer), and through
Django's template engine a row costs ~0.3 ms. Here Python only gathers each row's values; the
page's list and the live push share the one template.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, cast

from django.template import engines
from django.template.backends.jinja2 import Jinja2
from markupsafe import Markup

from cases.models import Case
from cases.selectors import last_customer_text
from vocabulary import is_high_value_tier


def jinja_macros(name: str) -> Any:
    """The macros of a Jinja template: each returns autoescaped ``Markup``, which Django
    templates print as it is."""
    return cast(Jinja2, engines["jinja2"]).env.get_template(name).module


def tier_badge(tier: str) -> Markup:
    """The customer's tier, starred for the tiers the desk treats as high value
    (HANDOFF_HIGH_VALUE_TIERS)."""
    return jinja_macros("cases/_badges.jinja").tier_badge(tier, is_high_value_tier(tier))


# The words of static/js/clock.js, which keeps these times ticking in the browser: the server
# writes the first text, so a page reads right before the script runs and the first tick
# changes nothing. They are clock.js's words ("4 min", "1 h 5 min"), not Django's timesince.
MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR


def duration_words(seconds: int) -> str:
    """Whole minutes, then hours and minutes, then days and hours: "4 min", "1 h 5 min"."""
    if seconds >= DAY:
        days, rest = divmod(seconds, DAY)
        hours = rest // HOUR
        return f"{days} d {hours} h" if hours else f"{days} d"
    if seconds >= HOUR:
        hours, rest = divmod(seconds, HOUR)
        minutes = rest // MINUTE
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{seconds // MINUTE} min"


def countdown_text(moment: datetime, now: datetime, mode: str = "") -> str:
    """What ``<time data-countdown="{mode}">`` says: "12 min left" / "3 min over" until a
    deadline, "waited 4 min" (``since``) or "4 min ago" (``ago``) after a moment."""
    seconds = int((moment - now).total_seconds())
    if mode == "since":
        return f"waited {duration_words(-seconds)}" if -seconds >= MINUTE else "waited under 1 min"
    if mode == "ago":
        return f"{duration_words(-seconds)} ago" if -seconds >= MINUTE else "just now"
    if moment >= now:
        return f"{duration_words(seconds)} left" if seconds >= MINUTE else "under 1 min left"
    return f"{duration_words(-seconds)} over" if -seconds >= MINUTE else "under 1 min over"


class Countdown(NamedTuple):
    """What the ``countdown`` macro of cases/_badges.jinja shows; ``css`` adds classes."""

    moment: datetime
    mode: str
    css: str
    overdue: bool  # a deadline ("" mode) already past
    text: str


def countdown_of(moment: datetime, now: datetime, mode: str = "", css: str = "") -> Countdown:
    overdue = mode == "" and moment < now
    return Countdown(moment, mode, css, overdue, countdown_text(moment, now, mode))


def countdown(moment: datetime | None, now: datetime, mode: str = "", css: str = "") -> Markup:
    """``{% countdown case.sla_due_at now %}``: a ticking time, or nothing without a moment."""
    if moment is None:
        return Markup("")
    return jinja_macros("cases/_badges.jinja").countdown(countdown_of(moment, now, mode, css))


def sla(case: Case, now: datetime) -> Markup:
    """The case's SLA (time to first claim): ticking until someone claims it; then whether
    the claim came in time, which no longer changes."""
    claimed = case.first_claimed_at
    ticking = countdown_of(case.sla_due_at, now, css="sla") if claimed is None else None
    late = ""
    if claimed is not None and claimed > case.sla_due_at:
        late = countdown_text(case.sla_due_at, claimed).removesuffix(" over")  # "3 min"
    return jinja_macros("cases/_badges.jinja").sla(ticking, late)


PREVIEW_CHARS = 140


# A customer message without text is files alone (a screenshot sent without a word).
FILES_ONLY = "Sent an attachment"


def preview_text(text: str | None) -> str:
    """The latest customer message on one line, cut at a word near ``PREVIEW_CHARS``."""
    if text is not None and not text.strip():
        return FILES_ONLY
    line = " ".join((text or "").split())
    if len(line) <= PREVIEW_CHARS:
        return line
    cut = line[:PREVIEW_CHARS].rsplit(" ", 1)[0] or line[:PREVIEW_CHARS]
    return f"{cut}…"


def channel_text(channel: str) -> str:
    """The channel the customer wrote on, as the bot named it ("web_chat" reads "web chat")."""
    return (channel or "unknown channel").replace("_", " ")


class QueueRow(NamedTuple):
    """The values of cases/_queue_row.jinja besides the case's own fields."""

    case: Case
    due: str  # the SLA deadline in epoch seconds, for the list's client-side order
    starred: bool
    channel: str
    preview: str
    sla: Countdown | None
    waited: Countdown


def queue_row_html(case: Case, now: datetime) -> Markup:
    """One waiting case in a queue list; the same for every viewer (see cases/queue.html).

    The preview reads ``case.last_customer_text`` (annotated by ``waiting_cases``); a case
    without it (a live push from a service) reads its latest customer message here.
    """
    if hasattr(case, "last_customer_text"):
        latest = case.last_customer_text
    else:
        latest = last_customer_text(case.pk)
    due = case.sla_due_at
    row = QueueRow(
        case=case,
        due=str(int(due.timestamp())) if due else "",
        starred=is_high_value_tier(case.customer_tier),
        channel=channel_text(case.channel),
        preview=preview_text(latest),
        sla=countdown_of(due, now, css="sla") if due else None,
        waited=countdown_of(case.handed_off_at, now, "since", "waited muted small"),
    )
    return jinja_macros("cases/_queue_row.jinja").queue_row(row)
