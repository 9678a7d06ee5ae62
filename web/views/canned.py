"""Canned replies: the management pages (supervisors and admins) and the case page's picker.

Contract for the case page's composer
-------------------------------------

``GET /cases/<case_id>/canned/?q=<text>`` (URL name ``cases:canned_picker``; the case page's
``{% url 'cases:detail' case.pk %}canned/`` is the same path). Signed in, and only for a user
who may work the case (``actions.agent_may_work``); a case the user cannot see or work is a 404,
as for the composer. ``q`` (optional, first 100 characters) is matched against names and bodies,
case-insensitively. The answer is always 200 with an HTML fragment
(``templates/cases/_canned_picker.html``) to put inside ``#canned-results``::

    <div class="canned-list" role="listbox" id="canned-listbox" aria-label="Saved replies">
      <button type="button" role="option" aria-selected="false" class="canned-option"
              id="canned-option-7" data-canned-id="7"
              data-canned-text="Hi Ana, I'm Sam from the Billing team…"
              data-canned-missing="facts.order_id,customer.email">
        <span class="canned-name">Refund timeline</span>
        <span class="canned-scope">Billing</span>      (or "All queues")
        <span class="canned-preview">Hi Ana, I've issued the refund for order [order_id?]…</span>
      </button>
      …
    </div>

or, when nothing matches, ``<p class="canned-empty">`` saying so (with a link to the
management page for those who may manage). At most 20 replies: the case's queue's and the
global ones, active, by name.

- ``data-canned-text`` is the body with its placeholders filled for this case and this agent,
  plain text (HTML-escaped in the attribute; read it with ``dataset.cannedText``, put it in the
  textarea's ``value``, never in ``innerHTML``).
- A placeholder the case cannot fill is in the text as ``[key?]`` (``[order_id?]`` for
  ``{{facts.order_id}}``, ``[customer.email?]`` otherwise) and its key is listed, comma
  separated, in ``data-canned-missing`` (empty when everything was filled).
- Options carry ``aria-selected``; a script moving an ``.active`` highlight should set it too
  (and ``aria-activedescendant`` on the search box to the option's ``id``).

When the reply is sent, the composer posts ``canned_id`` (``ComposeForm.canned_id``) and the
compose view, after a successful send in reply mode, calls
``cases.services.canned.canned_reply_used(reply_id=canned_id, case=case,
agent=request.user)``: it counts one use and ignores an id that is not a reply for that
case's queue or for all queues.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from cases import selectors
from cases.models import CannedReply
from cases.services import agent_work as actions
from cases.services.canned import (
    MANAGE_PERMISSION,
    PLACEHOLDER_HELP,
    CannedReplyError,
    canned_fill,
    canned_replies_for,
    canned_replies_managed,
    canned_reply_archive,
    canned_reply_create,
    canned_reply_update,
    one_line,
    sample_case,
)
from queues.models import Queue
from web.forms.canned import ArchiveForm, CannedFilterForm, CannedReplyForm, PreviewForm
from web.forms.cases import SearchForm, first_error

managers_only = permission_required(MANAGE_PERMISSION, raise_exception=True)


def _search(form: SearchForm) -> tuple[str, str]:
    """The search term and, when it was refused (NUL), why: said beside the list."""
    form.is_valid()
    return form.query(), first_error(form) if "q" in form.errors else ""


@login_required
@require_GET
def canned_picker(request: HttpRequest, case_id: int) -> HttpResponse:
    case = selectors.case_for_page(request.user, case_id)
    if not actions.agent_may_work(request.user, case):
        raise Http404("No such case")
    query, search_error = _search(SearchForm(request.GET))
    return render(
        request,
        "cases/_canned_picker.html",
        {
            "choices": canned_replies_for(case, request.user, query),
            "query": query,
            "search_error": search_error,
            "may_manage": request.user.has_perm(MANAGE_PERMISSION),
        },
    )


@login_required
@managers_only
@require_GET
def canned_list(request: HttpRequest) -> HttpResponse:
    filters = CannedFilterForm(request.GET)
    (query, search_error), queue_id = _search(filters), filters.queue_id()
    archived = filters.archived()
    replies = canned_replies_managed(query=query, queue_id=queue_id, archived=archived)
    for reply in replies:
        reply.preview = one_line(  # type: ignore[attr-defined]
            canned_fill(reply.body, case=sample_case(reply.queue), agent=request.user).text
        )
    groups = [
        (scope, list(rows))
        for scope, rows in groupby(replies, key=lambda r: r.queue.name if r.queue else "")
    ]
    return render(
        request,
        "cases/canned_list.html",
        {
            "groups": groups,
            "count": len(replies),
            "query": query,
            "search_error": search_error,
            "queue_id": queue_id,
            "archived": archived,
            "queues": Queue.objects.filter(is_active=True),
        },
    )


def _preview(body: str, queue: Queue | None, agent: Any) -> dict[str, Any]:
    sample = sample_case(queue)
    return {"preview": canned_fill(body, case=sample, agent=agent), "sample": sample}


def _form_page(
    request: HttpRequest, form: CannedReplyForm, reply: CannedReply | None, status: int = 200
) -> HttpResponse:
    body = form["body"].value() or ""
    # A bound form has been validated by now: its queue, if that was valid, else none.
    if form.is_bound:
        queue = getattr(form, "cleaned_data", {}).get("queue")
    else:
        queue = reply.queue if reply else None
    return render(
        request,
        "cases/canned_form.html",
        {
            "form": form,
            "reply": reply,
            "placeholders": PLACEHOLDER_HELP,
            **_preview(str(body), queue, request.user),
        },
        status=status,
    )


@login_required
@managers_only
def canned_new(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _form_page(request, CannedReplyForm(), None)
    form = CannedReplyForm(request.POST)
    if form.is_valid():
        try:
            reply = canned_reply_create(actor=request.user, **form.cleaned_data)
        except CannedReplyError as failure:
            form.add_error(None, str(failure))
        else:
            messages.success(request, f"Saved “{reply.name}”. Agents can insert it now.")
            return redirect("cases:canned_list")
    return _form_page(request, form, None, status=422)


@login_required
@managers_only
def canned_edit(request: HttpRequest, reply_id: int) -> HttpResponse:
    reply = get_object_or_404(CannedReply.objects.select_related("queue"), pk=reply_id)
    if request.method != "POST":
        initial = {"name": reply.name, "queue": reply.queue, "body": reply.body}
        return _form_page(request, CannedReplyForm(initial=initial, reply=reply), reply)
    form = CannedReplyForm(request.POST, reply=reply)
    if form.is_valid():
        try:
            canned_reply_update(actor=request.user, reply_id=reply.pk, **form.cleaned_data)
        except CannedReplyError as failure:
            form.add_error(None, str(failure))
        else:
            messages.success(request, f"Saved “{form.cleaned_data['name']}”.")
            return redirect("cases:canned_list")
    return _form_page(request, form, reply, status=422)


@login_required
@managers_only
@require_POST
def canned_archive(request: HttpRequest, reply_id: int) -> HttpResponse:
    reply = get_object_or_404(CannedReply, pk=reply_id)
    form = ArchiveForm(request.POST)
    if not form.is_valid():
        messages.error(request, str(form.errors["action"][0]))
        return redirect("cases:canned_list")
    archived = form.cleaned_data["action"] == "archive"
    canned_reply_archive(actor=request.user, reply_id=reply.pk, archived=archived)
    if archived:
        messages.success(request, f"Archived “{reply.name}”: agents no longer see it.")
    else:
        messages.success(request, f"Restored “{reply.name}”.")
    return redirect("cases:canned_list")


@login_required
@managers_only
@require_POST
def canned_preview(request: HttpRequest) -> HttpResponse:
    """The form's live preview (HTMX): the body as it reads on the sample case."""
    form = PreviewForm(request.POST)
    body, queue = "", None
    if form.is_valid():
        body, queue = form.cleaned_data["body"], form.cleaned_data["queue"]
    return render(request, "cases/_canned_preview.html", _preview(body, queue, request.user))
