"""The intake API as a bot platform sees it: status codes, bodies, and what was stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.models import (
    AttemptedStep,
    Case,
    CaseEvent,
    CsatResponse,
    Delivery,
    IntentCorrection,
    Message,
)
from tests.conftest import ApiClient
from tests.factories import (
    CaseFactory,
    IntegrationFactory,
    QueueFactory,
    agent_online,
    cases_handled,
    full_package,
)
from tests.metrics_week import seed_week

pytestmark = pytest.mark.django_db

HANDOFFS = "/api/v1/handoffs"


def error_locs(response: Any) -> list[list[Any]]:
    assert response["Content-Type"] == "application/problem+json"
    return [error["loc"] for error in response.json()["errors"]]


def test_full_package_creates_a_routed_case_with_everything_stored(api):
    response = api.post(HANDOFFS, full_package())

    assert response.status_code == 201
    body = response.json()
    case = Case.objects.get(pk=body["case_id"])
    assert body["queue"] == "general"
    assert body["status"] == "waiting"
    assert body["position"] == 1
    assert body["estimated_wait_seconds"] > 0
    assert "General team" in body["customer_message"]
    assert body["missing_context"] == []
    assert body["case_url"].endswith(f"/cases/{case.pk}/")
    assert response["Location"] == body["api_url"]
    # the package, stored
    assert case.customer_name == "Ana Ruiz" and case.customer_tier == "gold"
    assert case.customer["account"] == {"plan": "family", "open_orders": 2}
    assert case.detected_intent == case.current_intent == "billing.refund"
    assert case.detected_confidence == pytest.approx(0.58)
    assert case.trigger_reason == "repeated_failure" and not case.trigger_derived
    assert case.facts == {"order_id": "A-1009", "amount": "49.99", "currency": "EUR"}
    assert list(case.messages.values_list("role", "text")) == [
        ("customer", "I was charged twice"),
        ("bot", "I can help with refunds..."),
    ]
    assert list(AttemptedStep.objects.filter(case=case).values_list("name", "outcome")) == [
        ("refund_lookup", "failed")
    ]
    # derived: a gold customer is high value; the bot's flag is kept with its source
    assert set(case.risk_flags) == {"chargeback_threat", "high_value"}
    assert {e["flag"]: e["source"] for e in case.risk_evidence} == {
        "chargeback_threat": "bot",
        "high_value": "derived",
    }
    assert case.priority == Case.Priority.HIGH
    assert list(case.events.values_list("kind", flat=True)) == [
        "created",
        "routed",
        "customer_told",
    ]
    assert "default queue general" in case.routing_explanation


def test_awkward_text_and_values_are_stored_exactly(api):
    # On PostgreSQL the case and its rows travel as JSON inside one statement: text that JSON or
    # SQL escapes, non-ASCII, microseconds and nested values must arrive unchanged.
    awkward = 'Quote \' "double" back\\slash\nnew line \u2028 tab\t 😡 ünïcödé %s %(x)s $1 ?'
    package = full_package(
        transcript=[
            {
                "id": "m1",
                "role": "customer",
                "text": awkward,
                "at": "2026-11-20T10:01:02.123456+02:00",
            },
            {"role": "bot", "text": "no id, no time"},
        ],
        attempted_steps=[
            {
                "name": "lookup",
                "outcome": "failed",
                "detail": awkward,
                "at": "2026-11-20T08:00:00Z",
            },
            {"name": "retry", "outcome": "partial"},
        ],
        facts={"note": awkward, "count": 3, "ratio": 0.1, "ok": True, "nothing": None},
        summary=awkward,
    )
    package["customer"]["account"] = {"nested": {"list": [1, "two", None]}, "text": awkward}

    body = api.post(HANDOFFS, package).json()

    case = Case.objects.get(pk=body["case_id"])
    assert case.summary == awkward
    assert case.facts == {"note": awkward, "count": 3, "ratio": 0.1, "ok": True, "nothing": None}
    assert case.customer["account"] == {"nested": {"list": [1, "two", None]}, "text": awkward}
    assert case.detected_confidence == pytest.approx(0.58) and case.previous_case_id is None
    first, second = case.messages.order_by("seq")
    assert (first.seq, first.external_id, first.text) == (1, "m1", awkward)
    assert first.sent_at == datetime(2026, 11, 20, 8, 1, 2, 123456, tzinfo=UTC)
    assert (second.seq, second.external_id, second.role) == (2, "", "bot")
    assert second.dedupe_key.startswith("h:") and second.sent_at >= case.handed_off_at
    assert first.created_at is not None and first.author_id is None
    steps = list(case.attempted_steps.order_by("position"))
    assert [(s.position, s.name, s.outcome, s.detail) for s in steps] == [
        (1, "lookup", "failed", awkward),
        (2, "retry", "partial", ""),
    ]
    assert steps[0].at == datetime(2026, 11, 20, 8, 0, tzinfo=UTC) and steps[1].at is None
    created, routed, told = case.events.order_by("pk")
    assert told.kind == "customer_told"
    assert (created.kind, routed.kind) == ("created", "routed")
    assert created.actor_label == "integration:acme-bot" and created.case_version == 1
    assert routed.data["queue"] == "general"


@pytest.mark.postgres
def test_a_new_case_and_its_rows_are_written_in_one_statement(api):
    # The intake's main database cost was one round trip per table; keep it at one.
    with CaptureQueriesContext(connection) as captured:
        response = api.post(HANDOFFS, full_package())

    assert response.status_code == 201
    inserts = [q["sql"] for q in captured.captured_queries if "INSERT" in q["sql"].upper()]
    assert len(inserts) == 1
    case = Case.objects.get(pk=response.json()["case_id"])
    assert (case.messages.count(), case.attempted_steps.count(), case.events.count()) == (2, 1, 3)


def test_package_missing_key_context_is_accepted_and_says_what_is_missing(api):
    package = {"external_id": "bare-1", "transcript": [{"role": "bot", "text": "Hi!"}]}

    response = api.post(HANDOFFS, package)

    assert response.status_code == 201
    expected = ["customer_identity", "intent", "attempted_steps", "customer_message"]
    assert response.json()["missing_context"] == expected
    assert Case.objects.get().missing_context == expected


def test_unknown_fields_are_ignored_and_listed_as_warnings(api):
    package = full_package(mood="angry")
    package["customer"]["shoe_size"] = 42

    response = api.post(HANDOFFS, package)

    assert response.status_code == 201
    assert response.json()["warnings"] == [
        "unknown field ignored: mood",
        "unknown field ignored: customer.shoe_size",
    ]


def test_derived_flags_carry_their_evidence_and_a_trigger_is_chosen(api):
    package = full_package(trigger=None, risk_flags=[], attempted_steps=[])
    package["customer"] = {"id": "c1", "tier": "bronze"}
    package["transcript"] = [
        {
            "id": "a",
            "role": "customer",
            "text": "Someone HACKED my account, I need this fixed urgently",
        },
        {"id": "b", "role": "customer", "text": "I will talk to my lawyer. Get me a real person."},
    ]

    body = api.post(HANDOFFS, package).json()

    case = Case.objects.get(pk=body["case_id"])
    evidence = {e["flag"]: e for e in case.risk_evidence}
    assert set(evidence) == {"security", "urgency", "legal_threat"}
    assert "HACKED" in evidence["security"]["evidence"]
    assert evidence["legal_threat"]["message"] == "b"
    assert body["trigger_reason"] == "customer_request"
    assert case.trigger_derived


# --- every field rule of DESIGN section 4 is a 422 naming the field, and stores nothing ----------

LONG = "x" * 20_001


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        (lambda p: p.pop("external_id"), ["body", "external_id"]),
        (lambda p: p.update(external_id=""), ["body", "external_id"]),
        (lambda p: p.pop("transcript"), ["body", "transcript"]),
        (lambda p: p.update(transcript=[], summary=""), ["body"]),
        (lambda p: p["transcript"][1].update(role="robot"), ["body", "transcript", 1, "role"]),
        (lambda p: p["transcript"][0].update(text=LONG), ["body", "transcript", 0, "text"]),
        (lambda p: p["transcript"][0].pop("text"), ["body", "transcript", 0, "text"]),
        (lambda p: p["transcript"][0].update(at="yesterday"), ["body", "transcript", 0, "at"]),
        (
            lambda p: p.update(transcript=[{"role": "customer", "text": "hi"}] * 2001),
            ["body", "transcript"],
        ),
        (lambda p: p.update(facts={f"k{i}": "v" for i in range(201)}), ["body", "facts"]),
        (lambda p: p.update(facts={"order": {"nested": 1}}), ["body", "facts"]),
        (
            lambda p: p.update(attempted_steps=[{"name": "s", "outcome": "failed"}] * 101),
            ["body", "attempted_steps"],
        ),
        (
            lambda p: p["attempted_steps"][0].update(outcome="meh"),
            ["body", "attempted_steps", 0, "outcome"],
        ),
        (lambda p: p.update(risk_flags=[f"f{i}" for i in range(51)]), ["body", "risk_flags"]),
        (lambda p: p["trigger"].update(reason="bored"), ["body", "trigger", "reason"]),
        (lambda p: p["intent"].update(confidence=1.5), ["body", "intent", "confidence"]),
        (lambda p: p["intent"].pop("name"), ["body", "intent", "name"]),
        (
            lambda p: p["customer"].update(lifetime_value=-1),
            ["body", "customer", "lifetime_value"],
        ),
        (lambda p: p.update(transcript="hello"), ["body", "transcript"]),
    ],
    ids=[
        "external_id-missing",
        "external_id-empty",
        "transcript-missing",
        "transcript-empty-without-summary",
        "message-role",
        "message-too-long",
        "message-no-text",
        "message-bad-time",
        "too-many-messages",
        "too-many-facts",
        "fact-not-scalar",
        "too-many-steps",
        "step-outcome",
        "too-many-flags",
        "trigger-reason",
        "confidence-range",
        "intent-name",
        "negative-ltv",
        "transcript-not-a-list",
    ],
)
def test_each_field_rule_is_a_422_naming_the_field(api, change, loc):
    package = full_package()
    change(package)

    response = api.post(HANDOFFS, package)

    assert response.status_code == 422
    body = response.json()
    assert body["status"] == 422 and body["title"] and body["type"]
    assert loc in error_locs(response)
    assert Case.objects.count() == 0
    assert Message.objects.count() == 0


def test_every_bad_field_is_listed_at_once(api):
    package = full_package(external_id="")
    package["transcript"][0]["role"] = "robot"
    package["trigger"]["reason"] = "bored"

    response = api.post(HANDOFFS, package)

    assert response.status_code == 422
    assert sorted(map(str, error_locs(response))) == sorted(
        map(
            str,
            [
                ["body", "external_id"],
                ["body", "transcript", 0, "role"],
                ["body", "trigger", "reason"],
            ],
        )
    )


def test_body_that_is_not_json_is_a_400_problem(api):
    response = api.post(HANDOFFS, "{not json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert Case.objects.count() == 0


# --- authentication and scoping ---------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Basic abc", "Bearer "])
def test_missing_or_wrong_key_is_a_401_problem(client, default_queue, header):
    headers = {"Authorization": header} if header else {}

    response = client.post(
        HANDOFFS, data=full_package(), content_type="application/json", headers=headers
    )

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert Case.objects.count() == 0


def test_disabled_integration_is_a_403_problem(api, integration):
    integration.is_active = False
    integration.save()

    response = api.post(HANDOFFS, full_package())

    assert response.status_code == 403
    assert "disabled" in response.json()["detail"]
    assert Case.objects.count() == 0


def test_an_integration_reads_only_its_own_cases(api, integration):
    own = CaseFactory(integration=integration)
    other = CaseFactory(integration=IntegrationFactory(name="other-bot"))

    assert api.get(f"/api/v1/cases/{own.pk}").status_code == 200
    response = api.get(f"/api/v1/cases/{other.pk}")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert api.get("/api/v1/cases/999999").status_code == 404


def test_case_read_shows_the_conversation_but_not_internal_notes(api):
    case_id = api.post(HANDOFFS, full_package()).json()["case_id"]
    case = Case.objects.get(pk=case_id)
    Message.objects.create(
        case=case,
        seq=99,
        dedupe_key="note-1",
        role="note",
        text="internal only",
        sent_at=case.handed_off_at,
        phase="after_handoff",
    )

    body = api.get(f"/api/v1/cases/{case_id}").json()

    assert body["status"] == "waiting" and body["queue"] == "general"
    assert [m["text"] for m in body["messages"]] == [
        "I was charged twice",
        "I can help with refunds...",
    ]


# --- after the handoff ------------------------------------------------------------------------


def test_customer_message_after_handoff_is_appended_once(api):
    case_id = api.post(HANDOFFS, full_package()).json()["case_id"]
    url = f"/api/v1/cases/{case_id}/messages"

    first = api.post(url, {"id": "m9", "text": "Any news?"})
    again = api.post(url, {"id": "m9", "text": "Any news?"})

    assert first.status_code == 201 and not first.json()["duplicate"]
    assert again.status_code == 200 and again.json()["duplicate"]
    message = Message.objects.get(case_id=case_id, external_id="m9")
    assert message.phase == "after_handoff" and message.role == "customer"
    assert CaseEvent.objects.filter(case_id=case_id, kind="customer_message").count() == 1


def test_customer_message_to_a_resolved_case_is_a_409(api, integration):
    case = CaseFactory(integration=integration, status=Case.Status.RESOLVED)

    response = api.post(f"/api/v1/cases/{case.pk}/messages", {"text": "hello?"})

    assert response.status_code == 409
    assert "new handoff" in response.json()["detail"]


def test_customer_message_validation(api):
    case_id = api.post(HANDOFFS, full_package()).json()["case_id"]

    response = api.post(f"/api/v1/cases/{case_id}/messages", {"text": ""})

    assert response.status_code == 422
    assert ["body", "text"] in error_locs(response)


def test_csat_is_recorded_and_a_second_rating_replaces_it(api):
    case_id = api.post(HANDOFFS, full_package()).json()["case_id"]
    url = f"/api/v1/cases/{case_id}/csat"

    first = api.post(url, {"score": 2, "comment": "slow"})
    second = api.post(url, {"score": 4})

    assert first.status_code == 201 and second.status_code == 200
    assert second.json() == {"case_id": case_id, "score": 4, "replaced": True}
    assert CsatResponse.objects.get(case_id=case_id).score == 4
    assert CaseEvent.objects.filter(case_id=case_id, kind="csat_recorded").count() == 2


@pytest.mark.parametrize("score", [0, 6, "five", None])
def test_csat_score_must_be_1_to_5(api, score):
    case_id = api.post(HANDOFFS, full_package()).json()["case_id"]

    response = api.post(f"/api/v1/cases/{case_id}/csat", {"score": score})

    assert response.status_code == 422
    assert ["body", "score"] in error_locs(response)
    assert CsatResponse.objects.count() == 0


def test_csat_for_another_integrations_case_is_a_404(api):
    case = CaseFactory(integration=IntegrationFactory(name="other-bot"))

    assert api.post(f"/api/v1/cases/{case.pk}/csat", {"score": 5}).status_code == 404


def test_handoff_with_a_callback_url_writes_the_outbox_row(api, integration):
    integration.callback_url = "http://127.0.0.1:9/hook"
    integration.save()

    body = api.post(HANDOFFS, full_package()).json()

    delivery = Delivery.objects.get(case_id=body["case_id"])
    assert delivery.kind == "handoff.accepted"
    assert delivery.payload["data"]["customer_message"] == body["customer_message"]


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


# --- what the customer is told -----------------------------------------------------------------

MIN = 60


def test_the_intake_answers_with_the_live_estimate(api, default_queue):
    # given an agent of the default queue online, busy, and a recent history of 8 minutes
    agent_online(default_queue, capacity=1, holding=1)
    cases_handled(default_queue, 8, 8, 8)

    body = api.post("/api/v1/handoffs", full_package()).json()

    assert body["estimated_wait_seconds"] == 8 * MIN
    assert "about 8 minutes, going by the 1 person on the team" in body["customer_message"]


# --- the same conversation handed off again ---------------------------------------------------


def test_second_handoff_of_an_open_conversation_appends_new_messages_once(api):
    first = api.post(HANDOFFS, full_package())
    later = full_package(summary="Still waiting; customer added the order date.")
    later["transcript"] = [
        *later["transcript"],
        {"id": "m3", "role": "customer", "text": "It was on the 3rd", "at": "2099-01-01T00:00:00Z"},
    ]
    later["facts"] = {"order_date": "2026-11-03"}

    second = api.post(HANDOFFS, later)
    third = api.post(HANDOFFS, later)

    assert first.status_code == 201
    assert second.status_code == third.status_code == 200
    assert second.json()["case_id"] == first.json()["case_id"]
    assert second.json()["appended_messages"] == 1
    assert third.json()["appended_messages"] == 0
    case = Case.objects.get()
    assert list(case.messages.values_list("external_id", flat=True)) == ["m1", "m2", "m3"]
    assert case.messages.get(external_id="m3").phase == "after_handoff"
    assert case.facts["order_date"] == "2026-11-03" and case.facts["order_id"] == "A-1009"
    assert case.summary.startswith("Still waiting")
    assert case.handoff_count == 3
    assert CaseEvent.objects.filter(kind="handoff_updated").count() == 2


def test_messages_without_ids_are_matched_by_role_time_and_text(api):
    package = full_package()
    for message in package["transcript"]:
        message.pop("id")
    api.post(HANDOFFS, package)
    package["transcript"].append(
        {"role": "customer", "text": "hello?", "at": "2099-01-01T00:00:00Z"}
    )

    response = api.post(HANDOFFS, package)

    assert response.json()["appended_messages"] == 1
    assert Case.objects.get().messages.count() == 3


def test_an_agents_intent_correction_survives_a_rehandoff(api):
    case_id = api.post(HANDOFFS, full_package()).json()["case_id"]
    Case.objects.filter(pk=case_id).update(current_intent="billing.double_charge")
    refreshed = full_package()
    refreshed["intent"] = {"name": "billing.refund_status", "confidence": 0.7}

    api.post(HANDOFFS, refreshed)

    case = Case.objects.get(pk=case_id)
    assert case.detected_intent == "billing.refund_status"
    assert case.current_intent == "billing.double_charge"


def test_after_resolution_a_new_case_is_opened_and_linked_as_a_repeat_contact(api):
    first_id = api.post(HANDOFFS, full_package()).json()["case_id"]
    Case.objects.filter(pk=first_id).update(status="resolved", resolved_at=timezone.now())

    response = api.post(HANDOFFS, full_package())

    assert response.status_code == 201
    body = response.json()
    assert body["case_id"] != first_id
    assert body["repeat_contact"] is True and body["previous_case_id"] == first_id
    new = Case.objects.get(pk=body["case_id"])
    assert new.previous_case_id == first_id and new.is_repeat_contact
    assert new.messages.count() == 2


# --- input once accepted and then failed on (issue 13, item 1) ---------------------------------
# Input the API once accepted as valid JSON and then failed on (issue 13, item 1): each is a
# 422 problem naming the field, with nothing stored, on SQLite and PostgreSQL alike; an unexpected
# error is a problem document too, and the OpenAPI document says all of it.

MAX_DEPTH = 10  # the nesting limit the README documents (cases.package.MAX_DEPTH)
NUL = "a\x00b"

Change = Callable[[dict[str, Any]], Any]


def nested(depth: int) -> dict[str, Any]:
    """An object ``depth`` levels deep: {"a": {"a": ... 1}}."""
    value: Any = 1
    for _ in range(depth - 1):
        value = {"a": value}
    return {"a": value}


def assert_refused(response: Any, loc: list[Any], status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"]
    if loc:
        assert loc in [error["loc"] for error in body["errors"]], body
    return body


def assert_nothing_stored() -> None:
    assert Case.objects.count() == 0
    assert Message.objects.count() == 0


# --- NUL in any text --------------------------------------------------------------------------

NUL_FIELDS: list[tuple[str, Change, list[Any]]] = [
    ("summary", lambda p: p.update(summary=NUL), ["body", "summary"]),
    ("external_id", lambda p: p.update(external_id=NUL), ["body", "external_id"]),
    ("channel", lambda p: p.update(channel=NUL), ["body", "channel"]),
    (
        "message-text",
        lambda p: p["transcript"][0].update(text=NUL),
        ["body", "transcript", 0, "text"],
    ),
    ("message-id", lambda p: p["transcript"][0].update(id=NUL), ["body", "transcript", 0, "id"]),
    ("customer-name", lambda p: p["customer"].update(name=NUL), ["body", "customer", "name"]),
    ("customer-id", lambda p: p["customer"].update(id=NUL), ["body", "customer", "id"]),
    ("customer-email", lambda p: p["customer"].update(email=NUL), ["body", "customer", "email"]),
    ("customer-tier", lambda p: p["customer"].update(tier=NUL), ["body", "customer", "tier"]),
    (
        "account-key",
        lambda p: p["customer"].update(account={NUL: 1}),
        ["body", "customer", "account"],
    ),
    (
        "account-value",
        lambda p: p["customer"].update(account={"deep": {"list": ["ok", NUL]}}),
        ["body", "customer", "account"],
    ),
    ("customer-unknown", lambda p: p["customer"].update(nickname=NUL), ["body", "customer"]),
    ("intent-name", lambda p: p["intent"].update(name=NUL), ["body", "intent", "name"]),
    ("trigger-detail", lambda p: p["trigger"].update(detail=NUL), ["body", "trigger", "detail"]),
    (
        "step-detail",
        lambda p: p["attempted_steps"][0].update(detail=NUL),
        ["body", "attempted_steps", 0, "detail"],
    ),
    ("fact-value", lambda p: p["facts"].update(order_id=NUL), ["body", "facts"]),
    ("fact-name", lambda p: p["facts"].update({NUL: "x"}), ["body", "facts"]),
    ("risk-flag", lambda p: p.update(risk_flags=[NUL]), ["body", "risk_flags", 0]),
    ("unknown-field", lambda p: p.update(extra={"x": NUL}), ["body"]),
]


@pytest.mark.parametrize(
    ("change", "loc"), [f[1:] for f in NUL_FIELDS], ids=[f[0] for f in NUL_FIELDS]
)
def test_nul_in_any_text_of_a_package_is_a_422_naming_the_field(api, change, loc):
    package = full_package()
    change(package)

    body = assert_refused(api.post(HANDOFFS, package), loc)

    assert "NUL" in json.dumps(body["errors"])
    assert_nothing_stored()


@pytest.fixture
def case(integration):
    return CaseFactory(integration=integration)


def test_nul_in_a_later_message_or_a_rating_comment_is_a_422(api, case):
    messages = f"/api/v1/cases/{case.pk}/messages"
    before = Message.objects.count()

    assert_refused(api.post(messages, {"text": NUL}), ["body", "text"])
    assert_refused(api.post(messages, {"text": "hi", "id": NUL}), ["body", "id"])
    assert_refused(
        api.post(f"/api/v1/cases/{case.pk}/csat", {"score": 4, "comment": NUL}),
        ["body", "comment"],
    )

    assert Message.objects.count() == before
    assert CsatResponse.objects.count() == 0


# --- times: offsets and dates -----------------------------------------------------------------

BAD_MOMENTS = [
    "2026-12-04T10:00:00+20:00",  # PostgreSQL refuses offsets past 15:59
    "2026-12-04T10:00:00+15:59",
    "2026-12-04T10:00:00-13:00",
    "2026-12-04T10:00:00+14:01",
    "0001-01-01T00:00:00Z",  # no UTC before it with a positive offset
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-01:00",
    "1970-01-01T00:00:00Z",  # a clock at zero
    "2100-01-01T00:00:00Z",
    "2026-12-04T10:00:00",  # no offset: whose ten o'clock?
    "2026-02-30T10:00:00Z",
    "2026-12-04T10:00:60Z",
    "1733306400",
    0,
    1733306400,
]


@pytest.mark.parametrize("moment", BAD_MOMENTS)
@pytest.mark.parametrize(
    ("where", "loc"),
    [
        (lambda p, at: p["transcript"][0].update(at=at), ["body", "transcript", 0, "at"]),
        (lambda p, at: p["attempted_steps"][0].update(at=at), ["body", "attempted_steps", 0, "at"]),
    ],
    ids=["message", "step"],
)
def test_a_time_outside_the_range_or_offsets_is_a_422(api, where, loc, moment):
    package = full_package()
    where(package, moment)

    assert_refused(api.post(HANDOFFS, package), loc)
    assert_nothing_stored()


@pytest.mark.parametrize("moment", BAD_MOMENTS)
def test_a_later_message_at_a_time_outside_the_range_is_a_422(api, case, moment):
    before = Message.objects.count()

    response = api.post(f"/api/v1/cases/{case.pk}/messages", {"text": "hi", "at": moment})

    assert_refused(response, ["body", "at"])
    assert Message.objects.count() == before


@pytest.mark.parametrize(
    "moment",
    [
        "2026-12-04T10:00:00+14:00",
        "2026-12-04T10:00:00-12:00",
        "2099-12-31T23:59:59.5Z",
        "2000-01-01T00:00:00Z",
    ],
)
def test_times_at_the_edges_are_accepted_and_stored_in_utc(api, moment, on_postgres):
    package = full_package()
    package["transcript"][0]["at"] = moment

    response = api.post(HANDOFFS, package)

    assert response.status_code == 201
    stored = Case.objects.get().messages.order_by("seq").first()
    assert stored.sent_at == datetime.fromisoformat(moment)


# --- numbers ----------------------------------------------------------------------------------

BAD_NUMBERS: list[tuple[str, str, list[Any]]] = [
    ("fact-nan", '"facts": {"x": NaN}', ["body", "facts"]),
    ("fact-infinity", '"facts": {"x": Infinity}', ["body", "facts"]),
    ("fact-overflow", '"facts": {"x": 1e400}', ["body", "facts"]),
    ("account-nan", '"customer": {"account": {"x": [NaN]}}', ["body", "customer", "account"]),
    ("ltv-nan", '"customer": {"lifetime_value": NaN}', ["body", "customer", "lifetime_value"]),
    (
        "ltv-infinity",
        '"customer": {"lifetime_value": Infinity}',
        ["body", "customer", "lifetime_value"],
    ),
    (
        "ltv-overflow",
        '"customer": {"lifetime_value": 1e999}',
        ["body", "customer", "lifetime_value"],
    ),
    (
        "confidence-nan",
        '"intent": {"name": "x", "confidence": NaN}',
        ["body", "intent", "confidence"],
    ),
    ("unknown-infinity", '"score": -Infinity', ["body"]),
]


@pytest.mark.parametrize(
    ("part", "loc"), [n[1:] for n in BAD_NUMBERS], ids=[n[0] for n in BAD_NUMBERS]
)
def test_a_number_the_database_cannot_hold_is_a_422(api, part, loc):
    # Python's json reads NaN, Infinity and 1e400 (as inf): the schema must refuse them.
    body = '{"external_id": "n1", "transcript": [], "summary": "s", ' + part + "}"

    assert_refused(api.post(HANDOFFS, body), loc)
    assert_nothing_stored()


def test_huge_integers_are_stored_exactly(api):
    # PostgreSQL's jsonb and SQLite's JSON text hold any integer json reads (4,300 digits).
    body = (
        '{"external_id": "n1", "transcript": [], "summary": "s", '
        f'"facts": {{"x": {2**64}}}, "customer": {{"account": {{"x": -{10**300}}}}}}}'
    )

    assert api.post(HANDOFFS, body).status_code == 201
    case = Case.objects.get()
    assert case.facts["x"] == 2**64 and case.customer["account"]["x"] == -(10**300)


@pytest.mark.parametrize("case_id", ["99999999999999999999", "9223372036854775808", "0", "-1"])
def test_a_case_id_past_the_tables_range_is_a_422(api, case_id):
    for response in [
        api.get(f"/api/v1/cases/{case_id}"),
        api.post(f"/api/v1/cases/{case_id}/messages", {"text": "hi"}),
        api.post(f"/api/v1/cases/{case_id}/csat", {"score": 5}),
    ]:
        assert_refused(response, ["path", "case_id"])


# --- nesting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 200])
def test_an_account_nested_deeper_than_the_limit_is_a_422(api, depth):
    package = full_package()
    package["customer"]["account"] = nested(depth)

    body = assert_refused(api.post(HANDOFFS, package), ["body", "customer", "account"])

    assert f"deeper than {MAX_DEPTH}" in body["errors"][0]["msg"]
    assert_nothing_stored()


def test_an_unknown_field_nested_deeper_than_the_limit_is_a_422(api):
    package = full_package()
    package["customer"]["history"] = nested(MAX_DEPTH + 1)

    assert_refused(api.post(HANDOFFS, package), ["body", "customer"])
    assert_nothing_stored()


def test_the_documented_depth_is_the_enforced_one():
    from cases import package as schemas

    assert schemas.MAX_DEPTH == MAX_DEPTH


def test_an_account_at_the_limit_is_stored(api):
    package = full_package()
    package["customer"]["account"] = nested(MAX_DEPTH)

    assert api.post(HANDOFFS, package).status_code == 201
    assert Case.objects.get().customer["account"] == nested(MAX_DEPTH)


def test_the_issues_900_levels_are_a_problem_not_a_500(api):
    # 422 naming customer.account where json reads 900 levels; 400 where the stack is deeper
    # already (under pytest json gives up a little earlier than in the server)
    package = full_package()
    package["customer"]["account"] = nested(900)

    response = api.post(HANDOFFS, package)

    assert response.status_code in {400, 422}
    assert response["Content-Type"] == "application/problem+json"
    assert_nothing_stored()


def test_a_body_nested_past_what_json_reads_is_a_400_problem(api):
    body = (
        '{"external_id": "d", "transcript": [], "summary": "s", "x": '
        + "[" * 5000
        + "]" * 5000
        + "}"
    )

    problem = assert_refused(api.post(HANDOFFS, body), [], status=400)

    assert "nested too deeply" in problem["detail"]
    assert_nothing_stored()


# --- the intent-corrections export ------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ("to=9999-12-31", ["query", "to"]),
        ("from=0001-01-01", ["query", "from"]),
        ("from=2026-01-01&to=2100-01-01", ["query", "to"]),
        ("to=2026-02-30", ["query", "to"]),
        ("to=tomorrow", ["query", "to"]),
        ("from=%00", ["query", "from"]),
    ],
)
def test_an_export_period_out_of_range_is_a_422_not_a_cut_stream(api, query, loc):
    assert_refused(api.get(f"/api/v1/intent-corrections?{query}"), loc)


def test_the_export_still_streams_a_period(api, integration):
    case = CaseFactory(integration=integration)
    IntentCorrection.objects.create(case=case, from_intent="a", to_intent="b", reason="r")

    response = api.get("/api/v1/intent-corrections?from=2000-01-01&to=2099-12-31")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [json.loads(line)["corrected_intent"] for line in lines] == ["b"]


def test_the_api_exports_only_the_integrations_own_corrections():
    fixture = seed_week()
    api = ApiClient(fixture["a"].integration.raw_key)

    response = api.get("/api/v1/intent-corrections?from=2020-01-01&to=2099-12-31")

    assert response.status_code == 200, response.content
    lines = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert {line["external_id"] for line in lines} == {"a", "c"}


# --- every error a problem document, and declared ---------------------------------------------


def test_an_idempotency_key_over_255_characters_is_a_422(api):
    response = api.post(HANDOFFS, full_package(), **{"Idempotency-Key": "k" * 256})

    assert_refused(response, ["header", "Idempotency-Key"])
    assert_nothing_stored()


def test_the_openapi_document_states_the_limits_it_enforces(client):
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    at = schemas["TranscriptMessage"]["properties"]["at"]["anyOf"][0]
    # a number is no time: `"at": 0` is refused by the schema as by the API
    assert at["type"] == "string" and at["format"] == "date-time" and "pattern" in at
    assert schemas["HandoffPackage"]["properties"]["summary"]["pattern"] == "^[^\\u0000]*$"
    assert schemas["CustomerIn"]["properties"]["account"]["propertyNames"]


def test_openapi_schema_is_served(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert "/api/v1/handoffs" in response.json()["paths"]


# --- POST /api/v1/assess: the published policy's advice on a conversation so far --------------

ASSESS = "/api/v1/assess"


def turns(*customer: str) -> list[dict[str, str]]:
    out = []
    for index, text in enumerate(customer):
        out += [
            {"id": f"c{index}", "role": "customer", "text": text},
            {"id": f"b{index}", "role": "bot", "text": f"Here is what I found ({index})."},
        ]
    return out


def test_a_customer_asking_for_a_person_is_advised_to_go_to_one(api):
    response = api.post(
        ASSESS, {"transcript": turns("Where is my refund?", "Let me speak to a human agent now")}
    )

    body = response.json()
    assert response.status_code == 200
    assert body["escalate"] is True and 0 <= body["score"] <= 1
    assert body["suggested_trigger"] == "customer_request"
    human = next(r for r in body["reasons"] if r["signal"] == "human_request")
    assert human["message_ids"] == ["c1"]
    assert body["first_risk_message_id"] == "c1"
    assert body["policy_version"] == 0 and body["warnings"] == []
    assert not Case.objects.exists()  # advice stores nothing


def test_a_calm_conversation_is_not_escalated_and_unknown_fields_are_warned(api):
    response = api.post(
        ASSESS, {"transcript": turns("What are your opening hours?"), "mood": "fine"}
    )

    body = response.json()
    assert (body["escalate"], body["first_risk_message_id"]) == (False, None)
    assert body["warnings"] == ["unknown field ignored: mood"]


@pytest.mark.parametrize(
    "body",
    [{}, {"transcript": []}, {"transcript": [{"role": "customer", "text": "\u0000"}]}, []],
)
def test_bad_advice_input_is_a_422_problem(api, body):
    response = api.post(ASSESS, body)

    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")


def test_advice_without_the_key_is_a_401():
    response = ApiClient(None).post(ASSESS, {"transcript": turns("hi")})

    assert response.status_code == 401
