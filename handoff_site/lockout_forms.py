"""The Unlock button's form on the locked-out sign-ins page: one username or one address."""

from __future__ import annotations

from typing import Any

from django import forms


class UnlockForm(forms.Form):
    username = forms.CharField(required=False, max_length=255)  # Axes' column
    ip_address = forms.GenericIPAddressField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and bool(data.get("username")) == bool(data.get("ip_address")):
            raise forms.ValidationError("Unlock one username or one address at a time.")
        return data
