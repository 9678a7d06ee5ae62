"""What every bot platform's adapter shares: the result of a mapping, the refusal of a payload
that cannot be mapped, and small helpers for the platforms' values (times, facts, text).

An adapter module (one per platform, as Saleor keeps one folder per payment gateway) has:

- ``PLATFORM`` (the URL segment) and ``TITLE``;
- ``handoff_map(body) -> Mapped``: the platform's own handoff payload, as the platform sends
  it, to the one handoff package; ``Unmappable`` (a 422 naming what is wrong in the platform's
  own field names) when it cannot;
- ``handoff_answer(mapped, desk) -> dict``: the answer in the platform's terms, carrying the
  desk's own answer (``desk``: case id, queue, position, the customer message).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from cases.package import MAX_MESSAGE_CHARS, MAX_MESSAGES, NOT_BLANK_PATTERN, HandoffPackage

Loc = list[str | int]

# The request schemas' words (each adapter publishes ``REQUEST_SCHEMA`` in the OpenAPI
# document): what the adapter refuses, and nothing else, so a client generated from the
# document, and schemathesis, know exactly what is a handoff.
TEXT: dict[str, Any] = {"type": "string", "pattern": NOT_BLANK_PATTERN}
# The customer fields' limits in the package: longer platform values are cut to them.
CUSTOMER_LIMITS = {"id": 200, "name": 200, "email": 254, "phone": 50, "language": 20}


class Unmappable(Exception):
    """The payload is not this platform's handoff, or lacks what a handoff needs."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{_dotted(e['loc'])}: {e['msg']}" for e in errors))
        self.errors = errors


def refuse(loc: Loc, msg: str) -> Unmappable:
    return Unmappable([{"loc": ["body", *loc], "msg": msg}])


def _dotted(loc: Loc) -> str:
    return ".".join(str(part) for part in loc[1:]) or "body"


@dataclass(frozen=True)
class Mapped:
    """A platform's handoff as the desk's package, with what the format could not carry."""

    package: HandoffPackage
    # Names for ``missing_context``: what this payload's format could not carry.
    gaps: list[str] = field(default_factory=list)
    # The platform's own id of this delivery (an event id), used as the Idempotency-Key when
    # the request has none, so a platform's retry of one webhook opens one case.
    event_id: str | None = None
    # Platform ids the answer needs (conversation, user, activity ids).
    context: dict[str, Any] = field(default_factory=dict)


def package_from(data: dict[str, Any], *, platform_loc: dict[str, Loc] | None = None) -> Any:
    """Validate the mapped package; a value the desk cannot take is refused where it came
    from (``platform_loc``: the package's top-level field → the platform's field)."""
    try:
        return HandoffPackage.model_validate(clean(data))
    except ValidationError as error:
        where = platform_loc or {}
        errors = []
        for item in error.errors():
            package_loc = [str(p) if not isinstance(p, int) else p for p in item["loc"]]
            source = where.get(str(package_loc[0]), []) if package_loc else []
            desk = ".".join(str(p) for p in package_loc) or "package"
            errors.append({"loc": ["body", *source], "msg": f"{item['msg']} (the desk's {desk})"})
        raise Unmappable(errors) from None


def obj(value: Any) -> dict[str, Any]:
    """The value if it is an object, else an empty one (for optional parts)."""
    return value if isinstance(value, dict) else {}


def require_object(value: Any, loc: Loc, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise refuse(loc, f"must be an object ({what})")
    return value


def require_text(value: Any, loc: Loc, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise refuse(loc, f"is required: {what}")
    if _unstorable(value):
        raise refuse(loc, "must be text without NUL (\\u0000) and valid Unicode")
    return value.strip()


def _unstorable(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return True
    return False


def clean(value: Any) -> Any:
    """Free-form platform values made storable: NUL dropped, lone surrogates replaced. (The
    fields an adapter requires are refused instead: ``require_text``.)"""
    if isinstance(value, str):
        if _unstorable(value):
            value = value.replace("\x00", "").encode("utf-8", "replace").decode()
        return value
    if isinstance(value, dict):
        return {clean(key): clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clean(item) for item in value]
    return value


def customer_from(values: dict[str, Any]) -> dict[str, Any]:
    """The package's customer from platform values, each cut to the package's limit."""
    found = {}
    for name, value in values.items():
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value.strip():
            found[name] = value.strip()[: CUSTOMER_LIMITS[name]]
    return found


def confidence(value: Any) -> float | None:
    """A confidence from 0 to 1, or None (a boolean is none)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    return None


def optional_text(value: Any, limit: int = 200) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:limit]
    return None


_FRACTION = re.compile(r"(\.\d{6})\d+")


def moment(value: Any) -> str | None:
    """A platform's time (RFC 3339 text, or seconds since the epoch) as the package's, or None
    when it is none the desk can keep (a time is context, never a reason to refuse)."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            at = datetime.fromtimestamp(float(value), tz=UTC)
        elif isinstance(value, str) and value:
            at = datetime.fromisoformat(_FRACTION.sub(r"\1", value.replace("Z", "+00:00")))
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    at = at.astimezone(UTC)
    if not 2000 <= at.year <= 2099:
        return None
    return at.isoformat().replace("+00:00", "Z")


def fact_value(value: Any) -> str | int | float | bool | None:
    """A fact is a scalar: other values are kept as their JSON text (cut at 2,000 characters)."""
    if value is None or isinstance(value, str | bool | int):
        return value[:2000] if isinstance(value, str) else value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    return json.dumps(value, ensure_ascii=False, default=str)[:2000]


def facts_from(values: dict[str, Any], *, prefix: str = "", skip: set[str] | None = None) -> dict:
    facts: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key or (skip and key in skip):
            continue
        value = fact_value(value)
        if value is None or value == "":
            continue
        facts[f"{prefix}{key}"[:100]] = value
    return facts


def message(role: str, text: Any, *, at: Any = None, id: Any = None) -> dict[str, Any] | None:
    """A transcript message, or None for one with no text (typing, events, empty cards)."""
    if not isinstance(text, str) or not text.strip():
        return None
    item: dict[str, Any] = {"role": role, "text": text.strip()[:MAX_MESSAGE_CHARS]}
    if (when := moment(at)) is not None:
        item["at"] = when
    if isinstance(id, str | int) and str(id):
        item["id"] = str(id)[:200]
    return item


def last_messages(messages: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """The messages with text, at most the package's limit (the latest ones)."""
    kept = [m for m in messages if m is not None]
    return kept[-MAX_MESSAGES:]
