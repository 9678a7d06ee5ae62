from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.db.models import Count, Min, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from cases.models import Case
from cases.permissions import visible_cases, visible_queues


@login_required
def home(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    queues = visible_queues(request.user).annotate(
        waiting=Count("cases", filter=Q(cases__status=Case.Status.WAITING)),
        assigned=Count("cases", filter=Q(cases__status=Case.Status.ASSIGNED)),
        breached=Count(
            "cases", filter=Q(cases__status=Case.Status.WAITING, cases__sla_due_at__lt=now)
        ),
        oldest=Min("cases__handed_off_at", filter=Q(cases__status=Case.Status.WAITING)),
    )
    recent = (
        visible_cases(request.user)
        .exclude(status=Case.Status.RESOLVED)
        .select_related("queue", "assignee")
        .order_by("-priority", "sla_due_at")[:25]
    )
    return render(request, "cases/home.html", {"queues": queues, "recent": recent, "now": now})


@login_required
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = (
        visible_cases(request.user)
        .select_related("queue", "assignee", "integration", "previous_case")
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise Http404("No such case")
    context = {
        "case": case,
        "messages_list": case.messages.select_related("author").order_by("seq"),
        "steps": case.attempted_steps.all(),
        "events": case.events.select_related("actor").order_by("id"),
        "corrections": case.intent_corrections.select_related("agent"),
    }
    return render(request, "cases/case_detail.html", context)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
