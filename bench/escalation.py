"""Escalation on STAR: the frustration model and the default policy, beside two baselines.

    .venv/bin/python bench/escalation.py [--json F] [--calls N] [--http-calls N] [--before DIR]

In one run, on every labelled STAR dialogue (../shared/data/star; label: the wizard's "did the
user become annoyed", never an input), with the 5 stratified folds of ``escalation.train``:

1. The model, fitted on four folds (with the shipped C, which ``escalation_train`` chose by
   cross-validation; it also prints the nested figures) and scored on the fifth by the desk's
   pure-Python scorer: ROC-AUC and average precision of the out-of-fold scores.
2. The default policy (``Policy()``) with each fold's model, replayed message by message: a
   conversation is escalated if the policy would have at any customer message. Precision and
   recall; for annoyed conversations, the median share of customer messages seen by then. Each
   signal's own precision and recall (with every signal switched on, whole conversations).
3. Baselines: ``cases/detectors.py``'s word lists (score: customer messages with a hit; policy:
   the first hit), VADER (minus the customer's mean compound; the first compound <= -0.5).
4. ``assess`` latency on 50-message conversations (STAR dialogues concatenated): in process on
   a conversation never seen (caches emptied: wall and CPU p50/p99), and as a bot calls it
   (the transcript seen up to its last message pair), in a fresh interpreter; with --before,
   another checkout timed the same way in turns; over HTTP (uvicorn, one worker).

Targets (#15): ROC-AUC >= 0.85, AP >= 0.40, p99 < 10 ms in process; exit 0 only if all pass.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.lib import db, procs  # noqa: E402
from bench.lib.stats import summary  # noqa: E402
from escalation import features, star, train  # noqa: E402  (needs ROOT on sys.path)
from escalation.assess import Policy, _decide, first_risk  # noqa: E402
from escalation.conversation import CUSTOMER, Message  # noqa: E402
from escalation.model import FrustrationModel  # noqa: E402

VADER_FLOOR = -0.5
LATENCY_MESSAGES = 50


def word_list_hit() -> Callable[[str], bool]:
    db.setup_django()  # cases.detectors imports the API schemas (django-ninja reads the settings)
    from cases.detectors import HUMAN_PATTERN, PATTERNS, _shouting

    patterns = [*PATTERNS.values(), HUMAN_PATTERN]
    return lambda t: any(p.search(t) for p in patterns) or _shouting(t) or "!!!" in t


def figures(
    name: str, labels: np.ndarray, scores: np.ndarray, firsts: list, dialogues: list
) -> dict:
    flagged = np.array([f is not None for f in firsts])
    true_pos = int((flagged & (labels == 1)).sum())
    shares = []
    for d, f, y in zip(dialogues, firsts, labels, strict=True):
        if y == 1 and f is not None:
            customer = [m.id for m in d.messages if m.role == CUSTOMER]
            shares.append((customer.index(f) + 1) / len(customer))
    return {"name": name, "roc_auc": float(roc_auc_score(labels, scores)),
            "average_precision": float(average_precision_score(labels, scores)),
            "escalated": int(flagged.sum()), "precision": true_pos / max(int(flagged.sum()), 1),
            "recall": true_pos / max(int(labels.sum()), 1),
            "median_share_seen": statistics.median(shares) if shares else None}  # fmt: skip


def baseline(
    name: str, dialogues: list, labels: np.ndarray, fires: Callable, score: Callable
) -> dict:
    """A baseline's figures: ``score`` of the customer's texts; its policy, the first firing."""
    firsts = [
        next((m.id for m in d.messages if m.role == CUSTOMER and fires(m.text)), None)
        for d in dialogues
    ]
    customer = [[m.text for m in d.messages if m.role == CUSTOMER] for d in dialogues]
    return figures(name, labels, np.array([score(c) for c in customer]), firsts, dialogues)


def conversations(dialogues: Sequence[star.Dialogue], count: int) -> list[list[Message]]:
    pool = [m for d in dialogues for m in d.messages]
    step = max((len(pool) - LATENCY_MESSAGES) // count, 1)
    return [
        [Message(m.role, m.text, f"x{i}") for i, m in enumerate(pool[s : s + LATENCY_MESSAGES])]
        for s in range(0, len(pool) - LATENCY_MESSAGES, step)
    ][:count]


# Run in a fresh interpreter inside a checkout (this one, or --before's): the same timing for
# both. A call "never seen": every per-text and per-word cache emptied first. "As a bot calls
# it": the same transcript assessed up to its last message pair just before.
TIMER = """
import json, os, sys, time
sys.path.insert(0, os.getcwd())
from escalation import features
from escalation.assess import assess
from escalation.conversation import Message
from escalation.model import default_model
chats = [[Message(*m) for m in chat] for chat in json.load(open(sys.argv[1]))]
model = default_model()
assess(chats[0], model=model)  # the artefact and VADER's lexicon are loaded
out = {"wall": [], "cpu": [], "grown": [], "grown_cpu": []}
for chat in chats:
    features.read.cache_clear()
    features._word_char_ngrams.cache_clear()
    model.resolved.clear()
    cpu, wall = time.process_time(), time.perf_counter()
    assess(chat, model=model)
    out["wall"].append(time.perf_counter() - wall)
    out["cpu"].append(time.process_time() - cpu)
    assess(chat[:-2], model=model)
    cpu, wall = time.process_time(), time.perf_counter()
    assess(chat, model=model)
    out["grown"].append(time.perf_counter() - wall)
    out["grown_cpu"].append(time.process_time() - cpu)
print(json.dumps(out))
"""
ROUNDS = 3  # the trees take turns, so a change in the machine's load falls on both


def latency(chats: list[list[Message]], trees: dict[str, Path]) -> dict[str, dict]:
    """``assess`` at 50 messages in each checkout, timed by ``TIMER`` in turns."""
    found: dict[str, dict[str, list[float]]] = {name: defaultdict(list) for name in trees}
    loads = []
    with tempfile.TemporaryDirectory() as folder:
        for turn in range(ROUNDS):
            part = Path(folder) / f"chats{turn}.json"
            rows = [[(m.role, m.text, m.id) for m in chat] for chat in chats[turn::ROUNDS]]
            part.write_text(json.dumps(rows))
            for name, tree in trees.items():
                loads.append(os.getloadavg()[0])
                done = subprocess.run(
                    [sys.executable, "-c", TIMER, str(part)],
                    cwd=tree, capture_output=True, text=True, check=True,
                )  # fmt: skip
                for key, values in json.loads(done.stdout).items():
                    found[name][key].extend(values)
    return {
        name: {"calls": len(v["wall"]), "load_average": statistics.fmean(loads)}
        | {f"{key}_ms": summary(values, 1e3) for key, values in v.items()}
        for name, v in found.items()
    }


class Http(threading.Thread):
    """The bench database, an API key and uvicorn, made ready while the folds are fitted."""

    def __init__(self, args: object, env: dict[str, str], logs: str) -> None:
        super().__init__(daemon=True)
        self.args, self.env, self.logs, self.error = args, env, logs, ""
        self.server: procs.Server | None = None

    def run(self) -> None:
        try:
            db.prepare(self.args, self.env)  # type: ignore[arg-type]
            self.server = procs.Server(self.env, 1, Path(self.logs))
            self.server.wait_ready()
        except (Exception, SystemExit) as failed:  # reported; the rest of the run stands
            self.error = str(failed)[:300]

    def measure(self, chats: list[list[Message]]) -> dict:
        import httpx

        from bench.lib import app

        self.join()
        if self.error or self.server is None:
            return {"error": self.error or "no server"}
        headers = {"Authorization": f"Bearer {app.integration_create(name='bench-assess')[1]}"}
        walls: list[float] = []
        statuses: Counter[int] = Counter()
        with httpx.Client(base_url=self.server.base_url, trust_env=False) as client:
            for chat in [chats[0], *chats]:  # the first warms the worker
                body = {"transcript": [{"id": m.id, "role": m.role, "text": m.text} for m in chat]}
                started = time.perf_counter()
                statuses[client.post("/api/v1/assess", json=body, headers=headers).status_code] += 1
                walls.append(time.perf_counter() - started)
        self.server.stop()
        return {"calls": len(walls) - 1, "wall_ms": summary(walls[1:], 1e3), "status": statuses}


def main(argv: Sequence[str] | None = None) -> int:
    parser = db.arguments(__doc__.split("\n\n")[0], "handoff_bench_escalation")
    parser.add_argument("--data", type=Path, default=star.DIALOGUES)
    parser.add_argument("--calls", type=int, default=300, help="assess calls timed in process")
    parser.add_argument("--http-calls", type=int, default=200, help="over HTTP (0: none)")
    parser.add_argument(
        "--before", type=Path, help="another checkout (e.g. a git worktree of main) timed in turn"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    env = db.environment(db.database_url(args.database_url, args.database_name))
    http = Http(args, env, tempfile.mkdtemp(prefix="handoff-bench-"))
    if args.http_calls > 0:
        http.start()

    dialogues = star.labelled(args.data)
    data = train.featurise([train.Example(d.messages, bool(d.annoyed)) for d in dialogues])
    labels = data.labels
    shipped_c = float(json.loads(train.ARTEFACT.read_text())["settings"]["C"])
    policy = Policy()
    every = dataclasses.replace(policy, repeated_failure=True, loops=True, urgency=True)
    scores = np.zeros(len(labels))
    firsts: list[str | None] = [None] * len(labels)
    deciding: dict[str, set[int]] = defaultdict(set)
    folds = StratifiedKFold(train.FOLDS, shuffle=True, random_state=train.SEED)
    for train_rows, test_rows in folds.split(np.zeros(len(labels)), labels):
        fitted = train.fit(data, train_rows, shipped_c)
        model = FrustrationModel.from_artefact(train.artefact_of(fitted, data.terms, {}, {}))
        for row in test_rows:
            d = dialogues[row]
            replay = model.replay(d.messages)
            scores[row] = replay.score
            firsts[row] = first_risk(
                d.messages, policy=policy, model=model, steps=d.steps, intent=d.intent,
                replay=replay,
            )  # fmt: skip
            reasons, _ = _decide(
                d.messages, (replay.score, replay.features), policy=every, model=model,
                steps=d.steps, confidence=None, intent=d.intent, customer=None,
            )  # fmt: skip
            for evidence in reasons:
                deciding[evidence.signal].add(row)
    rows = [figures("model + default policy", labels, scores, firsts, dialogues)]
    hit = word_list_hit()
    rows.append(baseline("word lists (cases/detectors.py)", dialogues, labels, hit,
                         lambda texts: sum(map(hit, texts))))  # fmt: skip

    def compound(text: str) -> float:
        return features.read(CUSTOMER, text).compound

    rows.append(baseline("VADER alone", dialogues, labels, lambda t: compound(t) <= VADER_FLOOR,
                         lambda c: -statistics.fmean(map(compound, c or [""]))))  # fmt: skip

    chats = conversations(dialogues, args.calls)
    trees = {"this checkout": ROOT} | ({"before": args.before} if args.before else {})
    timings = latency(chats, trees)
    timing = timings["this checkout"]
    over_http = http.measure(chats[: args.http_calls]) if args.http_calls > 0 else {}

    print(f"STAR: {len(labels)} labelled dialogues, {int(labels.sum())} annoyed; "
          f"{train.FOLDS}-fold cross-validation (seed {train.SEED}, C {shipped_c:g})")  # fmt: skip
    print(f"{'':34} {'ROC-AUC':>8} {'AP':>6} {'escalated':>9} {'precision':>9} {'recall':>6} "
          f"{'median share seen':>18}")  # fmt: skip
    for r in rows:
        share = "-" if r["median_share_seen"] is None else f"{r['median_share_seen']:.2f}"
        line = "{name:34} {roc_auc:8.3f} {average_precision:6.3f} {escalated:9d} {precision:9.3f}"
        print(line.format(**r) + f" {r['recall']:6.3f} {share:>18}")
    print("each signal on its own (switched on, whole conversations):")
    annoyed = {int(i) for i in np.flatnonzero(labels)}
    for signal, flagged in sorted(deciding.items(), key=lambda kv: -len(kv[1])):
        hits = len(flagged & annoyed)
        print(f"  {signal:18} escalates {len(flagged):5d}  precision {hits / len(flagged):.3f}  "
              f"recall {hits / len(annoyed):.3f}")  # fmt: skip
    print(f"assess in process, {LATENCY_MESSAGES} messages, {timing['calls']} calls, ms "
          f"(load average {timing['load_average']:.1f} on {os.cpu_count()} cores):")  # fmt: skip
    print(f"{'':16} {'never seen: wall p50 / p99':>27} {'CPU p50 / p99':>15} "
          f"{'as a bot calls it: wall p50 / p99':>34} {'CPU p50 / p99':>15}")  # fmt: skip
    for name, t in timings.items():
        cells = [f"{t[k]['p50']:.1f} / {t[k]['p99']:.1f}" for k in
                 ("wall_ms", "cpu_ms", "grown_ms", "grown_cpu_ms")]  # fmt: skip
        print(f"{name:16} {cells[0]:>27} {cells[1]:>15} {cells[2]:>34} {cells[3]:>15}")
    if "wall_ms" in over_http:
        print(f"assess over HTTP (uvicorn, 1 worker), {over_http['calls']} calls: "
              f"p50 {over_http['wall_ms']['p50']} ms, p99 {over_http['wall_ms']['p99']} ms, "
              f"status {dict(over_http['status'])}")  # fmt: skip
    elif over_http:
        print(f"assess over HTTP not measured: {over_http['error']}")
    print(f"ran in {time.monotonic() - started:.0f} s")
    wall = timing["wall_ms"]
    checks = {"ROC-AUC >= 0.85": rows[0]["roc_auc"] >= 0.85, "assess p99 < 10 ms": wall["p99"] < 10,
              "AP >= 0.40": rows[0]["average_precision"] >= 0.40}  # fmt: skip
    print("  ".join(f"{k}: {'PASS' if ok else 'FAIL'}" for k, ok in checks.items()))
    if args.json:
        report = {"rows": rows, "signals": {k: len(v) for k, v in deciding.items()},
                  "latency": timings, "http": over_http, "checks": checks}  # fmt: skip
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
