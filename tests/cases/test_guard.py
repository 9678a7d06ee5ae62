"""The no-repeat guard (cases/guard.py): a reply that asks the customer for something the
package already holds is caught, with the value and where it came from."""

from __future__ import annotations

import pytest

from cases.guard import KnownValue, case_repeat_asks, fact_label, repeat_asks
from tests.factories import CaseFactory, MessageFactory

FACTS = {"order_id": "A-1009", "tracking_number": "ZX-77", "amount": "49.99"}
CUSTOMER = {"name": "Ana Ruiz", "email": "ana@example.com"}


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            "Could you send me your order number?",
            [KnownValue("Order ID", "A-1009", "fact from the bot")],
        ),
        (
            "Please confirm your email.",
            [KnownValue("Email address", "ana@example.com", "customer record")],
        ),
        (
            "What is the tracking number?",
            [KnownValue("Tracking number", "ZX-77", "fact from the bot")],
        ),
        ("How much was the amount?", [KnownValue("Amount", "49.99", "fact from the bot")]),
    ],
)
def test_asking_for_what_the_package_holds_is_caught_with_its_value(reply, expected):
    assert repeat_asks(reply, facts=FACTS, customer=CUSTOMER) == expected


@pytest.mark.parametrize(
    "reply",
    [
        "Thanks, I have your order A-1009 in front of me.",  # mentions it, asks nothing
        "I've sent you an email with the refund details.",  # an email is not the address
        "Could you tell me what happened next?",  # asks for nothing the desk holds
    ],
)
def test_a_reply_that_does_not_ask_for_a_known_value_passes(reply):
    assert repeat_asks(reply, facts=FACTS, customer=CUSTOMER) == []


def test_a_value_the_customer_typed_to_the_bot_counts_when_no_fact_holds_it():
    # given: no phone number in the facts or the customer record, but in what the customer said
    said = ["my number is +44 20 7946 0958, call me"]

    # when
    found = repeat_asks("Which phone number can we reach you on?", facts={}, customer={},
                        customer_texts=said)  # fmt: skip

    # then
    assert found == [KnownValue("Phone number", "+44 20 7946 0958", "the customer told the bot")]


def test_each_known_value_is_reported_once_however_often_it_is_asked():
    reply = "Could you share your order number? And please confirm the order ID again?"

    assert len(repeat_asks(reply, facts=FACTS, customer=CUSTOMER)) == 1


@pytest.mark.parametrize(
    ("key", "label"),
    [("order_id", "Order ID"), ("trackingNumber", "Tracking number"), ("vat-no", "VAT no")],
)
def test_a_facts_key_reads_as_a_person_would_say_it(key, label):
    assert fact_label(key) == label


@pytest.mark.django_db
def test_a_case_is_checked_against_its_facts_record_and_transcript():
    # given: a case whose customer gave their email to the bot only
    case = CaseFactory(facts={}, customer={"name": "Ana"})
    MessageFactory(case=case, text="it's ana.r@example.org if you need it")

    # when / then
    assert case_repeat_asks(case, "Can you give me your email address?") == [
        KnownValue("Email address", "ana.r@example.org", "the customer told the bot")
    ]
    assert case_repeat_asks(case, "I'm looking into it now.") == []
