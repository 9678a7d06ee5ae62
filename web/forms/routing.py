"""Forms of the routing rule editor (admins): a rule and its condition rows, the dry run, the
package test, publishing and rolling back.

A condition row is checked by the engine's own pydantic model (``queues.rules.Condition``) and a
rule's conditions by ``condition_problems``: the editor shows the engine's sentences, and a field
the engine does not know cannot be saved. What these forms add is the page's side: text typed in
a box read as the field's type (``a, b`` as a list for ``in``, ``5`` as a number).
"""

from __future__ import annotations

import json
import math
from typing import Any, cast

from django import forms
from django.forms.formsets import ManagementForm
from django.http import QueryDict
from django.utils.functional import cached_property
from pydantic import ValidationError as PydanticError

from cases.models import Case
from queues.models import Queue, RoutingRule
from queues.routable_fields import FACT_PREFIX, FIELDS, Kind, field_kind
from queues.rules import (
    OPERATORS_BY_KIND,
    ORDER,
    PRESENCE,
    Condition,
    condition_problems,
)
from vocabulary import PRIORITY_NAMES
from web.forms.fields import MAX_ID

CONDITION_ROWS = 6  # rows the form shows; more conditions, or nested groups, are written as JSON
TEXT_MAX = 100_000  # a pasted package or JSON conditions: more than any page needs
NOTE_MAX = 500
DRY_RUN_DEFAULT, DRY_RUN_MAX = 500, 5000
ONE_OF = frozenset({"in", "not_in"})


def _json(text: str) -> Any:
    """Parsed JSON, or a ValidationError saying why not. NaN and Infinity are refused: no
    database stores them in JSON, and no package carries them."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not a number JSON allows")

    try:
        return json.loads(text, parse_constant=refuse)
    except RecursionError:
        raise forms.ValidationError("This JSON is nested too deeply.") from None
    except ValueError as problem:  # JSONDecodeError is one
        message = "This is not valid JSON: %(why)s"
        raise forms.ValidationError(message, params={"why": problem}) from None


def first_message(form: forms.Form) -> str:
    """The form's first mistake: the messages here are sentences that name what they are about."""
    for errors in form.errors.values():
        return str(errors[0])
    return ""


class EditVersionForm(forms.Form):
    """The draft's version the page was built on: a save based on an older page is a conflict."""

    edit_version = forms.IntegerField(
        min_value=0,
        max_value=MAX_ID,
        widget=forms.HiddenInput,
        error_messages={
            key: "This page's copy of the draft cannot be read: reload the page."
            for key in ("required", "invalid", "min_value", "max_value")
        },
    )


# --- a rule ------------------------------------------------------------------------------------


def _scalar(kind: Kind, raw: str) -> Any:
    """Typed text as the field's value: a number for a number field (a fact: a number when it
    reads as one); otherwise the text, for the engine's model to judge."""
    if kind in {"number", "any"}:
        try:
            number = float(raw)
        except ValueError:
            return raw
        if not math.isfinite(number):
            return raw  # "nan", "1e999": not a number any package holds
        return int(number) if number.is_integer() and kind == "number" else number
    return raw


def typed_value(path: str, op: str, raw: str) -> Any:
    """The value a row's text stands for, by the field's type and the operator; None for the
    operators that take no value."""
    kind = field_kind(path) or "text"
    raw = raw.strip()
    if op in PRESENCE:
        return None
    if op in ONE_OF:
        return [_scalar(kind, item.strip()) for item in raw.split(",") if item.strip()]
    return _scalar("number" if op in ORDER else kind, raw)


def shown_value(value: Any) -> str:
    """A stored value as the row's text (the reverse of ``typed_value``)."""
    if value is None:
        return ""
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


class ConditionForm(forms.Form):
    """One condition row: ``field_0``, ``op_0``, ``value_0`` (the formset numbers them). A row
    without a field is empty and left out."""

    field = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={"list": "field-list", "placeholder": "field, e.g. customer.tier"}
        ),
    )
    # Any text: the engine's model names an operator the field does not take.
    op = forms.CharField(
        required=False,
        max_length=20,
        widget=forms.Select(choices=[(op, op) for op in OPERATORS_BY_KIND["any"]]),
    )
    value = forms.CharField(
        required=False,
        max_length=TEXT_MAX,
        widget=forms.TextInput(attrs={"placeholder": "value; lists: a, b, c"}),
        error_messages={"max_length": f"A value is at most {TEXT_MAX:,} characters."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        number = int(self.prefix or 0) + 1
        for name, label in (("field", "Field"), ("op", "Operator"), ("value", "Value")):
            self.fields[name].widget.attrs["aria-label"] = f"{label} {number}"

    def add_prefix(self, field_name: str) -> str:
        return f"{field_name}_{self.prefix}" if self.prefix is not None else field_name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        path, op, raw = data.get("field", ""), data.get("op", ""), data.get("value", "")
        if self.errors:
            return data
        if not path:
            if raw.strip():
                raise forms.ValidationError("Name the field this value is for.")
            return data
        condition: dict[str, Any] = {"field": path, "op": op}
        value = typed_value(path, op, raw)
        if value is not None:
            condition["value"] = value
        try:
            Condition.model_validate(condition)
        except PydanticError as error:
            raise forms.ValidationError([problem["msg"] for problem in error.errors()]) from None
        data["condition"] = condition
        return data


class BaseConditionFormSet(forms.BaseFormSet):
    """Always ``CONDITION_ROWS`` rows, named as the page has always named them (``field_0``…):
    the count is fixed here, so there is no management form to post, or to forge."""

    def add_prefix(self, index: Any) -> str:
        return str(index)

    def total_form_count(self) -> int:
        return CONDITION_ROWS

    def initial_form_count(self) -> int:
        return 0

    @cached_property
    def management_form(self) -> ManagementForm:
        counts = {"TOTAL_FORMS": CONDITION_ROWS, "INITIAL_FORMS": 0}
        form = ManagementForm(
            {f"{self.prefix}-{key}": value for key, value in counts.items()}, prefix=self.prefix
        )
        form.full_clean()
        return form

    def conditions(self) -> list[dict[str, Any]]:
        """The rows' conditions, in order (valid formset only)."""
        return [form.cleaned_data["condition"] for form in self if "condition" in form.cleaned_data]


ConditionFormSet = forms.formset_factory(
    ConditionForm, formset=BaseConditionFormSet, extra=0, max_num=CONDITION_ROWS
)


class QueueChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.name)


class RuleForm(EditVersionForm):
    """A rule of the draft. Its conditions are the rows (all or any of them) or, when given,
    the JSON in the advanced box (nested groups); ``cleaned_data["conditions"]`` is what the
    rule stores."""

    name = forms.CharField(
        max_length=120,
        error_messages={
            "required": "Give the rule a name.",
            "max_length": "A rule's name is at most 120 characters.",
        },
    )
    queue = QueueChoice(
        Queue.objects.filter(is_active=True).order_by("sort_order", "name"),
        to_field_name="slug",
        empty_label=None,
        error_messages={
            "required": "Pick the queue this rule routes to.",
            "invalid_choice": "That queue is gone or closed: pick an active queue.",
        },
    )
    priority = forms.TypedChoiceField(
        choices=[("", "as derived"), *PRIORITY_NAMES.items()],
        coerce=int,
        empty_value=None,
        required=False,
        error_messages={"invalid_choice": "Pick a priority from the list."},
    )
    sla_seconds = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        label="SLA (seconds)",
        widget=forms.NumberInput(attrs={"placeholder": "the queue's"}),
        error_messages={
            key: "The SLA is a whole number of seconds, 1 or more (empty: the queue's)."
            for key in ("invalid", "min_value", "max_value")
        },
    )
    enabled = forms.BooleanField(required=False, initial=True)
    combine = forms.ChoiceField(
        choices=[("all", "all"), ("any", "any")],
        required=False,
        widget=forms.Select(attrs={"aria-label": "Combine conditions"}),
        error_messages={"invalid_choice": "Conditions combine with all or any."},
    )
    conditions_json = forms.CharField(
        required=False,
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 6, "aria-label": "Conditions as JSON"}),
        error_messages={"max_length": f"Conditions are at most {TEXT_MAX:,} characters."},
    )

    def __init__(
        self, data: Any = None, *, rule: RoutingRule | None = None, edit_version: int = 0
    ) -> None:
        combine, rows, advanced = _rows_of(rule)
        initial: dict[str, Any] = {
            "edit_version": edit_version,
            "combine": combine,
            "conditions_json": advanced,
        }
        if rule is not None:
            initial |= {
                "name": rule.name,
                "queue": rule.queue,
                "priority": rule.priority,
                "sla_seconds": rule.sla_seconds,
                "enabled": rule.enabled,
            }
        super().__init__(data, initial=initial)
        self.rows = cast(BaseConditionFormSet, ConditionFormSet(data, initial=rows))

    def clean_conditions_json(self) -> Any:
        text = self.cleaned_data.get("conditions_json", "")
        if not text:
            return None
        parsed = _json(text)
        if not isinstance(parsed, dict):
            raise forms.ValidationError('Write the conditions as {"all": [...]} or {"any": [...]}.')
        return parsed

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "conditions_json" in self.errors:
            return data
        advanced = data.get("conditions_json")
        if advanced is not None:
            conditions = advanced
        elif not self.rows.is_valid():
            raise forms.ValidationError("A condition needs fixing: see below.")
        else:
            conditions = {data.get("combine") or "all": self.rows.conditions()}
        for problem in condition_problems(conditions):
            self.add_error("conditions_json" if advanced is not None else None, problem)
        data["conditions"] = conditions
        return data

    @property
    def uses_rows(self) -> bool:
        """False when the JSON box is filled: the rows are then neither read nor judged."""
        return not str(self["conditions_json"].value() or "").strip()

    @property
    def field_names(self) -> list[str]:
        """What the field boxes suggest: every routable field, and the facts' pattern."""
        return [*FIELDS, f"{FACT_PREFIX}<name>"]

    def rule(self) -> dict[str, Any]:
        """The rule's fields, as ``queues.services.rule_save`` takes them."""
        keys = ("name", "conditions", "queue", "priority", "sla_seconds", "enabled")
        return {key: self.cleaned_data[key] for key in keys}

    def seen_version(self, edit_version: int) -> None:
        """After a conflict the page shows the draft as it is now: the next save is based on it
        (what was typed stays)."""
        data = self.data.copy() if isinstance(self.data, QueryDict) else dict(self.data)
        data["edit_version"] = str(edit_version)
        self.data = data


def _rows_of(rule: RoutingRule | None) -> tuple[str, list[dict[str, Any]], str]:
    """A rule's conditions as the form shows them: all/any and the rows, or the JSON instead
    when they do not fit the rows (a nested group, more conditions than rows)."""
    if rule is None:
        return "all", [], ""
    conditions = rule.conditions
    combine = next(iter(conditions), "all") if len(conditions) == 1 else "all"
    items = conditions.get(combine)
    if (
        combine not in ("all", "any")
        or not isinstance(items, list)
        or len(items) > CONDITION_ROWS
        or not all(isinstance(item, dict) and "field" in item for item in items)
    ):
        return "all", [], json.dumps(conditions, indent=2)
    rows = [
        {
            "field": item["field"],
            "op": item.get("op", ""),
            "value": shown_value(item.get("value")),
        }
        for item in items
    ]
    return combine, rows, ""


# --- trying the draft --------------------------------------------------------------------------


class DryRunForm(forms.Form):
    limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=DRY_RUN_MAX,
        initial=DRY_RUN_DEFAULT,
        label="Recent handoffs",
        error_messages={
            key: f"Dry-run 1 to {DRY_RUN_MAX:,} recent handoffs."
            for key in ("invalid", "min_value", "max_value")
        },
    )

    def clean_limit(self) -> int:
        return self.cleaned_data.get("limit") or DRY_RUN_DEFAULT


class TestPackageForm(forms.Form):
    """A stored handoff by its case number, or a package pasted as JSON."""

    __test__ = False  # a form, not a test class for pytest to collect

    case_id = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        error_messages={
            key: "A case number is a whole number, 1 or more."
            for key in ("invalid", "min_value", "max_value")
        },
    )
    package = forms.CharField(
        required=False,
        max_length=TEXT_MAX,
        widget=forms.Textarea(
            attrs={
                "rows": 5,
                "placeholder": '{"intent": {"name": "billing.refund"}, '
                '"customer": {"tier": "gold"}}',
            }
        ),
        error_messages={"max_length": f"A package is at most {TEXT_MAX:,} characters."},
    )

    def clean_case_id(self) -> Case | None:
        number = self.cleaned_data.get("case_id")
        if number is None:
            return None
        case = Case.objects.filter(pk=number).first()
        if case is None:
            raise forms.ValidationError("No case #%(number)s.", params={"number": number})
        return case

    def clean_package(self) -> dict[str, Any] | None:
        text = self.cleaned_data.get("package", "")
        if not text or self.data.get("case_id"):
            return None  # a case number, when given, is what is tested
        package = _json(text)
        if not isinstance(package, dict):
            raise forms.ValidationError("The package must be a JSON object.")
        return package

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and data.get("case_id") is None and data.get("package") is None:
            raise forms.ValidationError("Give a case number or paste a package.")
        return data


# --- publishing --------------------------------------------------------------------------------


class PublishForm(EditVersionForm):
    note = forms.CharField(
        max_length=NOTE_MAX,
        label="Note (what changes and why)",
        error_messages={
            "required": "Publishing needs a note: what changes and why.",
            "max_length": f"A note is at most {NOTE_MAX} characters.",
        },
    )


class RollbackForm(forms.Form):
    note = forms.CharField(
        required=False,
        max_length=NOTE_MAX,
        error_messages={"max_length": f"A note is at most {NOTE_MAX} characters."},
    )
