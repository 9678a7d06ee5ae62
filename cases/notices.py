"""What the customer is told at handoff and while waiting: who, why, how long, and what to have
ready, in the customer's language (``Case.customer_language``; cases/languages.py chooses it).

Every sentence here is a Django translation string; the catalogues are locale/<code>/. A queue's
own message template is the admins' English text: customers in other languages get the desk's
standard message in their language instead (``template_for``).
"""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.utils import dateformat, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext

from cases.languages import ENGLISH
from cases.models import Case
from cases.selectors import WaitEstimate
from vocabulary import TriggerReason

logger = logging.getLogger(__name__)

# Each begins with its own punctuation and space: a language may need a comma before it.
TRIGGER_SENTENCES: dict[str, Any] = {
    TriggerReason.CUSTOMER_REQUEST: gettext_lazy(" as you asked"),
    TriggerReason.REPEATED_FAILURE: gettext_lazy(
        " because I couldn't sort this out for you myself"
    ),
    TriggerReason.LOW_CONFIDENCE: gettext_lazy(" so that someone can make sure we get this right"),
    TriggerReason.FRUSTRATION: gettext_lazy(" so that a person can help you straight away"),
    TriggerReason.POLICY_SENSITIVE: gettext_lazy(" because this needs a specialist"),
    TriggerReason.HIGH_VALUE: gettext_lazy(" so that a specialist can look after you"),
    TriggerReason.OTHER: "",
}
# What to ask the customer to have ready when the bot did not collect it, by intent prefix.
WANTED_FACTS: dict[str, tuple[str, Any]] = {
    "billing": ("order_id", gettext_lazy("your order number")),
    "order": ("order_id", gettext_lazy("your order number")),
    "refund": ("order_id", gettext_lazy("your order number")),
    "shipping": ("order_id", gettext_lazy("your order number")),
    "account": ("account_id", gettext_lazy("your account email or username")),
    "bank": ("account_number", gettext_lazy("your account number")),
}
# The desk's standard message: queues.models.DEFAULT_CUSTOMER_MESSAGE, translated (a test keeps
# the two the same in English). Placeholders stay in braces in every language.
STANDARD_MESSAGE = gettext_lazy(
    "Thanks for your patience{customer_first_name_comma}. I'm handing this conversation to our "
    "{queue_name} team{trigger_sentence}. You are number {position} in line and the expected "
    "wait is {eta_text}.{missing_request} You won't need to repeat anything: they can see this "
    "whole conversation."
)


def _minutes(seconds: int) -> str:
    minutes = round(seconds / 60)
    if minutes <= 1:
        return _("about a minute")
    return ngettext("about %(minutes)d minute", "about %(minutes)d minutes", minutes) % {
        "minutes": minutes
    }


def format_wait(estimate: WaitEstimate) -> str:
    """The wait in words, with what it rests on; no figure where there is nothing to go by."""
    seconds, basis = estimate.seconds, estimate.basis
    if basis == "claimed":
        return _("none: an agent has it now")
    if basis == "agent_free":
        return _("about a minute: someone on the team is free to take it now")
    if basis == "live":
        return ngettext(
            "%(wait)s, going by the %(people)d person on the team right now and how long recent "
            "conversations took",
            "%(wait)s, going by the %(people)d people on the team right now and how long recent "
            "conversations took",
            estimate.agents_online,
        ) % {"wait": _minutes(seconds), "people": estimate.agents_online}
    if basis == "no_agents_online":
        return _("hard to say: no one from the team is online right now")
    # "sla_target": no recent history, so no figure of our own; the team's target bounds it.
    if seconds <= 15 * 60:
        return _("a few minutes")
    minutes = round(seconds / 60)
    return ngettext(
        "up to about %(minutes)d minute", "up to about %(minutes)d minutes", minutes
    ) % {"minutes": minutes}


def missing_request(case: Case) -> str:
    wanted = []
    intent = (case.current_intent or "").lower()
    for prefix, (fact, label) in WANTED_FACTS.items():
        if intent.startswith(prefix) and fact not in case.facts:
            wanted.append(str(label))
            break
    if "customer_identity" in case.missing_context:
        wanted.append(_("the email address on your account"))
    if not wanted:
        return ""
    if len(wanted) == 1:
        items = wanted[0]
    else:
        items = pgettext("two things to have ready", "%(first)s and %(second)s") % {
            "first": wanted[0],
            "second": wanted[1],
        }
    return " " + _("To speed things up, please have %(items)s ready.") % {"items": items}


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def customer_language_of(case: Case) -> str:
    return case.customer_language or ENGLISH


def template_for(case: Case, language: str) -> str:
    """The queue's own template for English; the standard message in any other language (the
    queue's is the admins' English, which a Spanish speaker should not get)."""
    if language == ENGLISH:
        return case.queue.customer_message_template
    return str(STANDARD_MESSAGE)


def customer_message(case: Case, position: int | None, estimate: WaitEstimate) -> str:
    language = customer_language_of(case)
    with translation.override(language):
        return _customer_message(case, position, estimate, language)


def _customer_message(
    case: Case, position: int | None, estimate: WaitEstimate, language: str
) -> str:
    first_name = (case.customer_name or "").split(" ")[0]
    values: Mapping[str, Any] = _Lenient(
        customer_first_name=first_name,
        customer_first_name_comma=f", {first_name}" if first_name else "",
        queue_name=case.queue.name,
        trigger_sentence=str(TRIGGER_SENTENCES.get(case.trigger_reason, "")),
        position=position or 1,
        eta_text=format_wait(estimate),
        missing_request=missing_request(case),
    )
    template = template_for(case, language)
    try:
        # format_map on a plain dict: attribute and index lookups in a template find nothing.
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        if any("." in name or "[" in name for name in fields):
            raise ValueError("attribute access in a customer message template")
        return template.format_map(values)
    except (ValueError, IndexError, KeyError):
        logger.warning("customer_message_template_invalid queue=%s", case.queue.slug)
        return _("I'm handing you to our %(queue)s team. The expected wait is %(wait)s.") % {
            "queue": case.queue.name,
            "wait": values["eta_text"],
        }


def ready_request(case: Case) -> str:
    """What the customer was asked to have ready, in English: the agent's page shows it."""
    with translation.override(ENGLISH):
        return missing_request(case).strip()


def agent_joined_text(case: Case, agent_name: str) -> str:
    """The line the bot says when an agent takes the conversation."""
    with translation.override(customer_language_of(case)):
        return _("%(agent)s from %(queue)s has joined the conversation.") % {
            "agent": agent_name,
            "queue": case.queue.name,
        }


def queue_update_message(case: Case, position: int, estimate: WaitEstimate) -> str:
    """What the bot can say while the customer waits: the new place in line and the wait."""
    with translation.override(customer_language_of(case)):
        wait = format_wait(estimate)
        if position <= 1:
            return _("You are next in line. The expected wait is %(wait)s.") % {"wait": wait}
        return _("You are now number %(position)d in line. The expected wait is %(wait)s.") % {
            "position": position,
            "wait": wait,
        }


# --- no one available (issue 16): the team is away ---------------------------------------------


def when_back(back_at: datetime, now: datetime, time_zone: Any) -> str:
    """When the team is back, in the queue's own time zone: "today at 09:00", "tomorrow at
    09:00", "on Monday 7 December at 09:00"."""
    local = back_at.astimezone(time_zone)
    today = now.astimezone(time_zone).date()
    clock = dateformat.format(local, "H:i")
    if local.date() == today:
        return _("today at %(time)s") % {"time": clock}
    if local.date() == today + timedelta(days=1):
        return _("tomorrow at %(time)s") % {"time": clock}
    return _("on %(day)s at %(time)s") % {"day": dateformat.format(local, "l j F"), "time": clock}


def team_away_message(case: Case, *, back_at: datetime | None, now: datetime) -> str:
    """What the customer is told when the team cannot take the conversation now: that it stays
    in the queue, when the team is back (in the queue's time zone), and that they may go on by
    email instead of waiting. In the customer's language, dates included."""
    with translation.override(customer_language_of(case)):
        return _team_away_message(case, back_at=back_at, now=now)


def _team_away_message(case: Case, *, back_at: datetime | None, now: datetime) -> str:
    queue = case.queue
    first_name = (case.customer_name or "").split(" ")[0]
    parts = [
        _("Thanks for your patience, %(name)s.") % {"name": first_name}
        if first_name
        else _("Thanks for your patience.")
    ]
    if back_at is not None:
        schedule = queue.schedule
        parts.append(
            _(
                "Our %(queue)s team is away right now and back %(when)s (%(zone)s time). "
                "Your conversation stays in their queue and they will pick it up then."
            )
            % {
                "queue": queue.name,
                "when": when_back(back_at, now, schedule.time_zone),
                "zone": schedule.time_zone.key,
            }
        )
    else:
        parts.append(
            _(
                "No one from our %(queue)s team is available right now. Your conversation "
                "stays in their queue and the first person back will pick it up."
            )
            % {"queue": queue.name}
        )
    parts.append(_("You won't need to repeat anything: they can see this whole conversation."))
    if case.customer_email:
        parts.append(
            _("If you would rather not wait, we can continue by email at %(email)s: just say so.")
            % {"email": case.customer_email}
        )
    else:
        parts.append(
            _(
                "If you would rather not wait, leave your email address and we will continue "
                "by email."
            )
        )
    return " ".join(parts)
