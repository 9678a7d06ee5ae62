"""What the frustration model reads from a conversation, one message at a time.

The same code runs at training time and at run time, so the vocabulary the model learned and
the tokens it is shown at run time cannot drift apart. ``Features.add`` takes the next message;
``blocks()`` and ``cues()`` describe the conversation so far, so a score after every customer
message costs only the new message's tokens.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from escalation.conversation import BOT, CUSTOMER, Message

WORD = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern
PUNCT = re.compile(r"[!?.]{2,}|[!?]|\b[A-Z]{3,}\b|:\(|:\)")

# Customer word n-grams, customer character 3-5-grams (case kept: shouting), the bot's words and
# character n-grams (the bot apologising, failing, asking again), punctuation, and the last two
# customer messages on their own (where the conversation stands now).
BLOCKS = ("customer_words", "customer_chars", "bot_words", "bot_chars", "punctuation", "latest")
CUES = (
    "min_compound",
    "mean_compound",
    "max_negative",
    "mean_negative",
    "negative_messages",
    "bot_repeats",
    "customer_restates",
    "exclamations",
    "questions",
    "shouted_messages",
    "bot_apologies",
    "longest_customer_message",
)
NEGATIVE_COMPOUND = -0.3


def word_ngrams(text: str) -> list[str]:
    words = WORD.findall(text.lower())
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


def char_ngrams(text: str, low: int, high: int) -> list[str]:
    """Character n-grams inside word boundaries, each word padded with a space (char_wb)."""
    grams: list[str] = []
    for word in text.split():
        grams.extend(_word_char_ngrams(word, low, high))
    return grams


@lru_cache(maxsize=1 << 16)
def _word_char_ngrams(word: str, low: int, high: int) -> tuple[str, ...]:
    # Cached: most words recur (the bot's canned replies, "yes", names); halves scoring time.
    padded = f" {word} "
    return tuple(
        padded[i : i + n]
        for n in range(low, min(high, len(padded)) + 1)
        for i in range(len(padded) - n + 1)
    )


def punctuation_tokens(text: str) -> list[str]:
    return ["CAPS" if t[0].isalpha() else t[:4] for t in PUNCT.findall(text)]


# --- restating and repeating (the idea of cases/detectors.py's ``restates``) -----------------

STOPWORDS = frozenset((
    "the", "and", "for", "you", "your", "are", "was", "were", "have", "has", "had", "this",
    "that", "with", "from", "not", "but", "can", "could", "would", "will", "what", "when",
    "where", "which", "who", "how", "why", "just", "please", "thanks", "thank", "yes", "okay",
    "hello", "there", "here", "they", "them", "then", "than", "been", "being", "into", "about",
    "again", "still", "also", "very", "really",
))  # fmt: skip
CONTENT_WORD = re.compile(r"[a-z0-9][a-z0-9\-_.]*[a-z0-9]|[a-z0-9]", re.IGNORECASE)
RESTATE_OVERLAP = 0.6


def content_words(text: str) -> frozenset[str]:
    return frozenset(
        w
        for w in (m.group().lower() for m in CONTENT_WORD.finditer(text))
        if len(w) >= 3 and w not in STOPWORDS
    )


def restated(words: frozenset[str], earlier: list[frozenset[str]]) -> int | None:
    """Index of an earlier message this one says again (most of its content words were said
    before), or None. Fewer than three content words never count: "yes", "no", a name."""
    if len(words) < 3:
        return None
    for index, old in enumerate(earlier):
        if old and len(words & old) / len(words) >= RESTATE_OVERLAP:
            return index
    return None


def normalised(text: str) -> str:
    return " ".join(WORD.findall(text.lower()))


LETTER = re.compile(r"[^\W\d_]")


def shouted(text: str) -> bool:
    letters = len(LETTER.findall(text))
    return letters >= 12 and sum(map(str.isupper, text)) / letters > 0.7


# --- sentiment ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> tuple[float, float]:
    """VADER's compound (-1..1) and negative share (0..1) of one message."""
    scores = _vader().polarity_scores(text)
    return float(scores["compound"]), float(scores["neg"])


@dataclass(frozen=True)
class Reading:
    """One message as the model reads it. The same text always reads the same, so each text is
    read once per process (``read`` is cached): a bot that asks after every customer message
    sends the conversation again, and its own canned replies recur in every conversation.
    Nothing here may be mutated: the instances are shared."""

    # block -> the tokens in order, uncounted: a whole conversation's counts are one C-level
    # Counter over them (``model.FrustrationModel.scored``), not a Python loop per term
    said: Mapping[str, Sequence[str]]
    compound: float = 0.0
    negative: float = 0.0
    content: frozenset[str] = frozenset()
    key: str = ""
    exclamations: int = 0
    questions: int = 0
    shouted: bool = False
    apology: bool = False
    length: int = 0

    # Counted only when asked (training, the message-by-message scorer): assess's answer does
    # not need them (11% of its CPU on a never-seen conversation).
    @cached_property
    def tokens(self) -> dict[str, Counter[str]]:
        """Block -> the message's token counts (the "latest" block is built later)."""
        return {name: Counter(sequence) for name, sequence in self.said.items()}

    @cached_property
    def words(self) -> Counter[str]:
        """The message's word n-grams counted, for the "latest" block."""
        return self.tokens.get("customer_words", Counter())


APOLOGY = re.compile(
    r"\b(?:sorry|apologi[sz]e|unfortunately|unable|could not|couldn't|cannot|can't)\b", re.I
)


@lru_cache(maxsize=1 << 14)
def read(role: str, text: str) -> Reading:
    if role == CUSTOMER:
        said = {
            "customer_words": word_ngrams(text),
            "customer_chars": char_ngrams(text, 3, 5),
            "punctuation": punctuation_tokens(text),
        }
        compound, negative = sentiment(text)
        return Reading(
            said=said,
            compound=compound,
            negative=negative,
            content=content_words(text),
            exclamations=text.count("!"),
            questions=text.count("?"),
            shouted=shouted(text),
            length=len(text),
        )
    if role == BOT:
        said = {"bot_words": word_ngrams(text), "bot_chars": char_ngrams(text.lower(), 3, 5)}
        return Reading(
            said=said,
            key=normalised(text),
            apology=APOLOGY.search(text) is not None,
        )
    return Reading(said={})


class Features:
    """The model's view of a conversation so far; ``add`` the messages in order."""

    def __init__(self, *, count: bool = True) -> None:
        self.count = count  # keep each block's counts (training, the batch score)
        self.counts: dict[str, Counter[str]] = {name: Counter() for name in BLOCKS}
        self.customer: list[Reading] = []
        self.compounds: list[float] = []
        self.bot_seen: set[str] = set()
        self.bot_repeats = 0
        self.bot_apologies = 0
        self.customer_restates = 0
        self.exclamations = 0
        self.questions = 0
        self.shouted = 0
        self.longest = 0

    def add(self, message: Message) -> Reading:
        """Take the next message; returns how it was read (the tokens it added to each block)."""
        reading = read(message.role, message.text)
        if message.role == CUSTOMER:
            if restated(reading.content, [r.content for r in self.customer]) is not None:
                self.customer_restates += 1
            self.customer.append(reading)
            self.compounds.append(reading.compound)
            self.exclamations += reading.exclamations
            self.questions += reading.questions
            self.shouted += reading.shouted
            self.longest = max(self.longest, reading.length)
        elif message.role == BOT:
            if reading.key in self.bot_seen:
                self.bot_repeats += 1
            self.bot_seen.add(reading.key)
            self.bot_apologies += reading.apology
        if self.count:
            for name, tokens in reading.tokens.items():
                self.counts[name].update(tokens)
        return reading

    def latest(self) -> Counter[str]:
        latest: Counter[str] = Counter()
        for reading in self.customer[-2:]:
            latest.update(reading.words)
        return latest

    def blocks(self) -> dict[str, Counter[str]]:
        return {**self.counts, "latest": self.latest()}

    def cues(self) -> list[float]:
        compounds = self.compounds or [0.0]
        negatives = [r.negative for r in self.customer] or [0.0]
        return [
            min(compounds),
            sum(compounds) / len(compounds),
            max(negatives),
            sum(negatives) / len(negatives),
            float(sum(1 for c in self.compounds if c < NEGATIVE_COMPOUND)),
            math.log1p(self.bot_repeats),
            math.log1p(self.customer_restates),
            math.log1p(self.exclamations),
            math.log1p(self.questions),
            math.log1p(self.shouted),
            math.log1p(self.bot_apologies),
            math.log1p(self.longest),
        ]
