"""Every metric on a fixture whose expected values were worked out by hand."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from cases.metrics import figures as metrics
from cases.models import Case, Message
from cases.services import agent_work
from tests.factories import FLAG_EVIDENCE, CaseFactory, QueueFactory, UserFactory, flagged_case
from tests.metrics_week import DAY, at, seed_week

pytestmark = pytest.mark.django_db

PERIOD = metrics.Filters(start=date(2026, 11, 10), end=date(2026, 11, 16))


@pytest.fixture
def fixture() -> dict[str, Any]:
    return seed_week()


def test_headline_figures(fixture):
    h = metrics.headline(PERIOD)

    assert h.handoffs == 6
    assert h.repeat_rate == pytest.approx(2 / 4)  # b, d of the four resolved
    assert h.resolution_median == timedelta(hours=2)  # 1, 2, 3, 4 h: nearest rank
    assert h.resolution_p90 == timedelta(hours=4)
    assert h.first_response_median == timedelta(minutes=20)
    assert h.first_response_p90 == timedelta(minutes=40)
    assert h.csat_mean == pytest.approx((5 + 4 + 2) / 3)
    assert h.csat_satisfied == pytest.approx(2 / 3) and h.csat_responses == 3
    assert h.missing_context_rate == pytest.approx(3 / 6)
    assert h.override_rate == pytest.approx(2 / 6)  # a and c (c counted once)
    assert h.misroute_rate == pytest.approx(1 / 6)
    # claimed on time: a (5 min), b (15 min) of a 15 min SLA; c, d late; e, f past due unclaimed
    assert h.sla_attainment == pytest.approx(2 / 6)


def test_a_case_the_bot_ended_is_no_resolution_by_the_team(fixture):
    # given: a case of the week that the bot ended ten hours after the handoff
    CaseFactory(
        queue=fixture["a"].queue,
        handed_off_at=DAY,
        status=Case.Status.RESOLVED,
        resolved_at=at(10),
        resolution_code=Case.Resolution.ENDED_BY_BOT,
    )

    # when
    h = metrics.headline(PERIOD)

    # then: the resolution times are those of the four cases agents resolved (1-4 h)
    assert h.resolution_median == timedelta(hours=2)
    assert h.resolution_p90 == timedelta(hours=4)
    assert h.handoffs == 7  # it was handed off all the same


def test_an_empty_period_says_no_data_and_divides_by_nothing(fixture):
    empty = metrics.Filters(start=date(2025, 1, 1), end=date(2025, 1, 7))

    h = metrics.headline(empty)
    page, tables = metrics.current(empty)

    for figures in (h, page):
        assert figures.handoffs == 0 and figures.csat_responses == 0
        assert figures.repeat_rate is None and figures.csat_mean is None
        assert figures.resolution_median is None and figures.first_response_p90 is None
        assert figures.missing_context_rate is None and figures.sla_attainment is None
    assert tables.queues == tables.integrations == tables.confusion == tables.volume == []


def test_tables_per_bot_queue_intent_rule(fixture):
    bots = {row["integration"]: row for row in metrics.by_integration(PERIOD)}
    assert bots["one"]["handoffs"] == 3 and bots["one"]["missing_intent"] == 1
    # each field on its own (jsonb ? on PostgreSQL, the list's text on SQLite)
    assert (bots["one"]["missing_customer_identity"], bots["one"]["missing_attempted_steps"]) == (
        0,
        0,
    )
    assert (bots["two"]["missing_customer_identity"], bots["two"]["missing_attempted_steps"]) == (
        1,
        1,
    )
    assert bots["two"]["missing_intent"] == bots["two"]["missing_customer_message"] == 0
    assert bots["one"]["csat_mean"] == pytest.approx((5 + 4 + 2) / 3)
    assert bots["one"]["csat_responses"] == 3
    assert bots["one"]["repeat_rate"] == pytest.approx(1 / 3)  # b of a, b, c
    assert bots["one"]["override_rate"] == pytest.approx(2 / 3)
    assert bots["two"]["missing_context_rate"] == pytest.approx(2 / 3)
    assert bots["two"]["csat_mean"] is None

    assert metrics.confusion(PERIOD) == [
        {"detected": "billing.refund", "corrected": "account.login", "n": 1},
        {"detected": "billing.refund", "corrected": "billing.double_charge", "n": 1},
    ] or sorted(r["corrected"] for r in metrics.confusion(PERIOD)) == [
        "account.login",
        "billing.double_charge",
    ]
    overrides = {row["detected_intent"]: row for row in metrics.overrides_by_intent(PERIOD)}
    assert overrides["billing.refund"]["override_rate"] == 1.0
    assert overrides["account.login"]["override_rate"] == 0.0

    (rule,) = metrics.misroutes_by_rule(PERIOD)
    assert (rule["rule"], rule["misrouted"], rule["misroute_rate"]) == (
        "Billing intents",
        1,
        pytest.approx(1 / 6),
    )


def test_the_pages_period_gives_the_same_figures_as_each_metric_alone(fixture):
    """The page adds its headline up from the per-queue/bot/rule groups and, on PostgreSQL,
    takes the intent pairs and the volume from one GROUPING SETS pass."""
    page, tables = metrics.current(PERIOD)

    assert page == metrics.headline(PERIOD)
    assert tables.queues == metrics.by_queue(PERIOD)
    assert tables.integrations == metrics.by_integration(PERIOD)
    assert tables.misroutes == metrics.misroutes_by_rule(PERIOD)
    assert tables.overrides == metrics.overrides_by_intent(PERIOD)
    assert tables.confusion == metrics.confusion(PERIOD)
    assert tables.volume == metrics.volume_by_day(PERIOD)
    assert [(row["day"], row["n"]) for row in tables.volume] == [(date(2026, 11, 10), 6)]
    queues = sorted(tables.queues, key=lambda row: -row["handoffs"])
    assert [(row["handoffs"], row["resolved"]) for row in queues] == [(5, 3), (1, 1)]  # b: vip
    assert queues[0]["csat_mean"] == pytest.approx((5 + 2) / 2)


def test_percentiles_are_the_nearest_rank_without_float_error():
    """Nearest rank: the ceil(p x n)-th of n ordered values. In floating point 0.14 x 50 is
    7.000000000000001, and PostgreSQL's percentile_disc on its own takes the 8th."""
    queue = QueueFactory()
    for minutes in range(1, 51):
        CaseFactory(
            queue=queue,
            handed_off_at=DAY,
            sla_due_at=at(1),
            status=Case.Status.RESOLVED,
            resolved_at=DAY + timedelta(minutes=minutes),
            first_human_reply_at=DAY + timedelta(seconds=minutes),
        )

    for h in (metrics.headline(PERIOD), metrics.current(PERIOD)[0]):
        assert h.resolution_median == timedelta(minutes=25)
        assert h.resolution_p90 == timedelta(minutes=45)
        assert h.first_response_p90 == timedelta(seconds=45)
    resolution = metrics.duration("resolved_at")
    assert metrics.nearest_rank(0.14, 50) == 7
    assert metrics.percentile(Case.objects.all(), resolution, 0.14) == timedelta(minutes=7)
    if connection.vendor == "postgresql":
        seventh = Case.objects.aggregate(p=metrics.PercentileDisc(resolution, 0.14))["p"]
        assert seventh == timedelta(minutes=7)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL settings")
def test_reporting_tunes_postgresql_for_its_own_transaction_only():
    def setting(name: str) -> str:
        with connection.cursor() as cursor:
            cursor.execute(f"SHOW {name}")  # a fixed name
            return str(cursor.fetchone()[0])

    before = setting("work_mem"), setting("random_page_cost"), setting("jit")
    with metrics.reporting():
        assert (setting("work_mem"), setting("random_page_cost"), setting("jit")) == (
            "32MB",
            "1.1",
            "off",
        )
    assert (setting("work_mem"), setting("random_page_cost"), setting("jit")) == before


def test_the_previous_period_is_the_week_before(fixture):
    before = metrics.headline(PERIOD.previous())

    assert PERIOD.previous().start == date(2026, 11, 3)
    assert before.handoffs == 1 and before.resolution_median == timedelta(hours=5)


def test_every_correction_is_exported_for_retraining(fixture, django_assert_num_queries):
    Message.objects.create(
        case=fixture["c"],
        seq=1,
        dedupe_key="x",
        role="customer",
        text="I can't log in",
        sent_at=DAY,
        phase="before_handoff",
    )
    everything = metrics.Filters(date(2020, 1, 1), date(2100, 1, 1))
    with django_assert_num_queries(3):  # a chunk, its messages, the empty next chunk
        records = list(metrics.corrections(everything))

    assert [(r["external_id"], r["corrected_intent"]) for r in records] == [
        ("a", "billing.double_charge"),
        ("c", "billing.invoice"),
        ("c", "account.login"),
    ]
    assert records[1]["customer_text"] == ["I can't log in"]
    assert (
        records[2]["from_intent"] == "billing.invoice"
        and records[2]["detected_intent"] == "billing.refund"
    )
    case = fixture["c"]
    assert (records[2]["case_id"], records[2]["integration_id"]) == (case.pk, case.integration_id)
    assert records[2]["agent"] and records[2]["agent"] != "a former agent"


def test_precision_by_signal_and_the_jsonl_of_verdicts() -> None:
    # given a held, flagged case, and a second case where the same derived flag was wrong
    flagged = flagged_case()
    other = CaseFactory(
        queue=flagged.queue, risk_flags=["chargeback_threat"], risk_evidence=FLAG_EVIDENCE[:1]
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
    rows = metrics.flag_precision(metrics.Filters(start=today - timedelta(days=30), end=today))
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
