"""What the customer is told, in their language: each catalogue (locale/) is used, the compiled
catalogues match their sources, and the English standard message is the queues' default."""

from __future__ import annotations

import ast
import gettext
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from cases.languages import SUPPORTED
from cases.models import Case
from cases.notices import (
    STANDARD_MESSAGE,
    agent_joined_text,
    customer_message,
    queue_update_message,
)
from cases.selectors import WaitEstimate
from queues.models import DEFAULT_CUSTOMER_MESSAGE, Queue
from tests.factories import CaseFactory, QueueFactory

pytestmark = pytest.mark.django_db

MIN = 60
LOCALE = Path(settings.LOCALE_PATHS[0])


@pytest.fixture
def queue() -> Queue:
    return QueueFactory(slug="billing", name="Billing", sla_seconds=10 * MIN)


def waiting_case(queue: Queue, language: str) -> Case:
    return CaseFactory(
        queue=queue,
        customer_name="Ana Ruiz",
        trigger_reason=Case.Trigger.REPEATED_FAILURE,
        current_intent="billing.refund",
        facts={},
        customer_language=language,
    )


LIVE = WaitEstimate(12 * MIN, "live", agents_online=2, handling_seconds=10 * MIN)

# The whole message, per language, for a case two of whose facts are missing.
HANDOFF_MESSAGES = {
    "es": (
        "Gracias por su paciencia, Ana. Le paso esta conversación a nuestro equipo de Billing "
        "porque no he podido resolverlo por mi cuenta. Usted es el número 3 en la fila. Tiempo "
        "de espera previsto: unos 12 minutos, teniendo en cuenta que hay 2 personas del equipo "
        "conectadas ahora y lo que han durado las últimas conversaciones. Para agilizar, tenga "
        "a mano su número de pedido, por favor. No tendrá que repetir nada: el equipo puede ver "
        "toda esta conversación."
    ),
    "fr": (
        "Merci de votre patience, Ana. Je transmets cette conversation à notre équipe Billing "
        "parce que je n'ai pas réussi à régler cela moi-même. Vous êtes numéro 3 dans la file "
        "d'attente. Attente prévue : environ 12 minutes, sachant que 2 personnes de l'équipe "
        "sont en ligne en ce moment, et d'après la durée des dernières conversations. Pour "
        "aller plus vite, merci de préparer votre numéro de commande. Vous n'aurez rien à "
        "répéter : l'équipe voit toute cette conversation."
    ),
    "de": (
        "Danke für Ihre Geduld, Ana. Ich übergebe dieses Gespräch an unser Billing-Team, weil "
        "ich das nicht selbst für Sie lösen konnte. Sie sind Nummer 3 in der Warteschlange. "
        "Voraussichtliche Wartezeit: etwa 12 Minuten, ausgehend von 2 Personen im Team, die "
        "gerade online sind, und der Dauer der letzten Gespräche. Damit es schneller geht, "
        "halten Sie bitte Ihre Bestellnummer bereit. Sie müssen nichts wiederholen: Das Team "
        "sieht dieses ganze Gespräch."
    ),
    "pt": (
        "Obrigado pela sua paciência, Ana. Estou transferindo esta conversa para a nossa equipe "
        "de Billing porque não consegui resolver isto por conta própria. Você é o número 3 na "
        "fila. Tempo de espera previsto: cerca de 12 minutos, considerando 2 pessoas da equipe "
        "online agora e a duração das últimas conversas. Para agilizar, tenha em mãos o número "
        "do seu pedido, por favor. Você não vai precisar repetir nada: a equipe pode ver toda "
        "esta conversa."
    ),
    "en": (
        "Thanks for your patience, Ana. I'm handing this conversation to our Billing team "
        "because I couldn't sort this out for you myself. You are number 3 in line and the "
        "expected wait is about 12 minutes, going by the 2 people on the team right now and how "
        "long recent conversations took. To speed things up, please have your order number "
        "ready. You won't need to repeat anything: they can see this whole conversation."
    ),
}


@pytest.mark.parametrize("language", sorted(HANDOFF_MESSAGES))
def test_the_handoff_message_is_written_in_the_customers_language(queue, language):
    case = waiting_case(queue, language)
    assert customer_message(case, 3, LIVE) == HANDOFF_MESSAGES[language]


QUEUE_UPDATES = {
    "en": (
        "You are now number 2 in line. The expected wait is a few minutes.",
        "You are next in line. The expected wait is about a minute: someone on the team is "
        "free to take it now.",
        "Sam from Billing has joined the conversation.",
    ),
    "es": (
        "Ahora es el número 2 en la fila. Tiempo de espera previsto: unos minutos.",
        "Su turno es el siguiente. Tiempo de espera previsto: aproximadamente un minuto: "
        "alguien del equipo está libre para atenderle ahora.",
        "Sam, del equipo de Billing, se ha unido a la conversación.",
    ),
    "fr": (
        "Vous êtes maintenant numéro 2 dans la file d'attente. Attente prévue : quelques minutes.",
        "Vous êtes en tête de la file d'attente. Attente prévue : environ une minute : "
        "quelqu'un de l'équipe est disponible pour vous répondre.",
        "Sam, de l'équipe Billing, a rejoint la conversation.",
    ),
    "de": (
        "Sie sind jetzt Nummer 2 in der Warteschlange. Voraussichtliche Wartezeit: wenige Minuten.",
        "Sie sind als Nächstes an der Reihe. Voraussichtliche Wartezeit: etwa eine Minute: "
        "Jemand aus dem Team hat gerade Zeit dafür.",
        "Sam vom Billing-Team ist dem Gespräch beigetreten.",
    ),
    "pt": (
        "Agora você é o número 2 na fila. Tempo de espera previsto: alguns minutos.",
        "Você está em primeiro lugar na fila. Tempo de espera previsto: cerca de um minuto: "
        "alguém da equipe está livre para atender você agora.",
        "Sam, da equipe de Billing, entrou na conversa.",
    ),
}


@pytest.mark.parametrize("language", sorted(QUEUE_UPDATES))
def test_queue_updates_and_the_agents_arrival_are_in_the_customers_language(queue, language):
    case = waiting_case(queue, language)
    second, first, joined = QUEUE_UPDATES[language]

    assert queue_update_message(case, 2, WaitEstimate(10 * MIN, "sla_target", 1)) == second
    assert queue_update_message(case, 1, WaitEstimate(MIN, "agent_free", 1)) == first
    assert agent_joined_text(case, "Sam") == joined


def test_a_case_from_before_languages_were_kept_is_told_in_english(queue):
    case = waiting_case(queue, "")
    assert customer_message(case, 3, LIVE) == HANDOFF_MESSAGES["en"]


def test_the_english_standard_message_is_the_queues_default_template():
    with translation.override("en"):
        assert str(STANDARD_MESSAGE) == DEFAULT_CUSTOMER_MESSAGE


def test_a_queues_own_template_is_for_english_and_others_get_the_standard_one(queue):
    queue.customer_message_template = "{queue_name}: wait {eta_text}, place {position}."
    queue.save()
    english, spanish = waiting_case(queue, "en"), waiting_case(queue, "es")

    assert customer_message(english, 4, WaitEstimate(10 * MIN, "sla_target")) == (
        "Billing: wait a few minutes, place 4."
    )
    assert customer_message(spanish, 4, WaitEstimate(10 * MIN, "sla_target")).startswith(
        "Gracias por su paciencia, Ana. Le paso esta conversación a nuestro equipo de Billing"
    )


def test_the_message_leaves_the_active_language_as_it_was(queue):
    with translation.override("en"):
        customer_message(waiting_case(queue, "de"), 1, LIVE)
        assert translation.get_language() == "en"


# --- the catalogues -----------------------------------------------------------------------


def read_po(path: Path) -> dict[object, str]:
    """msgid (with its context, and the plural forms as (msgid, n)) -> msgstr, from a .po."""
    entries: dict[object, str] = {}
    fields: dict[str, str] = {}
    current = ""

    def flush() -> None:
        if fields.get("msgid"):
            key = fields["msgid"]
            if "msgctxt" in fields:
                key = f"{fields['msgctxt']}\x04{key}"
            if "msgid_plural" in fields:
                for name, value in fields.items():
                    if name.startswith("msgstr["):
                        entries[(key, int(name[7:-1]))] = value
            else:
                entries[key] = fields.get("msgstr", "")
        fields.clear()

    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if not line.strip():
            flush()
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            fields[current] += ast.literal_eval(line)
        else:
            current, _, value = line.partition(" ")
            fields[current] = ast.literal_eval(value)
    return entries


def msgids(entries: dict[object, str]) -> set[object]:
    return {key[0] if isinstance(key, tuple) else key for key in entries}


def test_each_language_has_a_catalogue_and_its_compiled_copy_matches_it():
    assert [p.name for p in sorted(LOCALE.iterdir())] == sorted(SUPPORTED)
    english = read_po(LOCALE / "en" / "LC_MESSAGES" / "django.po")
    assert len(english) >= 20
    for language in SUPPORTED:
        folder = LOCALE / language / "LC_MESSAGES"
        source = read_po(folder / "django.po")
        # every sentence the desk says has an entry, and (but in English) a translation
        assert msgids(source) == msgids(english), language
        if language != "en":
            untranslated = [key for key, text in source.items() if not text]
            assert untranslated == [], language
        # the .mo the desk reads is the compiled .po (compilemessages was run)
        with (folder / "django.mo").open("rb") as mo:
            compiled = gettext.GNUTranslations(mo)._catalog
        assert {k: v for k, v in compiled.items() if k != ""} == {
            k: v for k, v in source.items() if v
        }, language
