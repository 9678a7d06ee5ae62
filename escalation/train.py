"""Train the frustration model on STAR (plus the desk's own outcomes) and write ``model.json``.

    python -m escalation.train [--data PATH] [--extra outcomes.jsonl] [--out escalation/model.json]

Prints the 5-fold cross-validated ROC-AUC and average precision, then fits on every labelled
dialogue and writes the JSON artefact. Deterministic: fixed folds, a fixed solver seed and
rounded weights, so two runs write the same bytes. Every setting below was fixed before the
final run (C among 2, 4, 8 on the whole 5-fold figure, never on one fold); see the commit log.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from escalation import star
from escalation.conversation import Message, as_messages
from escalation.features import BLOCKS, CUES, Features
from escalation.model import ARTEFACT, FORMAT

# Documents a term must appear in to be kept; character n-grams need more to be worth a weight.
MIN_DF = {
    "customer_words": 2,
    "customer_chars": 3,
    "bot_words": 2,
    "bot_chars": 3,
    "punctuation": 1,
    "latest": 2,
}
# Each block is L2-normalised on its own, then scaled: the latest messages count half.
WEIGHT = {name: 1.0 for name in BLOCKS} | {"latest": 0.5}
CUE_WEIGHT = 0.5
C = 4.0
FOLDS = 5
SEED = 0
DIGITS = 6  # significant digits kept in the artefact


@dataclass(frozen=True)
class Example:
    """A labelled conversation: from STAR, or from the desk (a confirmed or dismissed risk
    flag, a "customer had to repeat" answer, a low CSAT)."""

    messages: Sequence[Message]
    annoyed: bool


@dataclass(frozen=True)
class Featurised:
    blocks: list[dict[str, Counter[str]]]
    cues: np.ndarray
    labels: np.ndarray


def featurise(examples: Sequence[Example]) -> Featurised:
    blocks, cues = [], []
    for example in examples:
        features = Features()
        for message in example.messages:
            features.add(message)
        blocks.append(features.blocks())
        cues.append(features.cues())
    labels = np.array([int(e.annoyed) for e in examples])
    return Featurised(blocks, np.array(cues, dtype=float), labels)


@dataclass
class Fitted:
    vocabulary: dict[str, list[str]]
    idf: dict[str, np.ndarray]
    cue_mean: np.ndarray
    cue_scale: np.ndarray
    model: LogisticRegression

    def matrix(self, data: Featurised, rows: np.ndarray) -> csr_matrix:
        parts = []
        for name in BLOCKS:
            index = {term: i for i, term in enumerate(self.vocabulary[name])}
            idf = self.idf[name]
            indptr: list[int] = [0]
            indices: list[int] = []
            values: list[float] = []
            for row in rows:
                cols, vals = [], []
                for term, count in data.blocks[row][name].items():
                    col = index.get(term)
                    if col is not None:
                        cols.append(col)
                        vals.append((1.0 + math.log(count)) * idf[col])
                norm = math.sqrt(sum(v * v for v in vals)) or 1.0
                indices.extend(cols)
                values.extend(v / norm * WEIGHT[name] for v in vals)
                indptr.append(len(indices))
            parts.append(csr_matrix((values, indices, indptr), shape=(len(rows), len(index))))
        cues = (data.cues[rows] - self.cue_mean) / self.cue_scale * CUE_WEIGHT
        parts.append(csr_matrix(cues))
        return hstack(parts).tocsr()

    def predict(self, data: Featurised, rows: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(self.matrix(data, rows))[:, 1]


def fit(data: Featurised, rows: np.ndarray) -> Fitted:
    vocabulary, idf = {}, {}
    n = len(rows)
    for name in BLOCKS:
        df: Counter[str] = Counter()
        for row in rows:
            df.update(data.blocks[row][name].keys())
        terms = sorted(t for t, k in df.items() if k >= MIN_DF[name])
        vocabulary[name] = terms
        # scikit-learn's smoothed idf: ln((1 + n) / (1 + df)) + 1
        idf[name] = np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in terms])
    cues = data.cues[rows]
    scale = cues.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=C, solver="liblinear", random_state=SEED, max_iter=1000)
    fitted = Fitted(vocabulary, idf, cues.mean(axis=0), scale, model)
    model.fit(fitted.matrix(data, rows), data.labels[rows])
    return fitted


def cross_validate(data: Featurised) -> dict[str, float]:
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=SEED)
    scores = np.zeros(len(data.labels))
    for train_rows, test_rows in folds.split(np.zeros(len(data.labels)), data.labels):
        scores[test_rows] = fit(data, train_rows).predict(data, test_rows)
    return {
        "folds": FOLDS,
        "roc_auc": round(float(roc_auc_score(data.labels, scores)), 4),
        "average_precision": round(float(average_precision_score(data.labels, scores)), 4),
    }


def _round(value: float) -> float:
    return float(f"{value:.{DIGITS}g}")


def artefact_of(fitted: Fitted, trained_on: dict[str, int], cv: dict[str, Any]) -> dict:
    coef = fitted.model.coef_[0]
    blocks, offset = {}, 0
    for name in BLOCKS:
        terms = fitted.vocabulary[name]
        weights = coef[offset : offset + len(terms)] * WEIGHT[name]
        blocks[name] = {
            term: [_round(fitted.idf[name][i]), _round(weights[i])] for i, term in enumerate(terms)
        }
        offset += len(terms)
    return {
        "format": FORMAT,
        "blocks": blocks,
        "cues": {
            "names": list(CUES),
            "mean": [_round(v) for v in fitted.cue_mean],
            "scale": [_round(v) for v in fitted.cue_scale],
            "coef": [_round(v * CUE_WEIGHT) for v in coef[offset:]],
        },
        "intercept": _round(float(fitted.model.intercept_[0])),
        "trained_on": trained_on,
        "cv": cv,
        "settings": {"C": C, "min_df": MIN_DF, "weight": WEIGHT, "cue_weight": CUE_WEIGHT},
    }


def examples_from_star(path: Path) -> list[Example]:
    return [Example(d.messages, bool(d.annoyed)) for d in star.labelled(path)]


def train(
    data_path: Path = star.DIALOGUES, extra_examples: Iterable[Example] | None = None
) -> tuple[dict, dict[str, Any]]:
    """Cross-validate, then fit on everything: (the artefact, its cross-validated figures)."""
    examples = examples_from_star(data_path)
    extra = list(extra_examples or ())
    data = featurise(examples + extra)
    cv = cross_validate(data)
    fitted = fit(data, np.arange(len(data.labels)))
    trained_on = {
        "star_dialogues": len(examples),
        "extra_examples": len(extra),
        "annoyed": int(data.labels.sum()),
    }
    return artefact_of(fitted, trained_on, cv), cv


def write(artefact: dict, path: Path = ARTEFACT) -> None:
    text = json.dumps(artefact, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    path.write_text(text + "\n", encoding="utf-8")


def read_extra(path: Path) -> list[Example]:
    """JSON lines: {"transcript": [{"role", "text", "id"}...], "annoyed": true|false}."""
    examples = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row: Mapping[str, Any] = json.loads(line)
                examples.append(Example(as_messages(row["transcript"]), bool(row["annoyed"])))
    return examples


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=star.DIALOGUES)
    parser.add_argument("--extra", type=Path, help="the desk's labelled outcomes, JSON lines")
    parser.add_argument("--out", type=Path, default=ARTEFACT)
    args = parser.parse_args(argv)
    extra = read_extra(args.extra) if args.extra else None
    artefact, cv = train(args.data, extra)
    write(artefact, args.out)
    on = artefact["trained_on"]
    print(
        f"{cv['folds']}-fold cross-validated on {on['star_dialogues'] + on['extra_examples']} "
        f"conversations ({on['annoyed']} annoyed): ROC-AUC {cv['roc_auc']:.4f}, "
        f"average precision {cv['average_precision']:.4f}"
    )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
