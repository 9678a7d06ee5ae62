"""Callbacks in a bot platform's own form: pure functions from the desk's callback to the body
the platform understands (``Integration.platform``; the adapters reading each platform's
handoff are api/adapters/).

The outbox (outbox.py) stores what this renders, so a retry sends the same bytes with the same
webhook-id; the ``webhook-event`` header names the desk's kind, so a connector can dispatch
without reading the body. A kind a platform has no form for keeps the desk's own envelope.

- Bot Framework: ``handoff.status`` event activities (``accepted`` on handoff, ``completed``
  when the case is resolved or returned to the bot, with the agent's note for the bot as its
  ``message``, ``failed`` when the desk cannot take it),
  a ``message`` activity for an agent's reply, the desk's data in ``channelData``.
- Sunshine Conversations: ``passControl`` back to the bot's switchboard integration when the
  case is resolved or returned (``{"switchboardIntegration": "next", "metadata"}``, the note,
  the intent to resume and the transcript's URL among the metadata: the body of
  ``POST /v2/apps/{appId}/conversations/{conversationId}/passControl``); agents' replies and
  the customer messages as a business-authored text message body.
- Botpress: the HITL interface's events ``hitlAssigned`` (``conversationId``, ``userId``) when
  an agent joins, ``hitlStopped`` (``conversationId``) when the case is resolved or returned;
  agents' replies as HITL channel text messages.
- Dialogflow CX: a return to the bot is the body of a ``sessions.detectIntent`` call
  (``DetectIntentRequest``) sending the custom event ``handoff-desk-returned`` to the
  conversation's session (``session``: its id, the path's last segment, which the connector
  completes), the note, the intent to resume and the transcript's URL as session parameters;
  the agent's event handler takes the conversation from there. Other kinds: the desk's form.
- Rasa: a return to the bot is the body of ``POST /conversations/{sender_id}/tracker/events``:
  the ``resume`` event (undoing the custom action's ``ConversationPaused``), the desk's data in
  its ``metadata``. Other kinds: the desk's form.
"""

from __future__ import annotations

from typing import Any

# The desk's kinds, as cases/services send them (``case.returned_to_bot`` and
# ``handoff.failed`` are the kinds issue 16's return-to-bot and business hours add).
ENDED = {"case.resolved", "case.returned_to_bot"}


def _desk_data(envelope: dict[str, Any]) -> dict[str, Any]:
    data = envelope.get("data")
    return data if isinstance(data, dict) else {}


def botframework(kind: str, envelope: dict[str, Any]) -> dict[str, Any] | None:
    data = _desk_data(envelope)
    conversation = {"id": data.get("external_id")}
    channel_data = {"handoffDesk": envelope}
    state = {"handoff.accepted": "accepted", "handoff.failed": "failed"}.get(kind)
    if kind in ENDED:
        state = "completed"
    if state is not None:
        value: dict[str, Any] = {"state": state}
        if state == "failed" and data.get("customer_message"):
            value["message"] = data["customer_message"]
        if kind == "case.returned_to_bot" and data.get("note"):
            value["message"] = data["note"]  # the agent's note for the bot
        return {
            "type": "event",
            "name": "handoff.status",
            "value": value,
            "conversation": conversation,
            "timestamp": envelope.get("timestamp"),
            "channelData": channel_data,
        }
    if kind in {"agent.message", "agent.joined"} and data.get("text"):
        return {
            "type": "message",
            "text": data["text"],
            "from": {"id": "handoff-desk", "name": data.get("agent") or "Handoff Desk"},
            "conversation": conversation,
            "timestamp": envelope.get("timestamp"),
            "channelData": channel_data,
        }
    return None


def _flat(values: dict[str, Any]) -> dict[str, Any]:
    """Sunshine metadata is flat: strings, numbers and booleans."""
    return {
        f"handoffDesk.{key}": value
        for key, value in values.items()
        if isinstance(value, str | int | float | bool)
    }


def sunshine(kind: str, envelope: dict[str, Any]) -> dict[str, Any] | None:
    data = _desk_data(envelope)
    if kind in ENDED:
        return {
            "switchboardIntegration": "next",
            "metadata": _flat(
                {
                    "caseId": data.get("case_id"),
                    "event": kind,
                    "resolution": data.get("resolution"),
                    # Sunshine's metadata is 4 KB in all: the note's first 700 characters
                    "note": data["note"][:700] if isinstance(data.get("note"), str) else None,
                    "intent": data.get("intent"),
                    "transcriptUrl": (data.get("transcript") or {}).get("url"),
                }
            ),
        }
    text = data.get("text") or data.get("customer_message")
    if isinstance(text, str) and text:
        author: dict[str, Any] = {"type": "business"}
        if data.get("agent"):
            author["displayName"] = data["agent"]
        return {
            "author": author,
            "content": {"type": "text", "text": text[:4096]},
            "metadata": _flat({"caseId": data.get("case_id"), "event": kind}),
        }
    return None


def botpress(kind: str, envelope: dict[str, Any]) -> dict[str, Any] | None:
    data = _desk_data(envelope)
    conversation_id = data.get("external_id")
    if kind == "agent.joined":
        return {
            "type": "hitlAssigned",
            "payload": {"conversationId": conversation_id, "userId": str(data.get("agent", ""))},
        }
    if kind in ENDED:
        return {"type": "hitlStopped", "payload": {"conversationId": conversation_id}}
    if kind == "agent.message" and data.get("text"):
        return {
            "type": "text",
            "conversationId": conversation_id,
            "payload": {"text": data["text"]},
            "userId": str(data.get("agent", "")),
        }
    return None


RETURNED_EVENT = "handoff-desk-returned"  # a Dialogflow CX custom event the agent handles


def dialogflow_cx(kind: str, envelope: dict[str, Any]) -> dict[str, Any] | None:
    if kind != "case.returned_to_bot":
        return None
    data = _desk_data(envelope)
    parameters = {
        "handoff_case_id": data.get("case_id"),
        "handoff_returned": True,
        "handoff_note": data.get("note"),
        "handoff_resume_intent": data.get("intent"),
        "handoff_agent": data.get("agent"),
        "handoff_transcript_url": (data.get("transcript") or {}).get("url"),
    }
    return {
        "session": data.get("external_id"),
        "queryInput": {
            "event": {"event": RETURNED_EVENT},
            "languageCode": data.get("language") or "en",
        },
        "queryParams": {"parameters": {k: v for k, v in parameters.items() if v is not None}},
    }


def rasa(kind: str, envelope: dict[str, Any]) -> list[dict[str, Any]] | None:
    if kind != "case.returned_to_bot":
        return None
    return [{"event": "resume", "metadata": {"handoffDesk": envelope}}]


RENDERERS: dict[str, Any] = {
    "botframework": botframework,
    "sunshine": sunshine,
    "botpress": botpress,
    "dialogflow-cx": dialogflow_cx,
    "rasa": rasa,
}


def platform_payload(platform: str, kind: str, envelope: dict[str, Any]) -> Any:
    """The callback body for this platform: its own form where it has one, else the desk's."""
    render = RENDERERS.get(platform)
    rendered = render(kind, envelope) if render is not None else None
    return rendered if rendered is not None else envelope
