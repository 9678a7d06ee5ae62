"""An agent's state (the top bar's control) and the answer to an offer (the offer banner)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from cases import presence
from cases.services import assignment, offers
from cases.services.agent_work import CaseActionError
from web.forms.assignment import AgentStateForm, OfferAnswerForm

workers_only = permission_required("cases.work_case", raise_exception=True)


def _back(request: HttpRequest, next_url: str) -> HttpResponse:
    # Only this desk's own paths: redirect() takes a bare word for a URL name (NoReverseMatch).
    if next_url.startswith("/") and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(next_url)
    return redirect("cases:home")


@login_required
@workers_only
@require_POST
def agent_state(request: HttpRequest) -> HttpResponse:
    """The agent picks online, away or offline. htmx swaps the control; a plain post goes back."""
    form = AgentStateForm(request.POST)
    if not form.is_valid():
        if request.htmx:  # type: ignore[attr-defined]
            return render(
                request,
                "cases/_agent_state.html",
                {
                    "error": form.errors.get("state", ["Pick a state."])[0],
                    "chosen": presence.agent_status(request.user.pk or 0).chosen,
                },
                status=422,
            )
        messages.error(request, "Pick online, away or offline.")
        return _back(request, str(form.data.get("next", "")))
    status = assignment.agent_state_choose(user=request.user, state=form.cleaned_data["state"])
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "cases/_agent_state.html", {"chosen": status.chosen})
    return _back(request, form.cleaned_data["next"])


@login_required
@workers_only
@require_POST
def offer_accept(request: HttpRequest, offer_id: int) -> HttpResponse:
    form = OfferAnswerForm(request.POST)
    back = form.data.get("next", "") if not form.is_valid() else form.cleaned_data["next"]
    try:
        case = offers.offer_accept(offer_id=offer_id, agent=request.user)
    except (assignment.OfferGone, CaseActionError) as refusal:
        messages.error(request, str(refusal))
        return _back(request, str(back))
    return redirect("cases:detail", case_id=case.pk)


@login_required
@workers_only
@require_POST
def offer_decline(request: HttpRequest, offer_id: int) -> HttpResponse:
    form = OfferAnswerForm(request.POST)
    back = form.data.get("next", "") if not form.is_valid() else form.cleaned_data["next"]
    htmx = request.htmx  # type: ignore[attr-defined]
    try:
        offer = offers.offer_decline(offer_id=offer_id, agent=request.user)
    except assignment.OfferGone as refusal:
        if htmx:  # the banner says why, in its note; the page stays as it is
            return HttpResponse(str(refusal), status=409, content_type="text/plain")
        messages.error(request, str(refusal))
        return _back(request, str(back))
    if htmx:  # the banner goes when the socket tells the agent's pages the offer ended
        return HttpResponse(status=204)
    messages.success(request, f"Declined case #{offer.case_id}: the next agent gets it.")
    return _back(request, str(back))
