"""Forms of the canned-reply pages: what a supervisor posts is read here, and mistakes (an
unknown placeholder, a name already taken) go back to them as messages."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.db.models import Q

from cases.models import CannedReply
from cases.services.canned import PLACEHOLDER, is_known_placeholder
from queues.models import Queue
from web.forms.cases import SearchForm
from web.forms.fields import MAX_ID

BODY_MAX = 5_000
# Anything written between double braces, to catch ``{{customer name}}`` and the like, which
# the strict placeholder pattern would leave in the reply as it is written.
BRACES = re.compile(r"\{\{[^{}]{0,80}\}\}")


class QueueChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.name)


class CannedReplyForm(forms.Form):
    name = forms.CharField(
        max_length=120,
        help_text="What agents type to find it, e.g. “Refund timeline”.",
        error_messages={"required": "Give the reply a name agents can search for."},
    )
    queue = QueueChoice(
        queryset=Queue.objects.filter(is_active=True).order_by("sort_order", "name"),
        required=False,
        empty_label="All queues",
        help_text="Agents of other queues do not see a reply made for one queue.",
        error_messages={"invalid_choice": "Pick a queue from the list."},
    )
    body = forms.CharField(
        max_length=BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 8}),
        error_messages={"required": "Write the reply's text."},
    )

    def __init__(self, *args: Any, reply: CannedReply | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reply = reply

    def clean_name(self) -> str:
        return " ".join(self.cleaned_data["name"].split())

    def clean_body(self) -> str:
        body: str = self.cleaned_data["body"].strip()
        unknown = [
            match.group(0)
            for match in BRACES.finditer(body)
            if not (
                (strict := PLACEHOLDER.fullmatch(match.group(0)))
                and is_known_placeholder(strict.group(1))
            )
        ]
        if unknown:
            raise forms.ValidationError(
                "Unknown placeholder %(names)s. Use one of those listed below the text, "
                "or {{facts.<key>}} for a fact the bot sends.",
                params={"names": ", ".join(dict.fromkeys(unknown))},
            )
        return body

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        name, queue = data.get("name"), data.get("queue")
        if name:
            # Two active replies of one name in one list would be told apart by nobody.
            same = CannedReply.objects.filter(
                Q(queue__isnull=True) if queue is None else Q(queue=queue),
                name__iexact=name,
                is_active=True,
            )
            if self.reply is not None:
                same = same.exclude(pk=self.reply.pk)
            if same.exists():
                where = queue.name if queue else "all queues"
                self.add_error("name", f"There is already a reply called “{name}” for {where}.")
        return data

    def first_error(self) -> str:
        for errors in self.errors.values():
            return str(errors[0])
        return ""


class PreviewForm(forms.Form):
    """The live preview of the form's body: the same fields, read leniently."""

    body = forms.CharField(required=False, max_length=BODY_MAX)
    queue = QueueChoice(queryset=Queue.objects.filter(is_active=True), required=False)


class ArchiveForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("archive", "Archive"), ("restore", "Restore")],
        error_messages={"invalid_choice": "Choose archive or restore."},
    )


class CannedFilterForm(SearchForm):
    """The management list's search and filters (``?q=&queue=&show=``). The search refused is
    said beside the list; a queue or a choice that cannot be read is left out, as in a link
    without it."""

    queue = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    show = forms.ChoiceField(choices=[("", "in use"), ("archived", "archived")], required=False)

    def queue_id(self) -> int | None:
        self.is_valid()
        return self.cleaned_data.get("queue")

    def archived(self) -> bool:
        self.is_valid()
        return self.cleaned_data.get("show") == "archived"
