"""Forms of the supervisor console (``web.views.console``): what a supervisor posts is read
here, and its mistakes go back to them as messages, never a 500."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import User

from queues.models import AssignmentMode, Queue
from web.forms.fields import MAX_ID

MAX_BULK = 500  # more ticks than any page shows: a forged post cannot start an endless loop


class CaseIdsField(forms.Field):
    """The ticked rows: every ``case`` value of the post, each a case number."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "required": "Tick the cases to reassign.",
        "invalid": "A ticked case is not a case number; reload the page and tick again.",
        "too_many": f"Reassign at most {MAX_BULK} cases at once.",
    }

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        values = value if isinstance(value, list | tuple) else [value]
        try:
            ids = [int(item) for item in values]
        except (TypeError, ValueError):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None
        if any(not 0 < item <= MAX_ID for item in ids):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        if len(ids) > MAX_BULK:
            raise forms.ValidationError(self.error_messages["too_many"], code="too_many")
        return list(dict.fromkeys(ids))  # a case ticked twice moves once


class ReassignForm(forms.Form):
    """Reassign the ticked cases to a queue, an agent, or both, for a reason."""

    case = CaseIdsField()
    queue = forms.ModelChoiceField(
        Queue.objects.filter(is_active=True),
        required=False,
        error_messages={"invalid_choice": "That queue is gone or closed; pick another."},
    )
    agent = forms.ModelChoiceField(
        User.objects.filter(is_active=True),
        required=False,
        error_messages={"invalid_choice": "That agent is no longer active; pick another."},
    )
    reason = forms.CharField(
        max_length=2000,
        error_messages={"required": "Say why the cases are reassigned."},
    )
    next = forms.CharField(required=False, max_length=2000)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("queue") and not cleaned.get("agent") and not self.errors:
            raise forms.ValidationError("Pick a queue or an agent to reassign to.")
        return cleaned

    def back(self) -> str:
        """The page the form was on (``next``), also when the rest of the form is refused;
        "" when it cannot be read (the view then goes to the queue's console page)."""
        self.is_valid()
        return str(self.cleaned_data.get("next") or "")


class MembershipForm(forms.Form):
    """Put an agent in a queue with a capacity, change it, or take them out."""

    agent = forms.ModelChoiceField(
        User.objects.filter(is_active=True),
        error_messages={"invalid_choice": "That agent is no longer active."},
    )
    capacity = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=100,
        error_messages={
            "min_value": "Capacity is a number of open cases from 1 to 100.",
            "max_value": "Capacity is a number of open cases from 1 to 100.",
            "invalid": "Capacity is a number of open cases from 1 to 100.",
        },
    )
    remove = forms.BooleanField(required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("remove") and cleaned.get("capacity") is None and not self.errors:
            self.add_error("capacity", "Capacity is a number of open cases from 1 to 100.")
        return cleaned


def error_lines(form: forms.Form) -> list[str]:
    """Every error of the form as a sentence, for the page's messages."""
    return [str(error) for errors in form.errors.values() for error in errors]


class QueueAssignmentForm(forms.Form):
    """How the queue's cases find agents: pulled by agents, or offered by the desk."""

    mode = forms.ChoiceField(
        choices=AssignmentMode.choices,
        error_messages={"invalid_choice": "Pick pull or push."},
    )
    offer_seconds = forms.IntegerField(
        min_value=5,
        max_value=600,
        error_messages={
            "min_value": "The offer time is from 5 to 600 seconds.",
            "max_value": "The offer time is from 5 to 600 seconds.",
            "invalid": "The offer time is a number of seconds from 5 to 600.",
            "required": "Give the offer time in seconds.",
        },
    )
    misses_before_away = forms.IntegerField(
        min_value=1,
        max_value=20,
        error_messages={
            "min_value": "Missed offers before away: from 1 to 20.",
            "max_value": "Missed offers before away: from 1 to 20.",
            "invalid": "Missed offers before away is a number from 1 to 20.",
            "required": "Say after how many missed offers an agent is set away.",
        },
    )
    reserved_slots = forms.IntegerField(
        min_value=0,
        max_value=10,
        error_messages={
            "min_value": "Reserved slots: from 0 to 10.",
            "max_value": "Reserved slots: from 0 to 10.",
            "invalid": "Reserved slots is a number from 0 to 10.",
            "required": "Give the reserved slots (0 for none).",
        },
    )

    @classmethod
    def for_queue(cls, queue: Queue) -> QueueAssignmentForm:
        return cls(
            initial={
                "mode": queue.assignment_mode,
                "offer_seconds": queue.offer_seconds,
                "misses_before_away": queue.misses_before_away,
                "reserved_slots": queue.reserved_slots,
            }
        )


class OverallCapForm(forms.Form):
    """An agent's cap on open cases across every queue; empty for none."""

    agent = forms.ModelChoiceField(
        User.objects.filter(is_active=True),
        error_messages={"invalid_choice": "That agent is no longer active."},
    )
    max_open = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=200,
        error_messages={
            "min_value": "The overall cap is from 1 to 200 open cases, or empty for none.",
            "max_value": "The overall cap is from 1 to 200 open cases, or empty for none.",
            "invalid": "The overall cap is a number of open cases, or empty for none.",
        },
    )
