from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django import template
from django.contrib.auth.models import User
from django.utils.timesince import timesince

from cases import guard
from cases.models import AgentStatus
from queues.models import AssignmentMode
from vocabulary import is_high_value_tier

register = template.Library()
NO_DATA = "no data"


@register.filter
def pct(value: float | None) -> str:
    return NO_DATA if value is None else f"{value * 100:.1f}%"


@register.filter
def dur(value: timedelta | None) -> str:
    if value is None:
        return NO_DATA
    seconds = int(value.total_seconds())
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


@register.filter
def num(value: float | None, digits: int = 2) -> str:
    return NO_DATA if value is None else f"{value:.{digits}f}"


@register.filter
def change(value: float | None, kind: str = "pct") -> str:
    """The change against the previous period, signed; empty when either side has no data."""
    if value is None:
        return ""
    if kind == "pct":
        return f"{value * 100:+.1f} pts"
    if kind == "dur":
        return ("+" if value >= 0 else "-") + dur(timedelta(seconds=abs(value)))
    if kind == "int":
        return f"{value:+.0f}"
    return f"{value:+.2f}"


@register.filter
def get(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key)


# --- the case page -------------------------------------------------------------------------


@register.filter
def fact_label(key: object) -> str:
    """``order_id`` → "Order ID"."""
    return guard.fact_label(str(key))


@register.filter
def is_vip(tier: object) -> bool:
    return is_high_value_tier(tier)


@register.filter
def ago(moment: datetime | None, now: datetime) -> str:
    """ "just now" under a minute, else Django's "5 minutes ago"."""
    if moment is None:
        return ""
    if now - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, now)} ago"


@register.filter
def minutes(seconds: int | None) -> str:
    if not seconds:
        return ""
    whole = max(1, round(seconds / 60))
    return "a minute" if whole == 1 else f"{whole} minutes"


@dataclass(frozen=True)
class FactRow:
    key: str
    label: str
    value: str  # what Copy copies: the value as the bot sent it
    shown: str  # what the agent reads: an amount with its currency


CURRENCY_SIGNS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹"}
AMOUNT_KEY = re.compile(r"amount|total|price|refund|balance|charge|fee|cost", re.I)
CURRENCY_KEYS = ("currency", "currency_code")


def _plain(value: object) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


IDENTIFIER_KEY = re.compile(r"(?:^|_)(?:id|number|no|ref|reference)$", re.IGNORECASE)


@register.simple_tag
def fact_rows(mapping: object) -> list[FactRow]:
    """A package's key/value pairs as a person reads them: labelled keys, and amounts with their
    currency (a ``currency`` beside them is folded in rather than listed apart)."""
    if not isinstance(mapping, dict):
        return []
    currency = next((str(mapping[k]).upper() for k in CURRENCY_KEYS if mapping.get(k)), "")
    amounts = [k for k, v in mapping.items() if AMOUNT_KEY.search(str(k)) and _number(v)]
    rows = []
    # Identifiers first (what an agent looks up with), the rest as stored: PostgreSQL's jsonb
    # keeps no key order, so the bot's order cannot be what puts the order number on top.
    ordered = sorted(mapping.items(), key=lambda item: not IDENTIFIER_KEY.search(str(item[0])))
    for key, value in ordered:
        if key in CURRENCY_KEYS and currency and amounts:
            continue
        plain = _plain(value)
        shown = plain
        if key in amounts and currency:
            sign = CURRENCY_SIGNS.get(currency)
            shown = f"{sign}{plain}" if sign else f"{plain} {currency}"
            shown += f" ({currency})" if sign else ""
        rows.append(FactRow(str(key), guard.fact_label(str(key)), plain, shown))
    return rows


def _number(value: object) -> bool:
    try:
        float(str(value).replace(",", ""))
    except ValueError:
        return False
    return True


@register.simple_tag
def agent_desk(user: Any) -> dict[str, Any]:
    """The signed-in agent's assignment controls: the state they chose, whether they work any
    queue (a supervisor in none has no state to set: nothing is offered to them), and the pull
    queues whose new cases they are told of (a push queue's come as offers). One query, on every
    page."""
    rows = User.objects.filter(pk=user.pk).values_list(
        "desk__chosen", "memberships__queue_id", "memberships__queue__assignment_mode"
    )
    chosen: str = AgentStatus.State.ONLINE
    pull = []
    member = False
    for state, queue_id, mode in rows:
        chosen = state or chosen
        member = member or queue_id is not None
        if queue_id is not None and mode == AssignmentMode.PULL:
            pull.append(str(queue_id))
    return {"chosen": chosen, "member": member, "pull_queues": ",".join(pull)}
