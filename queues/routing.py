"""The routing engine, the one intake, dry runs and the rule editor's test use: a rule set
compiled once (``CompiledRules``), then a decision per package.

Conditions are data (``queues.rules``) over the routable fields (``queues.routable_fields``). The
first enabled rule whose conditions hold decides; otherwise the default queue. A condition that
cannot be evaluated (missing field, value of another type, a malformed member) is false, never an
exception. No regular expressions, no code from admins.

How it is fast: once per rule set, every condition becomes a closure specialised to its operator,
with the expected text lower-cased and lists turned into frozensets; groups call their one or two
members directly; a field no package can have is decided then and there. Once per package, each
field is read the first time a rule asks for it and kept for the rules after it (most rules read
the same few fields), and so is its lower-cased text; or, for a set that reads several of them,
all at once; the customer's words are gathered only if a rule that reads them is reached. Nothing
is built for the decision until a rule matches.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from queues.routable_fields import FACT_PREFIX, FIELDS, Member, Reader, facts_of, field_kind
from queues.rules import (
    OPERATORS_BY_KIND,
    PRESENCE,
    PRIORITY_NAMES,
    RuleProblem,
    RuleSpec,
    condition_problems,
    describe,
    validate_rules,
)

__all__ = [  # the engine, and the rule language and fields its callers use with it
    "FIELDS",
    "OPERATORS_BY_KIND",
    "PRIORITY_NAMES",
    "CompiledRules",
    "Decision",
    "RuleProblem",
    "RuleSpec",
    "condition_problems",
    "describe",
    "field_kind",
    "route",
    "validate_rules",
]

MISSING = object()


@dataclass(frozen=True)
class Decision:
    queue: str
    priority: int | None
    sla_seconds: int | None
    matched_rule: str | None
    explanation: str
    tried: list[str] = field(default_factory=list)


# --- operators on a present value: anything they cannot compare is false ----------------------


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _eq(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if _is_number(actual) and _is_number(expected):
        return bool(actual == expected)
    return _lower(actual) == _lower(expected)


def _in(actual: Any, expected: Any) -> bool:
    if not isinstance(expected, list | tuple):
        return False
    if isinstance(actual, list):
        return any(_eq(a, e) for a in actual for e in expected)
    return any(_eq(actual, e) for e in expected)


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, list):
        return any(_eq(item, expected) for item in actual)
    if isinstance(actual, str) and isinstance(expected, str):
        return expected.lower() in actual.lower()
    return False


def _starts_with(actual: Any, expected: Any) -> bool:
    return (
        isinstance(actual, str)
        and isinstance(expected, str)
        and (actual.lower().startswith(expected.lower()))
    )


def _compare(check: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    def compare(actual: Any, expected: Any) -> bool:
        if isinstance(actual, str):
            # Numeric text ("49.99") compares as a number; "inf" or "NaN" is not a number here.
            if not any(c.isdigit() for c in actual):
                return False
            try:
                actual = float(actual)
            except ValueError:
                return False
            if not math.isfinite(actual):
                return False
        return _is_number(actual) and _is_number(expected) and check(actual, expected)

    return compare


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": _eq,
    "ne": lambda actual, expected: not _eq(actual, expected),
    "in": _in,
    "not_in": lambda actual, expected: (
        isinstance(expected, list | tuple) and not _in(actual, expected)
    ),
    "contains": _contains,
    "starts_with": _starts_with,
    "gte": _compare(lambda a, b: a >= b),
    "lte": _compare(lambda a, b: a <= b),
}


# --- a package's field values, read on first use -------------------------------------------------

# The key of a field's lower-cased text beside its value. No field path that reaches a package
# begins with it: those are the known fields and facts.<key> (see _compile_leaf).
_LOWER = "\x00"
_FACT_KEY_AT = len(FACT_PREFIX)


class _Fields(dict[str, Any]):
    """One package's field values (and, under _LOWER + path, their lower-cased text or None),
    each read on first use."""

    __slots__ = ("facts", "package")
    package: Mapping[str, Any]
    facts: Mapping[str, Any] | None  # the package's facts, once a rule reads one

    def __missing__(self, key: str) -> Any:
        lower = key[:1] == _LOWER
        path = key[1:] if lower else key
        value = self.get(path, MISSING)
        if value is MISSING:
            if path.startswith(FACT_PREFIX):
                facts = self.facts if self.facts is not None else self.read_facts()
                value = facts.get(path[_FACT_KEY_AT:])
            else:
                value = FIELDS[path].read(self.package)
            self[path] = value
        if not lower:
            return value
        lowered = value.lower() if isinstance(value, str) else None
        self[key] = lowered
        return lowered

    def read_facts(self) -> Mapping[str, Any]:
        self.facts = facts_of(self.package)
        return self.facts


FieldReader = Callable[[Mapping[str, Any]], _Fields]


def _on_use(package: Mapping[str, Any]) -> _Fields:
    fields = _Fields()
    fields.package, fields.facts = package, None
    return fields


def _at_once(paths: set[str]) -> FieldReader:
    """A reader that reads these fields (and the lower-cased text of text fields) before any rule
    runs: for a rule set that reads several, cheaper than a lookup each on first use. Fields
    read from one part of the package (``customer.*``) look that part up once."""
    parts: dict[str, list[tuple[str, str, str | None]]] = {}
    others: list[tuple[str, Reader, str | None]] = []
    for name, known in FIELDS.items():
        if name not in paths or known.costly:
            continue
        # text (and a list's, None) read by text operators; a number's, if ever, on first use
        lower = None if known.kind == "number" else _LOWER + name
        if isinstance(known.read, Member):
            parts.setdefault(known.read.part, []).append((name, known.read.key, lower))
        else:
            others.append((name, known.read, lower))
    by_part = tuple((part, tuple(members)) for part, members in parts.items())
    by_reader = tuple(others)

    def read(package: Mapping[str, Any]) -> _Fields:
        fields = _Fields()
        for part, members in by_part:
            holder = package.get(part)
            if not (type(holder) is dict or isinstance(holder, Mapping)):
                holder = _NOTHING
            for name, key, lower in members:
                fields[name] = value = holder.get(key)
                if lower is not None:
                    fields[lower] = value.lower() if isinstance(value, str) else None
        for name, read_value, lower in by_reader:
            fields[name] = value = read_value(package)
            if lower is not None:
                fields[lower] = value.lower() if isinstance(value, str) else None
        fields.package, fields.facts = package, None
        return fields

    return read


_NOTHING: Mapping[str, Any] = {}


# --- compiling conditions ----------------------------------------------------------------------

Check = Callable[[_Fields], bool]


def _never(fields: _Fields) -> bool:
    return False


def _always(fields: _Fields) -> bool:
    return True


def _compile_presence(path: str, exists: bool) -> Check:
    if not path.startswith(FACT_PREFIX):
        return lambda fields: ((value := fields[path]) is not None and value != []) is exists
    # Read from the facts at once, not kept: a fact a rule asks whether it exists is often
    # asked about by that rule only.
    key = path[_FACT_KEY_AT:]

    def fact_presence(fields: _Fields) -> bool:
        facts = fields.facts if fields.facts is not None else fields.read_facts()
        return ((value := facts.get(key)) is not None and value != []) is exists

    return fact_presence


def _compile_leaf(condition: Mapping[str, Any]) -> Check:
    """One condition as a closure specialised to its operator and value; the general operator
    for the uncommon shapes."""
    op, path, expected = condition.get("op"), condition.get("field"), condition.get("value")
    if not isinstance(op, str) or not isinstance(path, str):
        return _never
    when_absent = op in {"ne", "not_in", "missing"}
    if path not in FIELDS and not path.startswith(FACT_PREFIX):
        return _always if when_absent else _never  # no package has this field
    if op in PRESENCE:
        return _compile_presence(path, op == "exists")
    operator = OPERATORS.get(op)
    if operator is None:
        return _never
    lower = _LOWER + path

    def general(fields: _Fields) -> bool:
        actual = fields[path]
        if actual is None or actual == []:
            return when_absent
        try:
            return operator(actual, expected)
        except (KeyError, TypeError, ValueError):
            return False

    if isinstance(expected, str):
        wanted = expected.lower()
        if op == "eq":  # text equals only text (the lower-cased text is None for the rest)
            return lambda fields: fields[lower] == wanted
        if op == "ne":
            return lambda fields: fields[lower] != wanted
        if op == "starts_with":

            def starts_with(fields: _Fields) -> bool:
                text = fields[lower]
                return text is not None and text.startswith(wanted)

            return starts_with
        if op == "contains":

            def contains(fields: _Fields) -> bool:
                text = fields[lower]
                if text is not None:
                    return wanted in text
                items = fields[path]  # a list holds it when one of its texts equals it
                return isinstance(items, list) and any(
                    isinstance(item, str) and item.lower() == wanted for item in items
                )

            return contains
    elif op in {"eq", "ne"} and isinstance(expected, bool):
        if op == "eq":  # booleans equal only booleans
            return lambda fields: fields[path] is expected
        return lambda fields: fields[path] is not expected
    elif op in {"eq", "ne"} and _is_number(expected):
        if op == "eq":
            return lambda fields: fields[path] == expected and _is_number(fields[path])
        return lambda fields: not (fields[path] == expected and _is_number(fields[path]))
    elif op in {"gte", "lte"} and _is_number(expected):
        at_least = op == "gte"

        def compare(fields: _Fields) -> bool:
            actual = fields[path]
            kind = type(actual)
            if kind is int or kind is float:
                return actual >= expected if at_least else actual <= expected
            return general(fields)  # numeric text, or not a number

        return compare
    elif (
        op in {"in", "not_in"}
        and isinstance(expected, list | tuple)
        and all(isinstance(item, str) for item in expected)
    ):
        wanted_set = frozenset(item.lower() for item in expected)
        negate = op == "not_in"

        def one_of(fields: _Fields) -> bool:
            text = fields[lower]
            if text is not None:
                return (text in wanted_set) != negate
            items = fields[path]  # a list is in when one of its texts is
            found = isinstance(items, list) and any(
                isinstance(item, str) and item.lower() in wanted_set for item in items
            )
            return found != negate

        return one_of
    return general


def _all_of(checks: list[Check]) -> Check:
    if _never in checks:
        return _never
    checks = [check for check in checks if check is not _always]
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda fields: first(fields) and second(fields)
    return lambda fields: all(check(fields) for check in checks)


def _any_of(checks: list[Check]) -> Check:
    if _always in checks:
        return _always
    checks = [check for check in checks if check is not _never]
    if not checks:
        return _never
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda fields: first(fields) or second(fields)
    return lambda fields: any(check(fields) for check in checks)


def compile_condition(condition: Any) -> Check:
    """A function of a package's fields that decides whether the condition holds."""
    if not isinstance(condition, Mapping):
        return _never
    for group in ("all", "any"):
        if group in condition:
            members = condition[group]
            if not isinstance(members, list):
                return _never
            checks = [compile_condition(member) for member in members]
            return _all_of(checks) if group == "all" else _any_of(checks)
    return _compile_leaf(condition)


# Read at once when a rule set reads this many of them (see _at_once).
_READ_AT_ONCE_FROM = 3


class CompiledRules:
    """A rule set prepared once: each enabled rule's check, and what its match decides."""

    __slots__ = ("_checks", "_fields_of", "_names", "_outcomes", "rules")

    def __init__(self, rules: Sequence[RuleSpec]) -> None:
        self.rules = tuple(rules)
        enabled = [rule for rule in self.rules if rule.enabled]
        self._checks = tuple(compile_condition(rule.conditions) for rule in enabled)
        self._outcomes = tuple(
            (rule.queue, rule.priority, rule.sla_seconds, rule.name, _explain(rule))
            for rule in enabled
        )
        self._names = [rule.name for rule in enabled]  # "tried" is a slice of it
        read = set().union(*(_paths(rule.conditions) for rule in enabled)) & set(FIELDS)
        cheap = {path for path in read if not FIELDS[path].costly}
        self._fields_of = _at_once(cheap) if len(cheap) >= _READ_AT_ONCE_FROM else _on_use

    @classmethod
    def of(cls, rules: Sequence[RuleSpec]) -> CompiledRules:
        return cls(rules)

    def route(self, package: Mapping[str, Any], default_queue: str) -> Decision:
        """The first enabled rule whose conditions hold decides; otherwise the default queue."""
        fields = self._fields_of(package)
        for index, check in enumerate(self._checks):
            if check(fields):
                queue, priority, sla_seconds, name, explanation = self._outcomes[index]
                return _decision(
                    queue, priority, sla_seconds, name, explanation, self._names[:index]
                )
        explanation = f"no rule matched → default queue {default_queue}"
        return _decision(default_queue, None, None, None, explanation, self._names[:])

    def trace(self, package: Mapping[str, Any]) -> list[tuple[RuleSpec, bool]]:
        """Every rule, in order, with whether it holds for the package (a disabled rule never
        does): the rule editor's explanation of a decision."""
        fields = _on_use(package)
        checks = iter(self._checks)
        return [(rule, rule.enabled and next(checks)(fields)) for rule in self.rules]


def route(package: Mapping[str, Any], rules: Sequence[RuleSpec], default_queue: str) -> Decision:
    """One decision with a rule set compiled for it (a caller with many packages compiles once)."""
    return CompiledRules(rules).route(package, default_queue)


def _explain(rule: RuleSpec) -> str:
    explanation = f"{rule.name}: {describe(rule.conditions)} → {rule.queue}"
    if rule.priority is not None:
        explanation += f", priority {PRIORITY_NAMES.get(rule.priority, rule.priority)}"
    return explanation


_new, _set = object.__new__, object.__setattr__


def _decision(
    queue: str,
    priority: int | None,
    sla_seconds: int | None,
    matched_rule: str | None,
    explanation: str,
    tried: list[str],
) -> Decision:
    """The same Decision as its constructor makes, made in one step: a frozen dataclass's
    __init__ sets each field through object.__setattr__, which took a tenth of a 10-rule
    decision."""
    decision = _new(Decision)
    _set(
        decision,
        "__dict__",
        {
            "queue": queue,
            "priority": priority,
            "sla_seconds": sla_seconds,
            "matched_rule": matched_rule,
            "explanation": explanation,
            "tried": tried,
        },
    )
    return decision


def _paths(condition: Any) -> set[str]:
    """The field paths a rule's conditions read."""
    if not isinstance(condition, Mapping):
        return set()
    for group in ("all", "any"):
        if group in condition:
            members = condition[group]
            return set().union(*map(_paths, members)) if isinstance(members, list) else set()
    path = condition.get("field")
    return {path} if isinstance(path, str) else set()
