"""What the customer is told at handoff: who, why, how long, and what to have ready."""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.utils import dateformat
from django.utils.translation import gettext as _

from cases.models import Case
from cases.selectors import WaitEstimate
from vocabulary import TriggerReason

logger = logging.getLogger(__name__)

TRIGGER_SENTENCES: dict[str, str] = {
    TriggerReason.CUSTOMER_REQUEST: " as you asked",
    TriggerReason.REPEATED_FAILURE: " because I couldn't sort this out for you myself",
    TriggerReason.LOW_CONFIDENCE: " so that someone can make sure we get this right",
    TriggerReason.FRUSTRATION: " so that a person can help you straight away",
    TriggerReason.POLICY_SENSITIVE: " because this needs a specialist",
    TriggerReason.HIGH_VALUE: " so that a specialist can look after you",
    TriggerReason.OTHER: "",
}
# What to ask the customer to have ready when the bot did not collect it, by intent prefix.
WANTED_FACTS = {
    "billing": ("order_id", "your order number"),
    "order": ("order_id", "your order number"),
    "refund": ("order_id", "your order number"),
    "shipping": ("order_id", "your order number"),
    "account": ("account_id", "your account email or username"),
    "bank": ("account_number", "your account number"),
}


def _minutes(seconds: int) -> str:
    minutes = round(seconds / 60)
    return "about a minute" if minutes <= 1 else f"about {minutes} minutes"


def format_wait(estimate: WaitEstimate) -> str:
    """The wait in words, with what it rests on; no figure where there is nothing to go by."""
    seconds, basis = estimate.seconds, estimate.basis
    if basis == "claimed":
        return "none: an agent has it now"
    if basis == "agent_free":
        return "about a minute: someone on the team is free to take it now"
    if basis == "live":
        people = "person" if estimate.agents_online == 1 else "people"
        return (
            f"{_minutes(seconds)}, going by the {estimate.agents_online} {people} on the team "
            "right now and how long recent conversations took"
        )
    if basis == "no_agents_online":
        return "hard to say: no one from the team is online right now"
    # "sla_target": no recent history, so no figure of our own; the team's target bounds it.
    minutes = round(seconds / 60)
    return "a few minutes" if seconds <= 15 * 60 else f"up to about {minutes} minutes"


def missing_request(case: Case) -> str:
    wanted = []
    intent = (case.current_intent or "").lower()
    for prefix, (fact, label) in WANTED_FACTS.items():
        if intent.startswith(prefix) and fact not in case.facts:
            wanted.append(label)
            break
    if "customer_identity" in case.missing_context:
        wanted.append("the email address on your account")
    if not wanted:
        return ""
    return " To speed things up, please have " + " and ".join(wanted) + " ready."


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def customer_message(case: Case, position: int | None, estimate: WaitEstimate) -> str:
    first_name = (case.customer_name or "").split(" ")[0]
    values: Mapping[str, Any] = _Lenient(
        customer_first_name=first_name,
        customer_first_name_comma=f", {first_name}" if first_name else "",
        queue_name=case.queue.name,
        trigger_sentence=TRIGGER_SENTENCES.get(case.trigger_reason, ""),
        position=position or 1,
        eta_text=format_wait(estimate),
        missing_request=missing_request(case),
    )
    template = case.queue.customer_message_template
    try:
        # format_map on a plain dict: attribute and index lookups in a template find nothing.
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        if any("." in name or "[" in name for name in fields):
            raise ValueError("attribute access in a customer message template")
        return template.format_map(values)
    except (ValueError, IndexError, KeyError):
        logger.warning("customer_message_template_invalid queue=%s", case.queue.slug)
        return (
            f"I'm handing you to our {case.queue.name} team. The expected wait is "
            f"{values['eta_text']}."
        )


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
    email instead of waiting."""
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
