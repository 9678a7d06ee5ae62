"""POST /api/v1/assess: the published policy's advice on a conversation so far."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from cases.models import Case
from tests.factories import IntegrationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bot() -> Client:
    integration = IntegrationFactory()
    return Client(HTTP_AUTHORIZATION=f"Bearer {integration.raw_key}")


def post(client: Client, body: Any) -> Any:
    return client.post("/api/v1/assess", body, content_type="application/json")


def turns(*customer: str) -> list[dict[str, str]]:
    out = []
    for index, text in enumerate(customer):
        out += [
            {"id": f"c{index}", "role": "customer", "text": text},
            {"id": f"b{index}", "role": "bot", "text": f"Here is what I found ({index})."},
        ]
    return out


def test_a_customer_asking_for_a_person_is_advised_to_go_to_one(bot: Client) -> None:
    response = post(
        bot,
        {"transcript": turns("Where is my refund?", "Let me speak to a human agent now")},
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


def test_a_calm_conversation_is_not_escalated_and_unknown_fields_are_warned(bot: Client) -> None:
    response = post(bot, {"transcript": turns("What are your opening hours?"), "mood": "fine"})

    body = response.json()
    assert (body["escalate"], body["first_risk_message_id"]) == (False, None)
    assert body["warnings"] == ["unknown field ignored: mood"]


@pytest.mark.parametrize(
    "body",
    [{}, {"transcript": []}, {"transcript": [{"role": "customer", "text": "\u0000"}]}, []],
)
def test_bad_input_is_a_422_problem(bot: Client, body: Any) -> None:
    response = post(bot, body)

    assert response.status_code == 422
    assert response["Content-Type"].startswith("application/problem+json")


def test_without_the_key_it_is_a_401(bot: Client) -> None:
    response = Client().post(
        "/api/v1/assess", {"transcript": turns("hi")}, content_type="application/json"
    )

    assert response.status_code == 401
