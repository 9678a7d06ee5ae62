from __future__ import annotations

import pytest

from escalation.assess import Policy, assess, first_risk
from escalation.conversation import Customer, Message, Step
from tests.escalation.conftest import conversation
from vocabulary import TriggerReason

TRIGGERS = set(TriggerReason.values)


def test_a_calm_conversation_is_not_escalated():
    messages = conversation(
        ("customer", "Hi, what's the weather tomorrow in Pittsburgh?"),
        ("bot", "It will be sunny all day, around 21 degrees."),
        ("customer", "Great, thank you!"),
    )

    result = assess(messages)

    assert not result.escalate
    assert result.reasons == ()
    assert result.first_risk_message_id is None
    assert result.suggested_trigger is None
    assert 0 <= result.score < Policy().frustration_threshold


def test_asking_for_a_person_escalates_from_that_message():
    # given a conversation where the customer asks for a person in their second message
    messages = conversation(
        ("customer", "I need to change my flight"),
        ("bot", "Could I get your name, please?"),
        ("customer", "Just connect me to a human agent"),
        ("bot", "Could I get your name, please?"),
        ("customer", "ok, it's Sam"),
    )
    # when it is assessed
    result = assess(messages).as_dict()
    # then
    assert result["escalate"] is True
    assert result["suggested_trigger"] == "customer_request"
    assert result["first_risk_message_id"] == "m2"
    assert result["reasons"][0]["signal"] == "human_request"
    assert result["reasons"][0]["message_ids"] == ["m2"]


def test_assess_on_each_prefix_agrees_with_first_risk():
    messages = conversation(
        ("customer", "I want to report fraud on my account"),
        ("bot", "Please provide your account number."),
        ("customer", "123456"),
        ("bot", "Sorry, that account could not be found."),
        ("customer", "What? Try again. 123456"),
        ("bot", "Sorry, that account could not be found."),
        ("customer", "unbelievable"),
    )
    steps = [Step("lookup", True, "m3"), Step("lookup", True, "m5")]
    policy = Policy(
        repeated_failure=True, failed_steps=2, policy_sensitive=False, frustration=False
    )

    # when the desk assesses after each customer message
    decisions = {
        messages[i].id: assess(
            messages[: i + 1],
            policy=policy,
            steps=[s for s in steps if int(s.message_id[1:]) <= i],
        ).escalate
        for i in range(len(messages))
        if messages[i].role == "customer"
    }

    # then the first one that escalates is first_risk's answer
    assert decisions == {"m0": False, "m2": False, "m4": False, "m6": True}
    assert first_risk(messages, policy=policy, steps=steps) == "m6"
    result = assess(messages, policy=policy, steps=steps)
    assert result.suggested_trigger == "repeated_failure"


def test_high_value_lowers_the_frustration_threshold_and_is_shown():
    messages = conversation(("customer", "This is taking forever, I'm annoyed"))
    score = assess(messages).score
    policy = Policy(frustration_threshold=0.99, high_value_frustration_threshold=score)

    plain = assess(messages, policy=policy)
    valued = assess(messages, policy=policy, customer=Customer(tier="gold"))

    assert not plain.escalate
    assert valued.escalate and valued.suggested_trigger == "frustration"
    assert [e["signal"] for e in valued.as_dict()["reasons"]] == ["frustration", "high_value"]


def test_failed_steps_and_loops_escalate_only_when_an_admin_switches_them_on():
    # given a calm customer, a bot that repeats itself and lookups that fail
    messages = conversation(
        ("customer", "I'd like to book a table for two"),
        ("bot", "Which restaurant would you like?"),
        ("customer", "Luigi's, tonight at eight"),
        ("bot", "Which restaurant would you like?"),
        ("customer", "Luigi's"),
        ("bot", "Which restaurant would you like?"),
        ("customer", "ok"),
    )
    steps = [Step("lookup", True, "m1"), Step("lookup", True, "m3"), Step("lookup", True, "m5")]
    # when it is assessed under the defaults, and with both signals switched on
    default = assess(messages, steps=steps)
    switched_on = assess(messages, steps=steps, policy=Policy(repeated_failure=True, loops=True))
    # then only the admin's policy escalates
    assert not default.escalate
    assert switched_on.escalate
    assert {e.signal for e in switched_on.reasons} >= {"repeated_failure", "loop"}


def test_switched_off_signals_do_not_escalate():
    messages = conversation(("customer", "get me a real person"))

    result = assess(messages, policy=Policy(human_request=False, frustration=False))

    assert not result.escalate


def test_a_policy_round_trips_through_json_values():
    policy = Policy(version=3, sensitive_terms=("gdpr",), failed_steps=4)

    again = Policy.from_dict({**policy.as_dict(), "unknown": 1})

    assert again == policy


def test_dict_messages_without_ids_are_known_by_index():
    result = assess(
        [
            {"role": "customer", "text": "hello"},
            {"role": "bot", "text": "hi"},
            {"role": "customer", "text": "I want a human"},
        ]
    )

    assert result.first_risk_message_id == "2"


def test_first_risk_is_where_assessing_each_prefix_first_escalates(star_dialogues):
    # given STAR dialogues with their lookups, and a policy where every signal can decide
    policy = Policy(
        urgency=True,
        repeated_failure=True,
        failed_steps=2,
        loops=True,
        bot_repeats=1,
        customer_restates=1,
    )
    for dialogue in star_dialogues[:150]:
        messages = dialogue.messages
        index_of = {m.id: i for i, m in enumerate(messages)}
        customer_at = [i for i, m in enumerate(messages) if m.role == "customer"]
        # when the desk assesses after each customer message (the last one: everything)
        expected = None
        for i in customer_at:
            last = i == customer_at[-1]
            known = [
                s for s in dialogue.steps if last or index_of.get(s.message_id, len(messages)) <= i
            ]
            prefix = messages if last else messages[: i + 1]
            if assess(prefix, policy=policy, steps=known, with_first_risk=False).escalate:
                expected = messages[i].id
                break
        # then first_risk names the same message
        assert first_risk(messages, policy=policy, steps=dialogue.steps) == expected, dialogue.id


def test_every_star_dialogue_is_assessed(star_dialogues):
    # given every STAR dialogue (labelled or not) with its lookups as steps
    escalated = 0
    for dialogue in star_dialogues:
        # when it is assessed
        result = assess(dialogue.messages, steps=dialogue.steps, intent=dialogue.intent)
        # then the answer is well formed
        assert 0.0 <= result.score <= 1.0
        if result.escalate:
            escalated += 1
            assert result.suggested_trigger in TRIGGERS
            assert result.first_risk_message_id in {m.id for m in dialogue.messages}
        else:
            assert result.suggested_trigger is None
    assert 0 < escalated < len(star_dialogues)


@pytest.mark.parametrize("messages", [[], [Message("bot", "Hello, how can I help?", "b0")]])
def test_no_customer_message_is_no_risk(messages):
    result = assess(messages)

    assert result.first_risk_message_id is None
    assert 0 <= result.score <= 1
