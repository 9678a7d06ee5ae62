"""Forms of the deliveries page (admins)."""

from __future__ import annotations

from django import forms

from cases.callbacks.outbox import DELIVERY_LIST_STATES
from web.forms.fields import MAX_ID


class DeliveryFilterForm(forms.Form):
    """The list's filters (``?show=&integration=``). A filter that cannot be read is left out,
    as in a link without it: dead deliveries, of every integration."""

    show = forms.ChoiceField(
        choices=[(show, show) for show in DELIVERY_LIST_STATES], required=False
    )
    integration = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)

    def show_value(self) -> str:
        self.is_valid()
        return str(self.cleaned_data.get("show") or "dead")

    def integration_id(self) -> int | None:
        self.is_valid()
        return self.cleaned_data.get("integration")
