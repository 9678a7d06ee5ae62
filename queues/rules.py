"""Routing rules as data, and what makes one valid.

A rule's conditions are ``{"all": [...]}`` or ``{"any": [...]}`` of conditions
``{"field": path, "op": operator, "value": value}`` and of groups of them (nested one level).
Pydantic models below say what is valid, each value's type taken from the field it tests
(``queues.routable_fields``); ``condition_problems`` turns their errors into the sentences the
rule editor shows. The engine (``queues.routing``) evaluates conditions as they are stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from queues.routable_fields import VALUE_TYPES, VALUE_WORDS, Kind, field_kind
from vocabulary import PRIORITY_NAMES

OPERATORS_BY_KIND: dict[Kind, tuple[str, ...]] = {
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
PRESENCE = frozenset({"exists", "missing"})  # they take no value
ONE_OF = frozenset({"in", "not_in"})  # they take a list of values
ORDER = frozenset({"gte", "lte"})  # they take a number, whatever the field


@dataclass(frozen=True)
class RuleSpec:
    """A rule as the engine sees it, detached from the ORM so the engine stays pure."""

    name: str
    conditions: Mapping[str, Any]
    queue: str
    priority: int | None = None
    sla_seconds: int | None = None
    enabled: bool = True


# --- the condition language as pydantic models -----------------------------------------------


def _problem(message: str) -> PydanticCustomError:
    # No context: the message is shown as written, braces and all.
    return PydanticCustomError("rule_problem", message)


def _routable(path: Any) -> str:
    if not isinstance(path, str) or field_kind(path) is None:
        raise _problem(f"unknown field {path!r}")
    return path


@cache
def _values_of(kind: Kind, op: str) -> TypeAdapter[Any]:
    """The rule values an operator on a field of this kind compares with."""
    scalar = VALUE_TYPES["number"] if op in ORDER else VALUE_TYPES[kind]
    if op in ONE_OF:
        values: Any = Annotated[list[scalar], Field(min_length=1)]  # type: ignore[valid-type]
        return TypeAdapter(values)
    return TypeAdapter(scalar)


class Condition(BaseModel):
    """One test of one field: ``{"field": "customer.tier", "op": "in", "value": ["gold"]}``."""

    model_config = ConfigDict(frozen=True)

    # Checked before its type, so a missing or odd field reads as unknown, like any other.
    field: Annotated[str, BeforeValidator(_routable)] = Field(default=None, validate_default=True)
    op: Any = None  # one of the field's operators, checked below
    value: Any = None  # of the field's type, checked below

    @model_validator(mode="after")
    def _suits_the_field(self) -> Condition:
        kind = field_kind(self.field)
        assert kind is not None  # the field's own validator refused the rest
        if self.op not in OPERATORS_BY_KIND[kind]:
            valid = ", ".join(OPERATORS_BY_KIND[kind])
            raise _problem(f"{self.field}: operator {self.op!r} is not one of {valid}")
        if self.op in PRESENCE:
            return self
        try:
            _values_of(kind, self.op).validate_python(self.value)
        except ValidationError as error:
            first = error.errors()[0]
            if self.op in ONE_OF and not first["loc"]:  # not a list, or an empty one
                raise _problem(f"{self.field} {self.op}: give a list of values") from None
            words = VALUE_WORDS["number" if self.op in ORDER else kind]
            raise _problem(f"{self.field} {self.op}: {first['input']!r} is not {words}") from None
        return self


def _group_key(value: Any) -> str | None:
    """ "all" or "any" for a group of conditions, None for anything else."""
    if isinstance(value, Mapping) and len(value) == 1:
        key = next(iter(value))
        return key if key in ("all", "any") else None
    return None


def _member_kind(value: Any) -> str | None:
    if not isinstance(value, Mapping):
        return None
    return "group" if "all" in value or "any" in value else "condition"


def _too_deep(value: Any) -> Any:
    raise _problem("conditions nest one level at most")


def _not_empty(message: str) -> AfterValidator:
    def check(members: list[Any]) -> list[Any]:
        if not members:
            raise _problem(message)
        return members

    return AfterValidator(check)


def _tagged_by(tag: Callable[[Any], str | None], message: str) -> Discriminator:
    """Which member of a union a value is, by ``tag``; when it is none of them, ``message``."""
    return Discriminator(tag, custom_error_type="rule_problem", custom_error_message=message)


EACH_IS_AN_OBJECT = "each condition is an object"
NestedMember = Annotated[
    Annotated[Condition, Tag("condition")]
    | Annotated[Annotated[Any, AfterValidator(_too_deep)], Tag("group")],
    _tagged_by(_member_kind, EACH_IS_AN_OBJECT),
]
NestedMembers = Annotated[
    list[NestedMember], _not_empty("a nested group needs at least one condition")
]


class NestedAll(BaseModel):
    all: NestedMembers


class NestedAny(BaseModel):
    any: NestedMembers


NestedGroup = Annotated[
    Annotated[NestedAll, Tag("all")] | Annotated[NestedAny, Tag("any")],
    _tagged_by(_group_key, 'a group is {"all": [...]} or {"any": [...]}'),
]
Member = Annotated[
    Annotated[Condition, Tag("condition")] | Annotated[NestedGroup, Tag("group")],
    _tagged_by(_member_kind, EACH_IS_AN_OBJECT),
]
Members = Annotated[list[Member], _not_empty("a rule needs at least one condition")]


class AllOf(BaseModel):
    all: Members


class AnyOf(BaseModel):
    any: Members


RuleConditions: TypeAdapter[AllOf | AnyOf] = TypeAdapter(
    Annotated[
        Annotated[AllOf, Tag("all")] | Annotated[AnyOf, Tag("any")],
        _tagged_by(_group_key, 'conditions must be {"all": [...]} or {"any": [...]}'),
    ]
)


def condition_problems(conditions: Any) -> list[str]:
    """What is wrong with a rule's conditions, in the editor's words: the shape (all/any, nested
    one level), fields, operators and value types; one sentence per condition at most."""
    try:
        RuleConditions.validate_python(conditions)
    except ValidationError as error:
        return [problem["msg"] for problem in error.errors()]
    return []


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
    if isinstance(op, str) and op in PRESENCE:
        return f"{condition.get('field')} {op}"
    shown = "[" + ", ".join(map(str, value)) + "]" if isinstance(value, list) else value
    return f"{condition.get('field')} {condition.get('op')} {shown}"


# --- rule sets: one that cannot be published is refused before it runs ------------------------


@dataclass(frozen=True)
class RuleProblem:
    rule: str  # the rule's name, or "" for the set
    message: str


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
    return any(found >= PRESENCE for found in ops.values())


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
