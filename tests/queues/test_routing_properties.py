"""Property tests for the routing engine (``queues.routing.CompiledRules``), no database.

Random packages (missing fields, wrong types, unicode, nested values) and random rule sets (every
field path, unknown fields, every operator and some unknown ones, values of any type, groups
nested one level, empty groups, disabled rules, malformed members) are routed by the engine, which
must never raise and must decide exactly as the oracle below: a small evaluator written from the
semantics documented in ``queues/routing.py`` and DESIGN section 6, without the engine's code.
The engine reads a package's fields two ways (all at once, or each on first use): both are
checked.

Most conditions look at fields the package has, with an operator for the value's type and a value
near the package's own (another case, a prefix, 1 for True, "40" for 40), so that they hold or
only just miss; the rest are arbitrary.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from queues import routing
from queues.routing import FIELDS, CompiledRules, Decision, RuleSpec

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)
# For the malformed-input properties: finding one failure is enough, shrinking only costs time.
FIND_ONLY = settings(
    PROPERTY_SETTINGS,
    report_multiple_bugs=False,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
DEFAULT_QUEUE = "default"

# --- the oracle: the documented semantics, written out again ------------------------------------

# DESIGN section 6's field paths (besides ``facts.<key>``), typed here rather than read from the
# engine, so a field dropped from the engine's registry is noticed.
NESTED_FIELDS = {
    "intent.name": ("intent", "name"),
    "intent.confidence": ("intent", "confidence"),
    "customer.tier": ("customer", "tier"),
    "customer.lifetime_value": ("customer", "lifetime_value"),
    "customer.language": ("customer", "language"),
    "trigger.reason": ("trigger", "reason"),
}
DESIGN_FIELDS = (*NESTED_FIELDS, "risk_flags", "channel", "transcript.customer_text")
DOCUMENTED_OPS = (
    *("eq", "ne", "in", "not_in", "contains", "starts_with", "gte", "lte"),
    *("exists", "missing"),
)


def is_number(value: Any) -> bool:
    return type(value) in (int, float)  # a boolean is not a number


def text_number(text: str) -> float | None:
    """A number written as text ("40", " 4e1 "): finite, with a digit in it ("inf" is a word)."""
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) and any(c.isdigit() for c in text) else None


def value_at(package: dict[str, Any], path: str) -> Any:
    """The package's value at a field path; None when it has none (an empty list is none)."""
    if path in NESTED_FIELDS:
        part, key = NESTED_FIELDS[path]
        value = package[part].get(key) if isinstance(package.get(part), dict) else None
    elif path == "channel":
        value = package.get("channel") or None  # an empty channel is no channel
    elif path == "risk_flags":
        value = package.get("risk_flags") if isinstance(package.get("risk_flags"), list) else None
    elif path == "transcript.customer_text":
        transcript = package.get("transcript")
        said = [
            m.get("text", "") if isinstance(m.get("text", ""), str) else ""
            for m in (transcript if isinstance(transcript, list) else [])
            if isinstance(m, dict) and m.get("role") == "customer"
        ]
        value = "\n".join(said) or None
    elif path.startswith("facts.") and isinstance(package.get("facts"), dict):
        facts = {str(key): fact for key, fact in package["facts"].items()}  # the last "1" wins
        value = facts.get(path[len("facts.") :])
    else:
        value = None
    return None if value == [] else value


def equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.lower() == expected.lower()
    if is_number(actual) and is_number(expected):
        return bool(actual == expected)
    return type(actual) is type(expected) and bool(actual == expected)


def apply(op: Any, actual: Any, expected: Any) -> bool:
    """An operator on a present value."""
    items = actual if isinstance(actual, list) else [actual]
    if op in ("eq", "ne"):
        return equal(actual, expected) is (op == "eq")
    if op in ("in", "not_in"):
        found = isinstance(expected, list) and any(equal(a, e) for a in items for e in expected)
        return isinstance(expected, list) and found is (op == "in")
    if op == "contains" and isinstance(actual, list):
        return any(equal(item, expected) for item in actual)
    if op in ("contains", "starts_with"):
        if not (isinstance(actual, str) and isinstance(expected, str)):
            return False
        text, part = actual.lower(), expected.lower()
        return part in text if op == "contains" else text.startswith(part)
    if op in ("gte", "lte"):
        number = text_number(actual) if isinstance(actual, str) else actual
        if not (is_number(number) and is_number(expected)):
            return False
        return bool(number >= expected) if op == "gte" else bool(number <= expected)
    return False  # an unknown operator


def oracle_holds(condition: Any, package: dict[str, Any]) -> bool:
    """Whether a condition holds; anything that cannot be evaluated is false."""
    if not isinstance(condition, dict):
        return False
    for group, combine in (("all", all), ("any", any)):
        if group in condition:
            items = condition[group]
            return isinstance(items, list) and combine(oracle_holds(c, package) for c in items)
    path, op = condition.get("field"), condition.get("op")
    if not isinstance(path, str) or "op" not in condition:
        return False
    actual = value_at(package, path)
    if op in ("exists", "missing"):
        return (actual is not None) is (op == "exists")
    if actual is None:
        return op in ("ne", "not_in")
    return apply(op, actual, condition.get("value"))


def oracle_route(package: dict[str, Any], rules: list[RuleSpec]) -> tuple[Any, ...]:
    """(queue, priority, SLA, matched rule, rules tried before it)."""
    enabled = [rule for rule in rules if rule.enabled]
    for index, rule in enumerate(enabled):
        if oracle_holds(rule.conditions, package):
            tried = tuple(r.name for r in enabled[:index])
            return (rule.queue, rule.priority, rule.sla_seconds, rule.name, tried)
    return (DEFAULT_QUEUE, None, None, None, tuple(r.name for r in enabled))


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
    present = [(path, value_at(package, path)) for path in paths]
    return [(path, value) for path, value in present if value is not None]


def picked(items: list[Any]) -> st.SearchStrategy[Any]:
    # (an index, not sampled_from(items): hypothesis would build a repr of the whole list)
    return st.integers(0, len(items) - 1).map(lambda i: items[i])


def suited_ops(value: Any) -> list[str]:
    if isinstance(value, list):
        return ["contains", "exists", "missing"]
    if isinstance(value, str):
        ops = ["eq", "ne", "contains", "starts_with"]
        return [*ops, "gte", "lte"] if text_number(value) is not None else ops
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


# --- malformed packages and rule members ----------------------------------------------------

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


# --- the engine, both ways it reads a package ----------------------------------------------------

READS = {"at once": 0, "on use": len(FIELDS) + 1}  # how many fields a set reads to read at once


@contextmanager
def reading(how: str) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(routing, "_READ_AT_ONCE_FROM", READS[how])
        yield


def outcome(decision: Decision) -> tuple[Any, ...]:
    return (
        decision.queue,
        decision.priority,
        decision.sla_seconds,
        decision.matched_rule,
        tuple(decision.tried),
    )


def engine_holds(condition: Any, package: dict[str, Any]) -> bool:
    [(_, holds)] = CompiledRules.of([RuleSpec("one", condition, "q")]).trace(package)
    return holds


def members(condition: Any) -> list[Any]:
    """The condition, and every condition inside it."""
    found = [condition]
    if isinstance(condition, dict):
        for group in ("all", "any"):
            if isinstance(condition.get(group), list):
                found += [m for item in condition[group] for m in members(item)]
    return found


# --- properties -------------------------------------------------------------------------------


def test_the_documented_fields_are_the_engines() -> None:
    assert set(FIELDS) == set(DESIGN_FIELDS)


Scenario = tuple[dict[str, Any], list[RuleSpec]]


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_the_first_enabled_rule_that_holds_decides_and_is_explained(scenario: Scenario) -> None:
    package, rules = scenario
    compiled = CompiledRules.of(rules)

    decision = compiled.route(package, DEFAULT_QUEUE)

    trace = compiled.trace(package)
    assert [rule for rule, _ in trace] == rules
    holding = [rule for rule, holds in trace if holds]
    assert all(rule.enabled for rule in holding)
    if not holding:
        assert decision.matched_rule is None and decision.queue == DEFAULT_QUEUE
        assert f"default queue {DEFAULT_QUEUE}" in decision.explanation
        return
    first = holding[0]
    assert decision.matched_rule == first.name
    assert decision.explanation.startswith(f"{first.name}: ")
    assert f"→ {first.queue}" in decision.explanation


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_each_condition_agrees_with_the_oracle(scenario: Scenario) -> None:
    package, rules = scenario

    for condition in (c for rule in rules for c in members(rule.conditions)):
        assert engine_holds(condition, package) is oracle_holds(condition, package), condition


@pytest.mark.parametrize("how", READS)
@PROPERTY_SETTINGS
@given(scenario=st.one_of(scenarios(), scenarios(malformed_packages())))
def test_the_engine_decides_as_the_oracle(how: str, scenario: Scenario) -> None:
    package, rules = scenario
    with reading(how):
        compiled = CompiledRules.of(rules)

    assert outcome(compiled.route(package, DEFAULT_QUEUE)) == oracle_route(package, rules)


@FIND_ONLY
@given(package=packages, rules=rules_with_malformed_members())
def test_the_engine_decides_as_the_oracle_on_malformed_members(
    package: dict[str, Any], rules: list[RuleSpec]
) -> None:
    decision = CompiledRules.of(rules).route(package, DEFAULT_QUEUE)

    assert outcome(decision) == oracle_route(package, rules)
    assert isinstance(decision.explanation, str) and decision.explanation


def test_the_oracle_itself_on_the_design_package() -> None:
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
        return oracle_holds({"field": field, "op": op, "value": value}, package)

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
    return engine_holds({"field": field, "op": op, "value": value}, package)


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
    assert not engine_holds({"all": members}, {})


def test_a_message_without_text_says_nothing() -> None:
    package = {"transcript": [{"role": "customer", "text": None}]}

    assert not holds_in_engine(package, "transcript.customer_text", "contains", "none")
    assert holds_in_engine(package, "transcript.customer_text", "missing")


def test_risk_flags_that_are_not_a_list_are_not_split() -> None:
    package = {"risk_flags": "fraud"}

    assert not holds_in_engine(package, "risk_flags", "contains", "f")


# --- shapes that once made the engine raise ----------------------------------------------------


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
    decision = CompiledRules.of([RuleSpec("Any", {"all": []}, "vip")]).route(package, DEFAULT_QUEUE)

    assert decision.queue == "vip"


@pytest.mark.parametrize(
    "member", [None, 5, "x", {"all": None}, {"any": "ab"}, {"field": "channel", "op": ["eq"]}]
)
def test_route_explains_a_rule_with_a_malformed_member(member: Any) -> None:
    rules = [RuleSpec("Odd", {"any": [{"field": "channel", "op": "missing"}, member]}, "vip")]

    decision = CompiledRules.of(rules).route({}, DEFAULT_QUEUE)

    assert decision.queue == "vip"


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
@pytest.mark.parametrize("op", DOCUMENTED_OPS)
@pytest.mark.parametrize("how", READS)
def test_the_engine_on_odd_fields(path: str, probe: Any, op: str, how: str) -> None:
    value = [probe, 3] if op in {"in", "not_in"} else probe
    rules = [RuleSpec("odd", {"all": [{"field": path, "op": op, "value": value}]}, "vip")]
    with reading(how):
        compiled = CompiledRules.of(rules)

    assert outcome(compiled.route(ODD_PACKAGE, DEFAULT_QUEUE)) == oracle_route(ODD_PACKAGE, rules)
