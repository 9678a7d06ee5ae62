"""Botpress: the HITL interface's ``startHitl`` and ``stopHitl`` actions.

Field names from Botpress's HITL interface definition (github.com/botpress/botpress,
``interfaces/hitl/interface.definition.ts``; 0.4.0 required ``title``, 2.1.0 made it optional):
``startHitl`` takes ``userId``, ``title``, ``description`` and ``messageHistory`` (all but
``userId`` optional), each message
``{"source": {"type": "user", "userId"} | {"type": "bot"}, "type": <message type>,
"payload": <that type's payload>}`` with the SDK's default message types (``text``: ``text``;
``image``: ``imageUrl``; ``file``: ``fileUrl``, ``title``; ``markdown``: ``markdown``; ``choice``
/ ``dropdown``: ``text``, ``options``; ``card``/``carousel``: ``title``; ``location``:
``address``...), and answers ``{"conversationId"}``: the HITL conversation. The HITL plugin
adds the bot's own ``conversationId`` and ``userEmail``; both are used when sent. The
interface's events ``hitlAssigned`` (``conversationId``, ``userId``) and ``hitlStopped``
(``conversationId``) go back through the callback outbox (cases/callbacks/platforms.py).

An ``image``, ``file``, ``audio`` or ``video`` message becomes an attachment: a link (its URL),
never fetched by the desk, named by ``title`` or the URL's file name, its type guessed from that
name (the payload has none).

``stopHitl`` (``{"conversationId"}``, the id ``startHitl`` answered) ends the session from the
bot's side (the customer left, or the bot's flow stopped it): the HITL plugin then closes its
session and the integrations close the ticket, so the desk resolves the case as
``ended_by_bot``, whoever held it, and answers the action's output, ``{}`` (with the desk's
answer beside it). A retry, or a ``stopHitl`` after the case closed, is answered the same.

Not carried by the format: intent, attempted steps, facts, message times, risk flags
(``missing_context`` lists ``message_times`` besides the package's own gaps).
"""

from __future__ import annotations

from typing import Any

from api.adapters.base import (
    TEXT,
    Carried,
    Mapped,
    attachment_from,
    customer_from,
    last_messages,
    message,
    optional_text,
    package_from,
    refuse,
    require_object,
    require_text,
)

PLATFORM = "botpress"
TITLE = "Botpress HITL (startHitl)"

REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["userId"],
    "properties": {
        "userId": TEXT,
        "title": TEXT,
        "messageHistory": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["source"],
                "properties": {
                    "source": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {"type": {"enum": ["user", "bot"]}},
                    }
                },
            },
        },
    },
}


# The SDK's default message types that are a file at a URL (packages/sdk/src/message.ts).
MEDIA_KEYS = {"image": "imageUrl", "file": "fileUrl", "audio": "audioUrl", "video": "videoUrl"}


def _payload(kind: Any, payload: Any) -> tuple[str | None, list[Carried]]:
    """A message's text, and its file for the ``image``, ``file``, ``audio`` and ``video``
    types (a link the desk never fetches; ``file``'s ``title`` is its name)."""
    if not isinstance(payload, dict):
        return None, []
    for key in ("text", "markdown"):
        if isinstance(payload.get(key), str) and payload[key].strip():
            text = payload[key]
            options = payload.get("options")
            if isinstance(options, list) and options:
                labels = [
                    str(o.get("label") or o.get("value")) for o in options if isinstance(o, dict)
                ]
                text += " [" + " / ".join(labels) + "]"
            return text, []
    media = MEDIA_KEYS.get(kind) if isinstance(kind, str) else None
    keys = [media] if media else list(MEDIA_KEYS.values())
    for key in keys:
        if isinstance(payload.get(key), str):
            sent = attachment_from(url=payload[key], name=payload.get("title"))
            return None, [sent if sent.attachment or sent.note else Carried(note=f"[{kind}]")]
    if isinstance(payload.get("title"), str):
        return f"[{kind}: {payload['title']}]", []
    if isinstance(payload.get("address"), str):
        return f"[location: {payload['address']}]", []
    return (f"[{kind}]" if isinstance(kind, str) else None), []


def handoff_map(body: Any) -> Mapped:
    body = require_object(body, [], "startHitl's input")
    user_id = require_text(body.get("userId"), ["userId"], "the user who starts HITL")
    title = optional_text(body.get("title"), 500) or ""
    history = body.get("messageHistory", [])
    if not isinstance(history, list):
        raise refuse(["messageHistory"], "must be a list of messages")
    transcript = []
    for index, item in enumerate(history):
        if not isinstance(item, dict) or not isinstance(item.get("source"), dict):
            raise refuse(
                ["messageHistory", index, "source"],
                'must be {"type": "user", "userId": ...} or {"type": "bot"}',
            )
        source = str(item["source"].get("type"))
        if source not in {"user", "bot"}:
            raise refuse(["messageHistory", index, "source", "type"], 'must be "user" or "bot"')
        role = "customer" if source == "user" else "bot"
        text, files = _payload(item.get("type"), item.get("payload"))
        transcript.append(message(role, text, files=files))
    description = optional_text(body.get("description"), 9_000) or ""
    conversation_id = optional_text(body.get("conversationId"))
    customer = customer_from({"id": user_id, "email": body.get("userEmail")})
    summary = f"{title}\n\n{description}".strip()
    data = {
        "external_id": conversation_id or f"user:{user_id}"[:200],
        "channel": "botpress",
        "customer": customer,
        "transcript": last_messages(transcript),
        "summary": summary[:10_000],
    }
    package = package_from(
        data,
        platform_loc={
            "external_id": ["conversationId"],
            "customer": ["userId"],
            "transcript": ["messageHistory"],
            "summary": ["description"],
        },
    )
    return Mapped(
        package=package,
        gaps=["message_times"] if transcript else [],
        context={"user_id": user_id, "conversation_id": data["external_id"]},
    )


def handoff_answer(mapped: Mapped, desk: dict[str, Any]) -> dict[str, Any]:
    """startHitl's output (``conversationId``: the HITL conversation, which ``stopHitl`` and
    the ``hitlAssigned`` / ``hitlStopped`` events name), with the desk's answer beside it."""
    return {"conversationId": mapped.context["conversation_id"], "handoffDesk": desk}


STOP_TITLE = "Botpress HITL (stopHitl)"
STOP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["conversationId"],
    "properties": {"conversationId": TEXT},
}


def stop_map(body: Any) -> str:
    """stopHitl's input: the HITL session (the conversation ``startHitl`` answered)."""
    body = require_object(body, [], "stopHitl's input")
    return require_text(
        body.get("conversationId"), ["conversationId"], "the HITL session startHitl answered"
    )


def stop_answer(desk: dict[str, Any]) -> dict[str, Any]:
    """stopHitl's output is an empty object: the desk's answer rides beside it."""
    return {"handoffDesk": desk}
