"""Dry runs: what a draft rule set would do to recent real handoffs, beside the published set."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cases.models import Case, Message
from queues.routing import CompiledRules, Decision, RuleSpec


def routing_package(case: Case, customer_texts: Sequence[str]) -> dict[str, Any]:
    """A stored handoff as the routing engine saw it: the bot's intent, not an agent's fix."""
    return {
        "channel": case.channel,
        "customer": case.customer,
        "intent": {"name": case.detected_intent, "confidence": case.detected_confidence}
        if case.detected_intent
        else {},
        "trigger": {"reason": case.trigger_reason},
        "risk_flags": case.risk_flags,
        "facts": case.facts,
        "transcript": [{"role": "customer", "text": text} for text in customer_texts],
    }


def case_package(case: Case) -> dict[str, Any]:
    """One stored handoff as the routing engine saw it (the rule editor's "test a package")."""
    texts = case.messages.filter(
        role=Message.Role.CUSTOMER, phase=Message.Phase.BEFORE_HANDOFF
    ).values_list("text", flat=True)
    return routing_package(case, list(texts))


def recent_packages(limit: int) -> list[tuple[Case, dict[str, Any]]]:
    cases = list(
        Case.objects.order_by("-handed_off_at", "-pk").only(
            "pk",
            "channel",
            "customer",
            "detected_intent",
            "detected_confidence",
            "trigger_reason",
            "risk_flags",
            "facts",
            "customer_name",
            "routing_rule",
        )[:limit]
    )
    texts: dict[int, list[str]] = defaultdict(list)
    for case_id, text in (
        Message.objects.filter(
            case_id__in=[c.pk for c in cases],
            role=Message.Role.CUSTOMER,
            phase=Message.Phase.BEFORE_HANDOFF,
        )
        .order_by("case_id", "seq")
        .values_list("case_id", "text")
    ):
        texts[case_id].append(text)
    return [(case, routing_package(case, texts[case.pk])) for case in cases]


@dataclass
class Moved:
    case: Case
    before: Decision
    after: Decision


@dataclass
class DryRun:
    total: int = 0
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_rule: Counter[str] = field(default_factory=Counter)
    sample: list[Moved] = field(default_factory=list)

    # Templates look names up as keys first, and a Counter answers 0 to any key: lists instead.
    @property
    def move_rows(self) -> list[tuple[tuple[str, str], int]]:
        return self.moves.most_common()

    @property
    def rule_rows(self) -> list[tuple[str, int]]:
        return self.by_rule.most_common()

    @property
    def moved(self) -> int:
        return sum(self.moves.values())

    def summary(self) -> str:
        if not self.moved:
            return f"None of the last {self.total} handoffs would move."
        parts = ", ".join(f"{n} {a} → {b}" for (a, b), n in self.moves.most_common())
        return f"{self.moved} of the last {self.total} would move: {parts}"


def dry_run(
    draft: Sequence[RuleSpec],
    published: Sequence[RuleSpec],
    default_queue: str,
    *,
    limit: int = 500,
    sample_size: int = 20,
) -> DryRun:
    result = DryRun()
    draft_rules, published_rules = CompiledRules.of(draft), CompiledRules.of(published)
    for case, package in recent_packages(limit):
        result.total += 1
        before = published_rules.route(package, default_queue)
        after = draft_rules.route(package, default_queue)
        result.by_rule[after.matched_rule or "(default queue)"] += 1
        if before.queue != after.queue:
            result.moves[(before.queue, after.queue)] += 1
            if len(result.sample) < sample_size:
                result.sample.append(Moved(case, before, after))
    return result
