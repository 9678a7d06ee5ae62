"""The handoff package (API v1) and the other request/response bodies, as pydantic models.

Limits are DESIGN section 4's. Unknown fields are accepted and reported back as warnings
(``unknown_fields``), never rejected: bots evolve faster than desks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_MESSAGES = 2000
MAX_MESSAGE_CHARS = 20_000
MAX_FACTS = 200
MAX_STEPS = 100
MAX_RISK_FLAGS = 50

TriggerReason = Literal[
    "customer_request",
    "repeated_failure",
    "low_confidence",
    "frustration",
    "policy_sensitive",
    "high_value",
    "other",
]
StepOutcome = Literal["succeeded", "failed", "partial", "skipped", "unknown"]
TranscriptRole = Literal["customer", "bot", "agent", "system"]


class PackagePart(BaseModel):
    # A plain pydantic model: ninja's Schema drops undeclared fields before we can list them.
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)


class CustomerIn(PackagePart):
    id: str | None = Field(None, max_length=200)
    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=50)
    language: str | None = Field(None, max_length=20)
    tier: str | None = Field(None, max_length=50)
    lifetime_value: float | None = Field(None, ge=0)
    account: dict[str, Any] = Field(default_factory=dict, max_length=100)


class IntentAlternative(PackagePart):
    name: str = Field(min_length=1, max_length=100)
    confidence: float | None = Field(None, ge=0, le=1)


class IntentIn(PackagePart):
    name: str = Field(min_length=1, max_length=100)
    confidence: float | None = Field(None, ge=0, le=1)
    alternatives: list[IntentAlternative] = Field(default_factory=list, max_length=20)


class TriggerIn(PackagePart):
    reason: TriggerReason
    detail: str = Field("", max_length=2000)


class TranscriptMessage(PackagePart):
    id: str | None = Field(None, max_length=200)
    role: TranscriptRole
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    at: datetime | None = None


class AttemptedStepIn(PackagePart):
    name: str = Field(min_length=1, max_length=200)
    outcome: StepOutcome
    detail: str = Field("", max_length=5000)
    at: datetime | None = None


class HandoffPackage(PackagePart):
    external_id: str = Field(min_length=1, max_length=200)
    channel: str = Field("", max_length=50)
    customer: CustomerIn | None = None
    intent: IntentIn | None = None
    trigger: TriggerIn | None = None
    transcript: list[TranscriptMessage] = Field(max_length=MAX_MESSAGES)
    attempted_steps: list[AttemptedStepIn] = Field(default_factory=list, max_length=MAX_STEPS)
    facts: dict[str, Any] = Field(default_factory=dict, max_length=MAX_FACTS)
    risk_flags: list[str] = Field(default_factory=list, max_length=MAX_RISK_FLAGS)
    summary: str = Field("", max_length=10_000)

    @field_validator("facts")
    @classmethod
    def fact_keys_and_values_fit(cls, facts: dict[str, Any]) -> dict[str, Any]:
        for key, value in facts.items():
            if not key or len(key) > 100:
                raise ValueError(f"fact name {key[:40]!r} must be 1 to 100 characters")
            if value is not None and not isinstance(value, str | int | float | bool):
                raise ValueError(f"fact {key!r} must be a string, number, boolean or null")
            if isinstance(value, str) and len(value) > 2000:
                raise ValueError(f"fact {key!r} is longer than 2,000 characters")
        return facts

    @field_validator("risk_flags")
    @classmethod
    def flags_are_short_names(cls, flags: list[str]) -> list[str]:
        cleaned = []
        for flag in flags:
            flag = flag.strip().lower()
            if not flag or len(flag) > 50:
                raise ValueError("each risk flag must be 1 to 50 characters")
            if flag not in cleaned:
                cleaned.append(flag)
        return cleaned

    @model_validator(mode="after")
    def transcript_or_summary(self) -> HandoffPackage:
        if not self.transcript and not self.summary:
            raise ValueError("transcript may be empty only when a summary is given")
        return self

    def unknown_fields(self) -> list[str]:
        """Dotted paths of every field the desk does not know (ignored, reported back)."""
        found: list[str] = []
        _collect_extras(self, "", found)
        return found


def _collect_extras(part: PackagePart, prefix: str, found: list[str]) -> None:
    for name in part.model_extra or {}:
        found.append(f"{prefix}{name}")
    for name in type(part).model_fields:
        value = getattr(part, name)
        if isinstance(value, PackagePart):
            _collect_extras(value, f"{prefix}{name}.", found)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, PackagePart):
                    _collect_extras(item, f"{prefix}{name}[{index}].", found)


class CustomerMessageIn(PackagePart):
    id: str | None = Field(None, max_length=200)
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    at: datetime | None = None


class CsatIn(PackagePart):
    score: int = Field(ge=1, le=5)
    comment: str = Field("", max_length=5000)


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
    missing_context: list[str]
    risk_flags: list[str]
    trigger_reason: str
    repeat_contact: bool
    previous_case_id: int | None
    appended_messages: int
    warnings: list[str]
    case_url: str
    api_url: str
