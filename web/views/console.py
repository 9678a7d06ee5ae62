"""Supervisor console pages: watch every queue, rebalance agents, reassign cases.

Both pages are live: static/js/console.js fetches their live parts again (an htmx request
naming its target) when the desk's socket reports a case change or an agent coming or going.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from cases.models import person_name
from cases.services import assignment
from cases.services.reassignment import reassign_many
from cases.supervision import console_rows, open_cases_of, reassign_choices
from queues import services
from queues.hours import ScheduleInvalid, hours_now
from queues.models import Queue
from web.forms.console import (
    MembershipForm,
    OverallCapForm,
    QueueAssignmentForm,
    ReassignForm,
    error_lines,
)
from web.forms.hours import BusinessHoursForm

supervisors_only = permission_required("queues.view_all_queues", raise_exception=True)

CASES_PER_PAGE = 25
# The parts of the queue's console page that console.js refreshes, by the id of their element.
QUEUE_PARTS = {
    "console-cases": "queues/_console_cases.html",
    "console-agents": "queues/_console_agents.html",
}


def _queue_names() -> dict[str, str]:
    """Queue names by id, for the page's SLA alerts (a pushed event carries the id)."""
    return {str(pk): name for pk, name in Queue.objects.values_list("pk", "name")}


@login_required
@supervisors_only
@vary_on_headers("HX-Request")
def console(request: HttpRequest) -> HttpResponse:
    context = {"rows": console_rows(), "now": timezone.now()}
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "queues/_console_table.html", context)
    return render(request, "queues/console.html", context | {"queue_names": _queue_names()})


@login_required
@supervisors_only
@vary_on_headers("HX-Request")
def console_queue(request: HttpRequest, slug: str) -> HttpResponse:
    queue = get_object_or_404(Queue, slug=slug, is_active=True)
    (row,) = console_rows([queue])
    page = Paginator(open_cases_of(queue), CASES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    now = timezone.now()
    context = {
        "row": row,
        "queue": queue,
        "page": page,
        "query": query,
        "now": now,
        "hours": hours_now(queue.schedule, now),
    }
    htmx = request.htmx  # type: ignore[attr-defined]
    part = QUEUE_PARTS.get(htmx.target or "") if htmx else None
    if part:
        return render(request, part, context)
    members = {agent.membership.agent_id for agent in row.agents}
    return render(
        request,
        "queues/console_queue.html",
        context
        | {
            "choices": reassign_choices(queue),
            "candidates": User.objects.filter(is_active=True, groups__name="agent")
            .exclude(pk__in=members)
            .order_by("first_name"),
            "queue_names": _queue_names(),
            "assignment_form": QueueAssignmentForm.for_queue(queue),
        },
    )


@login_required
@permission_required("queues.manage_memberships", raise_exception=True)
@require_POST
def queue_assignment(request: HttpRequest, slug: str) -> HttpResponse:
    """Pull or push, and the push mode's terms: offer time, misses before away, reserve."""
    queue = get_object_or_404(Queue, slug=slug)
    form = QueueAssignmentForm(request.POST)
    if not form.is_valid():
        for line in error_lines(form):
            messages.error(request, line)
        return redirect("queues:console_queue", slug=queue.slug)
    data = form.cleaned_data
    assignment.queue_assignment_change(
        queue=queue,
        mode=data["mode"],
        offer_seconds=data["offer_seconds"],
        misses_before_away=data["misses_before_away"],
        reserved_slots=data["reserved_slots"],
    )
    if data["mode"] == "push":
        messages.success(
            request,
            f"{queue.name}: the desk offers each case to a free agent, "
            f"{data['offer_seconds']} s to answer.",
        )
    else:
        messages.success(request, f"{queue.name}: agents pull cases.")
    return redirect("queues:console_queue", slug=queue.slug)


@login_required
@permission_required("queues.manage_memberships", raise_exception=True)
@require_POST
def overall_cap(request: HttpRequest, slug: str) -> HttpResponse:
    """An agent's cap on open cases across every queue."""
    queue = get_object_or_404(Queue, slug=slug)
    form = OverallCapForm(request.POST)
    if not form.is_valid():
        for line in error_lines(form):
            messages.error(request, line)
        return redirect("queues:console_queue", slug=queue.slug)
    agent, cap = form.cleaned_data["agent"], form.cleaned_data["max_open"]
    assignment.agent_overall_cap_set(agent=agent, max_open=cap)
    name = agent.get_full_name() or agent.username
    told = f"up to {cap} open cases in all queues" if cap else "no cap across queues"
    messages.success(request, f"{name}: {told}.")
    return redirect("queues:console_queue", slug=queue.slug)


@login_required
@supervisors_only
@require_POST
def reassign_cases(request: HttpRequest, slug: str) -> HttpResponse:
    """Reassign one or many cases; each is its own change, so one refusal stops no other. The
    page comes back saying how many moved and naming each case that did not, and why."""
    queue = get_object_or_404(Queue, slug=slug)
    form = ReassignForm(request.POST)
    back = form.back()
    if not form.is_valid():
        for line in error_lines(form):
            messages.error(request, line)
        return _back(request, queue, back)
    data = form.cleaned_data
    outcome = reassign_many(
        case_ids=data["case"],
        supervisor=request.user,  # type: ignore[arg-type]
        queue=data["queue"],
        agent=data["agent"],
        reason=data["reason"],
    )
    if outcome.moved:
        places = [f"to {data['queue'].name}"] if data["queue"] else []
        if data["agent"]:
            places.append(f"{'with' if places else 'to'} {person_name(data['agent'])}")
        messages.success(request, f"{outcome.summary} {', '.join(places)}.")
    for case_id, customer, why in outcome.refused[:10]:
        who = f" ({customer})" if customer else ""
        messages.error(request, f"Not moved: #{case_id}{who}. {why}")
    if len(outcome.refused) > 10:
        messages.error(request, f"{len(outcome.refused) - 10} more cases were not moved.")
    return _back(request, queue, back)


def _back(request: HttpRequest, queue: Queue, back: str) -> HttpResponse:
    """The queue page's form comes back to that page (its filters kept); the console's to
    itself."""
    # Only this desk's own paths: redirect() takes a bare word for a URL name (NoReverseMatch).
    if back.startswith("/") and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect("queues:console_queue", slug=queue.slug)


@login_required
@supervisors_only
@require_POST
def set_membership(request: HttpRequest, slug: str) -> HttpResponse:
    """Add an agent to the queue, change their capacity, or take them out."""
    queue = get_object_or_404(Queue, slug=slug)
    form = MembershipForm(request.POST)
    if not form.is_valid():
        for line in error_lines(form):
            messages.error(request, line)
        return redirect("queues:console_queue", slug=queue.slug)
    agent, capacity = form.cleaned_data["agent"], form.cleaned_data["capacity"]
    name = agent.get_full_name() or agent.username
    if form.cleaned_data["remove"]:
        services.membership_remove(agent=agent, queue=queue)
        messages.success(request, f"{name} left {queue.name}.")
    else:
        services.membership_ensure(agent=agent, queue=queue, capacity=capacity)
        messages.success(request, f"{name}: up to {capacity} open cases in {queue.name}.")
    return redirect("queues:console_queue", slug=queue.slug)


@login_required
@permission_required("queues.change_queue", raise_exception=True)
def queue_hours(request: HttpRequest, slug: str) -> HttpResponse:
    """Admins set when the queue's team works: outside these hours a handoff is told when the
    team is back, and the SLA clock waits."""
    queue = get_object_or_404(Queue, slug=slug)
    if request.method == "POST":
        form = BusinessHoursForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.queue_hours_set(
                    queue=queue,
                    time_zone=data["time_zone"],
                    business_hours=data["business_hours"],
                    holidays=data["holidays"],
                    unstaffed_after_minutes=data["unstaffed_after_minutes"],
                )
            except ScheduleInvalid as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, f"{queue.name}: business hours saved.")
                return redirect("queues:console_queue", slug=queue.slug)
    else:
        form = BusinessHoursForm.for_queue(queue)
    status = 400 if form.is_bound else 200
    now = timezone.now()
    return render(
        request,
        "queues/hours.html",
        {"queue": queue, "form": form, "hours": hours_now(queue.schedule, now), "now": now},
        status=status,
    )
