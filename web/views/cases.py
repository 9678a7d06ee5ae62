"""The agent workspace: home, queue pages, the case page and its actions (HTMX).

Views read through selectors and write through ``cases.services.agent_work``; an HTMX request
gets the fragment it swaps, a plain request the whole page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language_info
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from cases import languages, selectors
from cases.guard import case_repeat_asks
from cases.models import AGENT_RESOLUTIONS, Case, Intent, Message
from cases.permissions import visible_queues
from cases.services import agent_work as actions
from cases.services import reassignment
from queues.hours import hours_now
from queues.models import Queue
from vocabulary import RiskFlag
from web.forms.cases import (
    CaseActionForm,
    ComposeForm,
    GuardForm,
    QueueFilterForm,
    ReturnToBotForm,
    TakeNextForm,
    first_error,
)

PAGE_SIZE = 50


@login_required
def home(request: HttpRequest) -> HttpResponse:
    queues = list(visible_queues(request.user))
    stats = selectors.queue_stats([q.pk for q in queues])
    rows = [(queue, stats.get(queue.pk, selectors.QueueStats())) for queue in queues]
    return render(
        request,
        "cases/home.html",
        {
            "rows": rows,
            "my_cases": selectors.my_open_cases(request.user),
            "now": timezone.now(),
        },
    )


def _filters(request: HttpRequest) -> tuple[selectors.QueueFilters, selectors.QueueView, str]:
    """The filters and tab of the query string, and what was refused in the filters (said
    above the list)."""
    form = QueueFilterForm(request.GET)
    return form.filters(), form.queue_view(), first_error(form)


# The queue page's tabs, as Zendesk's views: who waits, and what teammates hold.
QUEUE_VIEWS = [
    (selectors.QueueView.WAITING, "Waiting"),
    (selectors.QueueView.ASSIGNED, "Assigned"),
    (selectors.QueueView.AWAITING, "Awaiting customer"),
]


@login_required
@vary_on_headers("HX-Request")
def queue_detail(request: HttpRequest, slug: str) -> HttpResponse:
    queue = get_object_or_404(visible_queues(request.user), slug=slug)
    filters, view, filter_error = _filters(request)
    if view == selectors.QueueView.WAITING:
        cases = selectors.waiting_cases(queue, filters)
    else:
        cases = selectors.cases_in_work(queue, view, filters)
    paginator = Paginator(cases, PAGE_SIZE)
    stats = None
    if not request.htmx:  # type: ignore[attr-defined]
        stats = selectors.queue_stats([queue.pk]).get(queue.pk, selectors.QueueStats())
        if not filters.active and view == selectors.QueueView.WAITING:
            # The figures have just counted the queue's waiting cases: no second count.
            paginator.count = stats.waiting
    query = request.GET.copy()
    query.pop("page", None)
    tab_query = query.copy()  # a tab keeps the filters and starts at the first page
    tab_query.pop("view", None)
    now = timezone.now()
    context = {
        "queue": queue,
        "filters": filters,
        "filter_error": filter_error,
        "view": view,
        "views": QUEUE_VIEWS,
        "tab_query": tab_query.urlencode(),
        "page": paginator.get_page(request.GET.get("page")),
        "now": now,
        "query": query,
    }
    if stats is None:
        return render(request, "cases/_case_list.html", context)
    context["stats"] = stats
    context["hours"] = hours_now(queue.schedule, now)
    context["choices"] = selectors.queue_filter_choices(queue)
    context["triggers"] = Case.Trigger.choices
    context["flags"] = RiskFlag.values
    return render(request, "cases/queue.html", context)


@login_required
@require_POST
def take_next(request: HttpRequest) -> HttpResponse:
    form = TakeNextForm(request.POST)
    wanted = form.cleaned_data if form.is_valid() else {}
    from_queue = Queue.objects.filter(pk=wanted.get("queue") or 0).first()
    case = actions.case_take_next(
        agent=request.user, prefer_queue_id=from_queue.pk if from_queue else None
    )
    if case is None:
        messages.info(
            request, "Nothing to take: your queues are empty or you are at your capacity."
        )
        return _redirect(request, wanted.get("next") or reverse("cases:home"))
    if from_queue is not None and case.queue_id != from_queue.pk:
        messages.info(
            request,
            f"{from_queue.name} has no case you can take now: this one is from {case.queue.name}.",
        )
    return _redirect(request, reverse("cases:detail", args=[case.pk]))


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    # Only this desk's own pages: "//evil.example/" or "/\\evil.example" starts with a slash too.
    if not url.startswith("/") or not url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        url = reverse("cases:home")
    if request.htmx:  # type: ignore[attr-defined]
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _case_context(request: HttpRequest, case: Case, **extra: Any) -> dict[str, Any]:
    transcript = selectors.case_transcript(case)
    declared = case.customer.get("language")
    detected = languages.detected_besides(
        declared, (row["text"] for row in transcript if row["role"] == Message.Role.CUSTOMER)
    )
    may_work = actions.agent_may_work(request.user, case)  # one membership query, used thrice
    return {
        "case": case,
        "messages_list": transcript,
        "steps": case.attempted_steps.all(),
        "events": selectors.case_timeline(case),
        "corrections": case.intent_corrections.select_related("agent").order_by("id"),
        "risks": selectors.case_risk_items(case),
        "may_judge": may_work
        and (
            case.assignee_id in (None, request.user.pk)
            or request.user.has_perm("cases.reassign_case")
        ),
        "related": selectors.related_cases(case),
        "intents": Intent.objects.filter(is_active=True).only("name", "label"),
        "resolutions": AGENT_RESOLUTIONS,
        "can_work": may_work,
        "can_reassign": request.user.has_perm("cases.reassign_case"),
        "reassign_queues": Queue.objects.filter(is_active=True)
        if request.user.has_perm("cases.reassign_case")
        else [],
        "reassign_agents": User.objects.filter(memberships__isnull=False, is_active=True)
        .distinct()
        .order_by("first_name")
        if request.user.has_perm("cases.reassign_case")
        else [],
        "holds": case.assignee_id == request.user.pk,
        # one owner at a time: only the person holding the conversation returns it to the bot
        "holds_conversation": case.held_by_id == request.user.pk,
        "can_compose": _may_compose(request.user, case, may_work=may_work),
        "compose": ComposeForm(initial={"mode": "reply"}),
        "promise": selectors.customer_promise(case),
        "previous": selectors.previous_case(case),
        "returned": selectors.case_return(case.pk) if case.status == Case.Status.RETURNED else None,
        "language": _language_name(declared),
        # the language of the customer's own messages, when none was declared or it differs
        "detected_language": _language_name(detected, with_code=False) if detected else "",
        "now": timezone.now(),
        **extra,
    }


def _may_compose(user: Any, case: Case, *, may_work: bool) -> bool:
    """The composer is live once the case is yours (or a supervisor's to step into)."""
    if not may_work or not case.is_open:
        return False
    if case.assignee_id == user.pk:
        return True
    return case.assignee_id is not None and user.has_perm("cases.reassign_case")


def _language_name(code: object, *, with_code: bool = True) -> str:
    if not isinstance(code, str) or not code.strip():
        return ""
    try:
        info = get_language_info(code.strip().lower())
    except KeyError:
        return code.strip()[:20]
    return f"{info['name']} ({code.strip()})" if with_code else str(info["name"])


@login_required
@vary_on_headers("HX-Request")
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = selectors.case_for_page(request.user, case_id)
    context = _case_context(request, case)
    if request.htmx:  # type: ignore[attr-defined]
        # A live refresh swaps #case-main: the fragment alone, never the page inside the page.
        return render(request, "cases/_case_main.html", context)
    return render(request, "cases/case_detail.html", context)


# Each action with what CaseActionForm read from the post (``data``) and the case's version the
# page showed (``v``: a stale page is a conflict, not a silent overwrite).
ACTIONS: dict[str, Callable[[Any, int, int | None, dict[str, Any]], Any]] = {
    "claim": lambda r, cid, v, data: actions.case_claim(
        case_id=cid, agent=r.user, expected_version=v
    ),
    "release": lambda r, cid, v, data: actions.case_release(
        case_id=cid, agent=r.user, expected_version=v
    ),
    "intent": lambda r, cid, v, data: actions.case_intent_correct(
        case_id=cid,
        agent=r.user,
        to_intent=data["intent"],
        reason=data["reason"],
        expected_version=v,
    ),
    "flag": lambda r, cid, v, data: actions.case_risk_flag_review(
        case_id=cid,
        agent=r.user,
        flag=data["flag"] or "",
        verdict=data["verdict"] or "",
        expected_version=v,
    ),
    "await": lambda r, cid, v, data: actions.case_await_customer(
        case_id=cid, agent=r.user, expected_version=v
    ),
    "reopen": lambda r, cid, v, data: actions.case_reopen(
        case_id=cid, agent=r.user, expected_version=v
    ),
    "return": lambda r, cid, v, data: actions.case_return_to_bot(
        case_id=cid,
        agent=r.user,
        note=data["note"],
        resume_intent=data["intent"],
        expected_version=v,
    ),
    "reassign": lambda r, cid, v, data: reassignment.case_reassign(
        case_id=cid,
        supervisor=r.user,
        queue=Queue.objects.filter(pk=data["queue"] or 0, is_active=True).first(),
        agent=User.objects.filter(pk=data["agent"] or 0, is_active=True).first(),
        reason=data["reason"],
        expected_version=v,
    ),
}
DONE = {
    "claim": "You have this case.",
    "release": "Released back to the queue.",
    "intent": "Intent corrected.",
    "flag": "Risk flag judged: thank you, it teaches the desk when to escalate.",
    "await": "Waiting for the customer.",
    "reopen": "Case reopened.",
    "reassign": "Case reassigned.",
    "return": "Returned to the bot with your note: the case has left the queue.",
}
# What each action's post is read by (CaseActionForm unless named here).
ACTION_FORMS: dict[str, type[forms.Form]] = {"return": ReturnToBotForm}


INLINE_ERRORS = {"intent", "reassign", "flag", "return"}


@login_required
@require_POST
def case_action(request: HttpRequest, case_id: int, action: str) -> HttpResponse:
    handler = ACTIONS.get(action)
    if handler is None:
        raise Http404("No such action")
    case = selectors.case_for_page(request.user, case_id)
    if not actions.agent_may_work(request.user, case):
        raise Http404("No such case")
    error = ""
    status = 200
    form: dict[str, str] = {}
    checked = ACTION_FORMS.get(action, CaseActionForm)(request.POST)
    try:
        if not checked.is_valid():  # NUL, an id past any row, a reason past 2,000 characters
            raise actions.CaseActionError(first_error(checked))
        handler(request, case.pk, checked.cleaned_data["version"], checked.cleaned_data)
    except actions.CaseActionError as failure:
        error = str(failure)
        status = 409 if isinstance(failure, actions.StaleCase | actions.CaseAlreadyClaimed) else 422
        # Keep what the agent typed: a conflict or a typo never loses a reply.
        form = {
            key: str(checked[key].value() or "")
            for key in ("intent", "reason", "note")
            if key in checked.fields
        }
        form["action"] = action
    case = selectors.case_for_page(request.user, case_id)
    # A mistake in a form is shown beside that form; a conflict, above the whole case.
    inline = action in INLINE_ERRORS and status == 422
    context = _case_context(
        request,
        case,
        error=error,
        form=form,
        form_error=action if inline else "",
        done="" if error else DONE[action],
    )
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "cases/_case_main.html", context, status=status)
    return render(request, "cases/case_detail.html", context, status=status)


COMPOSE_DONE = {
    "reply": "Reply sent to the customer.",
    "note": "Internal note added. Only agents see it.",
}


@login_required
@require_POST
def case_compose(request: HttpRequest, case_id: int) -> HttpResponse:
    """The composer: a reply or an internal note, optionally resolving the case after it.

    A reply that asks the customer for something the package already holds is held back once
    (the no-repeat guard) with the values shown; sending it again as it is goes through."""
    case = selectors.case_for_page(request.user, case_id)
    if not actions.agent_may_work(request.user, case):
        raise Http404("No such case")
    form = ComposeForm(request.POST)
    status, error, repeats, done = 422, "", [], ""
    if form.is_valid():
        data = form.cleaned_data
        if form.sends and data["mode"] == "reply" and not data["confirm_repeat"]:
            repeats = case_repeat_asks(case, data["text"])
        if not repeats:
            try:
                actions.case_compose(
                    case_id=case.pk,
                    agent=request.user,
                    mode=data["mode"],
                    text=data["text"] if form.sends else "",
                    resolution_code=data["resolution_code"] if form.resolves else "",
                    customer_repeated=data["customer_repeated"] == "yes",
                    canned_id=data["canned_id"],
                    expected_version=data["version"],
                )
                status = 200
            except actions.CaseActionError as failure:
                error = str(failure)
                conflict = isinstance(failure, actions.StaleCase | actions.CaseAlreadyClaimed)
                status = 409 if conflict else 422
    else:
        error = form.first_error()
    case = selectors.case_for_page(request.user, case_id)
    context = _case_context(request, case)
    if status == 200:
        sent = COMPOSE_DONE[form.cleaned_data["mode"]] if form.sends else ""
        done = sent if not form.resolves else f"{sent} Case resolved.".strip()
        # The composer empties and keeps its mode: a note is never followed by a reply by accident.
        context["compose"] = ComposeForm(initial={"mode": form.cleaned_data["mode"]})
        context["done"] = done
        context["resolved_now"] = form.resolves
    else:
        context["compose"] = form
        context["repeats"] = repeats
        context["error"] = error
        # A conflict is shown above the whole case; a mistake in the text, beside the composer.
        context["form_error"] = "" if status == 409 else "compose"
    template = "cases/_case_main.html" if request.htmx else "cases/case_detail.html"  # type: ignore[attr-defined]
    return render(request, template, context, status=status)


@login_required
@require_POST
def case_guard(request: HttpRequest, case_id: int) -> HttpResponse:
    """The no-repeat guard while the agent types: what the reply asks for that is already known."""
    case = selectors.case_for_page(request.user, case_id)
    form = GuardForm(request.POST)
    repeats = []
    if form.is_valid() and form.cleaned_data["mode"] != "note":
        repeats = case_repeat_asks(case, form.cleaned_data["text"])
    return render(request, "cases/_guard.html", {"repeats": repeats, "live": True})
