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

import base64
import binascii
import json
import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from cases.package import (
    MAX_ATTACHMENTS,
    MAX_MESSAGE_CHARS,
    MAX_MESSAGES,
    MEDIA_TYPE_PATTERN,
    NOT_BLANK_PATTERN,
    AttachmentIn,
    HandoffPackage,
    text_problem,
)

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
        # A name no fact can have (NUL, a lone surrogate) is left out, not the whole handoff:
        # the platform's own format allows it (schemathesis found one in Rasa's slots).
        if not isinstance(key, str) or not key or (skip and key in skip) or text_problem(key):
            continue
        value = fact_value(value)
        if value is None or value == "":
            continue
        facts[f"{prefix}{key}"[:100]] = value
    return facts


# --- attachments --------------------------------------------------------------------------------

_MEDIA_TYPE = re.compile(MEDIA_TYPE_PATTERN)
_DATA_URL = re.compile(r"^data:([^;,]*)((?:;[^;,]*)*?);base64,(.*)$", re.S)
FALLBACK_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Carried:
    """A platform's attachment as the package's (``attachment``), or why it could not be
    carried (``note``, said in the message instead, so the agent knows something was sent)."""

    attachment: dict[str, Any] | None = None
    note: str | None = None


def _media_type(value: Any, *names: str) -> str:
    """A platform's type as the package takes it (lowercase, no parameters), else guessed from
    the file's name or URL, else bytes."""
    if isinstance(value, str):
        kind = value.split(";", 1)[0].strip().lower()
        if _MEDIA_TYPE.match(kind):
            return kind
    for name in names:
        guessed, _ = mimetypes.guess_type(name, strict=False)
        if guessed and _MEDIA_TYPE.match(guessed.lower()):
            return guessed.lower()
    return FALLBACK_TYPE


def _file_name(name: Any, url: str) -> str:
    if isinstance(name, str) and name.strip():
        return clean(name.strip())[:255]
    if not url.startswith("data:"):
        tail = url.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if tail and "." in tail:
            return clean(tail)[:255]
    return "attachment"


def attachment_from(
    *, url: Any, name: Any = None, content_type: Any = None, size: Any = None
) -> Carried:
    """One platform attachment (a URL, or a ``data:`` URL with the file in it) as the package's.
    A link is kept as a link: the desk never fetches it. What the package cannot take (a type
    not on the allow-list in a data URL, too large, not http(s)) is named instead of refusing
    the whole handoff."""
    if not isinstance(url, str) or not url.strip():
        return Carried()
    url = url.strip()
    label = _file_name(name, url)
    item: dict[str, Any] = {"name": label}
    found = _DATA_URL.match(url)
    if found is not None:
        item["content_type"] = _media_type(found[1] or content_type, label)
        data = found[3].strip()
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return Carried(note=f"[{label}: not kept, its data URL is not valid base64]")
        item["content"] = data
    else:
        item["content_type"] = _media_type(content_type, label, url)
        item["url"] = url
        if isinstance(size, int | float) and not isinstance(size, bool) and 0 <= size <= 2**53:
            item["size"] = int(size)
    try:
        AttachmentIn.model_validate(item)
    except ValidationError as error:
        reason = "; ".join(
            f"{e['loc'][-1] if e['loc'] else 'it'} {e['msg']}" for e in error.errors()
        )
        return Carried(note=f"[{label}: not kept, {reason}]")
    return Carried(attachment=item)


def message(
    role: str,
    text: Any,
    *,
    at: Any = None,
    id: Any = None,
    files: Iterable[Carried] = (),
) -> dict[str, Any] | None:
    """A transcript message, or None for one with no text and no file (typing, events, empty
    cards). ``files``: its attachments; those not carried are named in its text."""
    carried = list(files)
    attachments = [c.attachment for c in carried if c.attachment is not None]
    notes = [c.note for c in carried if c.note]
    if len(attachments) > MAX_ATTACHMENTS:
        notes.append(f"[{len(attachments) - MAX_ATTACHMENTS} more attachment(s) not kept]")
        attachments = attachments[:MAX_ATTACHMENTS]
    words = text.strip() if isinstance(text, str) else ""
    words = " ".join([words, *notes]).strip()
    if not words and not attachments:
        return None
    item: dict[str, Any] = {"role": role}
    if words:
        item["text"] = words[:MAX_MESSAGE_CHARS]
    if attachments:
        item["attachments"] = attachments
    if (when := moment(at)) is not None:
        item["at"] = when
    if isinstance(id, str | int) and str(id):
        item["id"] = str(id)[:200]
    return item


def last_messages(messages: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    """The messages with text or files, at most the package's limit (the latest ones)."""
    kept = [m for m in messages if m is not None]
    return kept[-MAX_MESSAGES:]
