"""Rasa: the tracker's state, as the custom action ``integrations/rasa/handoff_action.py``
posts it from a Rasa actions server.

Field names are those of rasa-sdk's ``Tracker.current_state()`` (rasa.com/docs, "Tracker" in
the Rasa SDK reference; the same dict the Rasa server sends an action server as ``tracker``):
``sender_id`` (the conversation), ``slots`` (the facts), ``latest_message`` (``text``,
``intent`` ``{name, confidence}``, ``intent_ranking``), ``events`` (``{"event": "user", "text",
"timestamp", "parse_data"}``, ``{"event": "bot", "text", "timestamp"}``, ``{"event": "action",
"name"}``, ``{"event": "action_execution_rejected", "name"}``...), ``latest_input_channel``.
Timestamps are seconds since the epoch.

Custom actions the assistant ran (``action_*`` other than Rasa's own) are the attempted steps;
a rejected one (logged as an ``action_execution_rejected`` event alone, with no ``action``
event), or Rasa's fallback, failed. A bot utterance's ``data.image`` and ``data.attachment``
(URLs) become attachments: links the desk never fetches. A user event carries no file in Rasa's
own format (a channel's metadata is its own). Not carried: customer identity beyond the sender
id (slots named ``email``, ``name``, ``phone``, ``customer_id`` fill it), risk flags.
"""

from __future__ import annotations

from typing import Any

from api.adapters.base import (
    TEXT,
    Carried,
    Mapped,
    attachment_from,
    confidence,
    customer_from,
    facts_from,
    last_messages,
    message,
    moment,
    obj,
    optional_text,
    package_from,
    refuse,
    require_object,
    require_text,
)

PLATFORM = "rasa"
TITLE = "Rasa (tracker state from the handoff custom action)"

RASA_ACTIONS = {
    "action_listen",
    "action_restart",
    "action_session_start",
    "action_default_ask_affirmation",
    "action_default_ask_rephrase",
    "action_back",
    "action_deactivate_loop",
    "action_revert_fallback_events",
    "action_unlikely_intent",
    "action_extract_slots",
    "action_two_stage_fallback",
    "action_handoff_to_desk",
}
FALLBACK_ACTIONS = {"action_default_fallback", "action_two_stage_fallback"}
CUSTOMER_SLOTS = {"customer_id": "id", "email": "email", "name": "name", "phone": "phone"}
INTERNAL_SLOTS = {"requested_slot", "session_started_metadata"}

REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["sender_id"],
    "properties": {
        "sender_id": TEXT,
        "events": {"type": "array"},
        "slots": {"type": "object"},
    },
}


def _bot_files(event: dict[str, Any]) -> list[Carried]:
    """What a bot utterance showed besides its text: ``data.image`` (a URL, as a response's
    ``image``) and ``data.attachment`` (a URL, or ``{"payload": {"src" | "url", "title"}}``)."""
    data = obj(event.get("data"))
    found = [attachment_from(url=data.get("image"))]
    sent = data.get("attachment")
    if isinstance(sent, str):
        found.append(attachment_from(url=sent))
    elif isinstance(sent, dict):
        payload = obj(sent.get("payload"))
        found.append(
            attachment_from(url=payload.get("src") or payload.get("url"), name=payload.get("title"))
        )
    return [item for item in found if item.attachment or item.note]


def _intent(latest: dict[str, Any]) -> dict[str, Any] | None:
    intent = obj(latest.get("intent"))
    name = optional_text(intent.get("name"), 100)
    if not name:
        return None
    found: dict[str, Any] = {"name": name}
    if (score := confidence(intent.get("confidence"))) is not None:
        found["confidence"] = score
    alternatives = []
    ranking = latest.get("intent_ranking")
    for ranked in ranking if isinstance(ranking, list) else []:
        if not isinstance(ranked, dict) or ranked.get("name") == name:
            continue
        if other := optional_text(ranked.get("name"), 100):
            score = confidence(ranked.get("confidence"))
            alternatives.append(
                {"name": other} if score is None else {"name": other, "confidence": score}
            )
    if alternatives:
        found["alternatives"] = alternatives[:20]
    return found


def handoff_map(body: Any) -> Mapped:
    state = require_object(body, [], "a Rasa tracker state (Tracker.current_state())")
    sender_id = require_text(state.get("sender_id"), ["sender_id"], "the conversation's sender")
    events = state.get("events", [])
    if not isinstance(events, list):
        raise refuse(["events"], "must be the tracker's list of events")
    transcript = []
    steps: list[dict[str, Any]] = []
    for event in events:
        if not isinstance(event, dict):
            continue
        kind = str(event.get("event"))
        if kind in {"user", "bot"}:
            role = "customer" if kind == "user" else "bot"
            transcript.append(
                message(
                    role,
                    event.get("text"),
                    at=event.get("timestamp"),
                    id=event.get("message_id"),
                    files=_bot_files(event) if kind == "bot" else [],
                )
            )
        elif kind in {"action", "action_execution_rejected"} and isinstance(event.get("name"), str):
            name = event["name"]
            if name in FALLBACK_ACTIONS:
                steps.append({"name": name, "outcome": "failed", "detail": "Rasa fell back"})
            elif not name.startswith("action_") or name in RASA_ACTIONS:
                continue
            elif kind == "action":
                steps.append({"name": name[:200], "outcome": "succeeded"})
            else:
                # Rasa logs a rejected action by this event alone, no "action" event before it.
                steps.append(
                    {"name": name[:200], "outcome": "failed",
                     "detail": "the action rejected its execution"}
                )  # fmt: skip
            if (at := moment(event.get("timestamp"))) is not None:
                steps[-1]["at"] = at
    slots = require_object(state.get("slots", {}), ["slots"], "the tracker's slots")
    customer = {
        "id": sender_id[:200],
        **customer_from({field: slots.get(slot) for slot, field in CUSTOMER_SLOTS.items()}),
    }
    latest = obj(state.get("latest_message"))
    data: dict[str, Any] = {
        "external_id": sender_id[:200],
        "channel": optional_text(state.get("latest_input_channel"), 50) or "rasa",
        "customer": customer,
        "transcript": last_messages(transcript),
        "attempted_steps": steps[-100:],
        "facts": dict(
            list(facts_from(slots, skip=INTERNAL_SLOTS | set(CUSTOMER_SLOTS)).items())[:200]
        ),
    }
    if intent := _intent(latest):
        data["intent"] = intent
    gaps = []
    if not data["transcript"]:
        # No message in the events (a tracker cut short): the case says so, not a refusal.
        data["summary"] = "Handed off by Rasa without any message of the conversation."
        gaps = ["transcript"]
    package = package_from(
        data,
        platform_loc={
            "external_id": ["sender_id"],
            "transcript": ["events"],
            "attempted_steps": ["events"],
            "facts": ["slots"],
            "intent": ["latest_message", "intent"],
            "customer": ["slots"],
            "channel": ["latest_input_channel"],
        },
    )
    return Mapped(package=package, gaps=gaps, context={"sender_id": sender_id})


def handoff_answer(mapped: Mapped, desk: dict[str, Any]) -> dict[str, Any]:
    """The action reads the desk's own answer: it utters ``customer_message``."""
    return desk
