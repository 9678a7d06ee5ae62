"""The routing rule editor (admins): a draft, validated, dry-run on real handoffs, published
with a note, every version kept for rollback. What is posted is read by the forms of
``web.forms.routing``; a mistake comes back with the form and its message (400), a draft changed
meanwhile as a conflict (409 on the rule's page, a message on the editor)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from cases.dry_run import case_package, dry_run
from queues import services
from queues.models import RoutingRule, RuleSet
from queues.routing import PRIORITY_NAMES, CompiledRules, describe
from queues.selectors import default_queue
from web.forms.routing import (
    DryRunForm,
    EditVersionForm,
    PublishForm,
    RollbackForm,
    RuleForm,
    TestPackageForm,
    first_message,
)

admin_only = permission_required("queues.manage_routing", raise_exception=True)


def _published() -> RuleSet | None:
    return RuleSet.objects.filter(status=RuleSet.Status.PUBLISHED).first()


def _draft() -> RuleSet | None:
    return RuleSet.objects.filter(status=RuleSet.Status.DRAFT).order_by("-version").first()


def _rules(ruleset: RuleSet | None) -> list[RoutingRule]:
    if ruleset is None:
        return []
    return list(ruleset.rules.select_related("queue").order_by("position"))


def _editor_page(
    request: HttpRequest, publish: PublishForm | None = None, status: int = 200
) -> HttpResponse:
    draft, published = _draft(), _published()
    shown = draft or published
    if publish is None:
        initial = {"edit_version": draft.edit_version if draft else 0}
        publish = PublishForm(initial=initial, auto_id="publish-%s")
    return render(
        request,
        "queues/editor.html",
        {
            "draft": draft,
            "published": published,
            "rules": [(rule, describe(rule.conditions)) for rule in _rules(shown)],
            "problems": services.rule_set_problems(draft) if draft else [],
            "priorities": PRIORITY_NAMES,
            "publish": publish,
            "dry_run": DryRunForm(auto_id="dry-%s"),
            "test": TestPackageForm(auto_id="test-%s"),
        },
        status=status,
    )


@login_required
@admin_only
def editor(request: HttpRequest) -> HttpResponse:
    return _editor_page(request)


@login_required
@admin_only
@require_POST
def draft_start(request: HttpRequest) -> HttpResponse:
    services.rule_set_draft(author=request.user)
    return redirect("queues:editor")


@login_required
@admin_only
def rule_edit(request: HttpRequest, rule_id: int | None = None) -> HttpResponse:
    draft = _draft()
    if draft is None:
        messages.info(request, "Start a draft first: published rules are never edited in place.")
        return redirect("queues:editor")
    rule = get_object_or_404(RoutingRule, pk=rule_id, ruleset=draft) if rule_id else None
    if request.method != "POST":
        form = RuleForm(rule=rule, edit_version=draft.edit_version)
        return _rule_page(request, form, draft, rule)
    form = RuleForm(request.POST, rule=rule)
    if not form.is_valid():
        return _rule_page(request, form, draft, rule, status=400)
    try:
        services.rule_save(
            ruleset_id=draft.pk,
            expected_edit_version=form.cleaned_data["edit_version"],
            rule_id=rule.pk if rule else None,
            **form.rule(),
        )
    except services.RuleSetInvalid as invalid:
        for problem in invalid.problems:
            form.add_error(None, problem.message)
        return _rule_page(request, form, draft, rule, status=400)
    except services.RuleSetConflict as conflict:
        draft.refresh_from_db()
        form.add_error(None, str(conflict))
        form.seen_version(draft.edit_version)
        return _rule_page(request, form, draft, rule, status=409)
    messages.success(request, "Rule saved to the draft.")
    return redirect("queues:editor")


def _rule_page(
    request: HttpRequest,
    form: RuleForm,
    draft: RuleSet,
    rule: RoutingRule | None,
    status: int = 200,
) -> HttpResponse:
    context = {"draft": draft, "rule": rule, "form": form}
    return render(request, "queues/rule_form.html", context, status=status)


@login_required
@admin_only
@require_POST
def rule_change(request: HttpRequest, rule_id: int, change: str) -> HttpResponse:
    draft = _draft()
    if draft is None:
        return redirect("queues:editor")
    rule = get_object_or_404(RoutingRule, pk=rule_id, ruleset=draft)
    form = EditVersionForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Nothing changed. {first_message(form)}")
        return _editor_page(request, status=400)
    expected = form.cleaned_data["edit_version"]
    try:
        if change == "delete":
            services.rule_delete(
                ruleset_id=draft.pk, expected_edit_version=expected, rule_id=rule.pk
            )
        elif change in {"up", "down"}:
            services.rule_move(
                ruleset_id=draft.pk,
                expected_edit_version=expected,
                rule_id=rule.pk,
                offset=-1 if change == "up" else 1,
            )
        elif change == "toggle":
            services.rule_save(
                ruleset_id=draft.pk,
                expected_edit_version=expected,
                rule_id=rule.pk,
                name=rule.name,
                conditions=rule.conditions,
                queue=rule.queue,
                priority=rule.priority,
                sla_seconds=rule.sla_seconds,
                enabled=not rule.enabled,
            )
    except services.RuleSetConflict as conflict:
        messages.error(request, str(conflict))
    return redirect("queues:editor")


def _invalid(request: HttpRequest, template: str, form: forms.Form) -> HttpResponse:
    """The fragment an HTMX form fills, saying what to fix (desk.js swaps a 400 marked so)."""
    response = render(request, template, {"error": first_message(form)}, status=400)
    response["X-Desk-Failure"] = "invalid-form"
    return response


@login_required
@admin_only
@require_POST
def draft_dry_run(request: HttpRequest) -> HttpResponse:
    form = DryRunForm(request.POST)
    if not form.is_valid():
        return _invalid(request, "queues/_dry_run.html", form)
    draft, published = _draft(), _published()
    limit = form.cleaned_data["limit"]
    result = (
        dry_run(
            services.rule_specs(draft),
            services.rule_specs(published) if published else [],
            default_queue().slug,
            limit=limit,
        )
        if draft
        else None
    )
    return render(request, "queues/_dry_run.html", {"result": result, "limit": limit})


@login_required
@admin_only
@require_POST
def test_package(request: HttpRequest) -> HttpResponse:
    """Route one package (pasted JSON, or a stored handoff) and explain every rule tried."""
    form = TestPackageForm(request.POST)
    if not form.is_valid():
        return _invalid(request, "queues/_test_result.html", form)
    case = form.cleaned_data["case_id"]
    package = case_package(case) if case else form.cleaned_data["package"]
    ruleset = _draft() or _published()
    trace: list[tuple[str, str, bool]] = []
    decision = None
    if ruleset is not None:
        rules = CompiledRules.of(services.rule_specs(ruleset))
        trace = [
            (rule.name, describe(rule.conditions), holds) for rule, holds in rules.trace(package)
        ]
        decision = rules.route(package, default_queue().slug)
    return render(request, "queues/_test_result.html", {"trace": trace, "decision": decision})


@login_required
@admin_only
@require_POST
def draft_publish(request: HttpRequest) -> HttpResponse:
    draft = _draft()
    if draft is None:
        return redirect("queues:editor")
    form = PublishForm(request.POST, auto_id="publish-%s")
    if not form.is_valid():
        messages.error(request, f"Not published. {first_message(form)}")
        return _editor_page(request, publish=form, status=400)
    try:
        published = services.rule_set_publish_draft(
            ruleset_id=draft.pk,
            publisher=request.user,
            note=form.cleaned_data["note"],
            expected_edit_version=form.cleaned_data["edit_version"],
        )
    except services.RuleSetInvalid as invalid:
        for problem in invalid.problems:
            messages.error(
                request, f"{problem.rule + ': ' if problem.rule else ''}{problem.message}"
            )
    except services.RuleSetConflict as conflict:
        messages.error(request, f"Not published. {conflict}")
    else:
        messages.success(
            request, f"Version {published.version} is live: new handoffs route by it now."
        )
    return redirect("queues:editor")


def _versions_page(
    request: HttpRequest,
    rollback: tuple[int, RollbackForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    sets = list(
        RuleSet.objects.exclude(status=RuleSet.Status.DRAFT)
        .select_related("published_by")
        .order_by("-version")
    )
    history = [
        (ruleset, services.rule_set_diff(sets[i + 1] if i + 1 < len(sets) else None, ruleset))
        for i, ruleset in enumerate(sets)
    ]
    context: dict[str, Any] = {"history": history, "rollback": rollback}
    return render(request, "queues/versions.html", context, status=status)


@login_required
@admin_only
def versions(request: HttpRequest) -> HttpResponse:
    return _versions_page(request)


@login_required
@admin_only
@require_POST
def rollback(request: HttpRequest, version: int) -> HttpResponse:
    if not RuleSet.objects.filter(version=version).exclude(status=RuleSet.Status.DRAFT).exists():
        raise Http404("No such version")
    form = RollbackForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Not rolled back. {first_message(form)}")
        return _versions_page(request, rollback=(version, form), status=400)
    try:
        published = services.rule_set_rollback(
            version=version, publisher=request.user, note=form.cleaned_data["note"]
        )
    except services.RuleSetInvalid as invalid:
        messages.error(request, f"Version {version} cannot be published again: {invalid}")
    else:
        messages.success(
            request, f"Rolled back: version {published.version} has the rules of {version}."
        )
    return redirect("queues:versions")
