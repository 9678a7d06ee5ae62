"""Zendesk Sunshine Conversations: the switchboard's ``switchboard:passControl`` /
``switchboard:offerControl`` webhook.

Field names from the Sunshine Conversations v2 API reference (developer.zendesk.com
``api-reference/conversations``, "Webhooks" and "Switchboard", and the generated client
``sunshine-conversations-client``: ``SwitchboardPassControl``,
``SwitchboardPassControlAllOfPayload``, ``ConversationMessageEvent``): a webhook body is
``{"app": {"id"}, "webhook": {"id", "version": "v2"}, "events": [...]}``; a switchboard event
is ``{"id", "type", "createdAt", "payload": {"conversation": {"id", "type", "metadata",
"activeSwitchboardIntegration"}, "metadata": {...}}}``. ``metadata`` is flat (strings, numbers,
booleans; 4 KB at most): ``first_message_id`` (where the part handed over begins) and Zendesk's
``dataCapture.systemField.*`` / ``dataCapture.ticketField.*`` (requester name and email, ticket
fields) are the documented keys; every key becomes a fact, and the requester's become the
customer.

A switchboard event carries no messages: they stay in Sunshine. ``conversation:message``
events of the same conversation in the same webhook body (Sunshine batches events; a bot's
connector may replay them) become the transcript; without them the case says what it has and
``missing_context`` says ``transcript``. A message's ``image`` or ``file`` content (``mediaUrl``,
``mediaType``, ``mediaSize``, ``altText``) becomes an attachment: a link the desk shows and
never fetches. Not carried: intent, attempted steps.

The desk is a switchboard integration: when the case is resolved (or returned), control goes
back with a ``passControl`` body (``{"switchboardIntegration": "next", "metadata": ...}``,
rendered by cases/callbacks/platforms.py).
"""

from __future__ import annotations

from typing import Any

from api.adapters.base import (
    TEXT,
    Carried,
    Loc,
    Mapped,
    Unmappable,
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

PLATFORM = "sunshine"
TITLE = "Zendesk Sunshine Conversations (switchboard passControl / offerControl)"

HANDOFF_EVENTS = {"switchboard:passControl", "switchboard:offerControl"}
# A switchboard event the desk can take: the schema's ``contains`` and ``_handoff_event`` agree.
HANDOFF_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "payload"],
    "properties": {
        "type": {"enum": sorted(HANDOFF_EVENTS)},
        "payload": {
            "type": "object",
            "required": ["conversation"],
            "properties": {
                "conversation": {
                    "type": "object",
                    "required": ["id"],
                    "properties": {"id": TEXT},
                },
                "metadata": {"type": "object"},
            },
        },
    },
}
REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["events"],
    "properties": {"events": {"type": "array", "contains": HANDOFF_EVENT_SCHEMA}},
}
REQUESTER = {
    "dataCapture.systemField.requester.name": "name",
    "dataCapture.systemField.requester.email": "email",
}


def _content(content: Any) -> tuple[str | None, list[Carried]]:
    """A message's text and file: ``image`` and ``file`` content carry ``mediaUrl``,
    ``mediaType``, ``mediaSize`` and ``altText`` (the file's name by default) beside its
    ``text``; other types are their text, or their type named."""
    if not isinstance(content, dict):
        return None, []
    kind = content.get("type") if isinstance(content.get("type"), str) else ""
    text = content.get("text") or content.get("markdownText")
    text = text if isinstance(text, str) else None
    if kind in {"image", "file"}:
        sent = attachment_from(
            url=content.get("mediaUrl"),
            name=content.get("altText"),
            content_type=content.get("mediaType"),
            size=content.get("mediaSize"),
        )
        if sent.attachment is None and sent.note is None:
            sent = Carried(note=f"[{kind}]")
        return text, [sent]
    if kind == "text":
        return text, []
    return text if text else (f"[{kind}]" if kind else None), []


def _handoff_event(events: list[Any]) -> tuple[int, dict[str, Any]]:
    """The first switchboard event that names its conversation, or why there is none."""
    problem: Unmappable | None = None
    for index, event in enumerate(events):
        if not isinstance(event, dict) or str(event.get("type")) not in HANDOFF_EVENTS:
            continue
        try:
            payload = require_object(event.get("payload"), ["events", index, "payload"], "")
            conversation = require_object(
                payload.get("conversation"), ["events", index, "payload", "conversation"], ""
            )
            require_text(
                conversation.get("id"),
                ["events", index, "payload", "conversation", "id"],
                "the conversation's id",
            )
            if "metadata" in payload:
                require_object(
                    payload["metadata"], ["events", index, "payload", "metadata"], "flat metadata"
                )
        except Unmappable as error:
            problem = problem or error
            continue
        return index, event
    raise problem or refuse(
        ["events"], "holds no switchboard:passControl or switchboard:offerControl event"
    )


def handoff_map(body: Any) -> Mapped:
    body = require_object(body, [], "a Sunshine Conversations webhook body")
    events = body.get("events")
    if not isinstance(events, list):
        raise refuse(["events"], "must be the webhook's list of events")
    index, event = _handoff_event(events)
    payload = obj(event.get("payload"))
    conversation = obj(payload.get("conversation"))
    raw_id = conversation["id"]
    conversation_id = str(raw_id).strip()[:200]
    metadata = obj(payload.get("metadata"))

    customer: dict[str, Any] = {}
    transcript = []
    for item in events:
        if not isinstance(item, dict) or item.get("type") != "conversation:message":
            continue
        found = obj(item.get("payload"))
        if obj(found.get("conversation")).get("id") != raw_id:
            continue
        sent = obj(found.get("message"))
        author = obj(sent.get("author"))
        is_user = author.get("type") == "user"
        text, files = _content(sent.get("content"))
        transcript.append(
            message(
                "customer" if is_user else "bot",
                text,
                at=sent.get("received"),
                id=sent.get("id"),
                files=files,
            )
        )
        if is_user and not customer:
            user = obj(author.get("user"))
            profile = obj(user.get("profile"))
            names = [profile.get("givenName"), profile.get("surname")]
            customer = customer_from(
                {
                    "id": user.get("externalId") or author.get("userId"),
                    "name": " ".join(n for n in names if isinstance(n, str) and n),
                    "email": profile.get("email"),
                    "language": profile.get("locale"),
                }
            )
    transcript_items = last_messages(transcript)
    requester = customer_from({field: metadata.get(key) for key, field in REQUESTER.items()})
    customer = {**requester, **customer}

    gaps = [] if transcript_items else ["transcript"]
    summary = optional_text(metadata.get("summary"), 10_000) or ""
    if not transcript_items and not summary:
        start = metadata.get("first_message_id")
        summary = (
            "Control of this Sunshine Conversations conversation was passed to the desk; its "
            "messages stay in Sunshine"
            + (f" (the handover starts at message {str(start)[:200]})." if start else ".")
        )
    facts = facts_from(metadata, skip={"summary"})
    facts.update(facts_from(obj(conversation.get("metadata")), prefix="conversation."))
    data: dict[str, Any] = {
        "external_id": conversation_id,
        "channel": "sunshine-conversations",
        "transcript": transcript_items,
        "facts": dict(list(facts.items())[:200]),
        "summary": summary,
    }
    if customer:
        data["customer"] = customer
    here: Loc = ["events", index, "payload"]
    package = package_from(
        data,
        platform_loc={
            "external_id": [*here, "conversation", "id"],
            "transcript": ["events"],
            "facts": [*here, "metadata"],
            "summary": [*here, "metadata", "summary"],
            "customer": [*here, "metadata"],
        },
    )
    event_id = optional_text(event.get("id"))
    return Mapped(
        package=package,
        gaps=gaps,
        event_id=f"sunshine:{event_id}" if event_id else None,
        context={"conversation_id": conversation_id, "event_type": event.get("type")},
    )


def handoff_answer(mapped: Mapped, desk: dict[str, Any]) -> dict[str, Any]:
    """Sunshine reads only the status of a webhook's answer; the desk's answer is the body."""
    return {**desk, "conversationId": mapped.context["conversation_id"]}
