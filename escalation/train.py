"""Train the frustration model on STAR (plus the desk's own outcomes) and write ``model.json``.

    python -m escalation.train [--data PATH] [--extra outcomes.jsonl] [--out escalation/model.json]

Prints the 5-fold cross-validated ROC-AUC and average precision (nested: the regularisation C
is chosen by an inner cross-validation of each outer fold's training rows), then chooses C the
same way on every labelled dialogue, fits on them all and writes the JSON artefact.
Deterministic: fixed folds, a fixed solver seed and rounded weights, so two runs write the same
bytes. The other settings below are fixed defaults, not tuned on the reported figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, diags, hstack
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
# The regularisation is chosen by cross-validation on the training rows alone (inside each
# outer fold for the reported figures, so they never see the fold they are measured on).
C_GRID = (1.0, 2.0, 4.0)
INNER_FOLDS = 3
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
    """Every conversation's raw term counts per block (one vocabulary over all of them; each
    fit keeps the terms of its own training rows), its cues and its label."""

    counts: dict[str, csr_matrix]
    terms: dict[str, list[str]]
    cues: np.ndarray
    labels: np.ndarray


def featurise(examples: Sequence[Example]) -> Featurised:
    index: dict[str, dict[str, int]] = {name: {} for name in BLOCKS}
    parts: dict[str, tuple[list[int], list[float], list[int]]] = {
        name: ([], [], [0]) for name in BLOCKS
    }
    cues = []
    for example in examples:
        features = Features()
        for message in example.messages:
            features.add(message)
        for name, counts in features.blocks().items():
            columns, values, indptr = parts[name]
            vocabulary = index[name]
            for term, count in counts.items():
                columns.append(vocabulary.setdefault(term, len(vocabulary)))
                values.append(count)
            indptr.append(len(columns))
        cues.append(features.cues())
    matrices = {
        name: csr_matrix(
            (np.array(values, dtype=float), columns, indptr),
            shape=(len(examples), len(index[name])),
        )
        for name, (columns, values, indptr) in parts.items()
    }
    terms = {name: list(vocabulary) for name, vocabulary in index.items()}
    labels = np.array([int(e.annoyed) for e in examples])
    return Featurised(matrices, terms, np.array(cues, dtype=float), labels)


@dataclass
class Fitted:
    columns: dict[str, np.ndarray]  # the kept terms' columns in ``Featurised.counts``
    idf: dict[str, np.ndarray]
    cue_mean: np.ndarray
    cue_scale: np.ndarray
    model: LogisticRegression

    def matrix(self, data: Featurised, rows: np.ndarray) -> csr_matrix:
        """TF-IDF with sublinear counts, L2 per block, as ``escalation.model`` scores it."""
        parts = []
        for name in BLOCKS:
            block = data.counts[name][rows][:, self.columns[name]].tocsr()
            block.data = 1.0 + np.log(block.data)
            block = block @ diags(self.idf[name])
            norms = np.sqrt(np.asarray(block.multiply(block).sum(axis=1)).ravel())
            norms[norms == 0] = 1.0
            parts.append(diags(WEIGHT[name] / norms) @ block)
        cues = (data.cues[rows] - self.cue_mean) / self.cue_scale * CUE_WEIGHT
        parts.append(csr_matrix(cues))
        return hstack(parts).tocsr()

    def predict(self, data: Featurised, rows: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(self.matrix(data, rows))[:, 1]


def fit(data: Featurised, rows: np.ndarray, c: float) -> Fitted:
    columns, idf = {}, {}
    n = len(rows)
    for name in BLOCKS:
        df = np.asarray((data.counts[name][rows] > 0).sum(axis=0)).ravel()
        kept = np.flatnonzero(df >= MIN_DF[name])
        # Sorted by term, so the artefact does not depend on the order the data came in.
        kept = kept[np.argsort([data.terms[name][i] for i in kept], kind="stable")]
        columns[name] = kept
        # scikit-learn's smoothed idf: ln((1 + n) / (1 + df)) + 1
        idf[name] = np.log((1 + n) / (1 + df[kept])) + 1.0
    cues = data.cues[rows]
    scale = cues.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, solver="liblinear", random_state=SEED, max_iter=1000)
    fitted = Fitted(columns, idf, cues.mean(axis=0), scale, model)
    model.fit(fitted.matrix(data, rows), data.labels[rows])
    return fitted


def out_of_fold(data: Featurised, rows: np.ndarray, folds: int, c: float | None) -> np.ndarray:
    """Scores of ``rows``, each from a model fitted without its fold (C chosen inside when
    ``c`` is None)."""
    labels = data.labels[rows]
    split = StratifiedKFold(folds, shuffle=True, random_state=SEED)
    scores = np.zeros(len(rows))
    for train_at, test_at in split.split(np.zeros(len(rows)), labels):
        chosen = choose_c(data, rows[train_at]) if c is None else c
        scores[test_at] = fit(data, rows[train_at], chosen).predict(data, rows[test_at])
    return scores


def choose_c(data: Featurised, rows: np.ndarray) -> float:
    """The C of the grid with the best ROC-AUC over an inner cross-validation of ``rows``."""
    labels = data.labels[rows]
    best = max(
        C_GRID,
        key=lambda c: roc_auc_score(labels, out_of_fold(data, rows, INNER_FOLDS, c)),
    )
    return float(best)


def cross_validate(data: Featurised) -> dict[str, Any]:
    """Nested: C is chosen within each outer fold's training rows."""
    scores = out_of_fold(data, np.arange(len(data.labels)), FOLDS, None)
    return {
        "folds": FOLDS,
        "roc_auc": round(float(roc_auc_score(data.labels, scores)), 4),
        "average_precision": round(float(average_precision_score(data.labels, scores)), 4),
    }


def _round(value: float) -> float:
    return float(f"{value:.{DIGITS}g}")


def artefact_of(
    fitted: Fitted, data_terms: Mapping[str, list[str]], trained_on: dict, cv: dict[str, Any]
) -> dict:
    coef = fitted.model.coef_[0]
    blocks, offset = {}, 0
    for name in BLOCKS:
        terms = [data_terms[name][i] for i in fitted.columns[name]]
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
        "settings": {
            "C": float(fitted.model.C),
            "min_df": MIN_DF,
            "weight": WEIGHT,
            "cue_weight": CUE_WEIGHT,
        },
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
    everything = np.arange(len(data.labels))
    cv["C"] = choose_c(data, everything)
    fitted = fit(data, everything, cv["C"])
    trained_on = {
        "star_dialogues": len(examples),
        "extra_examples": len(extra),
        "annoyed": int(data.labels.sum()),
    }
    return artefact_of(fitted, data.terms, trained_on, cv), cv


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
        f"average precision {cv['average_precision']:.4f} (nested); C {cv['C']:g}"
    )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
