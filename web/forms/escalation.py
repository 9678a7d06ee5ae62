"""The escalation policy editor's forms: one field per setting of ``escalation.assess.Policy``,
so a setting added there appears here with its type's checks."""

from __future__ import annotations

import dataclasses
from typing import Any

from django import forms

from escalation.assess import Policy

# What each setting means to an admin; a setting without a label shows its name.
LABELS = {
    "frustration": "Escalate on the learned frustration score",
    "frustration_threshold": "… when the score reaches (0-1)",
    "human_request": "Escalate when the customer asks for a person",
    "repeated_failure": "Escalate on repeated failure",
    "failed_steps": "… after this many failed bot steps",
    "loops": "Escalate on loops",
    "bot_repeats": "… when the bot repeats itself this many times",
    "customer_restates": "… or the customer restates the same request this many times",
    "low_confidence": "Escalate on low intent confidence",
    "confidence_floor": "… below this confidence (0-1)",
    "confidence_streak": "… for this many customer messages in a row",
    "policy_sensitive": "Escalate on policy-sensitive topics",
    "sensitive_terms": "Policy-sensitive words and phrases (one a line)",
    "sensitive_intents": "Policy-sensitive intents (one a line)",
    "urgency": "Escalate on urgency words alone",
    "high_value": "Treat high-value customers apart",
    "high_value_tiers": "High-value tiers (one a line)",
    "high_value_ltv": "… or a lifetime value of at least",
    "high_value_frustration_threshold": "Their frustration threshold (0-1)",
    "high_value_alone": "Escalate every high-value customer at once",
}
SCORES = {"frustration_threshold", "confidence_floor", "high_value_frustration_threshold"}
LIST_ITEMS = 200
ITEM_CHARS = 100


def _field(setting: dataclasses.Field[Any]) -> forms.Field:
    label = LABELS.get(setting.name, setting.name.replace("_", " ").capitalize())
    default = setting.default
    if isinstance(default, bool):
        return forms.BooleanField(label=label, required=False)
    if isinstance(default, int):
        return forms.IntegerField(label=label, min_value=1, max_value=50)
    if isinstance(default, float) and setting.name in SCORES:
        return forms.FloatField(label=label, min_value=0.0, max_value=1.0)
    if isinstance(default, float):
        return forms.FloatField(label=label, min_value=0.0, max_value=1e12)
    return forms.CharField(
        label=label, required=False, widget=forms.Textarea(attrs={"rows": 4}), max_length=20_000
    )


class PolicyForm(forms.Form):
    edit_version = forms.IntegerField(widget=forms.HiddenInput, min_value=0, max_value=2**31)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for setting in dataclasses.fields(Policy):
            if setting.name != "version":
                self.fields[setting.name] = _field(setting)

    @classmethod
    def initial_from(cls, thresholds: dict[str, Any], edit_version: int) -> dict[str, Any]:
        policy = Policy.from_dict(thresholds).as_dict()
        shown = {k: "\n".join(v) if isinstance(v, list | tuple) else v for k, v in policy.items()}
        return shown | {"edit_version": edit_version}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for setting in dataclasses.fields(Policy):
            if isinstance(setting.default, tuple) and setting.name in cleaned:
                items = [line.strip() for line in str(cleaned[setting.name]).splitlines()]
                items = list(dict.fromkeys(item for item in items if item))
                if len(items) > LIST_ITEMS or any(len(item) > ITEM_CHARS for item in items):
                    self.add_error(
                        setting.name,
                        f"At most {LIST_ITEMS} lines of {ITEM_CHARS} characters each.",
                    )
                cleaned[setting.name] = items
        return cleaned

    def thresholds(self) -> dict[str, Any]:
        return {k: v for k, v in self.cleaned_data.items() if k != "edit_version"}


class PublishPolicyForm(forms.Form):
    edit_version = forms.IntegerField(min_value=0, max_value=2**31)
    note = forms.CharField(max_length=500)


class RollbackPolicyForm(forms.Form):
    note = forms.CharField(required=False, max_length=500)


class DryRunForm(forms.Form):
    limit = forms.IntegerField(min_value=1, max_value=5000, initial=500)
