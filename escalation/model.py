"""The learned frustration score at run time: plain JSON weights, scored in plain Python.

``model.json`` holds, per block of tokens, each kept term's idf and coefficient, and the cues'
means, scales and coefficients. Scoring is TF-IDF (sublinear counts, L2 per block) then the
logistic regression, exactly as ``escalation.train`` fitted it; nothing here imports
scikit-learn, and loading runs no code from the file (it is JSON, not a pickle).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain, repeat
from operator import mul
from pathlib import Path
from typing import Any

from escalation.conversation import CUSTOMER, Message
from escalation.features import BLOCKS, CUES, Features, read

ARTEFACT = Path(__file__).with_name("model.json")
FORMAT = "handoff-desk/escalation-frustration/1"


LOG_TABLE = 4096
SUBLINEAR = [0.0] + [1.0 + math.log(count) for count in range(1, LOG_TABLE)]
SQUARED = [tf * tf for tf in SUBLINEAR]


class ArtefactError(ValueError):
    pass


def sublinear(count: int) -> float:
    return SUBLINEAR[count] if count < LOG_TABLE else 1.0 + math.log(count)


def squared(count: int) -> float:
    return SQUARED[count] if count < LOG_TABLE else sublinear(count) ** 2


@dataclass(frozen=True)
class Block:
    terms: dict[str, tuple[float, float]]  # term -> (idf, coefficient * block weight)
    # term -> (idf, idf * coefficient, idf squared): what a hit needs, multiplied once at load
    prepared: dict[str, tuple[float, float, float]] = field(
        default_factory=dict, compare=False, repr=False
    )
    # term -> idf * coefficient + 1j * idf squared: both figures in one object, so a whole
    # conversation's terms are weighed by C-level maps and sums (``at_once``)
    weights: dict[str, complex] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.prepared:
            self.prepared.update(
                (term, (idf, idf * coef, idf * idf)) for term, (idf, coef) in self.terms.items()
            )
        if not self.weights:
            self.weights.update(
                (term, complex(w, sq)) for term, (_, w, sq) in self.prepared.items()
            )

    def at_once(self, counts: Mapping[str, int]) -> float:
        """``contribution`` without a Python loop per term: each term's weights looked up by
        a map (0 for a term the model does not know), the sublinear counts from a table, and
        the real part of one sum is the dot product, the imaginary part of another the squared
        norm (a complex times a float multiplies both parts by it, exactly)."""
        if not counts:
            return 0.0
        values = list(map(self.weights.get, counts, repeat(0j, len(counts))))
        more = counts.values()
        tf, square = (
            (SUBLINEAR.__getitem__, SQUARED.__getitem__)
            if max(more) < LOG_TABLE
            else (sublinear, squared)
        )
        total = sum(map(mul, map(tf, more), values)).real
        norm = sum(map(mul, map(square, more), values)).imag
        return total / math.sqrt(norm) if norm > 1e-12 else 0.0

    def contribution(self, counts: Mapping[str, int]) -> float:
        total = 0.0
        norm = 0.0
        terms = self.terms
        for term, count in counts.items():
            entry = terms.get(term)
            if entry is None:
                continue
            value = sublinear(count) * entry[0]
            norm += value * value
            total += value * entry[1]
        return total / math.sqrt(norm) if norm else 0.0


# A known term of one message: term, count, idf, idf * coefficient, idf squared.
Hit = tuple[str, int, float, float, float]


@dataclass(frozen=True)
class Resolved:
    """One message's known terms per block (unknown terms dropped), and its word n-grams for
    the "latest" block: what scoring needs of a message, looked up once per text."""

    blocks: tuple[tuple[str, tuple[Hit, ...]], ...]
    latest: tuple[Hit, ...]


RESOLVED_KEPT = 1 << 14  # messages' lookups kept per model (a few MB)


class Scorer:
    """A conversation's score kept up to date message by message: each block's dot product and
    squared norm change only by the terms the new message adds, so scoring after every customer
    message costs the new message's terms, not the whole conversation again."""

    def __init__(self, model: FrustrationModel) -> None:
        self.model = model
        self.features = Features(count=False)  # the scorer counts only the terms it knows
        self.seen: dict[str, dict[str, int]] = {name: {} for name in model.blocks}
        self.total = dict.fromkeys(model.blocks, 0.0)
        self.norm = dict.fromkeys(model.blocks, 0.0)
        self.latest: list[tuple[Hit, ...]] = []  # the last two customer messages' hits

    def add(self, message: Message) -> None:
        self.features.add(message)
        resolved = self.model.resolve(message.role, message.text)
        table = SUBLINEAR
        for name, hits in resolved.blocks:
            seen = self.seen[name]
            total, norm = self.total[name], self.norm[name]
            # The hot loop of assess (a hundred terms a message): table look-ups, no calls.
            for term, more, _idf, weighted, squared in hits:
                count = seen.get(term, 0)
                after = count + more
                seen[term] = after
                if after >= LOG_TABLE:
                    grow = sublinear(after) - sublinear(count)
                    total += grow * weighted
                    norm += (sublinear(after) ** 2 - sublinear(count) ** 2) * squared
                elif count:
                    a, b = table[after], table[count]
                    total += (a - b) * weighted
                    norm += (a * a - b * b) * squared
                else:
                    a = table[after]
                    total += a * weighted
                    norm += a * a * squared
            self.total[name], self.norm[name] = total, norm
        if message.role == CUSTOMER:
            self.latest = [*self.latest[-1:], resolved.latest]

    def logit(self) -> float:
        model = self.model
        z = model.intercept
        for name, total in self.total.items():
            norm = self.norm[name]  # "latest" stays 0 here: it is computed below
            if norm > 1e-12:
                z += total / math.sqrt(norm)
        z += _latest(self.latest)
        for value, mean, scale, coef in zip(
            self.features.cues(), model.cue_mean, model.cue_scale, model.cue_coef, strict=True
        ):
            z += coef * (value - mean) / scale
        return z

    def probability(self) -> float:
        return logistic(self.logit())


def _latest(messages: Sequence[tuple[Hit, ...]]) -> float:
    """The "latest" block's contribution: the last two customer messages' terms together."""
    if len(messages) == 1:
        hits: Iterable[tuple[int, float, float]] = (h[1:4] for h in messages[0])
    else:
        merged: dict[str, list[float]] = {}
        for message in messages:
            for term, count, idf, weighted, _squared in message:
                entry = merged.get(term)
                if entry is None:
                    merged[term] = [count, idf, weighted]
                else:
                    entry[0] += count
        hits = ((int(c), i, w) for c, i, w in merged.values())
    total = norm = 0.0
    for count, idf, weighted in hits:
        tf = sublinear(count)
        norm += tf * tf * idf * idf
        total += tf * weighted
    return total / math.sqrt(norm) if norm else 0.0


def logistic(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@dataclass(frozen=True)
class FrustrationModel:
    blocks: dict[str, Block]
    cue_mean: tuple[float, ...]
    cue_scale: tuple[float, ...]
    cue_coef: tuple[float, ...]
    intercept: float
    info: dict[str, Any]
    resolved: dict[tuple[str, str], Resolved] = field(
        default_factory=dict, compare=False, repr=False
    )

    def resolve(self, role: str, text: str) -> Resolved:
        key = (role, text)
        found = self.resolved.get(key)
        if found is None:
            reading = read(role, text)
            blocks = tuple(
                (name, _hits(self.blocks[name], counts)) for name, counts in reading.tokens.items()
            )
            found = Resolved(blocks, _hits(self.blocks["latest"], reading.words))
            if len(self.resolved) >= RESOLVED_KEPT:
                self.resolved.clear()  # simpler than an LRU, and as good for a bot's traffic
            self.resolved[key] = found
        return found

    @classmethod
    def from_artefact(cls, artefact: dict[str, Any]) -> FrustrationModel:
        if artefact.get("format") != FORMAT:
            raise ArtefactError(f"not a frustration model: format {artefact.get('format')!r}")
        if set(artefact["blocks"]) != set(BLOCKS) or tuple(artefact["cues"]["names"]) != CUES:
            raise ArtefactError("the artefact's blocks or cues differ from this code's")
        blocks = {
            name: Block({term: (float(v[0]), float(v[1])) for term, v in terms.items()})
            for name, terms in artefact["blocks"].items()
        }
        cues = artefact["cues"]
        return cls(
            blocks=blocks,
            cue_mean=tuple(map(float, cues["mean"])),
            cue_scale=tuple(map(float, cues["scale"])),
            cue_coef=tuple(map(float, cues["coef"])),
            intercept=float(artefact["intercept"]),
            info={k: artefact[k] for k in ("trained_on", "cv") if k in artefact},
        )

    def scorer(self) -> Scorer:
        return Scorer(self)

    def logit(self, features: Features) -> float:
        """The whole conversation at once from its counted features (``Features()``): the
        reference the message-by-message ``Scorer`` must agree with."""
        total = self.intercept
        for name, counts in features.blocks().items():
            total += self.blocks[name].contribution(counts)
        for value, mean, scale, coef in zip(
            features.cues(), self.cue_mean, self.cue_scale, self.cue_coef, strict=True
        ):
            total += coef * (value - mean) / scale
        return total

    def score(self, messages: Sequence[Message]) -> float:
        """Probability that the customer of this conversation is (becoming) annoyed."""
        return self.scored(messages)[0]

    def scored(self, messages: Sequence[Message]) -> tuple[float, Features]:
        """The score of the conversation as it stands, and the features it read (the signals
        show their sentiment). At once, not message by message: each block's counts are one
        Counter over the conversation's tokens, each distinct term weighed once (``replay``
        scores every prefix, for where a risk began; the two agree to 1e-9)."""
        features = Features(count=False)
        said: dict[str, list[Sequence[str]]] = {name: [] for name in self.blocks}
        for message in messages:
            for name, sequence in features.add(message).said.items():
                said[name].append(sequence)
        said["latest"] = [r.said["customer_words"] for r in features.customer[-2:]]
        z = self.intercept
        for name, sequences in said.items():
            if sequences:
                z += self.blocks[name].at_once(Counter(chain.from_iterable(sequences)))
        for value, mean, scale, coef in zip(
            features.cues(), self.cue_mean, self.cue_scale, self.cue_coef, strict=True
        ):
            z += coef * (value - mean) / scale
        return logistic(z), features

    def replay(self, messages: Sequence[Message]) -> Replay:
        """One pass: the score after each customer message, and at the end."""
        scorer = Scorer(self)
        by_prefix = []
        for index, message in enumerate(messages):
            scorer.add(message)
            if message.role == CUSTOMER:
                by_prefix.append((index, scorer.probability()))
        if messages and messages[-1].role == CUSTOMER:
            final = by_prefix[-1][1]
        else:
            final = scorer.probability()
        return Replay(final, scorer.features, by_prefix)

    def scores_by_prefix(self, messages: Sequence[Message]) -> Iterator[tuple[int, float]]:
        """(index, score) after each customer message, as the desk would have seen it then."""
        scorer = Scorer(self)
        for index, message in enumerate(messages):
            scorer.add(message)
            if message.role == CUSTOMER:
                yield index, scorer.probability()


@dataclass(frozen=True)
class Replay:
    score: float
    features: Features
    by_prefix: list[tuple[int, float]]  # (message index, score) after each customer message


def _hits(block: Block, counts: Mapping[str, int]) -> tuple[Hit, ...]:
    prepared = block.prepared
    return tuple(
        (term, count, *entry)
        for term, count in counts.items()
        if (entry := prepared.get(term)) is not None
    )


def load(path: Path = ARTEFACT) -> FrustrationModel:
    with path.open(encoding="utf-8") as handle:
        return FrustrationModel.from_artefact(json.load(handle))


@lru_cache(maxsize=1)
def default_model() -> FrustrationModel:
    """The shipped model, read once per process."""
    return load(ARTEFACT)
