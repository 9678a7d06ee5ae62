"""The reassign form a supervisor gets on a queue's page (a page of the cases app)."""

from __future__ import annotations

from typing import Any

from django import template

from cases.supervision import reassign_choices
from queues.models import Queue

register = template.Library()


@register.inclusion_tag("queues/_reassign_form.html", takes_context=True)
def reassign_form(context: template.Context, queue: Queue) -> dict[str, Any]:
    """The form the rows' checkboxes belong to (``form="reassign-form"``). It posts to the
    console's reassign view and comes back to this page. The page shows it only to those who
    may reassign; the view checks again."""
    request = context["request"]
    return {
        "queue": queue,
        "choices": reassign_choices(queue),
        "csrf_token": context.get("csrf_token"),
        "next": request.get_full_path(),
    }
