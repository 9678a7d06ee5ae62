from __future__ import annotations

from typing import Any

import pytest

from queues.routing import CompiledRules, RuleSpec, route
from tests.factories import full_package


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (cond("intent.name", "eq", "billing.refund"), True),
        (cond("intent.name", "eq", "BILLING.REFUND"), True),
        (cond("intent.name", "ne", "billing.refund"), False),
        (cond("intent.name", "in", ["a", "billing.refund"]), True),
        (cond("intent.name", "not_in", ["billing.refund"]), False),
        (cond("intent.name", "starts_with", "billing."), True),
        (cond("intent.confidence", "gte", 0.5), True),
        (cond("intent.confidence", "lte", 0.5), False),
        (cond("customer.tier", "in", ["gold", "platinum"]), True),
        (cond("customer.lifetime_value", "gte", 4200), True),
        (cond("customer.language", "eq", "en"), True),
        (cond("trigger.reason", "eq", "repeated_failure"), True),
        (cond("risk_flags", "contains", "chargeback_threat"), True),
        (cond("risk_flags", "in", ["security", "chargeback_threat"]), True),
        (cond("channel", "eq", "web_chat"), True),
        (cond("facts.order_id", "starts_with", "A-"), True),
        (cond("facts.amount", "gte", 40), True),  # numeric text compares as a number
        (cond("facts.coupon", "missing"), True),
        (cond("facts.order_id", "exists"), True),
        (cond("transcript.customer_text", "contains", "charged TWICE"), True),
        # cannot be evaluated: false, never an exception
        (cond("intent.confidence", "gte", "high"), False),
        (cond("customer.tier", "gte", 3), False),
        (cond("intent.name", "in", "not-a-list"), False),
        ({"field": "intent.name"}, False),
        ({"op": "eq"}, False),
        ({"all": [cond("customer.tier", "eq", "gold"), cond("channel", "eq", "web_chat")]}, True),
        ({"any": [cond("customer.tier", "eq", "bronze"), cond("channel", "eq", "sms")]}, False),
        (
            {"all": [{"any": [cond("channel", "eq", "sms"), cond("customer.tier", "eq", "gold")]}]},
            True,
        ),
    ],
)
def test_operators_and_fields(condition, expected):
    [(_, holds)] = CompiledRules.of([RuleSpec("one", condition, "q")]).trace(full_package())

    assert holds is expected


def test_first_matching_enabled_rule_decides_and_explains():
    rules = [
        RuleSpec("Disabled", {"all": []}, "nowhere", enabled=False),
        RuleSpec("Spanish", {"all": [cond("customer.language", "eq", "es")]}, "spanish"),
        RuleSpec(
            "VIP", {"all": [cond("customer.tier", "in", ["gold", "platinum"])]}, "vip", 2, 120
        ),
        RuleSpec("Billing", {"all": [cond("intent.name", "starts_with", "billing")]}, "billing"),
    ]

    decision = route(full_package(), rules, "general")

    assert decision.queue == "vip" and decision.priority == 2 and decision.sla_seconds == 120
    assert decision.matched_rule == "VIP"
    assert decision.explanation == "VIP: customer.tier in [gold, platinum] → vip, priority high"
    assert decision.tried == ["Spanish"]


def test_no_match_goes_to_the_default_queue():
    decision = route(
        {"transcript": []}, [RuleSpec("X", {"all": [cond("channel", "eq", "sms")]}, "x")], "general"
    )

    assert decision.queue == "general" and decision.matched_rule is None
    assert "default queue general" in decision.explanation
