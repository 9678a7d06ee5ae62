from __future__ import annotations

import dataclasses
import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from escalation import train
from escalation.assess import Policy, assess
from escalation.conversation import Message
from escalation.features import Features
from escalation.model import (
    ARTEFACT,
    FORMAT,
    ArtefactError,
    FrustrationModel,
    default_model,
    load,
    logistic,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_artefact_is_json_and_scores_without_scikit_learn():
    # given a fresh interpreter that loads the shipped artefact and assesses a conversation
    script = (
        "import sys\n"
        "from escalation.assess import assess\n"
        "a = assess([{'role': 'customer', 'text': 'this is useless, get me a human'}])\n"
        "assert a.escalate, a\n"
        "print(sorted(m for m in ('sklearn', 'scipy', 'numpy', 'joblib') if m in sys.modules))\n"
    )
    # when it runs
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    # then none of the training stack was imported
    assert done.stdout.strip() == "[]"
    artefact = json.loads(ARTEFACT.read_text(encoding="utf-8"))
    assert artefact["format"] == FORMAT
    assert ARTEFACT.stat().st_size < 5_000_000


@pytest.fixture(scope="module")
def small_star(tmp_path_factory, star_dialogues) -> Path:
    """Every annoyed dialogue and some calm ones, as a STAR file in a temporary folder."""
    from escalation import star

    rows = []
    with gzip.open(star.DIALOGUES, "rt", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if row["user_annoyed"] or (row["user_annoyed"] is False and row["id"] % 30 == 0):
                rows.append(line)
    path = tmp_path_factory.mktemp("star") / "dialogues.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.writelines(rows)
    return path


def test_training_is_deterministic_to_the_byte(small_star, tmp_path):
    # when the same data is trained on twice
    first, cv_first = train.train(small_star)
    second, cv_second = train.train(small_star)
    train.write(first, tmp_path / "a.json")
    train.write(second, tmp_path / "b.json")
    # then the artefacts are the same bytes and the figures the same
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert cv_first == cv_second
    assert 0.5 < cv_first["roc_auc"] <= 1


def test_the_run_time_scorer_agrees_with_scikit_learn(small_star):
    # given a model fitted with scikit-learn and its JSON artefact
    examples = train.examples_from_star(small_star)
    data = train.featurise(examples)
    rows = np.arange(len(examples))
    fitted = train.fit(data, rows[::2], 2.0)
    model = FrustrationModel.from_artefact(
        json.loads(json.dumps(train.artefact_of(fitted, data.terms, {}, {})))
    )
    held_out = rows[1::2]
    # when both score the held-out conversations
    expected = fitted.predict(data, held_out)
    actual = np.array([model.score(examples[i].messages) for i in held_out])
    # then they agree (the artefact keeps 6 significant digits)
    assert np.max(np.abs(expected - actual)) < 1e-4


def test_one_pass_scores_every_prefix_as_scoring_it_alone(star_dialogues):
    # given a fresh model (nothing cached) and STAR dialogues
    model = load()
    for dialogue in star_dialogues[:40]:
        messages = dialogue.messages
        # when every prefix is scored in one pass
        replay = model.replay(messages)
        # then each score is the prefix's own, from its counted features (the reference)
        for index, score in replay.by_prefix:
            features = Features()
            for message in messages[: index + 1]:
                features.add(message)
            assert score == pytest.approx(logistic(model.logit(features)), abs=1e-9)
            assert score == pytest.approx(model.score(messages[: index + 1]), abs=1e-12)
        assert replay.score == pytest.approx(model.score(messages), abs=1e-12)
        assert [i for i, _ in replay.by_prefix] == [
            i for i, m in enumerate(messages) if m.role == "customer"
        ]


def test_a_message_seen_before_scores_the_same(star_dialogues):
    # given a model that has already read these messages in another conversation
    model = load()
    messages = star_dialogues[0].messages
    first = model.replay(messages)
    # when the same conversation grows by one message (a bot asking again)
    again = model.replay([*messages, Message("customer", "this is useless", "late")])
    # then the earlier prefixes score exactly as before
    assert again.by_prefix[: len(first.by_prefix)] == first.by_prefix
    assert again.score != first.by_prefix[-1][1]


def test_extra_examples_are_trained_on(small_star):
    from escalation.train import Example

    extra = [Example([Message("customer", "you keep failing me, awful", "m0")], True)]

    artefact, _ = train.train(small_star, extra_examples=extra)

    assert artefact["trained_on"]["extra_examples"] == 1


def test_each_known_term_is_multiplied_once_at_load():
    # given an artefact with one block term
    artefact = json.loads(ARTEFACT.read_text(encoding="utf-8"))
    # when it loads
    model = FrustrationModel.from_artefact(artefact)
    # then every term's hit figures are ready: idf, idf * coefficient, idf squared
    for block in model.blocks.values():
        assert block.prepared.keys() == block.terms.keys()
        for term, (idf, coef) in list(block.terms.items())[:50]:
            assert block.prepared[term] == pytest.approx((idf, idf * coef, idf * idf))


def test_an_artefact_with_blocks_this_code_does_not_read_is_refused():
    # given the shipped artefact with a block of terms this code does not count
    artefact = json.loads(ARTEFACT.read_text(encoding="utf-8"))
    artefact["blocks"]["agent_chars"] = {"sor": [1.0, 0.5]}
    # when it loads, then it is refused rather than scored without that block
    with pytest.raises(ArtefactError):
        FrustrationModel.from_artefact(artefact)


class Rescoring(FrustrationModel):
    """The reference for the fast paths: every score re-computed from the counted features of
    the conversation (or prefix) alone, term by term (``FrustrationModel.logit``)."""

    def scored(self, messages):
        features = Features()
        for message in messages:
            features.add(message)
        return logistic(self.logit(features)), features

    def scores_by_prefix(self, messages):
        for index, message in enumerate(messages):
            if message.role == "customer":
                yield index, self.scored(messages[: index + 1])[0]


def rescoring(model: FrustrationModel) -> Rescoring:
    return Rescoring(**{f.name: getattr(model, f.name) for f in dataclasses.fields(model)})


def test_assess_answers_as_a_full_re_score_of_every_prefix_would(star_dialogues):
    # given real conversations (every annoyed one among the first 1,500, and calm ones), and a
    # policy that escalates on the score alone, at a threshold many of them cross part-way
    model = load()
    reference = rescoring(model)
    chosen = [d for d in star_dialogues[:1500] if d.annoyed][:60] + star_dialogues[:120]
    policy = Policy(frustration_threshold=0.1, human_request=False, policy_sensitive=False)
    crossed = 0
    for dialogue in chosen:
        # when assess answers (the conversation scored at once; its prefixes one message at a
        # time, only when it escalates) and the reference re-scores every prefix from scratch
        fast = assess(dialogue.messages, policy=policy, model=model)
        slow = assess(dialogue.messages, policy=policy, model=reference)
        # then the answers are the same, and the score the same to 1e-9
        assert fast.score == pytest.approx(slow.score, abs=1e-9), dialogue.id
        assert fast.as_dict() == slow.as_dict(), dialogue.id
        assert fast.score == pytest.approx(model.replay(dialogue.messages).score, abs=1e-9)
        last = [m.id for m in dialogue.messages[-1:]]
        crossed += fast.first_risk_message_id not in (None, *last)
    assert crossed >= 10  # the prefixes were searched, not only the whole conversation


WORDS = st.sampled_from(
    [
        *("I", "want", "to", "cancel", "my", "booking", "this", "is", "useless", "WHY"),
        *("won't", "you", "help", "??", "!!!", "sorry", "a", "an", "agent", "please"),
        *("the", "flight", "12345", "Sam", "no", "yes", "again", ":(", "ok", "Ünïcode"),
    ]
)
TEXTS = st.lists(WORDS, min_size=0, max_size=12).map(" ".join)
MESSAGES = st.lists(
    st.tuples(st.sampled_from(["customer", "bot"]), TEXTS | st.sampled_from(["hello", "ok"])),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(turns=MESSAGES)
def test_any_transcript_scores_the_same_at_once_message_by_message_and_from_scratch(turns):
    # given any transcript (messages said again, empty ones, words the model does not know)
    model = default_model()
    messages = [Message(role, text, f"m{i}") for i, (role, text) in enumerate(turns)]
    reference = rescoring(model)
    # when it is scored at once, message by message, and from its counted features
    at_once = model.scored(messages)[0]
    replay = model.replay(messages)
    # then all three agree, and so does every prefix
    assert at_once == pytest.approx(reference.scored(messages)[0], abs=1e-9)
    assert replay.score == pytest.approx(at_once, abs=1e-9)
    prefixes = list(reference.scores_by_prefix(messages))
    assert [i for i, _ in replay.by_prefix] == [i for i, _ in prefixes]
    assert [s for _, s in replay.by_prefix] == pytest.approx([s for _, s in prefixes], abs=1e-9)
