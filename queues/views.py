"""The routing rule editor (admins): a draft, validated, dry-run on real handoffs, published
with a note, every version kept for rollback."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from cases.models import Case, Message
from cases.params import int_or_none
from queues import services
from queues.dry_run import dry_run, routing_package
from queues.models import Queue, RoutingRule, RuleSet
from queues.routing import (
    FIELDS,
    OPERATORS_BY_KIND,
    PRIORITY_NAMES,
    condition_holds,
    describe,
    field_kind,
    package_view,
    route,
)
from queues.selectors import default_queue

admin_only = permission_required("queues.manage_routing", raise_exception=True)
CONDITION_ROWS = 6


def _published() -> RuleSet | None:
    return RuleSet.objects.filter(status=RuleSet.Status.PUBLISHED).first()


def _draft() -> RuleSet | None:
    return RuleSet.objects.filter(status=RuleSet.Status.DRAFT).order_by("-version").first()


def _rules(ruleset: RuleSet | None) -> list[RoutingRule]:
    if ruleset is None:
        return []
    return list(ruleset.rules.select_related("queue").order_by("position"))


@login_required
@admin_only
def editor(request: HttpRequest) -> HttpResponse:
    draft, published = _draft(), _published()
    shown = draft or published
    return render(
        request,
        "queues/editor.html",
        {
            "draft": draft,
            "published": published,
            "rules": [(rule, describe(rule.conditions)) for rule in _rules(shown)],
            "problems": services.rule_set_problems(draft) if draft else [],
            "priorities": PRIORITY_NAMES,
        },
    )


@login_required
@admin_only
@require_POST
def draft_start(request: HttpRequest) -> HttpResponse:
    services.rule_set_draft(author=request.user)
    return redirect("queues:editor")


def _parse_value(path: str, op: str, raw: str) -> Any:
    kind = field_kind(path) or "text"
    raw = raw.strip()
    if op in {"exists", "missing"}:
        return None
    if op in {"in", "not_in"}:
        return [_scalar(kind, item.strip()) for item in raw.split(",") if item.strip()]
    if op in {"gte", "lte"}:
        return _scalar("number", raw)
    return _scalar(kind, raw)


def _scalar(kind: str, raw: str) -> Any:
    if kind in {"number", "any"}:
        try:
            number = float(raw)
            return int(number) if number.is_integer() and kind == "number" else number
        except ValueError:
            return raw  # validation names the problem
    return raw


def _conditions_from(post: Any) -> dict[str, Any]:
    advanced = post.get("conditions_json", "").strip()
    if advanced:
        try:
            parsed = json.loads(advanced)
        except json.JSONDecodeError:
            return {"invalid": "conditions_json is not valid JSON"}
        return parsed if isinstance(parsed, dict) else {"invalid": "not an object"}
    rows = []
    for index in range(CONDITION_ROWS):
        path = post.get(f"field_{index}", "").strip()
        op = post.get(f"op_{index}", "").strip()
        if not path:
            continue
        condition: dict[str, Any] = {"field": path, "op": op}
        value = _parse_value(path, op, post.get(f"value_{index}", ""))
        if value is not None:
            condition["value"] = value
        rows.append(condition)
    return {post.get("combine", "all") if post.get("combine") in {"all", "any"} else "all": rows}


def _rows_of(rule: RoutingRule | None) -> tuple[str, list[dict[str, Any]], str]:
    """The form's rows for a rule; nested groups are edited as JSON."""
    if rule is None:
        return "all", [], ""
    combine, items = next(iter(rule.conditions.items()))
    if any("field" not in item for item in items):
        return combine, [], json.dumps(rule.conditions, indent=2)
    rows = []
    for item in items:
        value = item.get("value")
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        rows.append(
            {"field": item["field"], "op": item["op"], "value": "" if shown is None else shown}
        )
    return combine, rows, ""


@login_required
@admin_only
def rule_edit(request: HttpRequest, rule_id: int | None = None) -> HttpResponse:
    draft = _draft()
    if draft is None:
        messages.info(request, "Start a draft first: published rules are never edited in place.")
        return redirect("queues:editor")
    rule = get_object_or_404(RoutingRule, pk=rule_id, ruleset=draft) if rule_id else None
    errors: list[str] = []
    if request.method == "POST":
        queue = Queue.objects.filter(slug=request.POST.get("queue"), is_active=True).first()
        conditions = _conditions_from(request.POST)
        try:
            if queue is None:
                raise services.RuleSetInvalid([services.RuleProblem("", "pick an active queue")])
            if "invalid" in conditions:
                raise services.RuleSetInvalid([services.RuleProblem("", conditions["invalid"])])
            services.rule_save(
                ruleset_id=draft.pk,
                expected_edit_version=int(request.POST.get("edit_version", -1)),
                rule_id=rule.pk if rule else None,
                name=request.POST.get("name", "")[:120],
                conditions=conditions,
                queue=queue,
                priority=int_or_none(request.POST.get("priority")),
                sla_seconds=int_or_none(request.POST.get("sla_seconds")),
                enabled=request.POST.get("enabled") == "on",
            )
        except services.RuleSetInvalid as invalid:
            errors = [p.message for p in invalid.problems]
        except services.RuleSetConflict as conflict:
            errors = [str(conflict)]
            draft.refresh_from_db()
        else:
            messages.success(request, "Rule saved to the draft.")
            return redirect("queues:editor")
    combine, rows, advanced = _rows_of(rule)
    if request.method == "POST":
        combine = request.POST.get("combine", combine)
        advanced = request.POST.get("conditions_json", "")
        rows = [
            {k: request.POST.get(f"{k}_{i}", "") for k in ("field", "op", "value")}
            for i in range(CONDITION_ROWS)
        ]
    rows = (rows + [{"field": "", "op": "", "value": ""}] * CONDITION_ROWS)[:CONDITION_ROWS]
    return render(
        request,
        "queues/rule_form.html",
        {
            "draft": draft,
            "rule": rule,
            "errors": errors,
            "combine": combine,
            "rows": rows,
            "advanced": advanced,
            "queues": Queue.objects.filter(is_active=True),
            "fields": [*FIELDS, "facts.<name>"],
            "operators": OPERATORS_BY_KIND["any"],
            "priorities": PRIORITY_NAMES,
            "post": request.POST if request.method == "POST" else None,
        },
        status=422 if errors else 200,
    )


@login_required
@admin_only
@require_POST
def rule_change(request: HttpRequest, rule_id: int, change: str) -> HttpResponse:
    draft = _draft()
    if draft is None:
        return redirect("queues:editor")
    rule = get_object_or_404(RoutingRule, pk=rule_id, ruleset=draft)
    expected = int(request.POST.get("edit_version", -1))
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


@login_required
@admin_only
@require_POST
def draft_dry_run(request: HttpRequest) -> HttpResponse:
    draft = _draft()
    published = _published()
    limit = max(1, min(int_or_none(request.POST.get("limit")) or 500, 5000))
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
    draft = _draft() or _published()
    error = ""
    package: dict[str, Any] | None = None
    case_id = int_or_none(request.POST.get("case_id"))
    if case_id:
        case = Case.objects.filter(pk=case_id).first()
        if case is None:
            error = f"No case #{case_id}."
        else:
            texts = case.messages.filter(
                role=Message.Role.CUSTOMER, phase=Message.Phase.BEFORE_HANDOFF
            ).values_list("text", flat=True)
            package = routing_package(case, list(texts))
    else:
        try:
            loaded = json.loads(request.POST.get("package", ""))
            package = loaded if isinstance(loaded, dict) else None
            if package is None:
                error = "The package must be a JSON object."
        except json.JSONDecodeError as problem:
            error = f"Not valid JSON: {problem}"
    trace: list[tuple[str, str, bool]] = []
    decision = None
    if package is not None and draft is not None:
        view = package_view(package)
        specs = services.rule_specs(draft)
        trace = [
            (
                rule.name,
                describe(rule.conditions),
                rule.enabled and condition_holds(rule.conditions, view),
            )
            for rule in specs
        ]
        decision = route(package, specs, default_queue().slug)
    return render(
        request, "queues/_test_result.html", {"error": error, "trace": trace, "decision": decision}
    )


@login_required
@admin_only
@require_POST
def draft_publish(request: HttpRequest) -> HttpResponse:
    draft = _draft()
    if draft is None:
        return redirect("queues:editor")
    try:
        published = services.rule_set_publish_draft(
            ruleset_id=draft.pk, publisher=request.user, note=request.POST.get("note", "")
        )
    except services.RuleSetInvalid as invalid:
        for problem in invalid.problems:
            messages.error(
                request, f"{problem.rule + ': ' if problem.rule else ''}{problem.message}"
            )
    except services.RuleSetConflict as conflict:
        messages.error(request, str(conflict))
    else:
        messages.success(
            request, f"Version {published.version} is live: new handoffs route by it now."
        )
    return redirect("queues:editor")


@login_required
@admin_only
def versions(request: HttpRequest) -> HttpResponse:
    sets = list(
        RuleSet.objects.exclude(status=RuleSet.Status.DRAFT)
        .select_related("published_by")
        .order_by("-version")
    )
    history = [
        (ruleset, services.rule_set_diff(sets[i + 1] if i + 1 < len(sets) else None, ruleset))
        for i, ruleset in enumerate(sets)
    ]
    return render(request, "queues/versions.html", {"history": history})


@login_required
@admin_only
@require_POST
def rollback(request: HttpRequest, version: int) -> HttpResponse:
    try:
        published = services.rule_set_rollback(
            version=version, publisher=request.user, note=request.POST.get("note", "")
        )
    except services.RuleSetInvalid as invalid:
        messages.error(request, f"Version {version} cannot be published again: {invalid}")
    else:
        messages.success(
            request, f"Rolled back: version {published.version} has the rules of {version}."
        )
    return redirect("queues:versions")
