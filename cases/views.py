"""The agent workspace: home, queue pages, the case page and its actions (HTMX).

Views read through selectors and write through ``cases.actions``; an HTMX request gets the
fragment it swaps, a plain request the whole page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import csrf, defaults
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from cases import actions, selectors
from cases.models import Case, Intent
from cases.params import int_or_zero
from cases.permissions import visible_queues
from cases.problems import is_api_request, problem
from queues.models import Queue

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


def _filters(request: HttpRequest) -> selectors.QueueFilters:
    get = request.GET
    return selectors.QueueFilters(
        intent=get.get("intent", "").strip()[:100],
        trigger=get.get("trigger", "").strip()[:30],
        flag=get.get("flag", "").strip()[:50],
        tier=get.get("tier", "").strip()[:50],
        q=get.get("q", "").strip()[:200],
    )


@login_required
@vary_on_headers("HX-Request")
def queue_detail(request: HttpRequest, slug: str) -> HttpResponse:
    queue = get_object_or_404(visible_queues(request.user), slug=slug)
    filters = _filters(request)
    paginator = Paginator(selectors.waiting_cases(queue, filters), PAGE_SIZE)
    stats = None
    if not request.htmx:  # type: ignore[attr-defined]
        stats = selectors.queue_stats([queue.pk]).get(queue.pk, selectors.QueueStats())
        if not filters.active:
            # The figures have just counted the queue's waiting cases: no second count.
            paginator.count = stats.waiting
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "queue": queue,
        "filters": filters,
        "page": paginator.get_page(request.GET.get("page")),
        "now": timezone.now(),
        "query": query,
    }
    if stats is None:
        return render(request, "cases/_case_list.html", context)
    context["stats"] = stats
    context["choices"] = selectors.queue_filter_choices(queue)
    context["triggers"] = Case.Trigger.choices
    context["flags"] = KNOWN_FLAGS
    return render(request, "cases/queue.html", context)


KNOWN_FLAGS = [
    "frustration",
    "urgency",
    "legal_threat",
    "chargeback_threat",
    "security",
    "high_value",
]


@login_required
@require_POST
def take_next(request: HttpRequest) -> HttpResponse:
    case = actions.case_take_next(agent=request.user)
    if case is None:
        messages.info(
            request, "Nothing to take: your queues are empty or you are at your capacity."
        )
        target = request.POST.get("next") or reverse("cases:home")
        return _redirect(request, target)
    return _redirect(request, reverse("cases:detail", args=[case.pk]))


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    if not url.startswith("/"):
        url = reverse("cases:home")
    if request.htmx:  # type: ignore[attr-defined]
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _case_context(request: HttpRequest, case: Case, **extra: Any) -> dict[str, Any]:
    return {
        "case": case,
        "messages_list": selectors.case_transcript(case),
        "steps": case.attempted_steps.all(),
        "events": selectors.case_timeline(case),
        "corrections": case.intent_corrections.select_related("agent").order_by("id"),
        "related": selectors.related_cases(case),
        "intents": Intent.objects.filter(is_active=True).only("name", "label"),
        "resolutions": Case.Resolution.choices,
        "can_work": actions.agent_may_work(request.user, case),
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
        "now": timezone.now(),
        **extra,
    }


@login_required
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = selectors.case_for_page(request.user, case_id)
    return render(request, "cases/case_detail.html", _case_context(request, case))


def _expected_version(request: HttpRequest) -> int | None:
    try:
        return int(request.POST["version"])
    except (KeyError, ValueError):
        return None


ACTIONS = {
    "claim": lambda r, cid, v: actions.case_claim(case_id=cid, agent=r.user, expected_version=v),
    "release": lambda r, cid, v: actions.case_release(
        case_id=cid, agent=r.user, expected_version=v
    ),
    "reply": lambda r, cid, v: actions.case_reply(
        case_id=cid, agent=r.user, text=r.POST.get("text", ""), expected_version=v
    ),
    "note": lambda r, cid, v: actions.case_note_add(
        case_id=cid, agent=r.user, text=r.POST.get("text", "")
    ),
    "intent": lambda r, cid, v: actions.case_intent_correct(
        case_id=cid,
        agent=r.user,
        to_intent=r.POST.get("intent", ""),
        reason=r.POST.get("reason", "")[:2000],
        expected_version=v,
    ),
    "await": lambda r, cid, v: actions.case_await_customer(
        case_id=cid, agent=r.user, expected_version=v
    ),
    "resolve": lambda r, cid, v: actions.case_resolve(
        case_id=cid,
        agent=r.user,
        resolution_code=r.POST.get("resolution_code", ""),
        customer_repeated=_yes_no(r.POST.get("customer_repeated")),
        expected_version=v,
    ),
    "reopen": lambda r, cid, v: actions.case_reopen(case_id=cid, agent=r.user, expected_version=v),
    "reassign": lambda r, cid, v: actions.case_reassign(
        case_id=cid,
        supervisor=r.user,
        queue=Queue.objects.filter(pk=int_or_zero(r.POST.get("queue")), is_active=True).first(),
        agent=User.objects.filter(pk=int_or_zero(r.POST.get("agent")), is_active=True).first(),
        reason=r.POST.get("reason", "")[:2000],
        expected_version=v,
    ),
}
DONE = {
    "claim": "You have this case.",
    "release": "Released back to the queue.",
    "reply": "Reply sent to the customer.",
    "note": "Internal note added.",
    "intent": "Intent corrected.",
    "await": "Waiting for the customer.",
    "resolve": "Case resolved.",
    "reopen": "Case reopened.",
    "reassign": "Case reassigned.",
}


INLINE_ERRORS = {"reply", "note", "intent", "resolve", "reassign"}


def _yes_no(value: str | None) -> bool:
    if value not in {"yes", "no"}:
        raise actions.CaseActionError(
            "Answer whether the customer had to repeat information (yes or no)."
        )
    return value == "yes"


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
    try:
        handler(request, case.pk, _expected_version(request))
    except actions.CaseActionError as failure:
        error = str(failure)
        status = 409 if isinstance(failure, actions.StaleCase | actions.CaseAlreadyClaimed) else 422
        # Keep what the agent typed: a conflict or a typo never loses a reply.
        form = {key: request.POST.get(key, "") for key in ("text", "intent", "reason")}
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


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The site's 404: the API answers a path it does not have with a problem document, as it
    answers everything else; pages get the desk's own page (templates/404.html)."""
    if is_api_request(request):
        return problem(404, "This API has no such path; its endpoints are listed at /api/v1/docs.")
    return defaults.page_not_found(request, exception)


# The page's script (static/js/desk.js) tells a stale page from a refused action by this.
STALE_PAGE_HEADER = "X-Desk-Failure"


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's CSRF failure (templates/403_csrf.html), marked as a stale page: an agent who
    signed in again in another tab must be told to reload, not that their role cannot act."""
    response = csrf.csrf_failure(request, reason)
    response[STALE_PAGE_HEADER] = "stale-page"
    return response
