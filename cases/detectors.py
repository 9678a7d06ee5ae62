"""Detectors that read a handoff package: derived risk flags with their evidence, the escalation
trigger when the bot sent none, and the key context the package lacks.

Pure functions over the validated package, so the assess endpoint (DESIGN section 7) and the
intake share them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings

from cases.package import HandoffPackage, TranscriptMessage
from vocabulary import POLICY_FLAGS, is_high_value_tier

# Word lists, matched on whole words / phrases, case-insensitively. Small on purpose: each hit is
# shown to the agent as evidence, so a false positive is visible and cheap.
PHRASES: dict[str, tuple[str, ...]] = {
    "frustration": (
        "ridiculous",
        "useless",
        "frustrated",
        "frustrating",
        "annoyed",
        "angry",
        "furious",
        "fed up",
        "waste of time",
        "third time",
        "again and again",
        "not helpful",
        "this is a joke",
        "terrible",
        "awful",
        "worst",
        "unacceptable",
        "stupid bot",
        "doesn't understand",
        "you don't understand",
        "not listening",
    ),
    "urgency": (
        "urgent",
        "urgently",
        "asap",
        "immediately",
        "right now",
        "emergency",
        "right away",
        "as soon as possible",
        "deadline",
    ),
    "legal_threat": (
        "lawyer",
        "attorney",
        "sue",
        "suing",
        "lawsuit",
        "legal action",
        "court",
        "small claims",
        "ombudsman",
        "regulator",
    ),
    "chargeback_threat": (
        "chargeback",
        "charge back",
        "dispute the charge",
        "dispute with my bank",
        "call my bank",
        "reverse the charge",
        "report you to my bank",
    ),
    "security": (
        "hacked",
        "fraud",
        "fraudulent",
        "stolen",
        "unauthorized",
        "unauthorised",
        "phishing",
        "compromised",
        "scam",
        "identity theft",
        "someone else logged",
        "didn't make this",
    ),
}
# Asking for a person, not merely mentioning one ("are you a robot or a human?" is not).
HUMAN_REQUEST = (
    "real person", "real human", "human agent", "live agent", "live person", "actual person",
    "talk to a human", "speak to a human", "speak with a human", "talk to an agent",
    "speak to an agent", "speak with an agent", "talk to someone", "speak to someone",
    "speak with someone", "representative", "operator", "your supervisor", "your manager",
    "connect me to",
)  # fmt: skip


def _phrase_pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in phrases)
    return re.compile(rf"(?<![\w'])(?:{alternatives})(?![\w'])", re.IGNORECASE)


PATTERNS = {flag: _phrase_pattern(phrases) for flag, phrases in PHRASES.items()}
HUMAN_PATTERN = _phrase_pattern(HUMAN_REQUEST)


@dataclass(frozen=True)
class Evidence:
    flag: str
    source: str  # "bot" (sent in the package) or "derived"
    evidence: str
    message: str | None = None  # transcript message id or index

    def as_dict(self) -> dict[str, str | None]:
        return {
            "flag": self.flag,
            "source": self.source,
            "evidence": self.evidence,
            "message": self.message,
        }


def customer_messages(package: HandoffPackage) -> list[tuple[str, TranscriptMessage]]:
    return [
        (message.id or str(index), message)
        for index, message in enumerate(package.transcript)
        if message.role == "customer"
    ]


def _shouting(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.7


def derive_risk(package: HandoffPackage) -> list[Evidence]:
    """Every risk flag of the case: the bot's own, then those found in the customer's words."""
    found: list[Evidence] = [
        Evidence(flag, "bot", "sent by the bot") for flag in package.risk_flags
    ]
    flagged = set(package.risk_flags)
    for ref, message in customer_messages(package):
        for flag, pattern in PATTERNS.items():
            if flag in flagged:
                continue
            match = pattern.search(message.text)
            if match:
                found.append(Evidence(flag, "derived", _snippet(message.text, match), ref))
                flagged.add(flag)
        if "frustration" not in flagged and (_shouting(message.text) or "!!!" in message.text):
            found.append(Evidence("frustration", "derived", _snippet(message.text, None), ref))
            flagged.add("frustration")
    if "high_value" not in flagged:
        reason = high_value_reason(package)
        if reason:
            found.append(Evidence("high_value", "derived", reason))
    return found


def high_value_reason(package: HandoffPackage) -> str | None:
    customer = package.customer
    if customer is None:
        return None
    if is_high_value_tier(customer.tier):
        return f"customer tier is {customer.tier}"
    floor = settings.HANDOFF_HIGH_VALUE_LTV
    if customer.lifetime_value is not None and customer.lifetime_value >= floor:
        return f"lifetime value {customer.lifetime_value:,.2f} ≥ {floor:,.0f}"
    return None


def _snippet(text: str, match: re.Match[str] | None, width: int = 60) -> str:
    if match is None:
        return text[: width * 2]
    start = max(match.start() - width, 0)
    end = min(match.end() + width, len(text))
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


def derive_trigger(package: HandoffPackage, flags: set[str]) -> tuple[str, str]:
    """The escalation trigger when the bot sent none: the strongest signal in the package."""
    for ref, message in reversed(customer_messages(package)):
        if HUMAN_PATTERN.search(message.text):
            return "customer_request", f"customer asked for a person (message {ref})"
    failed = [step.name for step in package.attempted_steps if step.outcome == "failed"]
    if len(failed) >= 2:
        return "repeated_failure", f"{len(failed)} failed steps: {', '.join(failed[:5])}"
    if flags & POLICY_FLAGS:
        return "policy_sensitive", ", ".join(sorted(flags & POLICY_FLAGS))
    if "frustration" in flags:
        return "frustration", "frustration in the customer's words"
    confidence = package.intent.confidence if package.intent else None
    if confidence is not None and confidence < settings.HANDOFF_CONFIDENCE_FLOOR:
        return "low_confidence", f"intent confidence {confidence:.2f}"
    if "high_value" in flags:
        return "high_value", "high-value customer"
    return "other", ""


def missing_context(package: HandoffPackage) -> list[str]:
    """Key context the agent would otherwise have to ask the customer for."""
    missing = []
    customer = package.customer
    if customer is None or not (customer.id or customer.email or customer.phone):
        missing.append("customer_identity")
    if package.intent is None:
        missing.append("intent")
    if not package.attempted_steps:
        missing.append("attempted_steps")
    if not customer_messages(package):
        missing.append("customer_message")
    return missing


# --- did the customer have to say it again? -------------------------------------------------

STOPWORDS = frozenset((
    "the", "and", "for", "you", "your", "are", "was", "were", "have", "has", "had", "this",
    "that", "with", "from", "not", "but", "can", "could", "would", "will", "what", "when",
    "where", "which", "who", "how", "why", "just", "please", "thanks", "thank", "yes", "okay",
    "hello", "there", "here", "they", "them", "then", "than", "been", "being", "into", "about",
    "again", "still", "also", "very", "really",
))  # fmt: skip
WORD = re.compile(r"[a-z0-9][a-z0-9\-_.]*[a-z0-9]|[a-z0-9]", re.IGNORECASE)


def _words(text: str) -> set[str]:
    return {
        w
        for w in (m.group().lower() for m in WORD.finditer(text))
        if len(w) >= 3 and w not in STOPWORDS
    }


def _facts_in(words: set[str]) -> set[str]:
    # Order numbers, account numbers, amounts: anything with a digit in it.
    return {w for w in words if any(c.isdigit() for c in w)}


def restates(message: str, earlier: list[str]) -> bool:
    """True when a message after the handoff says again what the customer told the bot: most
    of its words were said before, or it repeats the same facts with much the same words."""
    new = _words(message)
    if len(new) < 3:
        return False
    for before in earlier:
        old = _words(before)
        if not old:
            continue
        overlap = len(new & old) / len(new)
        if overlap >= 0.6:
            return True
        if overlap >= 0.4 and _facts_in(new) and _facts_in(new) <= _facts_in(old):
            return True
    return False
