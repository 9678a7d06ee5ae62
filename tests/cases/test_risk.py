"""cases/risk.py: the desk's own outcomes as labelled conversations for escalation_train."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command

from cases.models import CsatResponse, RiskFlagReview
from cases.risk import desk_outcomes
from tests.factories import CaseFactory, MessageFactory

pytestmark = pytest.mark.django_db


def said(text: str, **case_fields: object) -> int:
    case = CaseFactory(**case_fields)
    MessageFactory(case=case, text=text, seq=1)
    MessageFactory(case=case, text="A bot answer", role="bot", seq=2)
    return case.pk


def test_verdicts_repeats_and_csat_label_the_conversations_they_ended(tmp_path: Path) -> None:
    # given four ends: a confirmed frustration flag, a repeat, a happy customer, a dismissed flag
    angry = said("This is ridiculous")
    RiskFlagReview.objects.create(
        case_id=angry, flag="frustration", raised_by="derived", verdict="confirmed",
        reviewed_at="2026-12-01T10:00Z",
    )  # fmt: skip
    repeated = said("I already told you my order", customer_repeated=True)
    happy = said("Thanks, that was quick")
    CsatResponse.objects.create(case_id=happy, score=5)
    calm = said("Just checking")
    RiskFlagReview.objects.create(
        case_id=calm, flag="frustration", raised_by="derived", verdict="dismissed",
        reviewed_at="2026-12-01T10:00Z",
    )  # fmt: skip
    said("No outcome at all")

    # when they are read, and exported by the command
    rows = {row["case_id"]: row for row in desk_outcomes()}
    out = tmp_path / "outcomes.jsonl"
    call_command("escalation_train", export_outcomes=out)

    # then each labelled case is there with its words, the unlabelled one is not
    assert {case: row["annoyed"] for case, row in rows.items()} == {
        angry: True,
        repeated: True,
        happy: False,
        calm: False,
    }
    assert rows[angry]["transcript"][0] == {
        "role": "customer",
        "text": "This is ridiculous",
        "id": "1",
    }
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["case_id"] for row in exported] == sorted(rows)
