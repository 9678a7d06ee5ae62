"""Escalation timing of each handoff (cases/risk.py, cases/services/escalation_timing.py): where
the published policy would have handed off, how long the bot went on after it, shown on the case
page and counted on the metrics."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from cases import risk
from cases.metrics import figures
from cases.models import Case, EscalationPolicy
from cases.package import HandoffPackage
from cases.services import escalation_timing
from cases.services.escalation_timing import case_escalation_time
from cases.services.intake import handoff_receive
from tests.factories import IntegrationFactory, MembershipFactory, QueueFactory, UserFactory

pytestmark = pytest.mark.django_db

START = timezone.now() - timedelta(minutes=10)


def package(*customer_lines: str, external_id: str = "conv-1") -> HandoffPackage:
    transcript: list[dict[str, Any]] = []
    for index, line in enumerate(customer_lines):
        at = (START + timedelta(minutes=index)).isoformat()
        transcript.append({"role": "customer", "text": line, "at": at})
        transcript.append({"role": "bot", "text": f"Let me look into that ({index}).", "at": at})
    return HandoffPackage.model_validate(
        {"external_id": external_id, "transcript": transcript, "intent": {"name": "billing.refund"}}
    )


def hand_off(integration: Any, handoff: HandoffPackage) -> Case:
    """A handoff, then what the worker does once it commits."""
    case = handoff_receive(integration=integration, package=handoff).case
    case_escalation_time(case_id=case.pk)
    return Case.objects.get(pk=case.pk)


@pytest.fixture
def desk() -> Any:
    queue = QueueFactory(slug="general", is_default=True)
    MembershipFactory(queue=queue)
    return IntegrationFactory(name="web-bot")


LATE = (
    "My refund has not arrived",
    "I want to talk to a real person please",
    "Hello?",
    "Order 1234, still nothing",
    "This is taking forever",
)


def test_a_handoff_records_where_the_policy_would_have_handed_off_and_how_late_it_came(
    desk: Any,
) -> None:
    # given a bot that went on for three customer messages after the customer asked for a person
    case = hand_off(desk, package(*LATE))

    # then the case knows the message (the customer's second: seq 3) and the lead
    assert case.first_risk_seq == 3
    assert case.risk_lead_messages == 3
    assert case.risk_lead_seconds == 3 * 60  # from minute 1 to the last message, at minute 4
    assert case.escalation_policy_version == 0  # the defaults: nothing published yet
    assert 0 <= (case.escalation_score or 0) <= 1


def test_a_calm_conversation_has_no_first_risk(desk: Any) -> None:
    case = hand_off(desk, package("Where is my parcel?", "It is order 1234"))

    assert (case.first_risk_seq, case.risk_lead_messages) == (None, None)


def test_the_published_policy_decides(desk: Any) -> None:
    # given a published policy that ignores requests for a person, loops and the learned score
    thresholds = risk.default_policy().as_dict() | {
        "human_request": False,
        "frustration": False,
        "loops": False,
    }
    EscalationPolicy.objects.create(version=4, status="published", thresholds=thresholds)

    case = hand_off(desk, package(*LATE))

    assert case.first_risk_seq is None and case.escalation_policy_version == 4


def test_the_case_page_marks_the_message_and_says_how_late(desk: Any) -> None:
    case = hand_off(desk, package(*LATE))
    client = Client()
    client.force_login(UserFactory(role="supervisor"))

    body = client.get(f"/cases/{case.pk}/").content.decode()

    assert "Handed off 3 customer messages late" in body
    marker = body.index('id="first-risk"')
    assert body.index("I want to talk to a real person") < marker < body.index("Hello?")


def test_the_metrics_count_late_escalations_by_bot_and_intent(desk: Any, settings: Any) -> None:
    settings.HANDOFF_LATE_ESCALATION_MESSAGES = 2
    hand_off(desk, package(*LATE, external_id="late"))
    hand_off(desk, package("Where is my parcel?", external_id="calm"))
    today = timezone.localdate()

    late = figures.late_escalations(figures.Filters(start=today - timedelta(days=1), end=today))

    assert (late.assessed, late.late, late.share) == (2, 1, 0.5)
    assert (late.median_messages, late.median_seconds) == (3, 3 * 60)
    assert late.by_integration == [
        {"integration": "web-bot", "handoffs": 2, "late": 1, "late_rate": 0.5}
    ]
    assert late.by_intent[0]["intent"] == "billing.refund"


def test_a_dry_run_replays_recent_handoffs_under_a_draft(desk: Any) -> None:
    hand_off(desk, package(*LATE, external_id="late"))
    hand_off(desk, package("Where is my parcel?", external_id="calm"))

    stricter = risk.dry_run(risk.default_policy())
    silent = risk.dry_run(
        risk.Policy.from_dict(risk.default_policy().as_dict() | {"human_request": False})
    )

    assert (stricter.considered, stricter.escalated, stricter.never) == (2, 1, 1)
    assert stricter.median_messages_earlier == 3
    assert silent.escalated <= stricter.escalated


def test_intake_queues_the_timing_after_commit_and_the_sweep_catches_a_lost_one(
    desk: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a broker that is down when the handoff commits
    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(escalation_timing.time_escalation, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        case = handoff_receive(integration=desk, package=package(*LATE)).case

    # then the handoff is stored all the same, untimed, until the sweep times it
    assert Case.objects.get(pk=case.pk).escalation_policy_version is None
    assert escalation_timing.cases_escalation_time_sweep() == 1
    assert Case.objects.get(pk=case.pk).first_risk_seq == 3
    assert escalation_timing.cases_escalation_time_sweep() == 0
