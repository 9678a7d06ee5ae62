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


class Lowered(dict[str, Any]):
    """The lower-cased text of a view's fields, computed on first use (None: not text)."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__()
        self.source = values

    def __missing__(self, path: str) -> str | None:
        value = self.source.get(path)
        lowered = value.lower() if isinstance(value, str) else None
        self[path] = lowered
        return lowered


View = tuple[dict[str, Any], Lowered]  # field values, and their lower-cased text
Check = Callable[[View], bool]


def _present(actual: Any) -> bool:
    return actual is not MISSING and actual is not None and actual != []


def _generic(condition: Mapping[str, Any]) -> Check:
    return lambda view: condition_holds(condition, view[0])


def _compile_leaf(condition: Mapping[str, Any]) -> Check:
    op, path, expected = condition.get("op"), condition.get("field"), condition.get("value")
    if not isinstance(op, str) or not isinstance(path, str):
        return lambda view: False
    if op == "exists":
        return lambda view: _present(view[0].get(path, MISSING))
    if op == "missing":
        return lambda view: not _present(view[0].get(path, MISSING))
    if op in {"eq", "ne", "starts_with", "contains"} and isinstance(expected, str):
        wanted = expected.lower()
        negate = op == "ne"
        generic = _generic(condition)

        def text_check(view: View) -> bool:
            lowered = view[1][path]
            if lowered is None:  # not text: the general rules decide
                return generic(view)
            if op == "starts_with":
                return lowered.startswith(wanted)
            if op == "contains":
                return wanted in lowered
            return (lowered == wanted) != negate

        return text_check
    if (
        op in {"in", "not_in"}
        and isinstance(expected, list)
        and expected
        and all(isinstance(item, str) for item in expected)
    ):
        wanted_set = frozenset(item.lower() for item in expected)
        negate = op == "not_in"
        generic = _generic(condition)

        def set_check(view: View) -> bool:
            lowered = view[1][path]
            if lowered is None:
                return generic(view)
            return (lowered in wanted_set) != negate

        return set_check
    return _generic(condition)


def compile_condition(condition: Any) -> Check:
    """A function that decides ``condition_holds`` for a view, with the rule-side work done
    once: operators resolved, expected text lower-cased, lists turned into sets."""
    if not isinstance(condition, Mapping):
        return lambda view: False
    for group in ("all", "any"):
        if group in condition:
            members = condition[group]
            if not isinstance(members, list):
                return lambda view: False
            checks = [compile_condition(member) for member in members]
            if group == "all":
                return lambda view: all(check(view) for check in checks)
            return lambda view: any(check(view) for check in checks)
    return _compile_leaf(condition)


def _fields_of(condition: Any) -> set[str]:
    if not isinstance(condition, Mapping):
        return set()
    for group in ("all", "any"):
        if group in condition:
            members = condition[group]
            return set().union(*map(_fields_of, members)) if isinstance(members, list) else set()
    path = condition.get("field")
    return {path} if isinstance(path, str) else set()


@dataclass(frozen=True)
class CompiledRules:
    """A rule set prepared once: each rule's check, its explanation, and whether any rule
    reads the customer's words (gathering them is the costliest part of a package's view)."""

    rules: tuple[RuleSpec, ...]
    checks: tuple[Check | None, ...]  # None for a disabled rule
    explanations: tuple[str, ...]
    reads_text: bool

    @classmethod
    def of(cls, rules: Sequence[RuleSpec]) -> CompiledRules:
        enabled = [r for r in rules if r.enabled]
        return cls(
            tuple(rules),
            tuple(compile_condition(r.conditions) if r.enabled else None for r in rules),
            tuple(_explain(r) for r in rules),
            any("transcript.customer_text" in _fields_of(r.conditions) for r in enabled),
        )

    def route(self, package: Mapping[str, Any], default_queue: str) -> Decision:
        """Exactly ``route(package, rules, default_queue)``, faster."""
        values = package_view(package, with_text=self.reads_text)
        view = (values, Lowered(values))
        tried: list[str] = []
        for rule, check, explanation in zip(
            self.rules, self.checks, self.explanations, strict=True
        ):
            if check is None:
                continue
            if check(view):
                return Decision(
                    rule.queue, rule.priority, rule.sla_seconds, rule.name, explanation, tried
                )
            tried.append(rule.name)
        explanation = f"no rule matched → default queue {default_queue}"
        return Decision(default_queue, None, None, None, explanation, tried)
