"""Rasa: the handoff custom action (integrations/rasa/handoff_action.py) posts the tracker's
state; the desk opens a case with the events, the intent and its ranking, the slots.

rasa-sdk cannot be a test dependency (every release since 3.11 pins pydantic<2.14 and
websockets<16, below ours), so the desk's side is tested with the tracker state built from
rasa-sdk's published field names (``Tracker.current_state()``), and the action itself runs
with the real rasa-sdk's Tracker and CollectingDispatcher wherever rasa-sdk is importable.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from cases.models import Case

pytestmark = pytest.mark.django_db

URL = "/api/v1/adapters/rasa/handoffs"
ACTION_FILE = Path(__file__).resolve().parents[3] / "integrations" / "rasa" / "handoff_action.py"
T0 = 1_795_600_000.0  # 2026-11-24, seconds since the epoch as Rasa stamps events
PARSE = {
    "text": "this is useless, get me a human",
    "intent": {"name": "human_handoff", "confidence": 0.62},
    "intent_ranking": [
        {"name": "human_handoff", "confidence": 0.62},
        {"name": "billing.refund", "confidence": 0.31},
        {"name": "greet", "confidence": 0.07},
    ],
    "entities": [],
}


def events() -> list[dict[str, Any]]:
    """A conversation's events as the Rasa server sends them to an action server."""
    return [
        {"event": "action", "name": "action_session_start", "timestamp": T0},
        {"event": "action", "name": "action_listen", "timestamp": T0 + 1},
        {"event": "user", "text": "I was charged twice for A-1009", "timestamp": T0 + 2,
         "parse_data": {"intent": {"name": "billing.refund", "confidence": 0.91}}},
        {"event": "slot", "name": "order_id", "value": "A-1009", "timestamp": T0 + 2},
        {"event": "action", "name": "action_lookup_refund", "timestamp": T0 + 3},
        {"event": "action_execution_rejected", "name": "action_lookup_refund",
         "timestamp": T0 + 3},
        {"event": "action", "name": "action_default_fallback", "timestamp": T0 + 4},
        {"event": "bot", "text": "Sorry, I couldn't find that order.", "timestamp": T0 + 4},
        {"event": "user", "text": PARSE["text"], "timestamp": T0 + 9, "parse_data": PARSE},
        {"event": "action", "name": "action_handoff_to_desk", "timestamp": T0 + 10},
    ]  # fmt: skip


def tracker_state() -> dict[str, Any]:
    """``Tracker.current_state()``, field by field."""
    return {
        "sender_id": "rasa-conv-17",
        "slots": {"order_id": "A-1009", "email": "ana@example.com", "requested_slot": None},
        "latest_message": PARSE,
        "latest_event_time": T0 + 10,
        "paused": False,
        "events": events(),
        "latest_input_channel": "rest",
        "active_loop": {},
        "latest_action_name": "action_handoff_to_desk",
        "stack": [],
        "user_id": None,
    }


def assert_whole_context(seen: Any) -> None:
    assert seen.transcript == [
        ("customer", "I was charged twice for A-1009"),
        ("bot", "Sorry, I couldn't find that order."),
        ("customer", "this is useless, get me a human"),
    ]
    assert seen.case.external_id == "rasa-conv-17"
    assert (seen.case.detected_intent, seen.case.detected_confidence) == ("human_handoff", 0.62)
    assert seen.case.intent_alternatives == [
        {"name": "billing.refund", "confidence": 0.31},
        {"name": "greet", "confidence": 0.07},
    ]
    assert seen.case.facts == {"order_id": "A-1009"}
    assert (seen.case.customer_ref, seen.case.customer_email) == ("rasa-conv-17", "ana@example.com")
    steps = list(seen.case.attempted_steps.order_by("pk").values_list("name", "outcome"))
    assert steps == [("action_lookup_refund", "failed"), ("action_default_fallback", "failed")]
    assert seen.case.missing_context == []
    for text in ("get me a human", "human_handoff", "A-1009", "action_lookup_refund"):
        assert text in seen.page


def test_the_tracker_state_opens_a_case_with_the_whole_context(api, stored):
    response = api.post(URL, tracker_state())

    assert response.status_code == 201
    assert response.json()["customer_message"]
    assert_whole_context(stored(response.json()["case_id"]))


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"sender_id": ""}, ["body", "sender_id"]),
        ({"sender_id": "conv\u0000"}, ["body", "sender_id"]),
        ({"events": {"event": "user"}}, ["body", "events"]),
        ({"slots": ["order_id"]}, ["body", "slots"]),
    ],
    ids=["no-sender", "nul-in-sender", "events-not-a-list", "slots-not-an-object"],
)
def test_a_tracker_state_that_cannot_be_mapped_is_a_422_in_rasa_terms(api, change, loc):
    response = api.post(URL, {**tracker_state(), **change})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == loc
    assert Case.objects.count() == 0


def test_a_slot_whose_name_no_fact_can_have_is_left_out_not_the_handoff(api, stored):
    # given a tracker whose slots, as Rasa allows, include one named with a NUL character
    state = tracker_state()
    state["slots"] = {**state["slots"], "\u0000": "x", "": "y"}

    # when the action hands it off
    response = api.post(URL, state)

    # then the case opens with the slots a fact can carry
    assert response.status_code == 201, response.content
    assert stored(response.json()["case_id"]).case.facts == {"order_id": "A-1009"}


def _action_module() -> Any:
    spec = importlib.util.spec_from_file_location("handoff_action", ACTION_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_action_hands_off_and_pauses_the_conversation(api, stored):
    pytest.importorskip("rasa_sdk", reason="rasa-sdk conflicts with the desk's pins")
    from rasa_sdk import Tracker
    from rasa_sdk.events import ConversationPaused
    from rasa_sdk.executor import CollectingDispatcher

    # given: the action, talking to this desk through the test client
    handoff_action = _action_module()
    sent: list[tuple[dict[str, Any], str]] = []

    class ToThisDesk(handoff_action.ActionHandoffToDesk):
        def post(self, body: dict[str, Any], idempotency_key: str) -> tuple[int, Any]:
            sent.append((body, idempotency_key))
            answer = api.post(
                URL, json.loads(json.dumps(body)), **{"Idempotency-Key": idempotency_key}
            )
            return answer.status_code, answer.json()

    state = tracker_state()
    tracker = Tracker(
        sender_id=state["sender_id"],
        slots=state["slots"],
        latest_message=state["latest_message"],
        events=state["events"],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_handoff_to_desk",
        stack=[],
    )
    dispatcher = CollectingDispatcher()

    # when
    events = ToThisDesk().run(dispatcher, tracker, domain={})

    # then: the customer is told what the desk answered, the conversation is paused
    assert events == [ConversationPaused()]
    case = Case.objects.get()
    told = case.events.get(kind="customer_told").data["message"]
    assert dispatcher.messages[0]["text"] == told
    assert sent[0][1] == f"rasa:rasa-conv-17:{T0 + 10}"
    assert_whole_context(stored(case.pk))


def test_the_action_keeps_the_conversation_when_the_desk_refuses(api):
    pytest.importorskip("rasa_sdk", reason="rasa-sdk conflicts with the desk's pins")
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    handoff_action = _action_module()

    class Refused(handoff_action.ActionHandoffToDesk):
        def post(self, body: dict[str, Any], idempotency_key: str) -> tuple[int, Any]:
            return 503, {}

    dispatcher = CollectingDispatcher()
    tracker = Tracker("rasa-conv-18", {}, {}, events(), False, None, {}, None)

    assert Refused().run(dispatcher, tracker, domain={}) == []
    assert dispatcher.messages[0]["text"] == handoff_action.FAILED_MESSAGE
