"""The no-repeat guard: a reply that asks the customer for something the desk already holds.

The promise of a handoff is that the customer never repeats themselves. Before a reply goes
out, its asking sentences ("Could you send me your order number?") are matched against what
the package carries: the facts the bot extracted, the customer record, and what the customer
typed to the bot (an email address, a phone number, an order reference). Each hit is shown to
the agent with its value, so they can use it instead of asking.

Plain rules over words, on purpose: they run on every pause in typing and must explain
themselves ("you already have Order ID: A-1009, from the bot").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cases.models import Case, Message

# A sentence asks for something when it is a question or a request.
ASKING = re.compile(
    r"\?|\b(?:could|can|would|will) you\b|\bplease\b|\bwhat(?:'s| is| was| are)\b|\bwhich\b"
    r"|\bconfirm\b|\bprovide\b|\bshare\b|\bsend (?:me|us|over)\b|\blet (?:me|us) know\b"
    r"|\bi(?:'ll| will)? need\b|\bwe(?:'ll| will)? need\b|\bmay i have\b",
    re.IGNORECASE,
)
SENTENCES = re.compile(r"(?<=[.?!\n])\s+")


@dataclass(frozen=True)
class Topic:
    """Something an agent might ask for: how a reply names it, and where the package holds it."""

    label: str
    asked: re.Pattern[str]
    fact_keys: re.Pattern[str]
    customer_keys: tuple[str, ...] = ()
    said: re.Pattern[str] | None = None  # how the customer would have typed it to the bot


TOPICS = (
    Topic(
        "Order number",
        re.compile(r"\border\s*(?:number|no\b|id\b|#|ref)|\border\b", re.I),
        re.compile(r"^order(?:_?(?:id|number|no|ref|reference))?$", re.I),
        said=re.compile(r"\b(?=[A-Z0-9-]*\d)[A-Z]{1,4}-?\d{3,}\b"),
    ),
    Topic(
        "Email address",
        re.compile(r"\be-?mail\b", re.I),
        re.compile(r"e-?mail", re.I),
        customer_keys=("email",),
        said=re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    ),
    Topic(
        "Phone number",
        re.compile(r"\b(?:phone|mobile|cell)\b|number (?:to|we can) (?:call|reach)", re.I),
        re.compile(r"phone|mobile", re.I),
        customer_keys=("phone",),
        said=re.compile(r"\+?\d[\d ()-]{7,}\d"),
    ),
    Topic(
        "Account",
        re.compile(r"\baccount\s*(?:number|no\b|id\b|#)", re.I),
        re.compile(r"^account(?:_?(?:id|number|no))?$", re.I),
    ),
    Topic(
        "Username",
        re.compile(r"\buser\s*name\b|\blogin\b", re.I),
        re.compile(r"user_?name|login", re.I),
    ),
    Topic(
        "Name",
        re.compile(r"\byour (?:full |first |last )?name\b", re.I),
        re.compile(r"^(?:full_?)?name$", re.I),
        customer_keys=("name",),
    ),
    Topic(
        "Amount",
        re.compile(r"\bamount\b|\bhow much\b", re.I),
        re.compile(r"amount|total|price", re.I),
    ),
    Topic(
        "Address",
        re.compile(r"\b(?:address|post ?code|zip)\b", re.I),
        re.compile(r"address|post_?code|zip", re.I),
    ),
    Topic(
        "Booking reference",
        re.compile(r"\b(?:booking|reservation|confirmation)\s*(?:number|code|ref|id)?\b", re.I),
        re.compile(r"booking|reservation|confirmation", re.I),
    ),
    Topic(
        "Invoice",
        re.compile(r"\binvoice\b", re.I),
        re.compile(r"invoice", re.I),
    ),
)
# A customer email in a reply about "sending an email" is not asking for the address.
NOT_ASKING = re.compile(r"\b(?:i|we)(?:'ve| have)? (?:sent|emailed)\b", re.I)


@dataclass(frozen=True)
class KnownValue:
    label: str
    value: str
    source: str


ACRONYMS = {"id", "url", "iban", "vat", "sku", "otp", "ip", "pin", "ssn"}


def fact_label(key: str) -> str:
    """``order_id`` → "Order ID": how a person reads a fact's key."""
    words = re.sub(r"([a-z])([A-Z])", r"\1 \2", key).replace("_", " ").replace("-", " ").split()
    if not words:
        return key
    shown = [w.upper() if w.lower() in ACRONYMS else w.lower() for w in words]
    shown[0] = shown[0][:1].upper() + shown[0][1:]
    return " ".join(shown)


def _asking_sentences(text: str) -> list[str]:
    return [s for s in SENTENCES.split(text) if ASKING.search(s) and not NOT_ASKING.search(s)]


def _holdings(
    topic: Topic,
    facts: Mapping[str, Any],
    customer: Mapping[str, Any],
    customer_texts: Iterable[str],
) -> list[KnownValue]:
    found = [
        KnownValue(fact_label(str(key)), str(value), "fact from the bot")
        for key, value in facts.items()
        if topic.fact_keys.search(str(key)) and str(value).strip()
    ]
    found += [
        KnownValue(topic.label, str(customer[key]), "customer record")
        for key in topic.customer_keys
        if str(customer.get(key) or "").strip()
    ]
    if not found and topic.said is not None:
        for text in customer_texts:
            match = topic.said.search(text)
            if match:
                found.append(KnownValue(topic.label, match.group(0), "the customer told the bot"))
                break
    return found


def _generic_fact_asks(sentence: str, facts: Mapping[str, Any]) -> list[KnownValue]:
    """A fact no topic knows (``tracking_number``), asked for by its own words."""
    hits = []
    lowered = sentence.lower()
    for key, value in facts.items():
        words = fact_label(str(key)).lower().split()
        if len(words) >= 2 and all(re.search(rf"\b{re.escape(w)}\b", lowered) for w in words):
            hits.append(KnownValue(fact_label(str(key)), str(value), "fact from the bot"))
    return hits


def repeat_asks(
    text: str,
    *,
    facts: Mapping[str, Any],
    customer: Mapping[str, Any],
    customer_texts: Iterable[str] = (),
) -> list[KnownValue]:
    """What ``text`` asks the customer for that the package already holds, each value once."""
    said = list(customer_texts)
    found: dict[tuple[str, str], KnownValue] = {}
    for sentence in _asking_sentences(text):
        for topic in TOPICS:
            if topic.asked.search(sentence):
                for known in _holdings(topic, facts, customer, said):
                    found.setdefault((known.label, known.value), known)
        for known in _generic_fact_asks(sentence, facts):
            found.setdefault((known.label, known.value), known)
    return list(found.values())


def case_repeat_asks(case: Case, text: str) -> list[KnownValue]:
    if not _asking_sentences(text):
        return []  # most replies ask nothing: no transcript read
    customer_texts = case.messages.filter(role=Message.Role.CUSTOMER).values_list("text", flat=True)
    return repeat_asks(
        text, facts=case.facts or {}, customer=case.customer or {}, customer_texts=customer_texts
    )
