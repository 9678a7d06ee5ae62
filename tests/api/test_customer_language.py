"""The handoff answer's customer message in the customer's language, and the warning when the
desk has no messages in it (POST /api/v1/handoffs)."""

from __future__ import annotations

from typing import Any

import pytest

from cases.models import Case, Delivery
from tests.factories import full_package

pytestmark = pytest.mark.django_db

FRENCH = [
    {"id": "m1", "role": "customer", "text": "Bonjour, j'ai été débité deux fois."},
    {"id": "m2", "role": "bot", "text": "I can help with refunds. What is your order number?"},
    {"id": "m3", "role": "customer", "text": "Je ne le trouve pas, je veux parler à quelqu'un."},
]


def without_language(**overrides: Any) -> dict[str, Any]:
    package = full_package(**overrides)
    del package["customer"]["language"]
    return package


@pytest.mark.parametrize(
    ("language", "opening"),
    [
        ("es-MX", "Gracias por su paciencia, Ana. Le paso esta conversación"),
        ("fr", "Merci de votre patience, Ana. Je transmets cette conversation"),
        ("de-DE", "Danke für Ihre Geduld, Ana. Ich übergebe dieses Gespräch"),
        ("pt-BR", "Obrigado pela sua paciência, Ana. Estou transferindo esta conversa"),
        ("en", "Thanks for your patience, Ana. I'm handing this conversation"),
    ],
)
def test_the_packages_language_writes_the_customer_message(api, language, opening):
    package = full_package()
    package["customer"]["language"] = language

    answer = api.post("/api/v1/handoffs", package)

    assert answer.status_code == 201
    body = answer.json()
    assert body["customer_message"].startswith(opening)
    assert body["warnings"] == []
    assert Case.objects.get(pk=body["case_id"]).customer_language == language[:2]


def test_without_a_language_the_customers_messages_decide(api):
    answer = api.post("/api/v1/handoffs", without_language(transcript=FRENCH))

    body = answer.json()
    assert answer.status_code == 201
    assert body["customer_message"].startswith("Merci de votre patience, Ana.")
    assert body["warnings"] == []


def test_another_language_falls_back_to_english_and_the_answer_says_so(api, integration):
    integration.callback_url = "https://bot.example/hooks"
    integration.save()
    package = full_package()
    package["customer"]["language"] = "it"

    answer = api.post("/api/v1/handoffs", package)

    body = answer.json()
    assert answer.status_code == 201
    assert body["customer_message"].startswith("Thanks for your patience, Ana.")
    assert body["warnings"] == [
        "customer.language 'it' (Italian) has no customer messages at the desk: the customer "
        "message is in English (the desk writes in en, es, fr, de, pt)"
    ]
    # the bot's callback carries the same English message
    accepted = Delivery.objects.get(case_id=body["case_id"], kind="handoff.accepted")
    assert accepted.payload["data"]["customer_message"] == body["customer_message"]


def test_detected_other_language_is_warned_beside_unknown_fields(api):
    italian = [{"role": "customer", "text": "Buongiorno, il mio ordine non è mai arrivato a casa."}]
    package = without_language(transcript=italian, mood="cross")

    body = api.post("/api/v1/handoffs", package).json()

    assert body["warnings"][0] == "unknown field ignored: mood"
    assert body["warnings"][1].startswith("the customer's messages read as Italian (it)")


def test_an_update_that_cannot_tell_the_language_keeps_the_cases(api):
    first = api.post("/api/v1/handoffs", without_language(transcript=FRENCH)).json()

    again = without_language(transcript=[{"id": "m9", "role": "customer", "text": "ok"}])
    second = api.post("/api/v1/handoffs", again)

    assert second.status_code == 200
    assert second.json()["case_id"] == first["case_id"]
    assert second.json()["customer_message"].startswith("Merci de votre patience, Ana.")
    assert Case.objects.get(pk=first["case_id"]).customer_language == "fr"
