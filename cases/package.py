"""The handoff package (API v1) and the other bodies bots send, as pydantic models (the
API's answers are in api/schemas.py).

Limits are DESIGN section 4's. Unknown fields are accepted and reported back as warnings
(``unknown_fields``), never rejected: bots evolve faster than desks.

Every value must also be one that both databases can store and the desk can compute with, so
the answer is a 422 naming the field, never a 500 later (issue 13): no NUL character in any text,
finite numbers only, times in a bounded range with a real-world offset, free-form JSON nested at
most ``MAX_DEPTH`` levels. The published schema says the same (a ``pattern`` on every text and
time), so a generated client, and schemathesis, know it.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from django.conf import settings
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    Strict,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from vocabulary import TriggerReason

MAX_MESSAGES = 2000
MAX_MESSAGE_CHARS = 20_000
MAX_FACTS = 200
MAX_STEPS = 100
MAX_RISK_FLAGS = 50
# Free-form JSON (``customer.account``, unknown fields): an object in an object ... this deep.
MAX_DEPTH = 10
# Ids in the URL: the range of the tables' bigint keys.
MAX_ID = 2**63 - 1

# PostgreSQL cannot store U+0000 in text or jsonb; SQLite can, and the case breaks later.
NO_NUL_PATTERN = "^[^\\u0000]*$"
# A required text is more than the whitespace str.strip() removes (Python's isspace, spelled out).
_SPACE = (
    "\\t\\n\\u000b\\u000c\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000"
)
NOT_BLANK_PATTERN = f"^[^\\u0000]*[^\\u0000{_SPACE}][^\\u0000]*$"
# RFC 3339 with an offset, as RFC 3339 requires; years 2000-2099 (a conversation happening
# now, not a clock at zero) and offsets -12:00 to +14:00 (the ones in use on Earth): so every
# time converts to UTC and back, on either database (PostgreSQL refuses offsets past 15:59).
MOMENT_PATTERN = (
    "^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    "T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?"
    "(Z|\\+(0[0-9]|1[0-3]):[0-5][0-9]|\\+14:00|-(0[0-9]|1[01]):[0-5][0-9]|-12:00)$"
)
DAY_PATTERN = "^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
_MOMENT = re.compile(MOMENT_PATTERN)
_DAY = re.compile(DAY_PATTERN)


def text_problem(value: str) -> str | None:
    if "\x00" in value:
        return "must not contain the NUL character (\\u0000)"
    if not value.isascii():
        try:
            value.encode()
        except UnicodeEncodeError:  # a lone surrogate (\\ud800): no database encodes it
            return "must be valid Unicode (a lone surrogate is not)"
    return None


def _refuse_nul(value: str) -> str:
    found = text_problem(value)
    if found:
        raise PydanticCustomError("text", found)
    return value


class _NoNul:
    """Annotated metadata: the NUL check, and the pattern that tells clients about it."""

    def __init__(self, pattern: str = NO_NUL_PATTERN) -> None:
        self.pattern = pattern

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(_refuse_nul, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema


Text = Annotated[str, _NoNul()]
# With min_length=1: stripped of whitespace first (str_strip_whitespace), so the schema says so.
RequiredText = Annotated[str, _NoNul(NOT_BLANK_PATTERN)]
# The schema of a free-form object's keys (the validators check them).
KEYS: dict[str, Any] = {"propertyNames": {"pattern": NO_NUL_PATTERN}}
# Facts: short names, scalar values (fact_keys_and_values_fit says the same).
FACTS_SCHEMA: dict[str, Any] = {
    "propertyNames": {"pattern": NO_NUL_PATTERN, "minLength": 1, "maxLength": 100},
    "additionalProperties": {
        "anyOf": [
            {"type": "string", "maxLength": 2000, "pattern": NO_NUL_PATTERN},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "null"},
        ]
    },
}
RiskFlag = Annotated[str, _NoNul(NOT_BLANK_PATTERN), StringConstraints(max_length=50)]


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):  # built in Python (services), never from JSON
        return value
    if not isinstance(value, str) or not _MOMENT.match(value):
        raise PydanticCustomError(
            "moment",
            "must be an RFC 3339 time from 2000 to 2099 with an offset from -12:00 to +14:00, "
            "like 2026-12-04T10:00:00Z",
        )
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("moment", "is not a date and time that exists") from None


def _day(value: Any) -> date:
    if not isinstance(value, str) or not _DAY.match(value):
        raise PydanticCustomError("day", "must be a date from 2000 to 2099, like 2026-12-04")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("day", "is not a date that exists") from None


Moment = Annotated[
    datetime,
    BeforeValidator(_moment),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": MOMENT_PATTERN}),
]
Day = Annotated[
    date,
    BeforeValidator(_day),
    WithJsonSchema({"type": "string", "format": "date", "pattern": DAY_PATTERN}),
]


# Free-form JSON as the OpenAPI document states it: text without NUL, containers nested at most
# MAX_DEPTH levels from the body (``json_problem``). JSON Schema cannot count levels, so the
# document unrolls them: FreeJson is a value one level down, FreeJson2 two, ... and the last
# level holds no container.
def _free_json_level(level: int) -> dict[str, Any]:
    scalars: list[dict[str, Any]] = [
        {"type": "string", "pattern": NO_NUL_PATTERN},
        {"type": ["number", "boolean", "null"]},
    ]
    if level >= MAX_DEPTH:
        return {"anyOf": scalars}
    inner = {"$ref": f"#/components/schemas/FreeJson{level + 1}"}
    return {
        "anyOf": [
            *scalars,
            {"type": "array", "items": inner},
            {
                "type": "object",
                "propertyNames": {"pattern": NO_NUL_PATTERN},
                "additionalProperties": inner,
            },
        ]
    }


FREE_JSON_SCHEMAS: dict[str, dict[str, Any]] = {
    "FreeJson" if level == 1 else f"FreeJson{level}": _free_json_level(level)
    for level in range(1, MAX_DEPTH + 1)
}
FREE_JSON_SCHEMAS["FreeJson"]["description"] = (
    f"Any JSON; text without NUL; containers at most {MAX_DEPTH - 1} levels deep"
)


def json_problem(value: Any, path: str = "", depth: int = 0) -> str | None:
    """What the database could not store in this free-form JSON value, or None."""
    where = f" at {path}" if path else ""
    if isinstance(value, str):
        found = text_problem(value)
        return f"text{where} {found}" if found else None
    if isinstance(value, bool | int) or value is None:
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"number{where} must be finite"
    if isinstance(value, dict | list):
        if depth >= MAX_DEPTH:
            return f"value{where} is nested deeper than {MAX_DEPTH} levels"
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and (found := text_problem(key)):
                return f"a key{where} {found}"
            found = json_problem(item, f"{path}.{key}" if path else str(key), depth + 1)
            if found:
                return found
    return None


StepOutcome = Literal["succeeded", "failed", "partial", "skipped", "unknown"]
TranscriptRole = Literal["customer", "bot", "agent", "system"]


class PackagePart(BaseModel):
    # A plain pydantic model: ninja's Schema drops undeclared fields before we can list them.
    # strict: a number is no text, false is no confidence, 0 is no time (the schema says so).
    model_config = ConfigDict(
        extra="allow", str_strip_whitespace=True, allow_inf_nan=False, strict=True
    )

    @model_validator(mode="after")
    def unknown_fields_fit(self) -> PackagePart:
        # Unknown fields are kept (the customer's go into the case), so they obey the same rules.
        for name, value in (self.model_extra or {}).items():
            found = json_problem({name: value})
            if found:
                raise ValueError(f"unknown field {name[:40]!r}: {found}")
        return self


class CustomerIn(PackagePart):
    id: Text | None = Field(None, max_length=200)
    name: Text | None = Field(None, max_length=200)
    email: Text | None = Field(None, max_length=254)
    phone: Text | None = Field(None, max_length=50)
    language: Text | None = Field(None, max_length=20)
    tier: Text | None = Field(None, max_length=50)
    lifetime_value: float | None = Field(None, ge=0)
    account: dict[str, Any] = Field(default_factory=dict, max_length=100, json_schema_extra=KEYS)

    @field_validator("account")
    @classmethod
    def account_fits(cls, account: dict[str, Any]) -> dict[str, Any]:
        found = json_problem(account)
        if found:
            raise ValueError(found)
        return account


class IntentAlternative(PackagePart):
    name: RequiredText = Field(min_length=1, max_length=100)
    confidence: float | None = Field(None, ge=0, le=1)


class IntentIn(PackagePart):
    name: RequiredText = Field(min_length=1, max_length=100)
    confidence: float | None = Field(None, ge=0, le=1)
    alternatives: list[IntentAlternative] = Field(default_factory=list, max_length=20)


class TriggerIn(PackagePart):
    # Lax for this field only: a strict enum would refuse its own values written as text.
    reason: Annotated[TriggerReason, Strict(False)]
    detail: Text = Field("", max_length=2000)


# --- attachments ------------------------------------------------------------------------------
# A file the customer (or the bot) sent with a message: a link (``url``), or the file itself
# (``content``, base64), which the desk stores and serves to the agents who may see the case.
# Uploaded content is one request with the rest of the package, so a refusal stores nothing and an
# Idempotency-Key replay covers the file too; the price is the 1 MiB body (settings.py).

MAX_ATTACHMENTS = 10  # a message's
# Lowercase, no parameters ("image/png", not "Image/PNG; q=1"): the allow-list compares as is.
MEDIA_TYPE_PATTERN = "^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$"
# http(s) only, no user:password@, a host name or IPv4 address; no spaces or control characters.
URL_PATTERN = "^https?://[A-Za-z0-9._-]+(:[0-9]{1,5})?([/?#][^\\u0000-\\u0020\\u007f]*)?$"
# Standard base64 with its padding (RFC 4648 section 4), as base64.b64decode(validate=True) reads.
BASE64_PATTERN = "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


def content_max_chars() -> int:
    """The base64 text of the largest upload the settings allow."""
    return 4 * -(-settings.HANDOFF_ATTACHMENT_MAX_BYTES // 3)


def _not_null(schema: dict[str, Any]) -> None:
    """An optional field's schema without its ``null``: the field is left out instead."""
    options = [option for option in schema.pop("anyOf", []) if option.get("type") != "null"]
    if options:
        schema.update(options[0])


def decoded_content(content: str) -> bytes:
    return base64.b64decode(content, validate=True)


class AttachmentIn(PackagePart):
    """One attachment: ``url`` or ``content``, never both. Field order matters: ``content_type``
    and ``size`` are checked against the ``url`` or ``content`` already read."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["url"], "not": {"required": ["content"]}},
                {
                    "required": ["content"],
                    "not": {"required": ["url"]},
                    "properties": {
                        "content_type": {"enum": list(settings.HANDOFF_ATTACHMENT_TYPES)}
                    },
                },
            ]
        }
    )

    name: RequiredText = Field(min_length=1, max_length=255)
    # Absent, not null: the schema's oneOf counts present keys.
    url: (
        Annotated[
            str, StringConstraints(strip_whitespace=False, max_length=2000, pattern=URL_PATTERN)
        ]
        | None
    ) = Field(
        None, description="A link the desk shows and never fetches", json_schema_extra=_not_null
    )
    content: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=False, min_length=4, pattern=BASE64_PATTERN),
            WithJsonSchema(
                {
                    "type": "string",
                    "minLength": 4,
                    "maxLength": content_max_chars(),
                    "pattern": BASE64_PATTERN,
                    "contentEncoding": "base64",
                }
            ),
        ]
        | None
    ) = Field(None, description="The file itself, base64 (RFC 4648)", json_schema_extra=_not_null)
    content_type: Annotated[str, StringConstraints(pattern=MEDIA_TYPE_PATTERN)]
    size: Annotated[int, Field(ge=0, le=2**53), BeforeValidator(lambda v: _whole(v))] | None = (
        Field(None, description="Bytes; with content, measured by the desk (this is ignored)")
    )

    @field_validator("url", "content", mode="before")
    @classmethod
    def absent_not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("not_null", "must be text; leave the field out instead")
        return value

    @field_validator("content")
    @classmethod
    def content_fits(cls, content: str | None) -> str | None:
        if content is None:
            return None
        limit = settings.HANDOFF_ATTACHMENT_MAX_BYTES
        if len(content) > content_max_chars():
            raise PydanticCustomError(
                "attachment_size", "is over the upload limit of {limit} bytes", {"limit": limit}
            )
        try:
            data = decoded_content(content)
        except (binascii.Error, ValueError):
            raise PydanticCustomError("base64", "is not valid base64 (RFC 4648)") from None
        if len(data) > limit:
            raise PydanticCustomError(
                "attachment_size",
                "is {size} bytes, over the upload limit of {limit} bytes",
                {"size": len(data), "limit": limit},
            )
        return content

    @field_validator("content_type")
    @classmethod
    def type_may_be_stored(cls, content_type: str, info: ValidationInfo) -> str:
        # Only content the desk stores and serves is held to the allow-list; a link is a link.
        if info.data.get("content") is not None:
            allowed = settings.HANDOFF_ATTACHMENT_TYPES
            if content_type not in allowed or content_type in settings.NEVER_STORED_TYPES:
                raise PydanticCustomError(
                    "attachment_type",
                    "{kind} may not be uploaded; allowed: {allowed} (send a url instead)",
                    {"kind": content_type, "allowed": ", ".join(allowed)},
                )
        return content_type

    @field_validator("size")
    @classmethod
    def size_is_the_contents(cls, size: int | None, info: ValidationInfo) -> int | None:
        # With the file itself, its length is measured: a sender's other figure is no reason to
        # refuse (the schema cannot say "equal to the decoded length", so it would be a valid
        # request refused), and the desk keeps what it counted.
        content = info.data.get("content")
        if content is not None:
            return len(decoded_content(content))
        return size

    @model_validator(mode="after")
    def url_or_content(self) -> AttachmentIn:
        if (self.url is None) == (self.content is None):
            raise ValueError("an attachment has a url or a content (base64), one of the two")
        return self

    @property
    def data(self) -> bytes:
        """The uploaded file's bytes (empty for a link)."""
        return decoded_content(self.content) if self.content is not None else b""


class TranscriptMessage(PackagePart):
    # A message is text, attachments or both: a screenshot may come alone.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["text"], "properties": {"text": {"pattern": NOT_BLANK_PATTERN}}},
                {"required": ["attachments"], "properties": {"attachments": {"minItems": 1}}},
            ]
        }
    )

    id: Text | None = Field(None, max_length=200)
    role: TranscriptRole
    # Before the text, which is checked knowing whether files came.
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    text: Text = Field("", max_length=MAX_MESSAGE_CHARS, validate_default=True)
    at: Moment | None = None

    @field_validator("text")
    @classmethod
    def text_or_attachments(cls, text: str, info: ValidationInfo) -> str:
        # Attachments that failed their own checks are absent here: their errors say enough.
        if not text and info.data.get("attachments") == []:
            raise PydanticCustomError("text", "is required unless the message has attachments")
        return text


class AttemptedStepIn(PackagePart):
    name: RequiredText = Field(min_length=1, max_length=200)
    outcome: StepOutcome
    detail: Text = Field("", max_length=5000)
    at: Moment | None = None


class HandoffPackage(PackagePart):
    # transcript_or_summary, for clients: a message, or a summary that is not blank
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"properties": {"transcript": {"minItems": 1}}},
                {
                    "required": ["summary"],
                    "properties": {"summary": {"pattern": NOT_BLANK_PATTERN}},
                },
            ]
        }
    )

    external_id: RequiredText = Field(min_length=1, max_length=200)
    channel: Text = Field("", max_length=50)
    customer: CustomerIn | None = None
    intent: IntentIn | None = None
    trigger: TriggerIn | None = None
    transcript: list[TranscriptMessage] = Field(max_length=MAX_MESSAGES)
    attempted_steps: list[AttemptedStepIn] = Field(default_factory=list, max_length=MAX_STEPS)
    facts: dict[str, Any] = Field(
        default_factory=dict, max_length=MAX_FACTS, json_schema_extra=FACTS_SCHEMA
    )
    risk_flags: list[RiskFlag] = Field(default_factory=list, max_length=MAX_RISK_FLAGS)
    summary: Text = Field("", max_length=10_000)

    @field_validator("facts")
    @classmethod
    def fact_keys_and_values_fit(cls, facts: dict[str, Any]) -> dict[str, Any]:
        for key, value in facts.items():
            if not key or len(key) > 100:
                raise ValueError(f"fact name {key[:40]!r} must be 1 to 100 characters")
            if found := text_problem(key):
                raise ValueError(f"a fact name {found}")
            if value is not None and not isinstance(value, str | int | float | bool):
                raise ValueError(f"fact {key!r} must be a string, number, boolean or null")
            if isinstance(value, str) and len(value) > 2000:
                raise ValueError(f"fact {key!r} is longer than 2,000 characters")
            found = json_problem(value)
            if found:
                raise ValueError(f"fact {key!r}: {found}")
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


class ConversationSoFar(HandoffPackage):
    """``POST /api/v1/assess``: the package's fields as a bot knows them before any handoff.
    The transcript is required; the conversation's id is not."""

    model_config = ConfigDict(json_schema_extra=None)

    external_id: Text | None = Field(None, max_length=200)  # type: ignore[assignment]
    transcript: list[TranscriptMessage] = Field(min_length=1, max_length=MAX_MESSAGES)


class CustomerMessageIn(TranscriptMessage):
    """``POST /cases/{id}/messages``: a transcript message (text, attachments or both, with the
    same limits and allow-list) that arrived after the handoff."""

    # Who wrote it: the customer (the default), or the bot itself; a bot's message is refused
    # while a person holds the conversation (409 conversation_held_by_agent).
    role: Literal["customer", "bot"] = "customer"


def _whole(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


class CsatIn(PackagePart):
    # 5.0 is the integer 5 to JSON Schema, so to us
    score: Annotated[int, BeforeValidator(_whole)] = Field(ge=1, le=5)
    comment: Text = Field("", max_length=5000)
