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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from escalation.conversation import CUSTOMER, Message
from escalation.features import BLOCKS, CUES, Features

ARTEFACT = Path(__file__).with_name("model.json")
FORMAT = "handoff-desk/escalation-frustration/1"


LOG_TABLE = 256
SUBLINEAR = [0.0] + [1.0 + math.log(count) for count in range(1, LOG_TABLE)]


class ArtefactError(ValueError):
    pass


def sublinear(count: int) -> float:
    return SUBLINEAR[count] if count < LOG_TABLE else 1.0 + math.log(count)


@dataclass(frozen=True)
class Block:
    terms: dict[str, tuple[float, float]]  # term -> (idf, coefficient * block weight)

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


class Scorer:
    """A conversation's score kept up to date message by message: each block's dot product and
    squared norm change only by the terms the new message adds, so scoring after every customer
    message costs the new message's tokens, not the whole conversation again."""

    def __init__(self, model: FrustrationModel) -> None:
        self.model = model
        self.features = Features(count=False)  # the scorer counts only the terms it knows
        self.seen: dict[str, dict[str, int]] = {name: {} for name in model.blocks}
        self.total = dict.fromkeys(model.blocks, 0.0)
        self.norm = dict.fromkeys(model.blocks, 0.0)

    def add(self, message: Message) -> None:
        for name, tokens in self.features.add(message).items():
            known = self.model.blocks[name].terms.get
            seen = self.seen[name]
            total, norm = self.total[name], self.norm[name]
            for term, more in Counter(tokens).items():
                entry = known(term)
                if entry is None:
                    continue
                count = seen.get(term, 0)
                seen[term] = count + more
                idf, coef = entry
                after = sublinear(count + more) * idf
                before = sublinear(count) * idf  # 0 for a new term
                total += (after - before) * coef
                norm += after * after - before * before
            self.total[name], self.norm[name] = total, norm

    def logit(self) -> float:
        model = self.model
        z = model.intercept
        for name, total in self.total.items():
            norm = self.norm[name]  # "latest" stays 0 here: it is recomputed below
            if norm > 1e-12:
                z += total / math.sqrt(norm)
        z += model.blocks["latest"].contribution(self.features.latest())
        for value, mean, scale, coef in zip(
            self.features.cues(), model.cue_mean, model.cue_scale, model.cue_coef, strict=True
        ):
            z += coef * (value - mean) / scale
        return z

    def probability(self) -> float:
        return logistic(self.logit())


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
        """The whole conversation at once: cheaper than a ``Scorer`` for one score (each term
        is looked up once, however many messages have it)."""
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
        """The score, and the features it read (the signals show their sentiment)."""
        features = Features()
        for message in messages:
            features.add(message)
        return logistic(self.logit(features)), features

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


def load(path: Path = ARTEFACT) -> FrustrationModel:
    with path.open(encoding="utf-8") as handle:
        return FrustrationModel.from_artefact(json.load(handle))


@lru_cache(maxsize=1)
def default_model() -> FrustrationModel:
    """The shipped model, read once per process."""
    return load(ARTEFACT)
