"""The return to the bot in each platform's form (cases/callbacks/platforms.py); the adapters'
tests (tests/api/adapters/) parse the same bodies with the platforms' own SDK types."""

from __future__ import annotations

import pytest

from cases.callbacks.platforms import platform_payload

RETURNED = {
    "type": "case.returned_to_bot",
    "timestamp": "2026-12-05T12:00:00+00:00",
    "data": {
        "case_id": 7,
        "external_id": "conv-1",
        "note": "Refund issued.",
        "intent": "orders.track",
        "agent": "Ana",
        "transcript": {"url": "https://desk.example/api/v1/cases/7", "messages": 4},
    },
}


def test_the_desks_own_callbacks_keep_the_desks_envelope():
    assert platform_payload("", "case.returned_to_bot", RETURNED) == RETURNED


@pytest.mark.parametrize("platform", ["dialogflow-cx", "rasa"])
def test_resume_forms_are_for_returns_only(platform):
    # a return is the platform's resume (tests/cases/callbacks/test_return_native.py)
    assert platform_payload(platform, "case.returned_to_bot", RETURNED) != RETURNED
    joined = {**RETURNED, "type": "agent.joined"}
    assert platform_payload(platform, "agent.joined", joined) == joined


def test_sunshine_keeps_to_its_4_kb_of_metadata_with_a_long_note():
    envelope = {**RETURNED, "data": {**RETURNED["data"], "note": "é" * 2000}}

    body = platform_payload("sunshine", "case.returned_to_bot", envelope)

    assert len(body["metadata"]["handoffDesk.note"]) == 700
    assert len(str(body["metadata"]).encode()) < 4096
