"""Each reason to hand a customer to a person, as a function over the conversation so far.

A signal returns ``Evidence`` (what it saw, in which messages) or None. The evidence is what the
bot, and later the agent, is shown: a false positive is visible and cheap to dismiss.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from escalation.conversation import BOT, CUSTOMER, Customer, Message, Step
from escalation.features import Features, content_words, normalised, restated, shouted
from escalation.model import FrustrationModel

# Asking for a person, not merely mentioning one: the desk's list (cases/detectors.py) and what
# STAR's annoyed customers said ("I'm calling your manager", "call someone", "an actual person").
HUMAN_REQUEST = (
    "real person", "real human", "human agent", "live agent", "live person", "actual person",
    "talk to a human", "speak to a human", "speak with a human", "talk to an agent",
    "speak to an agent", "speak with an agent", "talk to someone", "speak to someone",
    "speak with someone", "representative", "operator", "your supervisor", "your manager",
    "connect me to", "a human", "an agent", "a manager", "call someone", "human please",
    "agent please", "customer service", "someone real",
)  # fmt: skip
# "Are you a human?" asks what the bot is; it is no request for one.
ASKS_WHAT_THE_BOT_IS = re.compile(
    r"\bare\s+you\s+(?:an?\s+)?(?:real\s+)?(?:human|person|robot|bot|agent)\b", re.IGNORECASE
)
URGENCY = (
    "urgent", "urgently", "asap", "immediately", "right now", "emergency", "right away",
    "as soon as possible", "deadline", "hurry",
)  # fmt: skip
# Policy-sensitive topics when the admin has set none: chargebacks, cancellations, legal, data.
# Not "fraud": a bank's fraud reports are a whole intent, routed as such (admins can add it).
SENSITIVE_TERMS = (
    "chargeback", "charge back", "dispute the charge", "cancel my account", "close my account",
    "cancel my subscription", "lawyer", "attorney", "lawsuit", "legal action", "sue",
    "gdpr", "data protection", "delete my data", "my personal data",
)  # fmt: skip
HIGH_VALUE_TIERS = ("gold", "platinum", "vip", "enterprise", "premium")
HIGH_VALUE_LTV = 10_000.0
NEGATIVE_MESSAGE = -0.3


@dataclass(frozen=True)
class Evidence:
    signal: str
    detail: str
    message_ids: tuple[str, ...] = field(default=())
    # The message from which the signal held (it holds on every longer prefix); "" for from
    # the start, None when unknown or when it can stop holding (a score, a streak).
    since: str | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, object]:
        return {"signal": self.signal, "detail": self.detail, "message_ids": list(self.message_ids)}


def phrase_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """Whole words or phrases, case-insensitive; None for an empty list (it matches nothing)."""
    alternatives = "|".join(
        re.escape(p.strip()).replace(r"\ ", r"\s+") for p in phrases if p.strip()
    )
    if not alternatives:
        return None
    return re.compile(rf"(?<![\w'])(?:{alternatives})(?![\w'])", re.IGNORECASE)


HUMAN_PATTERN = phrase_pattern(HUMAN_REQUEST)
URGENCY_PATTERN = phrase_pattern(URGENCY)
SENSITIVE_PATTERN = phrase_pattern(SENSITIVE_TERMS)


def _customer(messages: Sequence[Message]) -> list[Message]:
    return [m for m in messages if m.role == CUSTOMER]


def _matches(
    messages: Sequence[Message], pattern: re.Pattern[str] | None
) -> tuple[list[str], list[str]]:
    ids: list[str] = []
    found: list[str] = []
    if pattern is None:
        return ids, found
    for message in _customer(messages):
        hit = pattern.search(message.text)
        if hit:
            ids.append(message.id)
            found.append(hit.group().lower())
    return ids, found


def _quoted(words: Iterable[str]) -> str:
    return ", ".join(f"“{w}”" for w in dict.fromkeys(words))


def human_request(messages: Sequence[Message]) -> Evidence | None:
    ids, words = [], []
    for message in _customer(messages):
        hit = HUMAN_PATTERN.search(message.text) if HUMAN_PATTERN else None
        if hit and not ASKS_WHAT_THE_BOT_IS.search(message.text):
            ids.append(message.id)
            words.append(hit.group().lower())
    if not ids:
        return None
    detail = f"the customer asked for a person: {_quoted(words)}"
    return Evidence("human_request", detail, tuple(ids), since=ids[0])


def repeated_failure(steps: Sequence[Step], *, min_failed: int = 2) -> Evidence | None:
    failed = [step for step in steps if step.failed]
    if len(failed) < max(min_failed, 1):
        return None
    names = ", ".join(dict.fromkeys(step.name for step in failed[:5]))
    ids = tuple(dict.fromkeys(step.message_id for step in failed if step.message_id))
    since = failed[max(min_failed, 1) - 1].message_id or None
    return Evidence("repeated_failure", f"{len(failed)} failed steps: {names}", ids, since=since)


def bot_loop(messages: Sequence[Message], *, min_repeats: int = 2) -> Evidence | None:
    """The bot said the same thing again (a re-prompt, the same apology), ``min_repeats`` times."""
    seen: set[str] = set()
    repeats = []
    for message in messages:
        if message.role != BOT:
            continue
        key = normalised(message.text)
        if key in seen:
            repeats.append(message.id)
        seen.add(key)
    if len(repeats) < max(min_repeats, 1):
        return None
    detail = f"the bot repeated itself {len(repeats)} times"
    return Evidence("loop", detail, tuple(repeats), since=repeats[max(min_repeats, 1) - 1])


def customer_restating(messages: Sequence[Message], *, min_restates: int = 2) -> Evidence | None:
    """The customer said again what they had said (most of a message's words were said before)."""
    earlier: list[frozenset[str]] = []
    ids = []
    for message in _customer(messages):
        words = content_words(message.text)
        if restated(words, earlier) is not None:
            ids.append(message.id)
        earlier.append(words)
    if len(ids) < max(min_restates, 1):
        return None
    detail = f"the customer restated themselves {len(ids)} times"
    return Evidence("loop", detail, tuple(ids), since=ids[max(min_restates, 1) - 1])


def low_confidence(
    messages: Sequence[Message],
    confidence: float | Mapping[str, float] | None,
    *,
    floor: float = 0.5,
    min_streak: int = 2,
) -> Evidence | None:
    """The bot's intent confidence stayed under ``floor`` for the last ``min_streak`` customer
    messages. ``confidence`` is per customer message id, or one figure for the latest message."""
    if confidence is None:
        return None
    customer = _customer(messages)
    if not customer:
        return None
    if not isinstance(confidence, Mapping):
        confidence = {customer[-1].id: float(confidence)}
    streak: list[str] = []
    for message in reversed(customer):
        value = confidence.get(message.id)
        if value is None or value >= floor:
            break
        streak.append(message.id)
    if not streak or len(streak) < min_streak:
        return None
    lowest = min(confidence[i] for i in streak)
    detail = f"intent confidence under {floor:.2f} for {len(streak)} customer messages "
    return Evidence("low_confidence", detail + f"(lowest {lowest:.2f})", tuple(reversed(streak)))


def policy_sensitive(
    messages: Sequence[Message],
    *,
    terms: Sequence[str] = SENSITIVE_TERMS,
    intent: str | None = None,
    intents: Sequence[str] = (),
) -> Evidence | None:
    pattern = SENSITIVE_PATTERN if terms is SENSITIVE_TERMS else phrase_pattern(terms)
    ids, words = _matches(messages, pattern)
    sensitive_intent = intent is not None and intent.lower() in {i.lower() for i in intents}
    if not ids and not sensitive_intent:
        return None
    parts = [f"policy-sensitive words: {_quoted(words)}"] if ids else []
    if sensitive_intent:
        parts.append(f"intent {intent} is policy-sensitive")
    since = "" if sensitive_intent else ids[0]
    return Evidence("policy_sensitive", "; ".join(parts), tuple(ids), since=since)


def high_value(
    customer: Customer | None,
    *,
    tiers: Sequence[str] = HIGH_VALUE_TIERS,
    min_lifetime_value: float = HIGH_VALUE_LTV,
) -> Evidence | None:
    if customer is None:
        return None
    if customer.tier and customer.tier.lower() in {t.lower() for t in tiers}:
        return Evidence("high_value", f"customer tier is {customer.tier}", since="")
    value = customer.lifetime_value
    if value is not None and value >= min_lifetime_value:
        detail = f"lifetime value {value:,.2f} ≥ {min_lifetime_value:,.0f}"
        return Evidence("high_value", detail, since="")
    return None


def urgency(messages: Sequence[Message]) -> Evidence | None:
    ids, words = _matches(messages, URGENCY_PATTERN)
    if not ids:
        return None
    return Evidence("urgency", f"urgent words: {_quoted(words)}", tuple(ids), since=ids[0])


def frustration(
    messages: Sequence[Message],
    model: FrustrationModel,
    *,
    threshold: float,
    scored: tuple[float, Features] | None = None,
) -> Evidence | None:
    """The learned score at or over ``threshold``. The evidence points at the customer's
    messages that read negative or shouted, or else at the latest one."""
    score, features = scored or model.scored(messages)
    if score < threshold:
        return None
    customer = _customer(messages)
    marked = tuple(
        m.id
        for m, compound in zip(customer, features.compounds, strict=True)
        if compound < NEGATIVE_MESSAGE or shouted(m.text)
    )
    if not marked and customer:
        marked = (customer[-1].id,)
    detail = f"frustration score {score:.2f} ≥ {threshold:.2f}"
    return Evidence("frustration", detail, marked)
