"""Escalation on the desk's side: the published policy, and the escalation package's signals
run over what the desk stores (a handoff package at intake, a case's messages later).

The signals and the learned score live in ``escalation/`` (pure Python, no Django); this module
reads the policy an admin published and turns the desk's records into its inputs.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Prefetch

from cases.models import Case, CsatResponse, EscalationPolicy, Message, RiskFlagReview
from cases.package import HandoffPackage
from escalation.assess import Assessment, Policy, assess
from escalation.conversation import Customer, Step
from observability.instruments import ASSESS_SECONDS


def published_policy() -> Policy:
    """The policy in force: the published version, or the defaults before any is published."""
    row = EscalationPolicy.objects.filter(status=EscalationPolicy.Status.PUBLISHED).first()
    if row is None:
        return default_policy()
    return Policy.from_dict({**row.thresholds, "version": row.version})


def default_policy() -> Policy:
    """The escalation package's defaults, with the desk's own high-value customers (the same
    setting that flags them at intake and stars them on pages)."""
    return Policy(
        high_value_tiers=tuple(settings.HANDOFF_HIGH_VALUE_TIERS),
        high_value_ltv=float(settings.HANDOFF_HIGH_VALUE_LTV),
    )


def _steps(package: HandoffPackage) -> list[Step]:
    return [Step(step.name, step.outcome == "failed") for step in package.attempted_steps]


def _customer(package: HandoffPackage) -> Customer | None:
    if package.customer is None:
        return None
    return Customer(package.customer.tier, package.customer.lifetime_value)


def assess_package(package: HandoffPackage, policy: Policy | None = None) -> Assessment:
    """``POST /api/v1/assess``: the policy's answer on the conversation so far."""
    with ASSESS_SECONDS.time():
        return _assess_package(package, policy)


def _assess_package(package: HandoffPackage, policy: Policy | None) -> Assessment:
    intent = package.intent
    return assess(
        [
            {"role": m.role, "text": m.text, "id": m.id or str(index)}
            for index, m in enumerate(package.transcript)
        ],
        policy=policy or published_policy(),
        intent=intent.name if intent else None,
        intent_confidence=intent.confidence if intent else None,
        steps=_steps(package),
        customer=_customer(package),
    )


@dataclass(frozen=True)
class Timing:
    """Where the policy would first have handed off, and how long the bot went on after."""

    first_risk_seq: int | None
    lead_messages: int | None  # customer messages after that one, up to the handoff
    lead_seconds: int | None
    score: float
    policy_version: int


def _lifetime_value(customer: Any) -> float | None:
    value = customer.get("lifetime_value") if isinstance(customer, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def escalation_timing(
    case: Case,
    policy: Policy | None = None,
    *,
    messages: Sequence[Message] | None = None,
    steps: Sequence[tuple[str, str]] | None = None,
) -> Timing:
    """The timing of a stored handoff over what the bot had said and done before it: its
    messages (known by their ``seq``), steps, detected intent and customer. ``messages`` and
    ``steps`` (name, outcome) may be given when already read."""
    policy = policy or published_policy()
    if messages is None:
        messages = list(case.messages.filter(phase=Message.Phase.BEFORE_HANDOFF).order_by("seq"))
    if steps is None:
        steps = list(case.attempted_steps.values_list("name", "outcome"))
    conversation = [{"role": m.role, "text": m.text, "id": str(m.seq)} for m in messages]
    if not conversation:
        return Timing(None, None, None, 0.0, policy.version)
    said = assess(
        conversation,
        policy=policy,
        intent=case.detected_intent or None,
        intent_confidence=case.detected_confidence,
        steps=[Step(name, outcome == "failed") for name, outcome in steps],
        customer=Customer(case.customer_tier or None, _lifetime_value(case.customer)),
    )
    first = said.first_risk_message_id
    if first is None:
        return Timing(None, None, None, said.score, policy.version)
    seq = int(first)
    at = {m.seq: m.sent_at for m in messages}
    customer_after = [m for m in messages if m.role == Message.Role.CUSTOMER and m.seq > seq]
    last: datetime = max(at.values())
    return Timing(
        first_risk_seq=seq,
        lead_messages=len(customer_after),
        lead_seconds=max(int((last - at[seq]).total_seconds()), 0),
        score=said.score,
        policy_version=policy.version,
    )


@dataclass(frozen=True)
class PolicyDryRun:
    """What a draft policy would have done on recent handoffs: "would have escalated 212 of 500,
    a median of 3 customer messages earlier than the bot did; 14 not at all"."""

    considered: int
    escalated: int
    median_messages_earlier: float | None
    never: int
    changed: list[tuple[int, int | None, int | None]]  # case, published's lead, the draft's


def dry_run(policy: Policy, limit: int = 500) -> PolicyDryRun:
    """Replay the last ``limit`` handoffs (what the bot had said and done before each) under
    ``policy``, as intake would have: the same inputs, the same timing."""
    cases = list(
        Case.objects.order_by("-handed_off_at")
        .only(
            "pk", "risk_lead_messages", "detected_intent", "detected_confidence",
            "customer_tier", "customer",
        )
        .prefetch_related(
            Prefetch(
                "messages",
                Message.objects.filter(phase=Message.Phase.BEFORE_HANDOFF).order_by("seq"),
                to_attr="before_handoff",
            ),
            Prefetch("attempted_steps", to_attr="steps_made"),
        )[:limit]
    )  # fmt: skip
    leads: list[int] = []
    never = 0
    changed = []
    for case in cases:
        timing = escalation_timing(
            case,
            policy,
            messages=case.before_handoff,
            steps=[(s.name, s.outcome) for s in case.steps_made],
        )
        if timing.first_risk_seq is None:
            never += 1
        else:
            leads.append(timing.lead_messages or 0)
        if timing.lead_messages != case.risk_lead_messages:
            changed.append((case.pk, case.risk_lead_messages, timing.lead_messages))
    return PolicyDryRun(
        considered=len(cases),
        escalated=len(leads),
        median_messages_earlier=statistics.median(leads) if leads else None,
        never=never,
        changed=changed[:50],
    )


# Frustration as agents and customers told the desk afterwards, for escalation_train.
FRUSTRATION_FLAGS = {"frustration", "urgency"}
LOW_CSAT, HIGH_CSAT = 2, 4


def desk_outcomes() -> Iterator[dict[str, Any]]:
    """Labelled conversations from the desk's own outcomes, in ``escalation.train.read_extra``'s
    form: what the customer and bot said before the handoff, and whether the customer needed a
    person. Yes: an agent confirmed a frustration flag, answered that the customer had to repeat,
    or the customer rated the help 1 or 2. No: an agent dismissed a frustration flag, or the
    customer rated 4 or 5 without having had to repeat."""
    confirmed = set(
        RiskFlagReview.objects.filter(flag__in=FRUSTRATION_FLAGS, verdict="confirmed").values_list(
            "case_id", flat=True
        )
    )
    dismissed = set(
        RiskFlagReview.objects.filter(flag__in=FRUSTRATION_FLAGS, verdict="dismissed").values_list(
            "case_id", flat=True
        )
    )
    repeated = set(Case.objects.filter(customer_repeated=True).values_list("pk", flat=True))
    scores = dict(CsatResponse.objects.values_list("case_id", "score"))
    labels: dict[int, bool] = {}
    for case_id, score in scores.items():
        if score >= HIGH_CSAT and case_id not in repeated:
            labels[case_id] = False
    labels |= dict.fromkeys(dismissed, False)
    yes = confirmed | repeated | {case_id for case_id, s in scores.items() if s <= LOW_CSAT}
    labels |= dict.fromkeys(yes, True)
    for case_id in sorted(labels):
        transcript = [
            {"role": role, "text": text, "id": str(seq)}
            for seq, role, text in Message.objects.filter(
                case_id=case_id,
                phase=Message.Phase.BEFORE_HANDOFF,
                role__in=[Message.Role.CUSTOMER, Message.Role.BOT],
            )
            .order_by("seq")
            .values_list("seq", "role", "text")
        ]
        if transcript:
            yield {"case_id": case_id, "transcript": transcript, "annoyed": labels[case_id]}
