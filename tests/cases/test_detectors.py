"""Risk flags, the trigger, missing context and restated requests, derived from what the
customer wrote (cases/detectors.py)."""

from __future__ import annotations

import pytest

from cases import detectors
from cases.package import HandoffPackage
from tests.factories import (
    full_package,
)


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


@pytest.mark.parametrize(
    ("before", "after", "restated"),
    [
        (
            "I was charged twice for order A-1009 last week",
            "I was charged twice for order A-1009",
            True,
        ),
        (
            "My router keeps dropping the wifi connection every evening",
            "the wifi connection keeps dropping every evening on my router",
            True,
        ),
        ("Order A-1009 never arrived", "order A-1009 has still not arrived at all", True),
        ("I was charged twice for order A-1009", "Thanks, the refund arrived!", False),
        ("I want a refund", "Also my address changed to 12 Main Street", False),
        ("hi", "hi", False),
    ],
)
def test_the_desk_notices_when_a_customer_restates_something(before, after, restated):
    assert detectors.restates(after, [before]) is restated


def test_repeat_detection_on_recorded_star_dialogues():
    import itertools

    from demo.replay import read_star
    from tests.servers import ROOT

    path = ROOT.parent / "shared" / "data" / "star" / "dialogues.jsonl.gz"
    if not path.exists():
        pytest.skip(f"STAR dialogues not found at {path}")
    flagged = restated = long_openings = total = 0
    for dialogue in itertools.islice(read_star(path), 300):
        said = [
            e["text"] for e in dialogue["events"] if e.get("role") == "customer" and e.get("text")
        ]
        if len(said) < 3:
            continue
        total += 1
        # a later turn of a real dialogue mostly says something new...
        flagged += detectors.restates(said[-1], said[:1])
        # ...and saying the opening request again is caught
        if len(detectors._words(said[0])) >= 3:
            long_openings += 1
            restated += detectors.restates(said[0], said[:1])
    assert total > 200
    assert flagged / total < 0.15
    assert long_openings > 50 and restated == long_openings
