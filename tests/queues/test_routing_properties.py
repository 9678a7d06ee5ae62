"""Property tests for the routing engine (``queues.routing.route``), no database.

Random packages (missing fields, wrong types, unicode, nested values) and random rule sets (every
field path, unknown fields, every operator and some unknown ones, values of any type, groups
nested one level, empty groups, disabled rules) are checked three ways:

(a) ``route`` never raises;
(b) the first enabled rule whose conditions hold decides, and no earlier enabled rule holds;
(c) ``route`` agrees with :func:`reference_route`, a naive re-implementation of the semantics
    documented in ``queues/routing.py`` and DESIGN section 6, written without the engine's code.

Most conditions look at fields the package has, with an operator for the value's type and a value
near the package's own (another case, a prefix, 1 for True, "40" for 40), so that they hold or
only just miss; the rest are arbitrary.

Where the engine departs from the documented semantics, the departure is named in
``ENGINE_QUIRKS``; the reference reproduces exactly that departure (and nothing more) so the
property still checks everything else. Malformed package parts and rule members, which once
made the engine raise, have properties of their own at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from queues import routing
from queues.routing import (
    FIELDS,
    CompiledRules,
    RuleSpec,
    condition_holds,
    package_view,
    route,
)

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)
# For the malformed-input properties: finding one failure is enough, shrinking only costs time.
FIND_ONLY = settings(
    PROPERTY_SETTINGS,
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
DEFAULT_QUEUE = "default"

# --- the documented semantics, written out again ----------------------------------------------

# DESIGN section 6's field paths (besides ``facts.<key>``), typed here rather than read from the
# engine, so a field dropped from FIELDS is noticed.
DESIGN_FIELDS = (
    "intent.name",
    "intent.confidence",
    "customer.tier",
    "customer.lifetime_value",
    "customer.language",
    "trigger.reason",
    "risk_flags",
    "channel",
    "transcript.customer_text",
)
NESTED_FIELDS = {
    "intent.name": ("intent", "name"),
    "intent.confidence": ("intent", "confidence"),
    "customer.tier": ("customer", "tier"),
    "customer.lifetime_value": ("customer", "lifetime_value"),
    "customer.language": ("customer", "language"),
    "trigger.reason": ("trigger", "reason"),
}
DOCUMENTED_OPS = (
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
)

# Departures of the engine from the documented semantics that the reference should mimic.
# Empty: the six these properties found (booleans equal to numbers, "inf" as a number, field
# paths that are not text, groups that are not lists, message text that is not text, risk
# flags that are not a list) are fixed, and pinned by the tests at the end of this file.
ENGINE_QUIRKS: frozenset[str] = frozenset()

ABSENT = object()


def is_number(value: Any) -> bool:
    return type(value) in (int, float)


def numeric_text(text: str, quirks: frozenset[str]) -> float | None:
    """A number written as text ("40", " 4e1 ", "-0.5"): it must contain a digit."""
    try:
        number = float(text)
    except ValueError:
        return None
    if any(ch.isdigit() for ch in text) or "infinity_words_are_numbers" in quirks:
        return number
    return None


def lookup(package: dict[str, Any], path: Any, quirks: frozenset[str]) -> Any:
    """The package's value at a field path, or ABSENT (None and [] count as absent)."""
    value: Any = ABSENT
    if path in NESTED_FIELDS:
        part, key = NESTED_FIELDS[path]
        holder = package.get(part)
        if isinstance(holder, dict):
            value = holder.get(key, ABSENT)
    elif path == "channel":
        value = package.get("channel") or ABSENT  # an empty channel is no channel
    elif path == "risk_flags":
        flags = package.get("risk_flags")
        if isinstance(flags, list):
            value = flags
        elif "risk_flags_any_iterable" in quirks and isinstance(flags, str | dict):
            value = list(flags)
    elif path == "transcript.customer_text":
        value = customer_text(package, quirks)
    elif isinstance(path, str) and path.startswith("facts."):
        facts = package.get("facts")
        if isinstance(facts, dict):
            value = facts.get(path[len("facts.") :], ABSENT)
    if value is None or (isinstance(value, list) and not value):
        return ABSENT
    return value


def customer_text(package: dict[str, Any], quirks: frozenset[str]) -> Any:
    transcript = package.get("transcript")
    if not isinstance(transcript, list):
        return ABSENT
    texts = []
    for message in transcript:
        if not isinstance(message, dict) or message.get("role") != "customer":
            continue
        text = message.get("text", "")
        if not isinstance(text, str):
            text = str(text) if "message_text_stringified" in quirks else ""
        texts.append(text)
    return "\n".join(texts) or ABSENT


def equal(actual: Any, expected: Any, quirks: frozenset[str]) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.lower() == expected.lower()
    if is_number(actual) and is_number(expected):
        return bool(actual == expected)
    if "bool_equals_number" in quirks and (
        isinstance(actual, bool | int | float) and isinstance(expected, bool | int | float)
    ):
        return bool(actual == expected)
    return type(actual) is type(expected) and bool(actual == expected)


def one_of_values(actual: Any, expected: list[Any], quirks: frozenset[str]) -> bool:
    actuals = actual if isinstance(actual, list) else [actual]
    return any(equal(a, e, quirks) for a in actuals for e in expected)


def compare(actual: Any, expected: Any, quirks: frozenset[str], op: str) -> bool:
    if not is_number(expected):
        return False
    if isinstance(actual, str):
        actual = numeric_text(actual, quirks)
    if not is_number(actual):
        return False
    return bool(actual >= expected) if op == "gte" else bool(actual <= expected)


def apply(op: str, actual: Any, expected: Any, quirks: frozenset[str]) -> bool:
    if op == "eq":
        return equal(actual, expected, quirks)
    if op == "ne":
        return not equal(actual, expected, quirks)
    if op == "in":
        return isinstance(expected, list) and one_of_values(actual, expected, quirks)
    if op == "not_in":
        return isinstance(expected, list) and not one_of_values(actual, expected, quirks)
    if op == "contains":
        if isinstance(actual, list):
            return any(equal(item, expected, quirks) for item in actual)
        if isinstance(actual, str) and isinstance(expected, str):
            return expected.lower() in actual.lower()
        return False
    if op == "starts_with":
        return (
            isinstance(actual, str)
            and isinstance(expected, str)
            and actual.lower().startswith(expected.lower())
        )
    if op in ("gte", "lte"):
        return compare(actual, expected, quirks, op)
    return False  # an unknown operator


def reference_holds(condition: Any, package: dict[str, Any], quirks: frozenset[str]) -> bool:
    """Whether a condition holds; anything that cannot be evaluated is false."""
    if not isinstance(condition, dict):
        return False
    for group in ("all", "any"):
        if group in condition:
            items = condition[group]
            if not isinstance(items, list):
                if "group_accepts_any_iterable" in quirks and isinstance(items, str | dict):
                    items = list(items)
                else:
                    return False
            results = [reference_holds(item, package, quirks) for item in items]
            return all(results) if group == "all" else any(results)
    if "field" not in condition or "op" not in condition:
        return False
    path, op = condition["field"], condition["op"]
    if isinstance(path, str):
        actual = lookup(package, path, quirks)
    elif "nonstring_field_reads_as_absent" in quirks and not isinstance(path, list | dict):
        actual = ABSENT
    else:
        return False
    if op == "exists":
        return actual is not ABSENT
    if op == "missing":
        return actual is ABSENT
    if actual is ABSENT:
        return op in ("ne", "not_in")
    return isinstance(op, str) and apply(op, actual, condition.get("value"), quirks)


@dataclass(frozen=True)
class Outcome:
    queue: str
    priority: int | None
    sla_seconds: int | None
    matched_rule: str | None
    tried: tuple[str, ...]


def reference_route(
    package: dict[str, Any], rules: list[RuleSpec], quirks: frozenset[str] = ENGINE_QUIRKS
) -> Outcome:
    tried: list[str] = []
    for rule in rules:
        if not rule.enabled:
            continue
        if reference_holds(rule.conditions, package, quirks):
            return Outcome(rule.queue, rule.priority, rule.sla_seconds, rule.name, tuple(tried))
        tried.append(rule.name)
    return Outcome(DEFAULT_QUEUE, None, None, None, tuple(tried))


# --- strategies -------------------------------------------------------------------------------

WORDS = [
    "gold",
    "GOLD",
    "Gold",
    "platinum",
    "billing.refund",
    "BILLING.REFUND",
    "billing.",
    "Billing",
    "web_chat",
    "sms",
    "fraud",
    "chargeback_threat",
    "en",
    "EN",
    "es",
    "repeated_failure",
    "frustration",
    "charged twice",
    "I was CHARGED TWICE",
    "None",
    "none",
    "f",
    "true",
    "",
    " ",
    "Straße",
    "STRASSE",
    "İstanbul",
    "istanbul",
    "日本語",
    "🙂",
]
NUMERIC_TEXTS = ["inf", "40", " 40 ", "4e1", "-0.5", "49.99", "1_000", "٤٢", "-Infinity", "nan"]
NUMBERS: list[Any] = [0, 1, -1, 0.5, 0.58, 40, 40.0, 49.99, 4200, 10**20, True, False]
FACT_KEYS = ["amount", "verified", "order_id", "Amount", "a.b", ""]
UNKNOWN_FIELDS = [
    "customer.name",
    "summary",
    "intent",
    "facts.",
    "risk_flags.0",
    "",
    "FACTS.amount",
]
ODD_OPS = ["EQ", "regex", "gt", "", " eq"]
QUEUES = ["vip", "billing", "compliance", "general"]

# Package values and rule values are mostly drawn from one small pool, so that conditions on
# present values hold (and fail) often enough to be compared, with arbitrary values beside them.
POOL: list[Any] = [*WORDS, *NUMERIC_TEXTS, *NUMBERS, None]
pooled = st.sampled_from(POOL)
texts = st.one_of(
    st.sampled_from(WORDS), st.sampled_from(WORDS), st.sampled_from(NUMERIC_TEXTS), st.text()
)
numbers = st.one_of(
    st.sampled_from(NUMBERS),
    st.sampled_from(NUMBERS),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(pooled, pooled, pooled, st.booleans(), numbers, st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=3,
)
fact_keys = st.one_of(st.sampled_from(FACT_KEYS), st.sampled_from(FACT_KEYS), st.text(max_size=4))
# Falsy values of other types where an object or a list belongs: the engine reads them as empty.
FALSY_JUNK: list[Any] = ["", 0, [], False, None]
falsy_junk = st.sampled_from(FALSY_JUNK)


@st.composite
def mostly(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    """An object holding each of these fields three times in four."""
    return {
        name: draw(strategy)
        for name, strategy in fields.items()
        if draw(st.sampled_from([True, True, True, False]))
    }


def part(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    whole = mostly({**fields, "extra": values})
    return st.one_of(whole, whole, whole, falsy_junk)


messages = mostly(
    {
        "role": st.sampled_from(["customer", "customer", "bot", "agent", "Customer"]),
        "text": st.one_of(texts, texts, st.none(), values),
        "id": st.text(max_size=4),
    }
)
packages = mostly(
    {
        "channel": st.one_of(texts, values),
        "customer": part(
            {
                "tier": st.one_of(texts, values),
                "lifetime_value": st.one_of(numbers, texts, values),
                "language": st.one_of(texts, values),
            }
        ),
        "intent": part(
            {"name": st.one_of(texts, values), "confidence": st.one_of(numbers, values)}
        ),
        "trigger": part({"reason": st.one_of(texts, values)}),
        "risk_flags": st.one_of(
            st.lists(st.one_of(texts, scalars), max_size=4),
            st.lists(st.one_of(texts, scalars), max_size=4),
            texts,
            falsy_junk,
        ),
        "facts": st.one_of(
            st.dictionaries(fact_keys, values, max_size=4),
            st.dictionaries(fact_keys, values, max_size=4),
            falsy_junk,
        ),
        "transcript": st.one_of(
            st.lists(messages, max_size=4), st.lists(messages, max_size=4), falsy_junk
        ),
    }
)

field_paths = st.one_of(
    st.sampled_from(DESIGN_FIELDS),
    fact_keys.map(lambda key: "facts." + key),
    st.sampled_from(UNKNOWN_FIELDS),
    st.sampled_from([None, 3, 1.5, True, ["channel"], {"f": 1}]),
)
operators = st.one_of(
    st.sampled_from(DOCUMENTED_OPS),
    st.sampled_from(DOCUMENTED_OPS),
    st.sampled_from(DOCUMENTED_OPS),
    st.sampled_from(ODD_OPS),
    st.sampled_from([None, 1]),  # an unhashable operator: see MALFORMED_MEMBERS
)
rule_values = st.one_of(scalars, scalars, values, st.lists(scalars, max_size=3))


@st.composite
def leaves(
    draw: st.DrawFn, near_package: st.SearchStrategy[tuple[Any, Any, Any]] | None = None
) -> dict[str, Any]:
    """A condition: mostly (given ``near_package``) a field the package has, an operator for its
    value's type and a value near its own."""
    field: Any
    if near_package is not None and draw(st.sampled_from([True, True, True, False])):
        field, op, value = draw(near_package)
    else:
        field, op, value = draw(field_paths), draw(operators), draw(rule_values)
    leaf = {"field": field, "op": op, "value": value}
    dropped = draw(st.sampled_from([None, None, None, None, None, "field", "op", "value"]))
    if dropped:
        del leaf[dropped]
    return leaf


def groups(items: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    # Besides lists: the two empty non-lists the engine evaluates without raising.
    members = st.one_of(st.lists(items, max_size=3), st.sampled_from(["", {}]))
    return st.one_of(
        st.builds(lambda ms: {"all": ms}, members),
        st.builds(lambda ms: {"any": ms}, members),
        st.builds(lambda a, b: {"all": a, "any": b}, members, members),
    )


def conditions_of(leaf: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    """A group of leaves and groups of leaves (nested one level), or a bare leaf."""
    return st.one_of(groups(st.one_of(leaf, groups(leaf))), leaf)


conditions = conditions_of(leaves())


def related(value: Any) -> list[Any]:
    """Rule values that may (or may just not) match a package value."""
    if isinstance(value, list):
        return [value, *(r for item in value[:3] for r in related(item))]
    if isinstance(value, bool):
        return [value, not value, int(value), float(value), str(value)]
    if is_number(value):
        twins = [bool(value)] if value in (0, 1) else []
        return [value, value + 1, value - 1, str(value), *twins]
    if isinstance(value, str):
        parts = [value, value.upper(), value.lower(), value[:1], value[:4], value[1:5], value + "x"]
        try:
            number = float(value)
        except ValueError:
            return parts
        return [*([number, number + 1] if math.isfinite(number) else [0, 1000]), *parts]
    return [value]


def observed(package: dict[str, Any]) -> list[tuple[str, Any]]:
    """The field paths a package has values at, with those values."""
    paths = [*DESIGN_FIELDS]
    facts = package.get("facts")
    if isinstance(facts, dict):
        paths += ["facts." + key for key in facts]
    present = [(path, lookup(package, path, ENGINE_QUIRKS)) for path in paths]
    return [(path, value) for path, value in present if value is not ABSENT]


def picked(items: list[Any]) -> st.SearchStrategy[Any]:
    # (an index, not sampled_from(items): hypothesis would build a repr of the whole list)
    return st.integers(0, len(items) - 1).map(lambda i: items[i])


def suited_ops(value: Any) -> list[str]:
    if isinstance(value, list):
        return ["contains", "exists", "missing"]
    if isinstance(value, str):
        ops = ["eq", "ne", "contains", "starts_with"]
        return [*ops, "gte", "lte"] if numeric_text(value, ENGINE_QUIRKS) is not None else ops
    return ["eq", "ne", "gte", "lte"]


def near(value: Any) -> st.SearchStrategy[tuple[str, Any]]:
    """An operator and a value to compare the package's own value with."""
    close = picked(related(value))
    one = st.tuples(picked(suited_ops(value)), close)
    several = st.tuples(
        st.sampled_from(["in", "not_in"]), st.lists(st.one_of(close, scalars), max_size=3)
    )
    return st.one_of(one, one, several, st.tuples(operators, rule_values))


@st.composite
def rule_lists(draw: st.DrawFn, conditions: st.SearchStrategy[Any]) -> list[RuleSpec]:
    count = draw(st.integers(min_value=0, max_value=6))
    return [
        RuleSpec(
            name=f"rule-{index}",
            conditions=draw(conditions),
            queue=draw(st.sampled_from(QUEUES)),
            priority=draw(st.one_of(st.none(), st.integers(min_value=0, max_value=3), st.just(7))),
            sla_seconds=draw(st.one_of(st.none(), st.integers(min_value=1, max_value=86_400))),
            enabled=draw(st.sampled_from([True, True, True, False])),
        )
        for index in range(count)
    ]


@st.composite
def scenarios(
    draw: st.DrawFn, package_strategy: st.SearchStrategy[dict[str, Any]] | None = None
) -> tuple[dict[str, Any], list[RuleSpec]]:
    """A package and rules whose conditions mostly look at fields it has, with values near its
    own (so that they hold, or just miss), beside arbitrary fields and values."""
    package = draw(packages if package_strategy is None else package_strategy)
    present = observed(package)
    near_package = (
        picked(present).flatmap(lambda pair: near(pair[1]).map(lambda tail: (pair[0], *tail)))
        if present
        else None
    )
    return package, draw(rule_lists(conditions_of(leaves(near_package))))


def outcome_of(package: dict[str, Any], rules: list[RuleSpec]) -> Outcome:
    decision = route(package, rules, DEFAULT_QUEUE)
    return Outcome(
        decision.queue,
        decision.priority,
        decision.sla_seconds,
        decision.matched_rule,
        tuple(decision.tried),
    )


# --- properties -------------------------------------------------------------------------------


def test_the_documented_fields_are_the_engines() -> None:
    assert set(FIELDS) == set(DESIGN_FIELDS)


Scenario = tuple[dict[str, Any], list[RuleSpec]]


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_route_never_raises(scenario: Scenario) -> None:
    package, rules = scenario

    decision = route(package, rules, DEFAULT_QUEUE)

    assert decision.queue in {DEFAULT_QUEUE, *(rule.queue for rule in rules)}
    assert isinstance(decision.explanation, str) and decision.explanation


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_the_first_enabled_rule_that_holds_decides(scenario: Scenario) -> None:
    package, rules = scenario
    view = package_view(package)
    holding = [i for i, r in enumerate(rules) if r.enabled and condition_holds(r.conditions, view)]

    decision = route(package, rules, DEFAULT_QUEUE)

    if not holding:
        assert decision.matched_rule is None and decision.queue == DEFAULT_QUEUE
        assert (decision.priority, decision.sla_seconds) == (None, None)
        assert decision.tried == [r.name for r in rules if r.enabled]
        assert f"default queue {DEFAULT_QUEUE}" in decision.explanation
        return
    first = rules[holding[0]]
    assert decision.matched_rule == first.name
    assert (decision.queue, decision.priority, decision.sla_seconds) == (
        first.queue,
        first.priority,
        first.sla_seconds,
    )
    earlier = rules[: holding[0]]
    assert not any(r.enabled and condition_holds(r.conditions, view) for r in earlier)
    assert decision.tried == [r.name for r in earlier if r.enabled]
    assert decision.explanation.startswith(f"{first.name}: ")
    assert f"→ {first.queue}" in decision.explanation


def members(condition: Any) -> list[Any]:
    """The condition, and every condition inside it."""
    found = [condition]
    if isinstance(condition, dict):
        for group in ("all", "any"):
            if isinstance(condition.get(group), list):
                found += [m for item in condition[group] for m in members(item)]
    return found


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_each_condition_agrees_with_the_reference(scenario: Scenario) -> None:
    package, rules = scenario
    view = package_view(package)

    for condition in (c for rule in rules for c in members(rule.conditions)):
        expected = reference_holds(condition, package, ENGINE_QUIRKS)
        assert condition_holds(condition, view) is expected, condition


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_route_agrees_with_the_reference(scenario: Scenario) -> None:
    package, rules = scenario

    assert outcome_of(package, rules) == reference_route(package, rules)


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_a_compiled_rule_set_decides_exactly_as_route(scenario: Scenario) -> None:
    package, rules = scenario

    assert CompiledRules.of(rules).route(package, DEFAULT_QUEUE) == route(
        package, rules, DEFAULT_QUEUE
    )


def test_the_reference_itself_on_the_design_package() -> None:
    # given DESIGN section 4's package, as in tests/queues/test_routing.py
    package = {
        "channel": "web_chat",
        "customer": {"tier": "gold", "lifetime_value": 4200.0, "language": "en"},
        "intent": {"name": "billing.refund", "confidence": 0.58},
        "trigger": {"reason": "repeated_failure"},
        "transcript": [
            {"role": "customer", "text": "I was charged twice"},
            {"role": "bot", "text": "I can help with refunds..."},
        ],
        "facts": {"order_id": "A-1009", "amount": "49.99"},
        "risk_flags": ["chargeback_threat"],
    }

    def holds(field: str, op: str, value: Any = None) -> bool:
        return reference_holds({"field": field, "op": op, "value": value}, package, frozenset())

    # then
    assert holds("intent.name", "eq", "BILLING.REFUND")
    assert holds("intent.name", "starts_with", "billing.")
    assert holds("customer.tier", "in", ["silver", "Gold"])
    assert holds("customer.lifetime_value", "gte", 4200)
    assert holds("facts.amount", "gte", 40) and holds("facts.amount", "lte", 50)
    assert not holds("facts.amount", "eq", 49.99)  # numeric text is a number for gte/lte only
    assert holds("risk_flags", "contains", "CHARGEBACK_THREAT")
    assert holds("transcript.customer_text", "contains", "charged TWICE")
    assert not holds("transcript.customer_text", "contains", "refunds")  # the bot said it
    assert holds("facts.coupon", "missing") and holds("facts.coupon", "ne", "x")
    assert holds("facts.coupon", "not_in", ["x"]) and not holds("facts.coupon", "in", ["x"])
    assert not holds("intent.confidence", "gte", "high")
    assert not holds("intent.name", "in", "billing.refund")


# --- edges the engine once got wrong (found by the properties above) ----------------------------


def holds_in_engine(package: dict[str, Any], field: Any, op: str, value: Any = None) -> bool:
    return condition_holds({"field": field, "op": op, "value": value}, package_view(package))


@pytest.mark.parametrize(
    ("fact", "op", "value", "expected"),
    [
        (True, "eq", 1, False),
        (1, "eq", True, False),
        (0.0, "eq", False, False),
        (1, "ne", True, True),
        (True, "in", [1, 2], False),
    ],
)
def test_a_boolean_fact_is_not_a_number(fact: Any, op: str, value: Any, expected: bool) -> None:
    # A bot's fact {"verified": true} and a published rule "facts.verified eq 1": both validate.
    assert holds_in_engine({"facts": {"x": fact}}, "facts.x", op, value) is expected


@pytest.mark.parametrize("text", ["inf", "Infinity", " -inf "])
def test_infinity_spelled_out_is_not_numeric_text(text: str) -> None:
    package = {"facts": {"amount": text}}

    assert not holds_in_engine(package, "facts.amount", "gte", 1000)
    assert not holds_in_engine(package, "facts.amount", "lte", 1000)


@pytest.mark.parametrize("op", ["missing", "ne", "not_in"])
def test_a_field_path_that_is_not_text_cannot_be_evaluated(op: str) -> None:
    assert not holds_in_engine({}, None, op, ["x"])


@pytest.mark.parametrize("members", ["", {}])
def test_a_group_of_something_else_than_a_list_does_not_hold(members: Any) -> None:
    assert not condition_holds({"all": members}, package_view({}))


def test_a_message_without_text_says_nothing() -> None:
    package = {"transcript": [{"role": "customer", "text": None}]}

    assert not holds_in_engine(package, "transcript.customer_text", "contains", "none")
    assert holds_in_engine(package, "transcript.customer_text", "missing")


def test_risk_flags_that_are_not_a_list_are_not_split() -> None:
    package = {"risk_flags": "fraud"}

    assert not holds_in_engine(package, "risk_flags", "contains", "f")


# --- shapes that once made the engine raise ----------------------------------------------------

# Truthy values of the wrong type where package_view expects an object or a list of objects.
MALFORMED_PARTS: dict[str, st.SearchStrategy[Any]] = {
    "customer": st.one_of(st.text(min_size=1), st.lists(values, min_size=1), st.just(True)),
    "intent": st.one_of(st.text(min_size=1), st.lists(values, min_size=1), st.integers(1)),
    "trigger": st.one_of(st.text(min_size=1), st.just(["frustration"])),
    "facts": st.one_of(st.lists(values, min_size=1), st.text(min_size=1), st.integers(1)),
    "transcript": st.one_of(
        st.lists(st.one_of(st.text(), st.integers(), st.none()), min_size=1),
        st.text(min_size=1),
        st.dictionaries(st.text(), values, min_size=1),
        st.integers(1),
    ),
    "risk_flags": st.one_of(st.integers(1), st.floats(0.5, 10), st.just(True)),
}


@st.composite
def malformed_packages(draw: st.DrawFn) -> dict[str, Any]:
    package: dict[str, Any] = draw(packages)
    key = draw(st.sampled_from(sorted(MALFORMED_PARTS)))
    package[key] = draw(MALFORMED_PARTS[key])
    return package


@FIND_ONLY
@given(scenario=scenarios(malformed_packages()))
def test_route_never_raises_on_malformed_package_parts(scenario: Scenario) -> None:
    package, rules = scenario

    route(package, rules, DEFAULT_QUEUE)


@pytest.mark.parametrize(
    "package",
    [
        {"customer": "gold"},
        {"intent": ["billing.refund"]},
        {"trigger": "frustration"},
        {"facts": ["order_id"]},
        {"transcript": ["I was charged twice"]},
        {"transcript": 5},
        {"risk_flags": 1},
    ],
)
def test_route_on_a_malformed_package_part(package: dict[str, Any]) -> None:
    decision = route(package, [RuleSpec("Any", {"all": []}, "vip")], DEFAULT_QUEUE)

    assert decision.queue == "vip"


# Group members describe() cannot read, beside a member that holds so the rule matches.
MALFORMED_MEMBERS = st.one_of(
    st.none(),
    st.integers(),
    st.text(min_size=1),
    st.lists(values, min_size=1),
    st.builds(
        lambda group, members: {group: members},
        st.sampled_from(["all", "any"]),
        st.one_of(st.none(), st.integers(), st.text(min_size=1), st.just({"field": "channel"})),
    ),
    st.builds(lambda op: {"field": "channel", "op": op}, st.sampled_from([["eq"], {"op": "eq"}])),
)


@st.composite
def rules_with_malformed_members(draw: st.DrawFn) -> list[RuleSpec]:
    # First, and with a member that always holds, so the rule matches and is explained.
    items = draw(st.lists(st.one_of(MALFORMED_MEMBERS, leaves()), min_size=1, max_size=3))
    items.insert(draw(st.integers(0, len(items))), {"field": "facts.none", "op": "missing"})
    return [RuleSpec("malformed", {"any": items}, "vip"), *draw(rule_lists(conditions))]


@FIND_ONLY
@given(package=packages, rules=rules_with_malformed_members())
def test_route_never_raises_on_malformed_rule_members(
    package: dict[str, Any], rules: list[RuleSpec]
) -> None:
    route(package, rules, DEFAULT_QUEUE)


@pytest.mark.parametrize(
    "member", [None, 5, "x", {"all": None}, {"any": "ab"}, {"field": "channel", "op": ["eq"]}]
)
def test_route_explains_a_rule_with_a_malformed_member(member: Any) -> None:
    rules = [RuleSpec("Odd", {"any": [{"field": "channel", "op": "missing"}, member]}, "vip")]

    decision = route({}, rules, DEFAULT_QUEUE)

    assert decision.queue == "vip"


@FIND_ONLY
@given(package=packages, rules=rules_with_malformed_members())
def test_a_compiled_rule_set_survives_malformed_members(
    package: dict[str, Any], rules: list[RuleSpec]
) -> None:
    assert CompiledRules.of(rules).route(package, DEFAULT_QUEUE) == route(
        package, rules, DEFAULT_QUEUE
    )


# A compiled set reads the package's fixed fields all at once when its rules read several of
# them, else each on first use: both ways, on well-formed and malformed packages alike.
@pytest.mark.parametrize("read_at_once_from", [0, len(FIELDS) + 1], ids=["at once", "on use"])
@PROPERTY_SETTINGS
@given(scenario=st.one_of(scenarios(), scenarios(malformed_packages())))
def test_a_compiled_rule_set_decides_as_route_however_it_reads_fields(
    read_at_once_from: int, scenario: Scenario
) -> None:
    package, rules = scenario
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(routing, "_READ_AT_ONCE_FROM", read_at_once_from)
        compiled = CompiledRules.of(rules)

    assert compiled.route(package, DEFAULT_QUEUE) == route(package, rules, DEFAULT_QUEUE)


# Mixed case everywhere, numbers as text, a list with a number in it, fact keys that are equal as
# text, and field paths that begin with the key the compiled set keeps lower-cased text under.
ODD_PACKAGE = {
    "channel": "Web",
    "customer": {"tier": "Gold", "language": "ES", "lifetime_value": "20000"},
    "intent": {"name": "Billing.Refund", "confidence": 0.4},
    "trigger": {"reason": "Frustration"},
    "risk_flags": ["Fraud", 3],
    "transcript": [{"role": "customer", "text": "Hablar CON"}, {"role": "bot", "text": "no"}],
    "facts": {"\x00channel": "x", "1": "b", 1: "a", "n": [], "v": True},
}
PROBES: dict[str, Any] = {
    "channel": "web",
    "customer.tier": "gold",
    "customer.language": "es",
    "customer.lifetime_value": 20_000,
    "intent.name": "billing.",
    "intent.confidence": 0.4,
    "trigger.reason": "frustration",
    "risk_flags": "fraud",
    "transcript.customer_text": "hablar con",
    "facts.1": "a",
    "facts.n": "n",
    "facts.v": True,
    "facts.\x00channel": "X",
    "\x00channel": "web",
    "\x00\x00channel": "web",
}


@pytest.mark.parametrize(("path", "probe"), PROBES.items())
@pytest.mark.parametrize(
    "op", ["eq", "ne", "in", "not_in", "contains", "starts_with", "gte", "lte", "exists", "missing"]
)
def test_a_compiled_rule_set_on_odd_fields(path: str, probe: Any, op: str) -> None:
    value = [probe, 3] if op in {"in", "not_in"} else probe
    rules = [RuleSpec("odd", {"all": [{"field": path, "op": op, "value": value}]}, "vip")]
    for read_at_once_from in (0, len(FIELDS) + 1):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(routing, "_READ_AT_ONCE_FROM", read_at_once_from)
            compiled = CompiledRules.of(rules)

        assert compiled.route(ODD_PACKAGE, DEFAULT_QUEUE) == route(
            ODD_PACKAGE, rules, DEFAULT_QUEUE
        )
