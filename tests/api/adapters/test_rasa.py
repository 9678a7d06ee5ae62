"""Rasa: the handoff custom action (integrations/rasa/handoff_action.py) posts the tracker's
state; the desk opens a case with the events, the intent and its ranking, the slots.

The action is tested where Rasa teams run it: in rasa-sdk's own actions server (``python -m
rasa_sdk --actions actions``), a process with a virtualenv of its own (tests/rasa_actions.py:
rasa-sdk pins grpcio, pydantic and websockets below the desk's, so it cannot be installed
beside it), called with the body the Rasa server sends and posting to a live desk over HTTP.
The desk's side is also tested alone, with the state the action posts.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from cases.models import Case, IdempotencyKey
from tests.factories import RAW_KEY_PREFIX
from tests.rasa_actions import ACTION_FILE, RasaSdkUnavailable, actions_server, rasa_sdk_python
from tests.servers import TcpProxy

pytestmark = pytest.mark.django_db

URL = "/api/v1/adapters/rasa/handoffs"
SENDER = "rasa-conv-17"
RASA_VERSION = "3.19.5"  # a Rasa Pro release (its changelog, 2026-09-16): what the server sends
T0 = 1_795_600_000.0  # 2026-11-24, seconds since the epoch as Rasa stamps events
# Rasa adds the model's and the assistant's ids to the metadata of every event it logs.
META = {"model_id": "5f1c2a9e0b7d4e8f", "assistant_id": "acme-support"}
FIRST = {
    "intent": {"name": "billing.refund", "confidence": 0.91},
    "entities": [
        {"entity": "order_id", "start": 24, "end": 30, "value": "A-1009",
         "extractor": "RegexEntityExtractor", "processors": []},
    ],
    "text": "I was charged twice for A-1009",
    "message_id": "8d2e61b0c4a44b5f9c3e0a7d6b1f2e90",
    "metadata": {},
    "intent_ranking": [
        {"name": "billing.refund", "confidence": 0.91},
        {"name": "human_handoff", "confidence": 0.06},
    ],
}  # fmt: skip
PARSE = {
    "intent": {"name": "human_handoff", "confidence": 0.62},
    "entities": [],
    "text": "this is useless, get me a human",
    "message_id": "c7a9f3e25d1b4c08a6e4b2d9f0c1e3a7",
    "metadata": {},
    "intent_ranking": [
        {"name": "human_handoff", "confidence": 0.62},
        {"name": "billing.refund", "confidence": 0.31},
        {"name": "greet", "confidence": 0.07},
    ],
}
# A domain as Domain.as_dict() sends it: the assistant's domain.yml, cleaned of empty keys.
DOMAIN = {
    "version": "3.1",
    "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
    "intents": ["greet", "billing.refund", "human_handoff"],
    "entities": ["order_id"],
    "slots": {
        "order_id": {"type": "text", "influence_conversation": False,
                     "mappings": [{"type": "from_entity", "entity": "order_id"}]},
        "email": {"type": "text", "influence_conversation": False,
                  "mappings": [{"type": "custom"}]},
    },
    "responses": {"utter_default": [{"text": "Sorry, I couldn't find that order."}]},
    "actions": ["action_lookup_refund", "action_handoff_to_desk"],
}  # fmt: skip


def events() -> list[dict[str, Any]]:
    """A conversation's events, each as Rasa's ``Event.as_dict()`` gives it
    (rasa/shared/core/events.py), as far as the Rasa server has logged them when it calls the
    handoff action: the action itself is logged only once it has run."""

    def event(kind: str, second: float, **fields: Any) -> dict[str, Any]:
        return {"event": kind, "timestamp": T0 + second, "metadata": META, **fields}

    def action(name: str, second: float, policy: str | None, score: float | None) -> Any:
        return event("action", second, name=name, policy=policy, confidence=score,
                     action_text=None, hide_rule_turn=False)  # fmt: skip

    def user(second: float, parse: dict[str, Any]) -> dict[str, Any]:
        return event("user", second, text=parse["text"], parse_data=parse, input_channel="rest",
                     message_id=parse["message_id"])  # fmt: skip

    nothing = dict.fromkeys(["elements", "quick_replies", "buttons", "attachment", "image"])
    return [
        action("action_session_start", 0, None, None),
        event("session_started", 0),
        # action_session_start carries the last session's slots over
        event("slot", 0, name="email", value="ana@example.com"),
        event("slot", 0, name="order_id", value="A-1009"),
        action("action_listen", 0, None, None),
        user(2, FIRST),
        event("user_featurization", 2, use_text_for_featurization=False),
        # A rejected action is logged by this event alone, with no "action" event before it.
        event("action_execution_rejected", 3, name="action_lookup_refund", policy="RulePolicy",
              confidence=1.0),
        action("action_default_fallback", 4, "RulePolicy", 0.3),
        event("bot", 4, text="Sorry, I couldn't find that order.",
              data={**nothing, "custom": None}, metadata={**META, "utter_action": "utter_default"}),
        event("rewind", 4),
        action("action_listen", 5, "RulePolicy", 1.0),
        user(9, PARSE),
        event("user_featurization", 9, use_text_for_featurization=False),
    ]  # fmt: skip


SLOTS = {
    "email": "ana@example.com",
    "order_id": "A-1009",
    "requested_slot": None,
    "session_started_metadata": None,
}


def action_call() -> dict[str, Any]:
    """What the Rasa server POSTs to the actions server's /webhook to run the action:
    ``RemoteAction._action_call_format`` (rasa/core/actions/action.py), the tracker being
    ``DialogueStateTracker.current_state(EventVerbosity.ALL)`` (rasa/shared/core/trackers.py)."""
    return {
        "next_action": "action_handoff_to_desk",
        "sender_id": SENDER,
        "tracker": {
            "sender_id": SENDER,
            "slots": SLOTS,
            "latest_message": PARSE,
            "latest_event_time": T0 + 9,
            "followup_action": None,
            "paused": False,
            "stack": [],
            "events": events(),
            "latest_input_channel": "rest",
            "active_loop": {},
            "latest_action": {"action_name": "action_listen"},
            "latest_action_name": "action_listen",
        },
        "version": RASA_VERSION,
        "domain": DOMAIN,
    }


def tracker_state() -> dict[str, Any]:
    """What the action posts to the desk: rasa-sdk's ``Tracker.current_state()`` of the
    tracker above (``Tracker.from_dict``, rasa_sdk/interfaces.py), field by field."""
    return {
        "sender_id": SENDER,
        "slots": SLOTS,
        "latest_message": PARSE,
        "latest_event_time": T0 + 9,
        "paused": False,
        "events": events(),
        "latest_input_channel": "rest",
        "active_loop": {},
        "latest_action_name": "action_listen",
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


# --- the action, in rasa-sdk's actions server ---------------------------------------------------


def failed_message() -> str:
    """The action's FAILED_MESSAGE, read from its file (rasa_sdk is not importable here)."""
    for node in ast.parse(ACTION_FILE.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "FAILED_MESSAGE":
            return str(ast.literal_eval(node.value))
    raise AssertionError(f"no FAILED_MESSAGE in {ACTION_FILE}")


@pytest.fixture(scope="session")
def rasa_python() -> Path:
    """rasa-sdk's virtualenv. Offline with nothing cached, a run may skip; never in CI
    (HANDOFF_REQUIRE_SERVICES), where that, like any failed build, is an error."""
    try:
        return rasa_sdk_python()
    except RasaSdkUnavailable as error:
        if error.offline and not os.environ.get("HANDOFF_REQUIRE_SERVICES"):
            pytest.skip(f"needs rasa-sdk's virtualenv: {error}")
        pytest.fail(f"rasa-sdk's virtualenv: {error}", pytrace=False)


@pytest.fixture(scope="module")
def desk_link(live_server: Any) -> Iterator[TcpProxy]:
    """The actions server's way to the desk, which a test can cut."""
    proxy = TcpProxy("127.0.0.1", int(urlsplit(live_server.url).port or 80))
    proxy.start()
    yield proxy
    proxy.cut()


@pytest.fixture(scope="module")
def actions_url(
    rasa_python: Path, desk_link: TcpProxy, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The actions server, configured as the README says, with the key of the ``integration``
    fixture (acme-bot)."""
    env = {
        "HANDOFF_DESK_URL": f"http://127.0.0.1:{desk_link.port}",
        "HANDOFF_DESK_KEY": f"{RAW_KEY_PREFIX}acme-bot",
    }
    with actions_server(rasa_python, tmp_path_factory.mktemp("rasa-actions"), env) as url:
        yield url


def run_the_action(actions_url: str) -> dict[str, Any]:
    """The Rasa server's call of the action; the actions server's answer."""
    answer = httpx.post(f"{actions_url}/webhook", json=action_call(), timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_action_hands_off_and_pauses_the_conversation(actions_url, integration, stored):
    # when: the rule that hands off runs the action
    answer = run_the_action(actions_url)

    # then: the case is open with the whole context, under the conversation's idempotency key
    case = Case.objects.get()
    assert_whole_context(stored(case.pk))
    assert IdempotencyKey.objects.get().key == f"adapter:rasa:rasa:{SENDER}:{T0 + 9}"
    # and: the bot says what the desk told the customer, and pauses the conversation
    told = case.events.get(kind="customer_told").data["message"]
    assert [response["text"] for response in answer["responses"]] == [told]
    assert [event["event"] for event in answer["events"]] == ["pause"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_second_delivery_of_the_call_opens_no_second_case(actions_url, integration):
    # given: the action ran once
    first = run_the_action(actions_url)

    # when: the Rasa server sends the same call again (a retry after a time-out)
    second = run_the_action(actions_url)

    # then: one case, and the same answer: the desk's first, replayed for the same key (it
    # would also find the open case by sender_id, but a retry must not count as a new handoff)
    assert Case.objects.count() == 1
    assert IdempotencyKey.objects.count() == 1
    assert second == first
    assert [event["event"] for event in second["events"]] == ["pause"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_action_keeps_the_conversation_when_the_desk_refuses(actions_url, integration):
    # given: the action's key was revoked on the desk
    integration.is_active = False
    integration.save(update_fields=["is_active"])

    # when
    answer = run_the_action(actions_url)

    # then: the customer is told, the bot keeps the conversation, no case
    assert [response["text"] for response in answer["responses"]] == [failed_message()]
    assert answer["events"] == []
    assert Case.objects.count() == 0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_action_keeps_the_conversation_when_the_desk_is_unreachable(
    actions_url, desk_link, integration
):
    # given: the desk cannot be reached
    desk_link.cut()
    try:
        # when
        answer = run_the_action(actions_url)
    finally:
        desk_link.restore()

    # then: the customer is told, the bot keeps the conversation, no case
    assert [response["text"] for response in answer["responses"]] == [failed_message()]
    assert answer["events"] == []
    assert Case.objects.count() == 0
