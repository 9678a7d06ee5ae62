"""The routing engine: a pure function from a handoff package and a rule set to a decision.

Conditions are data (field path, operator, value) combined by ``all`` / ``any``, nested one
level. A condition that cannot be evaluated (missing field, value of another type) is false,
never an exception. No regular expressions, no code from admins.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MISSING = object()

FIELDS: dict[str, str] = {
    "intent.name": "text",
    "intent.confidence": "number",
    "customer.tier": "text",
    "customer.lifetime_value": "number",
    "customer.language": "text",
    "trigger.reason": "text",
    "risk_flags": "list",
    "channel": "text",
    "transcript.customer_text": "text",
}
FACT_PREFIX = "facts."
OPERATORS_BY_KIND: dict[str, tuple[str, ...]] = {
    "text": ("eq", "ne", "in", "not_in", "contains", "starts_with", "exists", "missing"),
    "number": ("eq", "ne", "gte", "lte", "in", "not_in", "exists", "missing"),
    "list": ("contains", "in", "not_in", "exists", "missing"),
    "any": (
        "eq",
        "ne",
        "in",
        "not_in",
        "contains",
        "starts_with",
        "gte",
        "lte",
        "exists",
        "missing",
    ),
}


def field_kind(path: str) -> str | None:
    if path in FIELDS:
        return FIELDS[path]
    if path.startswith(FACT_PREFIX) and len(path) > len(FACT_PREFIX):
        return "any"
    return None


@dataclass(frozen=True)
class RuleSpec:
    """A rule as the engine sees it, detached from the ORM so the engine stays pure."""

    name: str
    conditions: Mapping[str, Any]
    queue: str
    priority: int | None = None
    sla_seconds: int | None = None
    enabled: bool = True


@dataclass(frozen=True)
class Decision:
    queue: str
    priority: int | None
    sla_seconds: int | None
    matched_rule: str | None
    explanation: str
    tried: list[str] = field(default_factory=list)


def _part(package: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = package.get(name)
    return value if isinstance(value, Mapping) else {}


def package_view(package: Mapping[str, Any], *, with_text: bool = True) -> dict[str, Any]:
    """The flat field values conditions look at, from a package as plain data. A part of the
    wrong shape (a pasted package, say) reads as absent, never as an error. ``with_text=False``
    skips gathering the customer's words, for rule sets that never look at them."""
    customer = _part(package, "customer")
    intent = _part(package, "intent")
    trigger = _part(package, "trigger")
    transcript = package.get("transcript")
    customer_text = (
        "\n".join(
            # a message whose text is not text says nothing (not "None")
            m.get("text", "") if isinstance(m.get("text", ""), str) else ""
            for m in (transcript if isinstance(transcript, list) else [])
            if isinstance(m, Mapping) and m.get("role") == "customer"
        )
        if with_text
        else ""
    )
    flags = package.get("risk_flags")
    view: dict[str, Any] = {
        "intent.name": intent.get("name"),
        "intent.confidence": intent.get("confidence"),
        "customer.tier": customer.get("tier"),
        "customer.lifetime_value": customer.get("lifetime_value"),
        "customer.language": customer.get("language"),
        "trigger.reason": trigger.get("reason"),
        "risk_flags": list(flags) if isinstance(flags, list) else [],
        "channel": package.get("channel") or None,
        "transcript.customer_text": customer_text or None,
    }
    for key, value in _part(package, "facts").items():
        view[FACT_PREFIX + str(key)] = value
    return view


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


def condition_holds(condition: Mapping[str, Any], view: Mapping[str, Any]) -> bool:
    try:
        if not isinstance(condition, Mapping):
            return False
        if "all" in condition:
            members = condition["all"]
            return isinstance(members, list) and all(condition_holds(c, view) for c in members)
        if "any" in condition:
            members = condition["any"]
            return isinstance(members, list) and any(condition_holds(c, view) for c in members)
        op, path = condition["op"], condition["field"]
        if not isinstance(op, str) or not isinstance(path, str):
            return False
        actual = view.get(path, MISSING)
        present = actual is not MISSING and actual is not None and actual != []
        if op == "exists":
            return present
        if op == "missing":
            return not present
        if not present:
            return op in {"ne", "not_in"}
        return OPERATORS[op](actual, condition.get("value"))
    except (KeyError, TypeError, ValueError):
        return False


def describe(condition: Any) -> str:
    """Conditions in words, for explanations; what cannot be read is shown as "?"."""
    if not isinstance(condition, Mapping):
        return "?"
    for group, joiner in (("all", " and "), ("any", " or ")):
        if group in condition:
            members = condition[group]
            if not isinstance(members, list):
                return "?"
            words = joiner.join(describe(c) for c in members)
            return (words or "always") if group == "all" else f"({words})"
    value, op = condition.get("value"), condition.get("op")
    if isinstance(op, str) and op in {"exists", "missing"}:
        return f"{condition.get('field')} {op}"
    shown = "[" + ", ".join(map(str, value)) + "]" if isinstance(value, list) else value
    return f"{condition.get('field')} {condition.get('op')} {shown}"


PRIORITY_NAMES = {0: "low", 1: "normal", 2: "high", 3: "urgent"}


def _explain(rule: RuleSpec) -> str:
    explanation = f"{rule.name}: {describe(rule.conditions)} → {rule.queue}"
    if rule.priority is not None:
        explanation += f", priority {PRIORITY_NAMES.get(rule.priority, rule.priority)}"
    return explanation


def route(package: Mapping[str, Any], rules: Sequence[RuleSpec], default_queue: str) -> Decision:
    """First enabled rule whose conditions hold decides; otherwise the default queue."""
    view = package_view(package)
    tried: list[str] = []
    for rule in rules:
        if not rule.enabled:
            continue
        if condition_holds(rule.conditions, view):
            return Decision(
                rule.queue, rule.priority, rule.sla_seconds, rule.name, _explain(rule), tried
            )
        tried.append(rule.name)
    explanation = f"no rule matched → default queue {default_queue}"
    return Decision(default_queue, None, None, None, explanation, tried)


# --- validation: a rule set that cannot be published is refused before it runs ---------------


@dataclass(frozen=True)
class RuleProblem:
    rule: str  # the rule's name, or "" for the set
    message: str


def _leaf_problems(condition: Mapping[str, Any]) -> list[str]:
    field_path = condition.get("field")
    op = condition.get("op")
    kind = field_kind(field_path) if isinstance(field_path, str) else None
    if kind is None:
        return [f"unknown field {field_path!r}"]
    if op not in OPERATORS_BY_KIND[kind]:
        valid = ", ".join(OPERATORS_BY_KIND[kind])
        return [f"{field_path}: operator {op!r} is not one of {valid}"]
    value = condition.get("value")
    if op in {"exists", "missing"}:
        return []
    if op in {"in", "not_in"}:
        if not isinstance(value, list) or not value:
            return [f"{field_path} {op}: give a list of values"]
        items = value
    else:
        items = [value]
    for item in items:
        if kind == "number" and not _is_number(item):
            return [f"{field_path} {op}: {item!r} is not a number"]
        if kind in {"text", "list"} and not isinstance(item, str):
            return [f"{field_path} {op}: {item!r} is not text"]
        if op in {"gte", "lte"} and not _is_number(item):
            return [f"{field_path} {op}: {item!r} is not a number"]
        if kind == "any" and not isinstance(item, str | int | float):
            return [f"{field_path} {op}: {item!r} is not a text or number value"]
    return []


def condition_problems(conditions: Any) -> list[str]:
    """What is wrong with a rule's conditions: shape (all/any, nested one level), fields,
    operators and value types."""
    if (
        not isinstance(conditions, Mapping)
        or len(conditions) != 1
        or not ({"all", "any"} & set(conditions))
    ):
        return ['conditions must be {"all": [...]} or {"any": [...]}']
    items = next(iter(conditions.values()))
    if not isinstance(items, list) or not items:
        return ["a rule needs at least one condition"]
    problems = []
    for item in items:
        if isinstance(item, Mapping) and ({"all", "any"} & set(item)):
            inner = next(iter(item.values()))
            if not isinstance(inner, list) or not inner:
                problems.append("a nested group needs at least one condition")
                continue
            for leaf in inner:
                if isinstance(leaf, Mapping) and ({"all", "any"} & set(leaf)):
                    problems.append("conditions nest one level at most")
                elif isinstance(leaf, Mapping):
                    problems += _leaf_problems(leaf)
                else:
                    problems.append("each condition is an object")
        elif isinstance(item, Mapping):
            problems += _leaf_problems(item)
        else:
            problems.append("each condition is an object")
    return problems


def is_catch_all(conditions: Mapping[str, Any]) -> bool:
    """True for conditions that hold for every package: ``any`` of ``F exists`` and
    ``F missing`` (the way to say "everything else" with these operators)."""
    items = conditions.get("any")
    if not isinstance(items, list):
        return False
    ops: dict[str, set[str]] = {}
    for item in items:
        if isinstance(item, Mapping) and "field" in item:
            ops.setdefault(str(item["field"]), set()).add(str(item.get("op")))
    return any({"exists", "missing"} <= found for found in ops.values())


def validate_rules(rules: Sequence[RuleSpec], queue_slugs: set[str]) -> list[RuleProblem]:
    problems: list[RuleProblem] = []
    names: set[str] = set()
    catch_all: str | None = None
    for rule in rules:
        if not rule.name.strip():
            problems.append(RuleProblem(rule.name, "a rule needs a name"))
        elif rule.name in names:
            problems.append(RuleProblem(rule.name, "two rules have this name"))
        names.add(rule.name)
        problems += [RuleProblem(rule.name, p) for p in condition_problems(rule.conditions)]
        if rule.queue not in queue_slugs:
            problems.append(RuleProblem(rule.name, f"no active queue {rule.queue!r}"))
        if rule.priority is not None and rule.priority not in PRIORITY_NAMES:
            problems.append(RuleProblem(rule.name, "priority is low, normal, high or urgent"))
        if rule.sla_seconds is not None and rule.sla_seconds <= 0:
            problems.append(RuleProblem(rule.name, "the SLA must be a positive number of seconds"))
        if not rule.enabled:
            continue
        if catch_all is not None:
            problems.append(
                RuleProblem(rule.name, f"never reached: {catch_all!r} before it matches everything")
            )
        elif is_catch_all(rule.conditions):
            catch_all = rule.name
    return problems


# --- compiled rule sets: the same decisions, with the work done once per rule set ----------------
#
# route() above is the plain reference; CompiledRules decides exactly as it does, faster. Once per
# rule set, every condition becomes a closure specialised to its operator, with the expected text
# lower-cased and lists turned into frozensets; groups call their one or two members directly; a
# field no package can have is decided then and there. Once per package, each field is read the
# first time a rule asks for it and kept for the rules after it (most rules read the same few
# fields), and so is its lower-cased text; the customer's words are gathered only if a rule that
# reads them is reached. Nothing is built for the decision until a rule matches.

# The key of a field's lower-cased text beside its value. No field path that reaches a package
# begins with it: those are the known fields and facts.<key> (see _compile_leaf).
_LOWER = "\x00"
_FACT_KEY_AT = len(FACT_PREFIX)


def _mapping(value: Any) -> bool:
    # dict first: the ABC check costs more than the lookup it guards
    return type(value) is dict or isinstance(value, Mapping)


def _customer_text(package: Mapping[str, Any]) -> str | None:
    transcript = package.get("transcript")
    if not isinstance(transcript, list):
        return None
    said = [
        text if isinstance(text := message.get("text", ""), str) else ""
        for message in transcript
        if (type(message) is dict or isinstance(message, Mapping))
        and message.get("role") == "customer"
    ]
    return "\n".join(said) or None


def _facts(package: Mapping[str, Any]) -> Mapping[str, Any]:
    facts = _part(package, "facts")
    if all(type(name) is str for name in facts):
        return facts
    # as package_view: keys read as text, the last of equal texts wins
    return {str(name): value for name, value in facts.items()}


def _read(package: Mapping[str, Any], path: str) -> Any:
    """A package's value at one of FIELDS, as package_view has it (None when absent)."""
    part, _, key = path.partition(".")
    if path == "channel":
        return package.get("channel") or None
    if path == "risk_flags":
        flags = package.get("risk_flags")
        return flags if isinstance(flags, list) else None
    if path == "transcript.customer_text":
        return _customer_text(package)
    holder: Any = package.get(part)
    return holder.get(key) if _mapping(holder) else None


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
                value = _read(self.package, path)
            self[path] = value
        if not lower:
            return value
        lowered = value.lower() if isinstance(value, str) else None
        self[key] = lowered
        return lowered

    def read_facts(self) -> Mapping[str, Any]:
        self.facts = _facts(self.package)
        return self.facts


def _lowered(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else None


def _fixed_fields(package: Mapping[str, Any]) -> _Fields:
    """Every field but facts and the customer's words, read at once: for a rule set that reads
    several of them, one dict literal costs less than a lookup each on first use."""
    customer: Mapping[str, Any] = package.get("customer") or {}
    intent: Mapping[str, Any] = package.get("intent") or {}
    trigger: Mapping[str, Any] = package.get("trigger") or {}
    if not (_mapping(customer) and _mapping(intent) and _mapping(trigger)):
        customer, intent = _part(package, "customer"), _part(package, "intent")
        trigger = _part(package, "trigger")
    name, tier, language = intent.get("name"), customer.get("tier"), customer.get("language")
    reason, channel, flags = trigger.get("reason"), package.get("channel") or None, None
    if isinstance(found := package.get("risk_flags"), list):
        flags = found
    fields = _Fields(
        {
            "intent.name": name,
            "\x00intent.name": name.lower() if type(name) is str else _lowered(name),
            "intent.confidence": intent.get("confidence"),
            "customer.tier": tier,
            "\x00customer.tier": tier.lower() if type(tier) is str else _lowered(tier),
            "customer.lifetime_value": customer.get("lifetime_value"),
            "customer.language": language,
            "\x00customer.language": language.lower()
            if type(language) is str
            else _lowered(language),
            "trigger.reason": reason,
            "\x00trigger.reason": reason.lower() if type(reason) is str else _lowered(reason),
            "channel": channel,
            "\x00channel": channel.lower() if type(channel) is str else _lowered(channel),
            "risk_flags": flags,
            "\x00risk_flags": None,  # a list, never text
        }
    )
    fields.package, fields.facts = package, None
    return fields


def _no_fields(package: Mapping[str, Any]) -> _Fields:
    fields = _Fields()
    fields.package, fields.facts = package, None
    return fields


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
    """condition_holds for one leaf, as a closure specialised to its operator and value; the
    general operator (with condition_holds's exception handling) for the uncommon shapes."""
    op, path, expected = condition.get("op"), condition.get("field"), condition.get("value")
    if not isinstance(op, str) or not isinstance(path, str):
        return _never
    when_absent = op in {"ne", "not_in", "missing"}
    if path not in FIELDS and not path.startswith(FACT_PREFIX):
        return _always if when_absent else _never  # no package has this field
    if op in {"exists", "missing"}:
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
    """A function of a package's fields (read on first use) that decides ``condition_holds``."""
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


# Read at once when a rule set reads this many of them (see _fixed_fields).
_FIXED_FIELDS = frozenset(FIELDS) - {"transcript.customer_text"}
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
        read = set().union(*(_paths(rule.conditions) for rule in enabled))
        at_once = len(read & _FIXED_FIELDS) >= _READ_AT_ONCE_FROM
        self._fields_of = _fixed_fields if at_once else _no_fields

    @classmethod
    def of(cls, rules: Sequence[RuleSpec]) -> CompiledRules:
        return cls(rules)

    def route(self, package: Mapping[str, Any], default_queue: str) -> Decision:
        """Exactly ``route(package, rules, default_queue)``, faster."""
        fields = self._fields_of(package)
        for index, check in enumerate(self._checks):
            if check(fields):
                queue, priority, sla_seconds, name, explanation = self._outcomes[index]
                return _decision(
                    queue, priority, sla_seconds, name, explanation, self._names[:index]
                )
        explanation = f"no rule matched → default queue {default_queue}"
        return _decision(default_queue, None, None, None, explanation, self._names[:])


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
