"""The escalation policy editor (admins): when the desk tells bots to hand off. A draft, a dry
run over recent handoffs, publish with a note, every version kept for rollback."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from cases import risk
from cases.models import EscalationPolicy
from cases.services import escalation_policy as policies
from escalation.assess import Policy
from web.forms.cases import first_error
from web.forms.escalation import DryRunForm, PolicyForm, PublishPolicyForm, RollbackPolicyForm

admin_only = permission_required("cases.manage_escalation", raise_exception=True)


def _draft() -> EscalationPolicy | None:
    return EscalationPolicy.objects.filter(status=EscalationPolicy.Status.DRAFT).first()


def _page(request: HttpRequest, form: PolicyForm | None = None, status: int = 200) -> HttpResponse:
    draft = _draft()
    if form is None and draft is not None:
        form = PolicyForm(initial=PolicyForm.initial_from(draft.thresholds, draft.edit_version))
    published = EscalationPolicy.objects.filter(status="published").first()
    return render(
        request,
        "cases/escalation.html",
        {
            "draft": draft,
            "form": form,
            "published": published,
            "live": risk.published_policy(),
            "versions": EscalationPolicy.objects.exclude(status="draft").select_related(
                "published_by"
            )[:50],
            "dry_run_form": DryRunForm(),
        },
        status=status,
    )


@login_required
@admin_only
def editor(request: HttpRequest) -> HttpResponse:
    return _page(request)


@login_required
@admin_only
@require_POST
def draft_start(request: HttpRequest) -> HttpResponse:
    policies.policy_draft_start(author=request.user)
    return redirect("cases:escalation")


@login_required
@admin_only
@require_POST
def draft_save(request: HttpRequest) -> HttpResponse:
    draft = _draft()
    form = PolicyForm(request.POST)
    if draft is None:
        messages.error(request, "There is no draft to save: start one first.")
        return redirect("cases:escalation")
    if not form.is_valid():
        return _page(request, form, status=400)
    try:
        policies.policy_draft_save(
            draft_id=draft.pk,
            expected_edit_version=form.cleaned_data["edit_version"],
            thresholds=form.thresholds(),
        )
    except policies.PolicyError as refused:
        messages.error(request, str(refused))
        return _page(request, form, status=409)
    messages.success(request, "Draft saved. Handoffs keep the live policy until you publish.")
    return redirect("cases:escalation")


@login_required
@admin_only
@require_POST
def draft_dry_run(request: HttpRequest) -> HttpResponse:
    draft = _draft()
    form = DryRunForm(request.POST)
    if draft is None or not form.is_valid():
        error = first_error(form) if draft else "Start a draft first."
        return render(request, "cases/_escalation_dry_run.html", {"error": error}, status=400)
    limit = form.cleaned_data["limit"]
    context = {
        "draft": risk.dry_run(Policy.from_dict(draft.thresholds), limit),
        "live": risk.dry_run(risk.published_policy(), limit),
    }
    return render(request, "cases/_escalation_dry_run.html", context)


@login_required
@admin_only
@require_POST
def draft_publish(request: HttpRequest) -> HttpResponse:
    draft = _draft()
    form = PublishPolicyForm(request.POST)
    try:
        if draft is None:
            raise policies.PolicyError("There is no draft to publish.")
        if not form.is_valid():
            raise policies.PolicyError(first_error(form))
        published = policies.policy_publish(
            draft_id=draft.pk,
            expected_edit_version=form.cleaned_data["edit_version"],
            publisher=request.user,
            note=form.cleaned_data["note"],
        )
    except policies.PolicyError as refused:
        messages.error(request, str(refused))
        return _page(request, status=400)
    messages.success(request, f"Version {published.version} is live for every new handoff.")
    return redirect("cases:escalation")


@login_required
@admin_only
@require_POST
def rollback(request: HttpRequest, version: int) -> HttpResponse:
    form = RollbackPolicyForm(request.POST)
    try:
        if not form.is_valid():
            raise policies.PolicyError(first_error(form))
        published = policies.policy_rollback(
            version=version, publisher=request.user, note=form.cleaned_data["note"]
        )
    except policies.PolicyError as refused:
        messages.error(request, str(refused))
        return _page(request, status=400)
    messages.success(request, f"Version {published.version} (v{version}'s settings) is live.")
    return redirect("cases:escalation")
