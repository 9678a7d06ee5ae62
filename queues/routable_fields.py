"""The fields a routing rule can look at, each defined once: its name, its type and how it is read
from a package. The engine reads packages through these readers, the editor lists these names and
the rule validation takes each value's type from here; a new field is one line in ``FIELDS``.

A package here is plain data, as the desk hands it to the engine (``channel``, ``customer``,
``intent``, ``trigger``, ``risk_flags``, ``facts``, ``transcript``). A part of the wrong shape (a
pasted package, say) reads as absent, never as an error: every reader answers None then.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import StrictBool, StrictFloat, StrictStr

# A field's type: what its values are, so which operators and rule values suit it.
Kind = Literal["text", "number", "list", "any"]

# The rule values each kind compares with, as pydantic types (a number is never a boolean).
VALUE_TYPES: dict[Kind, Any] = {
    "text": StrictStr,
    "number": StrictFloat,
    "list": StrictStr,  # a list field holds texts: rules name one of them
    "any": StrictStr | StrictFloat | StrictBool,
}
VALUE_WORDS: dict[Kind, str] = {
    "text": "text",
    "number": "a number",
    "list": "text",
    "any": "a text or number value",
}

Reader = Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class RoutableField:
    name: str
    kind: Kind
    read: Reader  # the package's value, or None when it has none
    costly: bool = False  # read only when a rule that looks at it is reached


@dataclass(frozen=True)
class Member:
    """Reads ``package[part][key]`` (the engine reads each part once for all its members)."""

    part: str
    key: str

    def __call__(self, package: Mapping[str, Any]) -> Any:
        holder = package.get(self.part)
        # dict first: the ABC check costs more than the lookup it guards
        if type(holder) is dict or isinstance(holder, Mapping):
            return holder.get(self.key)
        return None


def _channel(package: Mapping[str, Any]) -> Any:
    return package.get("channel") or None  # an empty channel is no channel


def _risk_flags(package: Mapping[str, Any]) -> Any:
    flags = package.get("risk_flags")
    return flags if isinstance(flags, list) else None  # a text is not split into letters


def _customer_text(package: Mapping[str, Any]) -> Any:
    """Everything the customer said, one message a line."""
    transcript = package.get("transcript")
    if not isinstance(transcript, list):
        return None
    said = [
        # a message whose text is not text says nothing (not "None")
        text if isinstance(text := message.get("text", ""), str) else ""
        for message in transcript
        if (type(message) is dict or isinstance(message, Mapping))
        and message.get("role") == "customer"
    ]
    return "\n".join(said) or None


FIELDS: dict[str, RoutableField] = {
    field.name: field
    for field in (
        RoutableField("intent.name", "text", Member("intent", "name")),
        RoutableField("intent.confidence", "number", Member("intent", "confidence")),
        RoutableField("customer.tier", "text", Member("customer", "tier")),
        RoutableField("customer.lifetime_value", "number", Member("customer", "lifetime_value")),
        RoutableField("customer.language", "text", Member("customer", "language")),
        RoutableField("trigger.reason", "text", Member("trigger", "reason")),
        RoutableField("risk_flags", "list", _risk_flags),
        RoutableField("channel", "text", _channel),
        RoutableField("transcript.customer_text", "text", _customer_text, costly=True),
    )
}

# Besides those, every fact the bot sent: ``facts.<key>``, of any type.
FACT_PREFIX = "facts."
FACT_KIND: Kind = "any"


def facts_of(package: Mapping[str, Any]) -> Mapping[str, Any]:
    """The package's facts by key as text (of keys equal as text, the last wins)."""
    facts = package.get("facts")
    if not isinstance(facts, Mapping):
        return {}
    if all(type(key) is str for key in facts):
        return facts
    return {str(key): value for key, value in facts.items()}


def field_kind(path: str) -> Kind | None:
    """The type of the field at this path, or None when no package has such a field."""
    if path in FIELDS:
        return FIELDS[path].kind
    if path.startswith(FACT_PREFIX) and len(path) > len(FACT_PREFIX):
        return FACT_KIND
    return None
