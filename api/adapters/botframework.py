"""Microsoft Bot Framework / Copilot Studio: the ``handoff.initiate`` event activity.

The Bot Framework handoff protocol (the SDKs' ``EventFactory.createHandoffInitiation`` and
``createHandoffStatus``, learn.microsoft.com ``botbuilder/eventfactory``): the bot sends an
activity of ``type: "event"``, ``name: "handoff.initiate"``, whose ``value`` is the agent hub's
handoff context and whose attachment named ``Transcript`` carries ``{"activities": [...]}``,
the conversation so far; ``from`` is the customer of the turn that triggered it. The hub
answers with ``handoff.status`` events whose ``value.state`` is ``accepted``, ``failed`` or
``completed`` (with a ``message`` for a failure).

Copilot Studio (learn.microsoft.com ``microsoft-copilot-studio/advanced-hand-off``, "contextual
variables available upon hand-off") puts its variables in ``value``: ``va_LastTopic`` (the
topic that handed off: the desk's intent), ``va_Topics``, ``va_LastPhrases`` / ``va_Phrases``
(what the customer said), ``va_AgentMessage`` (the note for the agent: the summary),
``va_Language``, ``va_ConversationId``, ``va_BotId``, ``va_BotName``, ``va_Scope``; every other
variable of the conversation (its global variables) is sent by name.

Files the customer sent are the transcript activities' ``attachments`` (``contentType``,
``contentUrl``, ``name``): a link is kept as a link (never fetched), a ``data:`` URL as the
file itself when its type is on the desk's allow-list; a card (``content``, no URL) is named.

Not carried by the format: attempted steps, an intent confidence, risk flags, the customer's
email or account (unless the bot passes them as variables: they become facts).
"""

from __future__ import annotations

from typing import Any

from api.adapters.base import (
    TEXT,
    Carried,
    Mapped,
    attachment_from,
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

PLATFORM = "botframework"
TITLE = "Microsoft Bot Framework / Copilot Studio (handoff.initiate)"

REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "name", "conversation"],
    "properties": {
        "type": {"const": "event"},
        "name": {"const": "handoff.initiate"},
        "conversation": {"type": "object", "required": ["id"], "properties": {"id": TEXT}},
        "value": {"type": "object", "description": "The handoff context (va_* variables)"},
        "attachments": {"type": "array", "description": "A Transcript attachment"},
    },
}

COPILOT_VARIABLES = {
    "va_Scope",
    "va_LastTopic",
    "va_Topics",
    "va_LastPhrases",
    "va_Phrases",
    "va_ConversationId",
    "va_AgentMessage",
    "va_BotId",
    "va_BotName",
    "va_Language",
}


def _transcript_activities(activity: dict[str, Any]) -> list[Any] | None:
    """The activities of the attachment named Transcript (or holding ``activities``)."""
    if "attachments" not in activity:
        return None
    attachments = activity["attachments"]
    if not isinstance(attachments, list):
        raise refuse(["attachments"], "must be a list of attachments")
    for attachment in attachments:
        content = obj(attachment).get("content")
        named = str(obj(attachment).get("name") or "").lower() == "transcript"
        activities = obj(content).get("activities")
        if isinstance(activities, list) and (named or activities):
            return activities
    return None


def _role(item: dict[str, Any], customer_id: str | None) -> str:
    sender = obj(item.get("from"))
    role = str(sender.get("role") or "").lower()
    if role in {"user", "customer"}:
        return "customer"
    if role in {"bot", "skill"}:
        return "bot"
    return "customer" if customer_id and sender.get("id") == customer_id else "bot"


def _files(item: dict[str, Any]) -> list[Carried]:
    """An activity's attachments: a file or image (``contentUrl``, a link or a ``data:`` URL) is
    carried; a card (``content`` without a URL) is named, as the customer saw it."""
    attachments = item.get("attachments")
    found = []
    for sent in attachments if isinstance(attachments, list) else []:
        if not isinstance(sent, dict):
            continue
        if sent.get("contentUrl"):
            found.append(
                attachment_from(
                    url=sent.get("contentUrl"),
                    name=sent.get("name"),
                    content_type=sent.get("contentType"),
                )
            )
        else:
            label = sent.get("name") or sent.get("contentType") or "attachment"
            found.append(Carried(note=f"[sent {str(label)[:200]}]"))
    return found


def handoff_map(body: Any) -> Mapped:
    activity = require_object(body, [], "a Bot Framework activity")
    if activity.get("type") != "event":
        raise refuse(["type"], 'must be "event": a handoff is an event activity')
    if activity.get("name") != "handoff.initiate":
        raise refuse(["name"], 'must be "handoff.initiate" (the handoff protocol\'s initiation)')
    value = require_object(activity.get("value", {}), ["value"], "the handoff context")
    conversation = require_object(
        activity.get("conversation"), ["conversation"], "a ConversationAccount"
    )
    conversation_id = require_text(
        conversation.get("id"), ["conversation", "id"], "the conversation's id"
    )[:200]
    sender = obj(activity.get("from"))
    customer_id = (
        optional_text(sender.get("id")) if str(sender.get("role") or "") != "bot" else None
    )

    gaps: list[str] = []
    activities = _transcript_activities(activity)
    if activities is not None:
        transcript = last_messages(
            [
                message(
                    _role(item, customer_id),
                    item.get("text"),
                    at=item.get("timestamp"),
                    id=item.get("id"),
                    files=_files(item),
                )
                for item in activities
                if isinstance(item, dict) and item.get("type", "message") == "message"
            ]
        )
    else:
        # No Transcript attachment: Copilot Studio's phrases are what the customer said.
        gaps.append("transcript")
        phrases = value.get("va_Phrases") or value.get("va_LastPhrases") or []
        phrases = [phrases] if isinstance(phrases, str) else phrases
        transcript = last_messages(
            [message("customer", p) for p in phrases if isinstance(p, str)]
            if isinstance(phrases, list)
            else []
        )
    summary = optional_text(value.get("va_AgentMessage"), 10_000) or ""
    if not transcript and not summary:
        # Nothing of the conversation came: the case says so rather than refusing the handoff.
        summary = "Handed off by Bot Framework without the conversation (no Transcript)."
        gaps = ["transcript"]

    topic = optional_text(value.get("va_LastTopic"), 100)
    customer = customer_from(
        {
            "id": customer_id,
            "name": sender.get("name"),
            "language": value.get("va_Language") or activity.get("locale"),
        }
    )

    facts = facts_from(value, skip=COPILOT_VARIABLES)
    for key in ("va_Topics", "va_BotName"):
        if value.get(key):
            facts.update(facts_from({key: value[key]}, prefix="copilot."))
    data: dict[str, Any] = {
        "external_id": conversation_id,
        "channel": optional_text(activity.get("channelId"), 50) or "",
        "transcript": transcript,
        "facts": dict(list(facts.items())[:200]),
        "summary": summary,
    }
    if customer:
        data["customer"] = customer
    if topic:
        data["intent"] = {"name": topic}
    package = package_from(
        data,
        platform_loc={
            "external_id": ["conversation", "id"],
            "transcript": ["attachments"],
            "facts": ["value"],
            "summary": ["value", "va_AgentMessage"],
            "intent": ["value", "va_LastTopic"],
            "customer": ["from"],
            "channel": ["channelId"],
        },
    )
    event_id = optional_text(activity.get("id"))
    return Mapped(
        package=package,
        gaps=gaps,
        event_id=f"botframework:{event_id}" if event_id else None,
        context={
            "conversation": {"id": conversation_id},
            "activity_id": event_id,
            "from": activity.get("recipient")
            if isinstance(activity.get("recipient"), dict)
            else None,
            "recipient": sender or None,
            "channel_id": activity.get("channelId"),
            "service_url": activity.get("serviceUrl"),
        },
    )


def handoff_status(
    conversation_id: str, state: str, *, message: str | None = None, desk: dict[str, Any]
) -> dict[str, Any]:
    """A ``handoff.status`` event activity (the protocol's ``createHandoffStatus``); the desk's
    own data rides in ``channelData``, where Bot Framework keeps channel-specific fields."""
    value: dict[str, Any] = {"state": state}
    if message:
        value["message"] = message
    return {
        "type": "event",
        "name": "handoff.status",
        "value": value,
        "conversation": {"id": conversation_id},
        "channelData": {"handoffDesk": desk},
    }


def handoff_answer(mapped: Mapped, desk: dict[str, Any]) -> dict[str, Any]:
    # The team is away (outside hours, nobody online): the protocol's failure, with the message
    # for the customer; the case still waits in the queue for the team's return.
    if desk.get("team_away"):
        activity = handoff_status(
            mapped.context["conversation"]["id"],
            "failed",
            message=desk.get("customer_message"),
            desk=desk,
        )
    else:
        activity = handoff_status(mapped.context["conversation"]["id"], "accepted", desk=desk)
    if mapped.context.get("activity_id"):
        activity["replyToId"] = mapped.context["activity_id"]
    for key in ("from", "recipient"):
        if mapped.context.get(key):
            activity[key] = mapped.context[key]
    if mapped.context.get("channel_id"):
        activity["channelId"] = mapped.context["channel_id"]
    return activity
