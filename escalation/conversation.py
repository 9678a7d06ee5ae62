"""The input every signal reads: a conversation as the desk sees it, nothing from Django."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

CUSTOMER, BOT, AGENT = "customer", "bot", "agent"


@dataclass(frozen=True)
class Message:
    role: str  # customer, bot, agent (system messages are ignored by the signals)
    text: str
    id: str = ""


@dataclass(frozen=True)
class Step:
    """An attempted step of the bot (a lookup, an action): it failed or it did not."""

    name: str
    failed: bool
    message_id: str = ""  # the message after which it ran, when known


@dataclass(frozen=True)
class Customer:
    tier: str | None = None
    lifetime_value: float | None = None


def as_messages(conversation: Sequence[Message | Mapping[str, Any]]) -> list[Message]:
    """Messages from dataclasses or from the package's dicts (``role``, ``text``, ``id``); a
    message without an id is known by its index, as the desk's detectors do."""
    messages = []
    for index, item in enumerate(conversation):
        if isinstance(item, Message):
            messages.append(item if item.id else Message(item.role, item.text, str(index)))
        else:
            messages.append(
                Message(str(item["role"]), str(item["text"]), str(item.get("id") or index))
            )
    return messages
