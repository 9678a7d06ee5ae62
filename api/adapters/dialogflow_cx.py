"""Dialogflow CX: a webhook call (``WebhookRequest``) or a conversation (``Conversation``)
carrying ``liveAgentHandoff``.

Field names are those of ``google.cloud.dialogflow.cx.v3`` in its JSON form (camelCase), as
Dialogflow sends them to a webhook (cloud.google.com/dialogflow/cx/docs/reference/rpc/
google.cloud.dialogflow.cx.v3#webhookrequest, ``ResponseMessage.LiveAgentHandoff``: "custom
metadata for your handoff procedure. Dialogflow doesn't impose any structure on this"):

- ``WebhookRequest``: point the handoff page's fulfillment webhook at the desk. ``sessionInfo``
  (``session``: the conversation, ``parameters``: the facts), ``intentInfo`` (``displayName``,
  ``confidence``), ``text`` or ``transcript`` (what the customer just said), ``messages`` (the
  agent's responses of this turn, among them ``liveAgentHandoff.metadata``), ``languageCode``,
  ``detectIntentResponseId`` (one per call: a retry opens one case). A webhook call carries one
  turn, never the earlier ones: ``missing_context`` says ``transcript``.
- ``Conversation`` (the v3beta1 conversation history API,
  ``projects.locations.agents.conversations``): every turn in ``interactions``
  (``request.queryInput.text.text``, ``response.queryResult.responseMessages``,
  ``createTime``), the last match's intent and the parameters.

The desk answers a webhook call with a ``WebhookResponse``: the customer message as a
``fulfillmentResponse`` text, and the case in ``sessionInfo.parameters`` (``handoff_case_id``,
``handoff_queue``, ``handoff_position``, ``handoff_estimated_wait_seconds``) for the flow's
conditions. Metadata keys ``summary`` and ``reason`` become the package's summary and trigger
detail; the other keys become facts. Not carried: attempted steps, customer identity (unless a
parameter says it: ``customer_id``, ``email``, ``name``), attachments (a CX turn is text, DTMF
or an event; a file the customer sent is not in its format).
"""

from __future__ import annotations

from typing import Any

from api.adapters.base import (
    TEXT,
    Mapped,
    confidence,
    customer_from,
    facts_from,
    last_messages,
    message,
    obj,
    optional_text,
    package_from,
    refuse,
    require_object,
    require_text,
)

PLATFORM = "dialogflow-cx"
TITLE = "Dialogflow CX (liveAgentHandoff)"

CUSTOMER_PARAMETERS = {"customer_id": "id", "email": "email", "name": "name", "phone": "phone"}

REQUEST_SCHEMA: dict[str, Any] = {
    "description": "A WebhookRequest (with sessionInfo) or a Conversation (with interactions)",
    "anyOf": [
        {
            "type": "object",
            "required": ["sessionInfo"],
            "properties": {
                "sessionInfo": {
                    "type": "object",
                    "required": ["session"],
                    "properties": {"session": TEXT},
                }
            },
        },
        {
            "type": "object",
            "required": ["name", "interactions"],
            "not": {"required": ["sessionInfo"]},
            "properties": {"name": TEXT, "interactions": {"type": "array", "minItems": 1}},
        },
    ],
}


def _responses(messages: Any) -> tuple[list[str], dict[str, Any] | None]:
    """The agent's texts, and the liveAgentHandoff metadata if one of them hands off."""
    texts: list[str] = []
    handoff: dict[str, Any] | None = None
    for item in messages if isinstance(messages, list) else []:
        item = obj(item)
        found = obj(item.get("text")).get("text")
        if isinstance(found, list):
            texts.extend(t for t in found if isinstance(t, str))
        if "liveAgentHandoff" in item:
            handoff = obj(obj(item.get("liveAgentHandoff")).get("metadata"))
    return texts, handoff


def _session_id(name: str) -> str:
    # projects/P/locations/L/agents/A/sessions/S (or .../environments/E/sessions/S): the S.
    return name.rsplit("/", 1)[-1][:200] if "/" in name else name[:200]


def _from_webhook_request(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    session_info = require_object(body.get("sessionInfo"), ["sessionInfo"], "the session")
    session = require_text(
        session_info.get("session"), ["sessionInfo", "session"], "the session's name"
    )
    said = body.get("text") if isinstance(body.get("text"), str) else body.get("transcript")
    texts, handoff = _responses(body.get("messages"))
    transcript = last_messages(
        [message("customer", said), *(message("bot", text) for text in texts)]
    )
    intent_info = obj(body.get("intentInfo"))
    intent: dict[str, Any] | None = None
    if name := optional_text(intent_info.get("displayName"), 100):
        intent = {"name": name}
        if (score := confidence(intent_info.get("confidence"))) is not None:
            intent["confidence"] = score
    parameters = session_info.get("parameters")
    return {
        "session": session,
        "transcript": transcript,
        "intent": intent,
        "parameters": parameters if isinstance(parameters, dict) else {},
        "handoff": handoff,
        "language": body.get("languageCode"),
        "event_id": optional_text(body.get("detectIntentResponseId")),
    }, ["transcript"]


def _from_conversation(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    name = require_text(body.get("name"), ["name"], "the conversation's name")
    interactions = body.get("interactions")
    if not isinstance(interactions, list) or not interactions:
        raise refuse(["interactions"], "must list the conversation's turns")
    turns = sorted((obj(i) for i in interactions), key=lambda i: str(i.get("createTime")))
    transcript: list[dict[str, Any] | None] = []
    handoff = None
    intent: dict[str, Any] | None = None
    parameters: dict[str, Any] = {}
    language = body.get("languageCode")
    for index, turn in enumerate(turns):
        request = obj(turn.get("request"))
        query_input = obj(request.get("queryInput"))
        text = obj(query_input.get("text"))
        at = turn.get("createTime")
        transcript.append(message("customer", text.get("text"), at=at, id=f"turn-{index}"))
        language = language or query_input.get("languageCode")
        response = obj(turn.get("response"))
        result = obj(response.get("queryResult"))
        texts, found = _responses(result.get("responseMessages"))
        transcript.extend(message("bot", t, at=at) for t in texts)
        handoff = found if found is not None else handoff
        if isinstance(result.get("parameters"), dict):
            parameters.update(result["parameters"])
        match = obj(result.get("match"))
        matched = obj(match.get("intent"))
        if intent_name := optional_text(matched.get("displayName"), 100):
            intent = {"name": intent_name}
            if (score := confidence(match.get("confidence"))) is not None:
                intent["confidence"] = score
    return {
        "session": name,
        "transcript": last_messages(transcript),
        "intent": intent,
        "parameters": parameters,
        "handoff": handoff,
        "language": language,
        "event_id": None,
    }, []


def handoff_map(body: Any) -> Mapped:
    body = require_object(body, [], "a Dialogflow CX WebhookRequest or Conversation")
    if "sessionInfo" in body:
        found, gaps = _from_webhook_request(body)
    elif "interactions" in body:
        found, gaps = _from_conversation(body)
    else:
        raise refuse(
            ["sessionInfo"],
            "is required: a WebhookRequest names its session in sessionInfo.session "
            "(or send a Conversation with its interactions)",
        )
    external_id = _session_id(found["session"])
    metadata = found["handoff"] or {}
    parameters = found["parameters"]
    customer = customer_from(
        {
            **{field: parameters.get(key) for key, field in CUSTOMER_PARAMETERS.items()},
            "language": found["language"],
        }
    )
    facts = facts_from(parameters, skip=set(CUSTOMER_PARAMETERS))
    facts.update(facts_from(metadata, skip={"summary", "reason"}))
    summary = optional_text(metadata.get("summary"), 10_000) or ""
    if not found["transcript"] and not summary:
        # Nothing said came (an event or a DTMF turn): the case says so rather than refusing.
        summary = "Handed off by Dialogflow CX without anything the customer said."
        gaps = list(dict.fromkeys([*gaps, "transcript"]))
    data: dict[str, Any] = {
        "external_id": external_id,
        "channel": "dialogflow-cx",
        "transcript": found["transcript"],
        "facts": dict(list(facts.items())[:200]),
        "summary": summary,
    }
    if customer:
        data["customer"] = customer
    if found["intent"]:
        data["intent"] = found["intent"]
    if reason := optional_text(metadata.get("reason"), 2000):
        data["trigger"] = {"reason": "other", "detail": reason}
    package = package_from(
        data,
        platform_loc={
            "external_id": ["sessionInfo", "session"],
            "transcript": ["text"],
            "facts": ["sessionInfo", "parameters"],
            "intent": ["intentInfo"],
            "summary": ["messages"],
            "trigger": ["messages"],
            "customer": ["sessionInfo", "parameters"],
        },
    )
    if found["handoff"] is None:
        gaps.append("live_agent_handoff")
    event_id = found["event_id"]
    return Mapped(
        package=package,
        gaps=gaps,
        event_id=f"dialogflow-cx:{event_id}" if event_id else None,
        context={"session": found["session"]},
    )


def handoff_answer(mapped: Mapped, desk: dict[str, Any]) -> dict[str, Any]:
    """A ``WebhookResponse``: the customer message said by the agent, the case in parameters."""
    return {
        "fulfillmentResponse": {"messages": [{"text": {"text": [desk["customer_message"]]}}]},
        "sessionInfo": {
            "parameters": {
                "handoff_case_id": desk["case_id"],
                "handoff_queue": desk["queue"],
                "handoff_position": desk["position"],
                "handoff_estimated_wait_seconds": desk["estimated_wait_seconds"],
            }
        },
        "payload": {"handoffDesk": desk},
    }
