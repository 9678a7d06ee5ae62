"""Forms of the case page: what an agent posts is read here, and its mistakes go back to them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from cases.models import AGENT_RESOLUTIONS, RiskFlagReview
from cases.selectors import QueueFilters, QueueView
from cases.services.canned import QUERY_MAX
from web.forms.fields import MAX_ID

MAX_TEXT = 20_000


class ComposeForm(forms.Form):
    """The composer: one text, sent to the customer or kept as an internal note, optionally
    followed by resolving the case (Intercom's "Send and close", Zendesk's "Submit as Solved")."""

    MODES = [("reply", "Reply to the customer"), ("note", "Internal note")]
    SUBMITS = [("send", "Send"), ("send_resolve", "Send and resolve"), ("resolve", "Resolve")]

    mode = forms.ChoiceField(choices=MODES, initial="reply")
    text = forms.CharField(required=False, max_length=MAX_TEXT)
    submit = forms.ChoiceField(choices=SUBMITS, required=False)
    canned_id = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    confirm_repeat = forms.BooleanField(required=False)
    resolution_code = forms.ChoiceField(
        choices=[("", "Choose…"), *AGENT_RESOLUTIONS],
        required=False,
        error_messages={"invalid_choice": "Pick a resolution code from the list."},
    )
    customer_repeated = forms.ChoiceField(choices=[("no", "No"), ("yes", "Yes")], required=False)
    version = forms.IntegerField(required=False, min_value=0, max_value=MAX_ID)

    def clean_text(self) -> str:
        text: str = self.cleaned_data.get("text", "")
        if "\x00" in text:
            raise forms.ValidationError("The text holds a character that cannot be sent (NUL).")
        return text.strip()

    def clean_submit(self) -> str:
        return self.cleaned_data.get("submit") or "send"  # Ctrl+Enter submits without a button

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        submit = data.get("submit", "send")
        text = data.get("text", "")
        if submit in {"send", "send_resolve"} and not text and "text" not in self.errors:
            self.add_error(
                "text",
                "Write the note first." if data.get("mode") == "note" else "Write a reply first.",
            )
        if submit == "resolve" and text:
            self.add_error(
                "text",
                "There is unsent text in the composer: send it with “Send and resolve”, "
                "or clear it to resolve without sending.",
            )
        if submit in {"send_resolve", "resolve"}:
            if not data.get("resolution_code"):
                self.add_error("resolution_code", "Pick a resolution code from the list.")
            if not data.get("customer_repeated"):
                self.add_error(
                    "customer_repeated",
                    "Answer whether the customer had to repeat information (yes or no).",
                )
        return data

    @property
    def sends(self) -> bool:
        return self.cleaned_data.get("submit") in {"send", "send_resolve"}

    @property
    def resolves(self) -> bool:
        return self.cleaned_data.get("submit") in {"send_resolve", "resolve"}

    def first_error(self) -> str:
        for errors in self.errors.values():
            return str(errors[0])
        return ""


class TakeNextForm(forms.Form):
    """Take next: from the queue page the agent is on first, then back there if nothing."""

    queue = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    next = forms.CharField(required=False, max_length=2000)


class GuardForm(forms.Form):
    """The composer's text, checked while the agent types (the no-repeat guard)."""

    mode = forms.ChoiceField(choices=ComposeForm.MODES, required=False)
    text = forms.CharField(required=False, max_length=MAX_TEXT)


def first_error(form: forms.Form) -> str:
    """The form's first mistake as a sentence, naming the field: for a message on the page."""
    for name, errors in form.errors.items():
        field = form.fields.get(name)
        label = field.label or name.replace("_", " ").capitalize() if field else ""
        return f"{label}: {errors[0]}" if label else str(errors[0])
    return ""


class QueueFilterForm(forms.Form):
    """A queue page's search and filters, read from its query string. Django's CharField
    refuses NUL (PostgreSQL cannot compare text holding it); a term refused is left out of
    the filtering and named in a message above the list."""

    FILTERS = ("q", "intent", "trigger", "flag", "tier")

    q = forms.CharField(required=False, max_length=200, label="Search")
    intent = forms.CharField(required=False, max_length=100)
    trigger = forms.CharField(required=False, max_length=30)
    flag = forms.CharField(required=False, max_length=50, label="Risk")
    tier = forms.CharField(required=False, max_length=50)
    # The tab: anything unknown is the waiting list, as a link with no view is (never an error).
    view = forms.Field(required=False)

    def clean_view(self) -> QueueView:
        try:
            return QueueView(self.cleaned_data.get("view") or QueueView.WAITING)
        except ValueError:
            return QueueView.WAITING

    def value(self, name: str) -> str:
        return str(self.cleaned_data.get(name) or "") if name not in self.errors else ""

    def queue_view(self) -> QueueView:
        self.is_valid()
        return self.cleaned_data.get("view") or QueueView.WAITING

    def filters(self) -> QueueFilters:
        self.is_valid()
        return QueueFilters(**{name: self.value(name) for name in self.FILTERS})


class CaseActionForm(forms.Form):
    """What the case page's small forms post (intent correction, reassignment), checked before
    the action runs: a mistake is shown beside the form with the typed text kept."""

    intent = forms.CharField(
        required=False,
        max_length=100,
        error_messages={"max_length": "An intent name is at most 100 characters."},
    )
    reason = forms.CharField(
        required=False,
        max_length=2000,
        error_messages={"max_length": "A reason is at most 2,000 characters."},
    )
    queue = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    agent = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    version = forms.IntegerField(required=False, min_value=0, max_value=MAX_ID)
    flag = forms.CharField(required=False, max_length=100)
    verdict = forms.ChoiceField(required=False, choices=RiskFlagReview.Verdict.choices)


class ReturnToBotForm(forms.Form):
    """Return to bot: a note for the bot (required: what was done, what it should do next) and
    an optional intent for it to resume with."""

    note = forms.CharField(
        max_length=2000,
        label="Note for the bot",
        error_messages={
            "required": "Write a note for the bot: what was done and what it should do next.",
            "max_length": "A note for the bot is at most 2,000 characters.",
        },
    )
    intent = forms.CharField(
        required=False,
        max_length=100,
        label="Intent to resume",
        error_messages={"max_length": "An intent name is at most 100 characters."},
    )
    version = forms.IntegerField(required=False, min_value=0, max_value=MAX_ID)


# The metrics pages' period: the API's bounds (``cases.package.Day``), and at most a year and a
# day, so a forged period (1900 to 2100) cannot ask for 73,000 chart bars.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
MAX_PERIOD_DAYS = 366
DAY_ERRORS = {
    "invalid": "Enter a date like 2026-12-04.",
    "min_value": "Enter a date from 2000 to 2099.",
    "max_value": "Enter a date from 2000 to 2099.",
}


class MetricsFilterForm(forms.Form):
    """The metrics page's filters (``from`` and ``to`` are keywords: added by name)."""

    queue = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    integration = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, label="Bot")
    intent = forms.CharField(required=False, max_length=100)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, label in (("from", "From"), ("to", "To")):
            self.fields[name] = forms.DateField(
                required=False,
                label=label,
                input_formats=["%Y-%m-%d"],
                validators=[MinValueValidator(FIRST_DAY), MaxValueValidator(LAST_DAY)],
                error_messages=DAY_ERRORS,
            )

    def period(self, today: date, days: int = 30) -> tuple[date, date, str]:
        """The period asked for, or the last ``days`` days to today, with a sentence saying
        what was changed when the period had to be shortened."""
        data = self.cleaned_data if self.is_valid() else {}
        today = min(max(today, FIRST_DAY), LAST_DAY)
        end = data.get("to") or today
        start = min(data.get("from") or end - timedelta(days=days - 1), end)
        if (end - start).days + 1 > MAX_PERIOD_DAYS:
            start = end - timedelta(days=MAX_PERIOD_DAYS - 1)
            return (
                start,
                end,
                f"A period is at most {MAX_PERIOD_DAYS} days: showing {start} to {end}.",
            )
        return start, end, ""

    def value(self, name: str) -> Any:
        if not self.is_valid() and name in self.errors:
            return None
        return self.cleaned_data.get(name)


class SearchForm(forms.Form):
    """A list's search box (``?q=``): NUL refused, its first ``QUERY_MAX`` characters read (the
    canned picker's documented contract)."""

    q = forms.CharField(required=False, label="Search")

    def clean_q(self) -> str:
        return str(self.cleaned_data.get("q") or "")[:QUERY_MAX].strip()

    def query(self) -> str:
        return str(self.cleaned_data.get("q") or "") if self.is_valid() else ""
