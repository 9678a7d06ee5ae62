"""Should this conversation go to a person now? The policy over the signals, and when it would
first have said so.

``assess`` answers for the conversation as it stands; ``first_risk`` replays it message by
message and names the first customer message at which the same policy would have escalated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from escalation import signals
from escalation.conversation import CUSTOMER, Customer, Message, Step, as_messages
from escalation.features import Features
from escalation.model import FrustrationModel, Replay, default_model
from escalation.signals import Evidence

# The desk's trigger reasons (cases.models.Case.Trigger) each signal suggests, strongest first,
# in the order cases/detectors.py derives a trigger.
TRIGGER_OF = {
    "human_request": "customer_request",
    "repeated_failure": "repeated_failure",
    "loop": "repeated_failure",
    "policy_sensitive": "policy_sensitive",
    "frustration": "frustration",
    "low_confidence": "low_confidence",
    "urgency": "other",
    "high_value": "high_value",
}
PRIORITY = tuple(TRIGGER_OF)


@dataclass(frozen=True)
class Policy:
    """Per-signal switches and thresholds, as an admin sets them.

    The defaults are what a support team can act on: asking for a person, the learned score at
    a calibrated 0.25 (one conversation in four handed over would have annoyed its customer,
    about six times STAR's base rate) and policy-sensitive words. Failed steps and loops are
    off until an admin switches them on: on STAR, over all five folds (bench/escalation.py),
    they fired in over half the conversations at no better than the base rate's precision (a
    bot that re-prompts by design, lookups that often find nothing)."""

    version: int = 0
    frustration: bool = True
    frustration_threshold: float = 0.25
    human_request: bool = True
    repeated_failure: bool = False
    failed_steps: int = 3
    loops: bool = False
    bot_repeats: int = 2
    customer_restates: int = 2
    low_confidence: bool = True
    confidence_floor: float = 0.5
    confidence_streak: int = 2
    policy_sensitive: bool = True
    sensitive_terms: tuple[str, ...] = signals.SENSITIVE_TERMS
    sensitive_intents: tuple[str, ...] = ()
    urgency: bool = False  # shown as a reason; escalates on its own only when switched on
    high_value: bool = True
    high_value_tiers: tuple[str, ...] = signals.HIGH_VALUE_TIERS
    high_value_ltv: float = signals.HIGH_VALUE_LTV
    # A high-value customer is handed over at a lower frustration score, not at the first word.
    high_value_frustration_threshold: float = 0.15
    high_value_alone: bool = False

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Policy:
        """From stored JSON: unknown keys are ignored, lists become tuples."""
        names = {f.name for f in dataclasses.fields(cls)}
        kept: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in names
        }
        return cls(**kept)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Assessment:
    escalate: bool
    score: float
    reasons: tuple[Evidence, ...]
    first_risk_message_id: str | None
    suggested_trigger: str | None
    policy_version: int = 0
    informative: tuple[Evidence, ...] = field(default=())  # found, but not deciding alone

    def as_dict(self) -> dict[str, Any]:
        return {
            "escalate": self.escalate,
            "score": round(self.score, 4),
            "reasons": [e.as_dict() for e in (*self.reasons, *self.informative)],
            "first_risk_message_id": self.first_risk_message_id,
            "suggested_trigger": self.suggested_trigger,
            "policy_version": self.policy_version,
        }


Conversation = Sequence[Message | Mapping[str, Any]]


def _decide(
    messages: Sequence[Message],
    scored: tuple[float, Features] | None,
    *,
    policy: Policy,
    model: FrustrationModel,
    steps: Sequence[Step],
    confidence: float | Mapping[str, float] | None,
    intent: str | None,
    customer: Customer | None,
) -> tuple[list[Evidence], list[Evidence]]:
    """(reasons that escalate, evidence shown but not deciding)."""
    deciding: list[Evidence | None] = []
    shown: list[Evidence | None] = []
    valued = (
        signals.high_value(
            customer, tiers=policy.high_value_tiers, min_lifetime_value=policy.high_value_ltv
        )
        if policy.high_value
        else None
    )
    (deciding if policy.high_value_alone else shown).append(valued)
    if policy.frustration and scored is not None:
        threshold = _threshold(policy, valued)
        deciding.append(signals.frustration(messages, model, threshold=threshold, scored=scored))
    if policy.human_request:
        deciding.append(signals.human_request(messages))
    if policy.repeated_failure:
        deciding.append(signals.repeated_failure(steps, min_failed=policy.failed_steps))
    if policy.loops:
        deciding.append(signals.bot_loop(messages, min_repeats=policy.bot_repeats))
        deciding.append(signals.customer_restating(messages, min_restates=policy.customer_restates))
    if policy.low_confidence:
        deciding.append(
            signals.low_confidence(
                messages,
                confidence,
                floor=policy.confidence_floor,
                min_streak=policy.confidence_streak,
            )
        )
    if policy.policy_sensitive:
        deciding.append(
            signals.policy_sensitive(
                messages,
                terms=policy.sensitive_terms,
                intent=intent,
                intents=policy.sensitive_intents,
            )
        )
    (deciding if policy.urgency else shown).append(signals.urgency(messages))
    order = {name: i for i, name in enumerate(PRIORITY)}

    def ranked(found: list[Evidence | None]) -> list[Evidence]:
        return sorted((e for e in found if e is not None), key=lambda e: order[e.signal])

    return ranked(deciding), ranked(shown)


def _threshold(policy: Policy, valued: Evidence | None) -> float:
    if valued is None:
        return policy.frustration_threshold
    return min(policy.frustration_threshold, policy.high_value_frustration_threshold)


def _steps_by_position(messages: Sequence[Message], steps: Sequence[Step]) -> list[int]:
    """The index of the message after which each step ran; unplaced steps count at the end."""
    position = {m.id: i for i, m in enumerate(messages)}
    last = len(messages) - 1
    return [position.get(step.message_id, last) for step in steps]


def assess(
    conversation: Conversation,
    *,
    policy: Policy | None = None,
    intent: str | None = None,
    intent_confidence: float | Mapping[str, float] | None = None,
    steps: Sequence[Step] = (),
    customer: Customer | None = None,
    model: FrustrationModel | None = None,
    with_first_risk: bool = True,
) -> Assessment:
    """The policy's decision on the conversation as it stands, with its reasons."""
    policy = policy or Policy()
    model = model or default_model()
    messages = as_messages(conversation)
    context = dict(
        policy=policy,
        model=model,
        steps=steps,
        confidence=intent_confidence,
        intent=intent,
        customer=customer,
    )
    # The conversation is scored at once; the prefixes only when the policy escalates, to say
    # where the risk began, and only up to that point (``_score_over`` stops there).
    scored = model.scored(messages)
    reasons, shown = _decide(messages, scored, **context)  # type: ignore[arg-type]
    first = None
    if with_first_risk and reasons:
        lasting = [e for e in reasons if e.signal not in ("frustration", "low_confidence")]
        prefixes = model.scores_by_prefix(messages) if policy.frustration else None
        first = _first(messages, lasting, scored[0], prefixes, policy, intent_confidence, customer)
    return Assessment(
        escalate=bool(reasons),
        score=scored[0],
        reasons=tuple(reasons),
        first_risk_message_id=first,
        suggested_trigger=TRIGGER_OF[reasons[0].signal] if reasons else None,
        policy_version=policy.version,
        informative=tuple(shown),
    )


def first_risk(
    conversation: Conversation,
    *,
    policy: Policy | None = None,
    intent: str | None = None,
    intent_confidence: float | Mapping[str, float] | None = None,
    steps: Sequence[Step] = (),
    customer: Customer | None = None,
    model: FrustrationModel | None = None,
    replay: Replay | None = None,
) -> str | None:
    """The id of the first customer message after which the policy would have escalated, as the
    desk would have seen the conversation then (the score and the steps known by that message).

    One pass, not a replay of every prefix: the word, step and loop signals, once they hold,
    hold on every longer prefix, so the full conversation's evidence says from which message
    (``Evidence.since``); the score and the confidence streak are followed message by message.
    ``replay`` is ``model.replay(conversation)`` when the caller has it already.
    """
    policy = policy or Policy()
    model = model or default_model()
    messages = as_messages(conversation)
    lasting, _ = _decide(
        messages,
        None,
        policy=dataclasses.replace(policy, frustration=False, low_confidence=False),
        model=model,
        steps=steps,
        confidence=None,
        intent=intent,
        customer=customer,
    )
    if not policy.frustration:
        return _first(messages, lasting, 0.0, None, policy, intent_confidence, customer)
    if replay is not None:
        score, prefixes = replay.score, iter(replay.by_prefix)
    else:
        score, prefixes = model.scored(messages)[0], model.scores_by_prefix(messages)
    return _first(messages, lasting, score, prefixes, policy, intent_confidence, customer)


def _first(
    messages: Sequence[Message],
    lasting: Sequence[Evidence],
    score: float,
    prefixes: Iterator[tuple[int, float]] | None,
    policy: Policy,
    confidence: float | Mapping[str, float] | None,
    customer: Customer | None,
) -> str | None:
    customer_at = [i for i, m in enumerate(messages) if m.role == CUSTOMER]
    if not customer_at:
        return None
    last = len(messages) - 1
    position = {m.id: i for i, m in enumerate(messages)}
    candidates: list[int] = []
    for evidence in lasting:
        if evidence.since == "":
            candidates.append(0)
        else:
            candidates.append(position.get(evidence.since or "", last))
    if policy.low_confidence and confidence is not None:
        candidates.extend(_low_confidence_from(messages, customer_at, confidence, policy))
    if policy.frustration and prefixes is not None:
        candidates.extend(_score_over(len(messages), score, prefixes, policy, customer, candidates))
    if not candidates:
        return None
    first = min(candidates)
    # Noticed at the next customer message (the desk assesses after each); a risk after the
    # last one is that message's, since the whole conversation is what assess answered on.
    return next((messages[i].id for i in customer_at if i >= first), messages[customer_at[-1]].id)


def _score_over(
    length: int,
    score: float,
    prefixes: Iterator[tuple[int, float]],
    policy: Policy,
    customer: Customer | None,
    earlier: Sequence[int],
) -> list[int]:
    """Where the score first reached the threshold (after a customer message, or at the end:
    the bot's last words count too, since assess answered on them). ``prefixes`` yields the
    score after each customer message, computed as they are asked for: none past the answer."""
    valued = signals.high_value(
        customer, tiers=policy.high_value_tiers, min_lifetime_value=policy.high_value_ltv
    )
    threshold = _threshold(policy, valued if policy.high_value else None)
    until = min(earlier, default=length - 1)
    for index, at in prefixes:
        if index > until:
            return []
        if at >= threshold:
            return [index]
    if score >= threshold:
        return [length - 1]
    return []


def _low_confidence_from(
    messages: Sequence[Message],
    customer_at: Sequence[int],
    confidence: float | Mapping[str, float],
    policy: Policy,
) -> list[int]:
    if not isinstance(confidence, Mapping):
        # One figure describes the latest customer message only.
        confidence = {messages[customer_at[-1]].id: float(confidence)}
    streak = 0
    for index in customer_at:
        value = confidence.get(messages[index].id)
        streak = streak + 1 if value is not None and value < policy.confidence_floor else 0
        if streak >= max(policy.confidence_streak, 1):
            return [index]
    return []
