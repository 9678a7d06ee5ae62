"""What the API answers: its response bodies and problem documents (what bots send is the
handoff package, cases/package.py)."""

from __future__ import annotations

from datetime import datetime

from ninja import Schema
from pydantic import Field


class ProblemError(Schema):
    loc: list[str | int]
    msg: str


class Problem(Schema):
    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemError] = Field(default_factory=list)


class HandoffAccepted(Schema):
    case_id: int
    status: str
    queue: str
    queue_name: str
    priority: str
    position: int | None
    estimated_wait_seconds: int
    estimate_basis: str
    customer_message: str
    # "closed" (outside business hours) or "unstaffed" (nobody online): the team cannot take
    # the conversation now; it stays in the queue and ``team_back_at`` says when (if known).
    team_away: str | None = None
    team_back_at: datetime | None = None
    missing_context: list[str]
    risk_flags: list[str]
    trigger_reason: str
    repeat_contact: bool
    previous_case_id: int | None
    appended_messages: int
    warnings: list[str]
    case_url: str
    api_url: str


class AttachmentOut(Schema):
    name: str
    content_type: str
    size: int | None
    url: str | None = Field(description="The link sent; null for a file the desk stored")
    stored: bool = Field(description="The file itself is kept by the desk (shown to its agents)")


class MessageOut(Schema):
    id: int
    seq: int
    external_id: str
    role: str
    text: str
    sent_at: datetime
    phase: str
    attachments: list[AttachmentOut] = Field(default_factory=list)


class CaseOut(Schema):
    case_id: int
    external_id: str
    status: str
    queue: str
    priority: str
    position: int | None
    assignee: str | None
    holder: str = Field(
        description="Who holds the conversation, `bot` or `agent`: while `agent`, the bot's "
        "messages are refused (409 conversation_held_by_agent)",
        json_schema_extra={"enum": ["bot", "agent"]},
    )
    detected_intent: str
    current_intent: str
    trigger_reason: str
    risk_flags: list[str]
    missing_context: list[str]
    repeat_contact: bool
    previous_case_id: int | None
    handed_off_at: datetime
    first_claimed_at: datetime | None
    first_human_reply_at: datetime | None
    resolved_at: datetime | None
    resolution_code: str
    returned_at: datetime | None
    return_note: str | None = Field(description="The agent's note for the bot, once returned")
    resume_intent: str | None = Field(description="The intent the agent asked the bot to resume")
    bounce_back: bool
    version: int
    messages: list[MessageOut]
    case_url: str


class MessageAccepted(Schema):
    message_id: int
    case_id: int
    duplicate: bool
    case_version: int


class CsatAccepted(Schema):
    case_id: int
    score: int
    replaced: bool


class AssessReason(Schema):
    signal: str
    detail: str
    message_ids: list[str]


class AssessAnswer(Schema):
    escalate: bool
    score: float
    reasons: list[AssessReason]
    first_risk_message_id: str | None
    suggested_trigger: str | None
    policy_version: int
    warnings: list[str]
