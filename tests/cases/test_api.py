"""The intake API as a bot platform sees it: status codes, bodies, and what was stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import AttemptedStep, Case, CaseEvent, CsatResponse, Delivery, Message
from tests.factories import CaseFactory, IntegrationFactory, full_package

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
    assert list(case.events.values_list("kind", flat=True)) == ["created", "routed"]
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
    created, routed = case.events.order_by("pk")
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
    assert (case.messages.count(), case.attempted_steps.count(), case.events.count()) == (2, 1, 2)


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


def test_oversized_body_is_a_413_problem(api):
    package = full_package(summary="y" * (1024 * 1024))

    response = api.post(HANDOFFS, package)

    assert response.status_code == 413
    assert response.json()["status"] == 413
    assert Case.objects.count() == 0


def test_oversized_body_is_a_413_problem_under_a_script_prefix_too(api):
    # the desk served at /desk/: request.path carries the prefix, path_info does not
    package = full_package(summary="y" * (1024 * 1024))

    response = api.client.post(
        HANDOFFS,
        data=json.dumps(package),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.key}"},
        SCRIPT_NAME="/desk",
    )

    assert response.status_code == 413
    assert response.json()["status"] == 413
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


def test_openapi_schema_is_served(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert "/api/v1/handoffs" in response.json()["paths"]
