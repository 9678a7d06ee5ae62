from __future__ import annotations

import pytest

from cases import detectors
from cases.schemas import HandoffPackage
from tests.factories import full_package


def package(*customer_texts: str, **overrides) -> HandoffPackage:
    data = full_package(risk_flags=[], trigger=None, **overrides)
    data["customer"] = {"id": "c1", "tier": "bronze", "lifetime_value": 10}
    data["transcript"] = [
        {"id": f"m{i}", "role": "customer", "text": text} for i, text in enumerate(customer_texts)
    ]
    return HandoffPackage.model_validate(data)


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("This is ridiculous, third time I ask", "frustration"),
        ("WHY IS NOTHING WORKING FOR ME", "frustration"),
        ("I need this fixed urgently", "urgency"),
        ("My lawyer will hear about this", "legal_threat"),
        ("I'll file a chargeback with my card", "chargeback_threat"),
        ("I think my account was hacked", "security"),
    ],
)
def test_flags_are_derived_from_the_customers_words_with_evidence(text, flag):
    evidence = detectors.derive_risk(package(text))

    found = {item.flag: item for item in evidence}
    assert flag in found
    assert found[flag].source == "derived" and found[flag].message == "m0"


def test_words_inside_other_words_do_not_count():
    assert detectors.derive_risk(package("The issue is about my pursuit of a refund")) == []


def test_bot_messages_are_not_evidence_against_the_customer():
    data = full_package(risk_flags=[])
    data["customer"] = {"id": "c1"}
    data["transcript"] = [{"role": "bot", "text": "Report fraud or a hacked account here"}]

    assert detectors.derive_risk(HandoffPackage.model_validate(data)) == []


@pytest.mark.parametrize(
    ("customer", "flagged"),
    [
        ({"tier": "Platinum"}, True),
        ({"lifetime_value": 2500}, True),
        ({"tier": "bronze", "lifetime_value": 100}, False),
    ],
)
def test_high_value_customers(customer, flagged):
    data = full_package(risk_flags=[])
    data["customer"] = customer
    data["transcript"] = [{"role": "customer", "text": "hello"}]

    flags = {e.flag for e in detectors.derive_risk(HandoffPackage.model_validate(data))}

    assert ("high_value" in flags) is flagged


def test_trigger_is_derived_from_the_strongest_signal():
    asked = package("can I talk to a real person please")
    failed = package(
        "it does not work",
        attempted_steps=[{"name": "a", "outcome": "failed"}, {"name": "b", "outcome": "failed"}],
    )
    unsure = package("hmm", intent={"name": "x", "confidence": 0.2}, attempted_steps=[])

    assert detectors.derive_trigger(asked, set())[0] == "customer_request"
    assert detectors.derive_trigger(failed, set())[0] == "repeated_failure"
    assert detectors.derive_trigger(unsure, set())[0] == "low_confidence"
    assert detectors.derive_trigger(unsure, {"security"})[0] == "policy_sensitive"


def test_missing_context_lists_each_gap():
    data = {"external_id": "x", "summary": "only a summary", "transcript": []}

    gaps = detectors.missing_context(HandoffPackage.model_validate(data))

    assert gaps == ["customer_identity", "intent", "attempted_steps", "customer_message"]
