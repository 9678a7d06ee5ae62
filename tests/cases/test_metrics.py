"""Every metric on a fixture whose expected values were worked out by hand."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from cases import actions, detectors, metrics
from cases.models import Case, CsatResponse, Intent, Message
from tests.conftest import ApiClient
from tests.factories import (
    CaseFactory,
    IntegrationFactory,
    MembershipFactory,
    QueueFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)
PERIOD = metrics.Filters(start=date(2026, 11, 10), end=date(2026, 11, 16))


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


@pytest.fixture
def fixture() -> dict[str, Any]:
    """Six handoffs in one week (one more the week before):

    | case | bot | resolved | reply  | repeat | csat | missing  | intent (corrected)        | moved
    | a    | one | 1 h      | 10 min | no     | 5    | —        | refund → double_charge    | no
    | b    | one | 2 h      | 20 min | yes    | 4    | intent   | —                         | yes
    | c    | one | 3 h      | 30 min | no     | 2    | —        | refund → invoice → login  | no
    | d    | two | 4 h      | 40 min | yes    | —    | identity | account.login             | no
    | e    | two | open     | —      | —      | —    | steps    | account.login             | no
    | f    | two | open     | —      | —      | —    | —        | account.login             | no
    """
    billing, vip = QueueFactory(slug="billing"), QueueFactory(slug="vip")
    one, two = IntegrationFactory(name="one"), IntegrationFactory(name="two")
    agent = MembershipFactory(queue=billing, capacity=50).agent
    specs = [
        ("a", one, 1, 10, False, 5, [], "billing.refund"),
        ("b", one, 2, 20, True, 4, ["intent"], ""),
        ("c", one, 3, 30, False, 2, [], "billing.refund"),
        ("d", two, 4, 40, True, None, ["customer_identity"], "account.login"),
        ("e", two, None, None, None, None, ["attempted_steps"], "account.login"),
        ("f", two, None, None, None, None, [], "account.login"),
    ]
    cases = {}
    for name, bot, resolved, reply, repeated, csat, missing, intent in specs:
        case = CaseFactory(
            external_id=name,
            integration=bot,
            queue=billing,
            routing_rule="Billing intents",
            handed_off_at=DAY,
            sla_due_at=at(0.25),
            detected_intent=intent,
            current_intent=intent,
            missing_context=missing,
            status=Case.Status.RESOLVED if resolved else Case.Status.WAITING,
            resolved_at=at(resolved) if resolved else None,
            first_human_reply_at=DAY + timedelta(minutes=reply) if reply else None,
            first_claimed_at=DAY + timedelta(minutes=reply - 5) if reply else None,
            customer_repeated=repeated,
        )
        if csat:
            CsatResponse.objects.create(case=case, score=csat)
        cases[name] = case
    # corrections: a once; c twice (the last one counts for the matrix)
    actions.case_intent_correct(
        case_id=cases["a"].pk, agent=agent, to_intent="billing.double_charge"
    )
    actions.case_intent_correct(case_id=cases["c"].pk, agent=agent, to_intent="billing.invoice")
    actions.case_intent_correct(case_id=cases["c"].pk, agent=agent, to_intent="account.login")
    # b was reassigned away from the queue its rule chose
    Case.objects.filter(pk=cases["b"].pk).update(queue=vip)
    # the week before: one handoff, resolved in 5 h, CSAT 3
    before = CaseFactory(
        queue=billing,
        integration=one,
        handed_off_at=DAY - timedelta(days=7),
        sla_due_at=DAY - timedelta(days=7),
        status=Case.Status.RESOLVED,
        resolved_at=DAY - timedelta(days=7) + timedelta(hours=5),
    )
    CsatResponse.objects.create(case=before, score=3)
    return cases


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


def test_the_api_exports_only_the_integrations_own_corrections(fixture):
    api = ApiClient(fixture["a"].integration.raw_key)

    response = api.get("/api/v1/intent-corrections?from=2020-01-01&to=2100-01-01")

    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert {line["external_id"] for line in lines} == {"a", "c"}


def test_the_page_and_exports_are_for_supervisors_only(client, fixture):
    client.force_login(MembershipFactory().agent)
    assert client.get("/metrics/").status_code == 403
    assert client.get("/metrics/queues.csv").status_code == 403
    assert client.get("/metrics/intent-corrections.jsonl").status_code == 403

    client.force_login(UserFactory(role="supervisor"))
    page = client.get("/metrics/?from=2026-11-10&to=2026-11-16")
    assert page.status_code == 200
    body = page.content.decode()
    assert "50.0%" in body  # repeat rate
    assert "<svg" in body and "billing.double_charge" in body
    csv = b"".join(
        client.get("/metrics/integrations.csv?from=2026-11-10&to=2026-11-16").streaming_content
    )
    assert csv.decode().splitlines()[0].startswith("integration,handoffs,missing_context_rate")
    empty = client.get("/metrics/?from=2025-01-01&to=2025-01-07").content.decode()
    assert "no data" in empty


def test_the_intent_filter_lists_the_catalogue_and_the_periods_intents(client, fixture):
    Intent.objects.create(name="orders.late", label="Late order")
    client.force_login(UserFactory(role="supervisor"))

    page = client.get("/metrics/?from=2026-11-10&to=2026-11-16&intent=billing.refund")

    body = page.content.decode()
    options = body[
        body.index('name="intent"') : body.index("</select>", body.index('name="intent"'))
    ]
    # the catalogue, the intent filtered on, and (without a filter) what bots detected
    assert "<option >orders.late</option>" in options
    assert "<option selected>billing.refund</option>" in options
    assert "account.login" not in options  # the filtered period only saw billing.refund
    unfiltered = client.get("/metrics/?from=2026-11-10&to=2026-11-16").content.decode()
    assert "<option >account.login</option>" in unfiltered


@pytest.mark.parametrize(
    ("before", "after", "restated"),
    [
        (
            "I was charged twice for order A-1009 last week",
            "I was charged twice for order A-1009",
            True,
        ),
        (
            "My router keeps dropping the wifi connection every evening",
            "the wifi connection keeps dropping every evening on my router",
            True,
        ),
        ("Order A-1009 never arrived", "order A-1009 has still not arrived at all", True),
        ("I was charged twice for order A-1009", "Thanks, the refund arrived!", False),
        ("I want a refund", "Also my address changed to 12 Main Street", False),
        ("hi", "hi", False),
    ],
)
def test_the_desk_notices_when_a_customer_restates_something(before, after, restated):
    assert detectors.restates(after, [before]) is restated


def test_restating_after_the_handoff_flags_the_case(api):
    from tests.factories import full_package

    QueueFactory(slug="general", is_default=True)
    package = full_package()
    package["transcript"][0]["text"] = "I was charged twice for order A-1009 and want one refunded"
    case_id = api.post("/api/v1/handoffs", package).json()["case_id"]

    api.post(f"/api/v1/cases/{case_id}/messages", {"text": "Hello? still waiting"})
    assert not Case.objects.get(pk=case_id).repeat_detected
    api.post(
        f"/api/v1/cases/{case_id}/messages",
        {"text": "Again: I was charged twice for order A-1009, refund one please"},
    )
    assert Case.objects.get(pk=case_id).repeat_detected


def test_repeat_detection_on_recorded_star_dialogues():
    import itertools
    from pathlib import Path

    from cases.replay import read_star

    path = Path(__file__).resolve().parents[3] / "shared" / "data" / "star" / "dialogues.jsonl.gz"
    if not path.exists():
        pytest.skip(f"STAR dialogues not found at {path}")
    flagged = restated = long_openings = total = 0
    for dialogue in itertools.islice(read_star(path), 300):
        said = [
            e["text"] for e in dialogue["events"] if e.get("role") == "customer" and e.get("text")
        ]
        if len(said) < 3:
            continue
        total += 1
        # a later turn of a real dialogue mostly says something new...
        flagged += detectors.restates(said[-1], said[:1])
        # ...and saying the opening request again is caught
        if len(detectors._words(said[0])) >= 3:
            long_openings += 1
            restated += detectors.restates(said[0], said[:1])
    assert total > 200
    assert flagged / total < 0.15
    assert long_openings > 50 and restated == long_openings
