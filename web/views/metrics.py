"""The metrics page (supervisors and admins), its CSV exports and the corrections export."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from cases.metrics import assignment as assignment_metrics
from cases.metrics import chart as metrics_chart
from cases.metrics import figures as metrics
from cases.models import Integration, Intent
from cases.services.canned import canned_usage_in
from queues.models import Queue
from web.forms.cases import MetricsFilterForm

supervisors_only = permission_required("queues.view_all_queues", raise_exception=True)


def filters_and_notes(request: HttpRequest) -> tuple[metrics.Filters, list[str]]:
    """The filters of the query string and, for the page, what in it was refused or changed:
    a date outside 2000-2099, a period longer than a year, NUL in the intent."""
    form = MetricsFilterForm(request.GET)
    start, end, shortened = form.period(timezone.localdate())
    filters = metrics.Filters(
        start=start,
        end=end,
        queue_id=form.value("queue"),
        integration_id=form.value("integration"),
        intent=form.value("intent") or "",
    )
    notes = [
        f"{form.fields[name].label or name.capitalize()}: {errors[0]}"
        for name, errors in form.errors.items()
    ]
    return filters, [*notes, *([shortened] if shortened else [])]


def filters_from(request: HttpRequest) -> metrics.Filters:
    return filters_and_notes(request)[0]


def _change(now: float | timedelta | None, before: float | timedelta | None) -> float | None:
    if now is None or before is None:
        return None
    if isinstance(now, timedelta) and isinstance(before, timedelta):
        now, before = now.total_seconds(), before.total_seconds()
    return float(now) - float(before)  # type: ignore[arg-type]


def heat(confusion: list[dict[str, Any]]) -> dict[str, Any]:
    detected = sorted({row["detected"] for row in confusion})
    corrected = sorted({row["corrected"] for row in confusion})
    cells = {(row["detected"], row["corrected"]): row["n"] for row in confusion}
    top = max(cells.values(), default=1)

    def cell(n: int) -> tuple[int, str, bool]:
        # the shade formatted here: a template filter per cell of a 30 x 30 matrix is slow
        return n, f"{n / top:.2f}", n / top > 0.5

    rows = [(d, [cell(cells.get((d, c), 0)) for c in corrected]) for d in detected]
    return {"columns": corrected, "rows": rows}


def intent_choices(filters: metrics.Filters, tables: metrics.Tables) -> list[str]:
    """The catalogue, the intents bots detected in this period and the chosen one: no query
    over every case ever for a dropdown."""
    names = set(Intent.objects.values_list("name", flat=True))
    names.update(row["detected_intent"] for row in tables.overrides)
    if filters.intent:
        names.add(filters.intent)
    return sorted(names)


@login_required
@supervisors_only
def metrics_page(request: HttpRequest) -> HttpResponse:
    filters, notes = filters_and_notes(request)
    with metrics.reporting():
        (now, tables), before = metrics.current(filters), metrics.headline(filters.previous())
        # a one-day period is charted by the hour: a single bar says nothing about the day
        hours = metrics.volume_by_hour(filters) if filters.start == filters.end else None
    changes = {name: _change(getattr(now, name), getattr(before, name)) for name in vars(now)}
    return render(
        request,
        "cases/metrics.html",
        {
            "filters": filters,
            "notes": notes,
            "h": now,
            "previous": before,
            "changes": changes,
            "queues_table": tables.queues,
            "integrations_table": tables.integrations,
            "overrides": tables.overrides,
            "misroutes": tables.misroutes,
            "heat": heat(tables.confusion),
            "chart": metrics_chart.volume_chart(tables.volume, filters.start, filters.end, hours),
            "queues": Queue.objects.filter(is_active=True),
            "integrations": Integration.objects.all(),
            "intents": intent_choices(filters, tables),
            "query": request.GET.urlencode(),
            "canned_usage": canned_usage_in(filters),
            "flags": metrics.flag_precision(filters),
            "late": metrics.late_escalations(filters),
            "late_after": settings.HANDOFF_LATE_ESCALATION_MESSAGES,
            "bounces": tables.bounce_backs,
            "offer_queues": assignment_metrics.offers_by_queue(filters),
            "offer_agents": assignment_metrics.offers_by_agent(filters),
        },
    )


TABLES = {
    "queues": metrics.by_queue,
    "integrations": metrics.by_integration,
    "overrides": metrics.overrides_by_intent,
    "confusion": metrics.confusion,
    "misroutes": metrics.misroutes_by_rule,
    "volume": metrics.volume_by_day,
    "canned": canned_usage_in,
    "flags": metrics.flag_precision,
    "late-bots": metrics.late_by_integration,
    "late-intents": metrics.late_by_intent,
    "bounce-bots": metrics.bounce_backs_by_integration,
    "bounce-intents": metrics.bounce_backs_by_intent,
    "offers-queues": assignment_metrics.offers_by_queue,
    "offers-agents": assignment_metrics.offers_by_agent,
}


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
@supervisors_only
def metrics_csv(request: HttpRequest, table: str) -> StreamingHttpResponse:
    build = TABLES.get(table)
    if build is None:
        raise Http404("No such table")
    with metrics.reporting():
        rows = build(filters_from(request))
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        if rows:
            yield writer.writerow(list(rows[0]))
        for row in rows:
            yield writer.writerow(["" if value is None else value for value in row.values()])

    response = StreamingHttpResponse(lines(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="handoff-{table}.csv"'
    return response


def _jsonl(records: Iterable[dict[str, Any]], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        (json.dumps(record, ensure_ascii=False) + "\n" for record in records),
        content_type="application/x-ndjson",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@supervisors_only
def corrections_jsonl(request: HttpRequest) -> StreamingHttpResponse:
    return _jsonl(metrics.corrections(filters_from(request)), "intent-corrections.jsonl")


@login_required
@supervisors_only
def flag_reviews_jsonl(request: HttpRequest) -> StreamingHttpResponse:
    return _jsonl(metrics.flag_reviews(filters_from(request)), "risk-flag-reviews.jsonl")
