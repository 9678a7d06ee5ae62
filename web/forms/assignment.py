"""Forms of an agent's own assignment controls: their state, and the answer to an offer."""

from __future__ import annotations

from django import forms

from cases.models import AgentStatus
from cases.services.assignment import SWITCH


class AgentStateForm(forms.Form):
    state = forms.ChoiceField(
        choices=[*AgentStatus.State.choices, (SWITCH, "Switch online / away")],
        error_messages={
            "invalid_choice": "Pick online, away or offline.",
            "required": "Pick online, away or offline.",
        },
    )
    next = forms.CharField(required=False, max_length=2000)


class OfferAnswerForm(forms.Form):
    next = forms.CharField(required=False, max_length=2000)
