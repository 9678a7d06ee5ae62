"""Supervisor console pages: watch every queue, rebalance agents, reassign cases."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from cases import actions
from cases.params import int_or_zero
from queues import services
from queues.console import console_rows, open_cases_of, reassign_choices
from queues.models import Queue

supervisors_only = permission_required("queues.view_all_queues", raise_exception=True)


@login_required
@supervisors_only
def console(request: HttpRequest) -> HttpResponse:
    return render(request, "queues/console.html", {"rows": console_rows(), "now": timezone.now()})


@login_required
@supervisors_only
def console_queue(request: HttpRequest, slug: str) -> HttpResponse:
    queue = get_object_or_404(Queue, slug=slug, is_active=True)
    (row,) = console_rows([queue])
    members = {agent.membership.agent_id for agent in row.agents}
    return render(
        request,
        "queues/console_queue.html",
        {
            "row": row,
            "queue": queue,
            "cases": open_cases_of(queue),
            "choices": reassign_choices(queue),
            "agents": row.agents,
            "candidates": User.objects.filter(is_active=True, groups__name="agent")
            .exclude(pk__in=members)
            .order_by("first_name"),
            "now": timezone.now(),
        },
    )


@login_required
@supervisors_only
@require_POST
def reassign_cases(request: HttpRequest, slug: str) -> HttpResponse:
    """Reassign one or many cases; each is its own change, so one refusal stops no other."""
    queue = get_object_or_404(Queue, slug=slug)
    target = Queue.objects.filter(pk=int_or_zero(request.POST.get("queue")), is_active=True).first()
    agent = User.objects.filter(pk=int_or_zero(request.POST.get("agent")), is_active=True).first()
    case_ids = [int_or_zero(value) for value in request.POST.getlist("case")]
    moved, refused = 0, []
    for case_id in case_ids:
        try:
            actions.case_reassign(
                case_id=case_id,
                supervisor=request.user,
                queue=target,
                agent=agent,
                reason=request.POST.get("reason", "")[:2000],
            )
            moved += 1
        except actions.CaseActionError as problem:
            refused.append(f"#{case_id}: {problem}")
    if not case_ids:
        messages.error(request, "Select the cases to reassign.")
    if moved:
        messages.success(request, f"{moved} case{'s' if moved != 1 else ''} reassigned.")
    for line in refused[:10]:
        messages.error(request, line)
    # The queue page's form comes back to that page (its filters kept); the console's to itself.
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
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
    agent = get_object_or_404(User, pk=int_or_zero(request.POST.get("agent")), is_active=True)
    if request.POST.get("remove"):
        services.membership_remove(agent=agent, queue=queue)
        messages.success(request, f"{agent.get_full_name() or agent.username} left {queue.name}.")
    else:
        capacity = int_or_zero(request.POST.get("capacity"))
        if not 1 <= capacity <= 100:
            messages.error(request, "Capacity is a number of open cases from 1 to 100.")
        else:
            services.membership_ensure(agent=agent, queue=queue, capacity=capacity)
            name = agent.get_full_name() or agent.username
            messages.success(request, f"{name}: up to {capacity} open cases in {queue.name}.")
    return redirect("queues:console_queue", slug=queue.slug)
