"""One owner at a time: who holds a case's conversation, the bot or a person.

A person holds it while the case is being worked (assigned or awaiting the customer: its
assignee); the bot holds it otherwise (waiting in the queue, returned, resolved). The services
that change a case's status or assignee call ``holder_sync`` before saving and
``holder_changed`` after, so each change of hands is audited (``CaseEvent``), pushed live with
the action's own event, and told to the bot (``conversation.holder_changed``, through the
outbox). While a person holds it, the bot's messages are refused (``ConversationHeldByAgent``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from cases.callbacks.outbox import delivery_record
from cases.models import HOLDER_AGENT, HOLDER_BOT, OPEN_WORK, Case, CaseEvent
from cases.services.audit import record_event

HOLDER_CHANGED = "conversation.holder_changed"
# The API's problem type (and code) for a bot writing while a person holds the conversation.
CONVERSATION_HELD = "conversation_held_by_agent"


class ConversationHeldByAgent(Exception):
    """A bot wrote while a person holds the conversation."""

    def __init__(self, case: Case) -> None:
        self.case = case
        super().__init__(
            f"A person holds this conversation (case {case.pk}) since "
            f"{case.held_since.isoformat() if case.held_since else 'the claim'}: the bot may "
            "write again once the case is returned to the bot, released to the queue or "
            "resolved (the desk sends conversation.holder_changed)."
        )


@dataclass(frozen=True)
class HolderChange:
    before_id: int | None
    after: Any  # the person now holding it, or None for the bot


def holder_of(case: Case) -> Any:
    """Who should hold the conversation given the case's status: its assignee while it is
    worked, else the bot (None)."""
    return case.assignee if case.status in OPEN_WORK and case.assignee_id else None


def holder_sync(case: Case) -> tuple[list[str], HolderChange | None]:
    """Set ``held_by`` from the status and assignee: the fields to save and the change, if the
    conversation changes hands."""
    after = holder_of(case)
    after_id = after.pk if after is not None else None
    if after_id == case.held_by_id:
        return [], None
    change = HolderChange(before_id=case.held_by_id, after=after)
    case.held_by = after
    case.held_since = timezone.now()
    return ["held_by", "held_since"], change


def holder_changed(
    case: Case, change: HolderChange, *, actor: Any, reason: str, actor_label: str = ""
) -> CaseEvent:
    """Audit the change of hands (after the case's version was bumped) and tell the bot."""
    to_agent = change.after is not None
    event = record_event(
        case,
        kind="conversation_to_agent" if to_agent else "conversation_to_bot",
        actor=actor,
        actor_label=actor_label,
        data={
            "from": HOLDER_AGENT if change.before_id else HOLDER_BOT,
            "from_agent": change.before_id,
            "to": HOLDER_AGENT if to_agent else HOLDER_BOT,
            "to_agent": change.after.pk if to_agent else None,
            "reason": reason,
        },
    )
    delivery_record(
        case,
        HOLDER_CHANGED,
        {
            "holder": HOLDER_AGENT if to_agent else HOLDER_BOT,
            "agent": (change.after.first_name or change.after.get_username()) if to_agent else None,
            "since": case.held_since.isoformat() if case.held_since else None,
            "reason": reason,
        },
    )
    return event


def require_bot_may_write(case: Case) -> None:
    if case.held_by_id is not None:
        raise ConversationHeldByAgent(case)
