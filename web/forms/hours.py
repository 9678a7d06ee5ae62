"""The business hours form of a queue (``web.views.console.queue_hours``): a time zone, one
opening and closing time per weekday, holidays one date a line, and after how many minutes with
nobody online a waiting customer is told the team is away."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms

from queues.hours import WEEKDAYS, zone_choices
from queues.models import Queue

MAX_HOLIDAYS = 366


class BusinessHoursForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        help_text="The hours below are in this time zone, clock changes included.",
    )
    holidays = forms.CharField(
        label="Holidays",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "2026-12-25\n2027-01-01"}),
        help_text="One date a line (YYYY-MM-DD). No hours open on these dates.",
    )
    unstaffed_after_minutes = forms.IntegerField(
        label="Nobody online for",
        required=False,
        min_value=1,
        max_value=1440,
        help_text="Minutes a waiting case may find no agent of the queue online before the "
        "customer and the bot are told the team is away. Empty: never.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        zones = self.fields["time_zone"]
        assert isinstance(zones, forms.ChoiceField)
        zones.choices = [(name, name) for name in zone_choices()]
        for day, name in enumerate(WEEKDAYS):
            self.fields[f"opens_{day}"] = forms.TimeField(
                label=f"{name} opens",
                required=False,
                widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            )
            self.fields[f"closes_{day}"] = forms.TimeField(
                label=f"{name} closes",
                required=False,
                widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            )

    @classmethod
    def for_queue(cls, queue: Queue) -> BusinessHoursForm:
        initial: dict[str, Any] = {
            "time_zone": queue.time_zone,
            "holidays": "\n".join(queue.holidays),
            "unstaffed_after_minutes": queue.unstaffed_after_minutes,
        }
        for span in queue.schedule.spans:
            initial[f"opens_{span.weekday}"] = span.opens
            initial[f"closes_{span.weekday}"] = span.closes
        return cls(initial=initial)

    def days(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        """One row per weekday for the template."""
        return [
            (name, self[f"opens_{day}"], self[f"closes_{day}"]) for day, name in enumerate(WEEKDAYS)
        ]

    def clean_holidays(self) -> list[str]:
        days = []
        for number, line in enumerate(self.cleaned_data["holidays"].splitlines(), start=1):
            text = line.strip()
            if not text:
                continue
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise forms.ValidationError(
                    f"Line {number}, “{text[:40]}”, is not a date as YYYY-MM-DD."
                ) from None
            days.append(day.isoformat())
        if len(days) > MAX_HOLIDAYS:
            raise forms.ValidationError(f"At most {MAX_HOLIDAYS} holidays.")
        return sorted(set(days))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        hours = []
        for day, name in enumerate(WEEKDAYS):
            opens, closes = data.get(f"opens_{day}"), data.get(f"closes_{day}")
            if (opens is None) != (closes is None):
                if f"opens_{day}" in self.errors or f"closes_{day}" in self.errors:
                    continue
                self.add_error(
                    f"opens_{day}" if opens is None else f"closes_{day}",
                    f"{name} needs both an opening and a closing time, or neither (closed).",
                )
                continue
            if opens is not None and closes is not None:
                hours.append({"day": day, "opens": f"{opens:%H:%M}", "closes": f"{closes:%H:%M}"})
        data["business_hours"] = hours
        return data
