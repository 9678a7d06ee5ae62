from __future__ import annotations

from escalation import signals
from escalation.conversation import Customer, Step
from escalation.model import default_model
from tests.escalation.conftest import conversation


def test_asking_for_a_person_is_evidence_with_the_message():
    messages = conversation(
        ("customer", "my card was charged twice"),
        ("bot", "Could I get your name, please?"),
        ("customer", "No. Let me talk to a real person now"),
    )

    found = signals.human_request(messages)

    assert found is not None
    assert found.signal == "human_request"
    assert found.message_ids == ("m2",)
    assert "real person" in found.detail
    assert found.as_dict() == {
        "signal": "human_request",
        "detail": found.detail,
        "message_ids": ["m2"],
    }


def test_asking_what_the_bot_is_is_no_request_for_a_person():
    messages = conversation(("customer", "Are you a robot or a human?"))

    assert signals.human_request(messages) is None


def test_failed_steps_count_from_the_threshold():
    steps = [
        Step("lookup order", failed=True, message_id="m1"),
        Step("refund", failed=False, message_id="m3"),
        Step("lookup order again", failed=True, message_id="m5"),
    ]

    found = signals.repeated_failure(steps, min_failed=2)

    assert found is not None
    assert found.message_ids == ("m1", "m5")
    assert found.detail.startswith("2 failed steps")
    assert signals.repeated_failure(steps, min_failed=3) is None


def test_the_bot_repeating_itself_is_a_loop():
    messages = conversation(
        ("bot", "Could I get your name, please?"),
        ("customer", "Sam"),
        ("bot", "Could I get your name, please?"),
        ("customer", "I said Sam"),
        ("bot", "could I get your name please"),
    )

    found = signals.bot_loop(messages, min_repeats=2)

    assert found is not None
    assert found.signal == "loop"
    assert found.message_ids == ("m2", "m4")
    assert signals.bot_loop(messages, min_repeats=3) is None


def test_the_customer_restating_is_a_loop():
    messages = conversation(
        ("customer", "I need to cancel my hotel booking at the Hilton downtown"),
        ("bot", "What date would you like to book?"),
        ("customer", "No, cancel my booking at the Hilton downtown"),
    )

    found = signals.customer_restating(messages, min_restates=1)

    assert found is not None
    assert found.message_ids == ("m2",)


def test_low_confidence_needs_a_streak_of_customer_messages():
    messages = conversation(
        ("customer", "hi"),
        ("bot", "How can I help?"),
        ("customer", "the thing from before"),
        ("bot", "Sorry?"),
        ("customer", "the thing!"),
    )
    confidence = {"m0": 0.9, "m2": 0.3, "m4": 0.2}

    found = signals.low_confidence(messages, confidence, floor=0.5, min_streak=2)

    assert found is not None
    assert found.message_ids == ("m2", "m4")
    assert "lowest 0.20" in found.detail
    assert signals.low_confidence(messages, confidence, min_streak=3) is None
    # one figure describes the latest customer message: a streak of one
    assert signals.low_confidence(messages, 0.2, min_streak=1) is not None
    assert signals.low_confidence(messages, 0.2, min_streak=2) is None


def test_policy_sensitive_terms_come_from_the_caller():
    messages = conversation(("customer", "I will file a Chargeback with my bank"))

    found = signals.policy_sensitive(messages, terms=("chargeback",))

    assert found is not None
    assert found.message_ids == ("m0",)
    assert "chargeback" in found.detail
    assert signals.policy_sensitive(messages, terms=()) is None
    by_intent = signals.policy_sensitive(
        conversation(("customer", "hello")), terms=(), intent="Cancel", intents=("cancel",)
    )
    assert by_intent is not None and by_intent.message_ids == ()


def test_high_value_by_tier_or_lifetime_value():
    assert signals.high_value(Customer(tier="Gold")) is not None
    assert signals.high_value(Customer(lifetime_value=25_000)) is not None
    assert signals.high_value(Customer(tier="basic", lifetime_value=10)) is None
    assert signals.high_value(None) is None


def test_urgency_words_are_evidence():
    messages = conversation(("customer", "I need it fixed immediately!"))

    found = signals.urgency(messages)

    assert found is not None and found.message_ids == ("m0",)


def test_frustration_points_at_the_angry_message():
    model = default_model()
    calm = conversation(
        ("customer", "Hi, I would like to book a table for two tonight"),
        ("bot", "Sure, what time?"),
        ("customer", "8pm please, thank you so much"),
    )
    angry = conversation(
        ("customer", "Hi, I would like to book a table for two tonight"),
        ("bot", "Sorry, I could not process your request."),
        ("customer", "Why?? This is ridiculous, you are useless. I hate this stupid bot!!"),
    )

    calm_score, angry_score = model.score(calm), model.score(angry)
    found = signals.frustration(angry, model, threshold=min(angry_score, 0.99))

    assert angry_score > calm_score
    assert found is not None
    assert found.message_ids == ("m2",)
    assert signals.frustration(calm, model, threshold=calm_score + 0.01) is None
