"""Agents confirm or dismiss each risk flag: audited like an intent correction, counted as the
signal's precision on the metrics page, exported as training examples."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from cases.metrics import figures
from cases.models import Case, CaseEvent, RiskFlagReview
from cases.services import agent_work
from tests.factories import CaseFactory, MembershipFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db

EVIDENCE = [
    {"flag": "chargeback_threat", "source": "derived", "evidence": "I'll do a chargeback"},
    {"flag": "high_value", "source": "bot", "evidence": ""},
]


@pytest.fixture
def flagged() -> Case:
    membership = MembershipFactory()
    case = CaseFactory(
        queue=membership.queue,
        risk_flags=["chargeback_threat", "high_value"],
        risk_evidence=EVIDENCE,
    )
    MessageFactory(case=case, text="Refund me or I'll do a chargeback")
    return agent_work.case_claim(case_id=case.pk, agent=membership.agent)


def test_a_verdict_is_recorded_with_who_raised_the_flag_and_audited(flagged: Case) -> None:
    # when the holder confirms the derived flag
    review = agent_work.case_risk_flag_review(
        case_id=flagged.pk, agent=flagged.assignee, flag="chargeback_threat", verdict="confirmed"
    )

    # then it is stored, raised by the desk's detectors, and on the audit trail
    assert (review.flag, review.raised_by, review.verdict) == (
        "chargeback_threat",
        "derived",
        "confirmed",
    )
    event = CaseEvent.objects.filter(case=flagged, kind="risk_flag_reviewed").get()
    assert event.data == {
        "flag": "chargeback_threat",
        "verdict": "confirmed",
        "raised_by": "derived",
    }
    assert Case.objects.get(pk=flagged.pk).version == flagged.version + 1


def test_a_second_verdict_replaces_the_first(flagged: Case) -> None:
    for verdict in ("confirmed", "dismissed"):
        agent_work.case_risk_flag_review(
            case_id=flagged.pk, agent=flagged.assignee, flag="high_value", verdict=verdict
        )

    assert list(RiskFlagReview.objects.values_list("flag", "verdict")) == [
        ("high_value", "dismissed")
    ]


@pytest.mark.parametrize(
    ("flag", "verdict", "message"),
    [
        ("legal_threat", "confirmed", "no “legal_threat” flag"),
        ("high_value", "maybe", "Confirm or dismiss"),
    ],
)
def test_a_flag_the_case_lacks_or_an_unknown_verdict_is_refused(
    flagged: Case, flag: str, verdict: str, message: str
) -> None:
    with pytest.raises(agent_work.CaseActionError, match=message):
        agent_work.case_risk_flag_review(
            case_id=flagged.pk, agent=flagged.assignee, flag=flag, verdict=verdict
        )
    assert not RiskFlagReview.objects.exists()


def test_a_colleague_who_does_not_hold_the_case_cannot_judge_its_flags(flagged: Case) -> None:
    colleague = MembershipFactory(queue=flagged.queue).agent

    with pytest.raises(agent_work.CaseAlreadyClaimed):
        agent_work.case_risk_flag_review(
            case_id=flagged.pk, agent=colleague, flag="high_value", verdict="dismissed"
        )


def test_precision_by_signal_and_the_jsonl_of_verdicts(flagged: Case) -> None:
    # given a second case where the same derived flag was wrong
    other = CaseFactory(
        queue=flagged.queue, risk_flags=["chargeback_threat"], risk_evidence=EVIDENCE[:1]
    )
    agent_work.case_risk_flag_review(
        case_id=flagged.pk, agent=flagged.assignee, flag="chargeback_threat", verdict="confirmed"
    )
    agent_work.case_risk_flag_review(
        case_id=other.pk, agent=flagged.assignee, flag="chargeback_threat", verdict="dismissed"
    )
    supervisor = UserFactory(role="supervisor")
    client = Client()
    client.force_login(supervisor)

    # when the metrics are read
    today = timezone.localdate()
    rows = figures.flag_precision(figures.Filters(start=today - timedelta(days=30), end=today))
    response = client.get("/metrics/risk-flag-reviews.jsonl")
    page = client.get("/metrics/").content.decode()

    # then the signal was right once in two, and both verdicts are exported with the words
    assert rows == [
        {
            "flag": "chargeback_threat",
            "raised_by": "derived",
            "confirmed": 1,
            "dismissed": 1,
            "precision": 0.5,
        }
    ]
    records: list[dict[str, Any]] = [
        json.loads(line) for line in b"".join(response.streaming_content).splitlines()
    ]
    assert [(r["case_id"], r["verdict"]) for r in records] == [
        (flagged.pk, "confirmed"),
        (other.pk, "dismissed"),
    ]
    assert records[0]["customer_text"] == ["Refund me or I'll do a chargeback"]
    assert "Risk flags as agents judged them" in page and "50" in page


def test_the_case_page_offers_the_verdicts_and_shows_the_one_given(flagged: Case) -> None:
    client = Client()
    client.force_login(flagged.assignee)

    response = client.post(
        f"/cases/{flagged.pk}/flag/",
        {"flag": "chargeback_threat", "verdict": "confirmed", "version": flagged.version},
        HTTP_HX_REQUEST="true",
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert "✓ Confirmed by" in body
    assert 'aria-label="Dismiss the high value flag"' in body
