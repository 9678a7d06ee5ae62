"""The case page's language line: the declared language, and the one the customer's own
messages read as when none was declared or it differs."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from cases.languages import detected_besides
from tests.factories import CaseFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db

SPANISH = "Hola, me cobraron dos veces el pedido y necesito que me devuelvan el dinero."
ENGLISH = "Hello, I was charged twice for my order and I need the money back please."
DETECTED = "(detected from the customer's messages)"


def language_line(declared: str | None, *texts: str) -> str:
    case = CaseFactory(customer={"language": declared} if declared else {})
    for text in texts:
        MessageFactory(case=case, role="customer", text=text)
    MessageFactory(case=case, role="bot", text="Lo siento, no puedo ayudar con eso ahora mismo.")
    browser = Client()
    browser.force_login(UserFactory(role="supervisor"))
    page = browser.get(f"/cases/{case.pk}/").content.decode()
    found = re.search(r'<li class="chip chip-language">(.*?)</li>', page, re.S)
    if found is None:
        return ""
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).replace("&#x27;", "'").split())


def test_no_language_declared_shows_the_detected_one():
    assert language_line(None, SPANISH) == f"Speaks Spanish {DETECTED}"


def test_a_declared_language_the_messages_agree_with_shows_once():
    assert language_line("es-MX", SPANISH) == "Speaks Mexican Spanish (es-MX)"


def test_a_declared_language_the_messages_contradict_shows_both():
    assert language_line("en", SPANISH) == f"Speaks English (en); writes in Spanish {DETECTED}"


def test_a_language_the_desk_has_no_messages_in_is_still_named_for_the_agent():
    italian = "Buongiorno, mi avete addebitato due volte lo stesso ordine, vorrei un rimborso."
    assert language_line(None, italian) == f"Speaks Italian {DETECTED}"


def test_too_little_to_tell_shows_only_what_was_declared():
    assert language_line(None, "ok") == ""
    assert language_line("de", "ok") == "Speaks German (de)"


def test_only_the_customers_words_count():
    # the bot's Spanish (language_line adds it) does not make an English customer Spanish
    assert language_line("en", ENGLISH) == "Speaks English (en)"


def test_detected_besides():
    assert detected_besides(None, [SPANISH]) == "es"
    assert detected_besides("pt-BR", [SPANISH]) == "es"
    assert detected_besides("ES", [SPANISH]) is None
    assert detected_besides("not a tag!", [SPANISH]) == "es"
    assert detected_besides("en", ["hi"]) is None
