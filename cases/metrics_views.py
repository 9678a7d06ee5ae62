"""The metrics page (supervisors and admins), its CSV exports and the corrections export."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import formats, timezone

from cases import metrics
from cases.models import Integration, Intent
from cases.params import int_or_none
from queues.models import Queue

supervisors_only = permission_required("queues.view_all_queues", raise_exception=True)

TRIGGER_COLOURS = {
    "customer_request": "#2456d3",
    "repeated_failure": "#b42318",
    "low_confidence": "#8a5a00",
    "frustration": "#c2410c",
    "policy_sensitive": "#6b4fbb",
    "high_value": "#1f7a3f",
    "other": "#8891a5",
}


def filters_from(request: HttpRequest) -> metrics.Filters:
    start, end = metrics.period_from(request.GET, timezone.localdate())
    return metrics.Filters(
        start=start,
        end=end,
        queue_id=int_or_none(request.GET.get("queue")),
        integration_id=int_or_none(request.GET.get("integration")),
        intent=request.GET.get("intent", "").strip()[:100],
    )


def _change(now: float | timedelta | None, before: float | timedelta | None) -> float | None:
    if now is None or before is None:
        return None
    if isinstance(now, timedelta) and isinstance(before, timedelta):
        now, before = now.total_seconds(), before.total_seconds()
    return float(now) - float(before)  # type: ignore[arg-type]


def chart(
    volume: list[dict[str, Any]], start: date, end: date, height: int = 160
) -> dict[str, Any]:
    """Handoffs per day of the period (quiet days too) stacked by trigger, as SVG rectangles."""
    if not volume:
        return {"bars": [], "width": 0, "height": height, "top": 0}
    days: dict[date, list[tuple[str, int]]] = {
        start + timedelta(days=i): [] for i in range((end - start).days + 1)
    }
    for row in volume:
        days.setdefault(row["day"], []).append((row["trigger"], row["n"]))
    top = max(sum(n for _, n in parts) for parts in days.values()) or 1
    width = 18
    bars = []
    # Numbers and titles are strings made here: the template's localisation of a value costs
    # more than the rest of the page's rendering once there are hundreds of rectangles.
    for index, (day, parts) in enumerate(sorted(days.items())):
        label = formats.localize(day)
        y = height
        segments = []
        for trigger, n in parts:
            h = max(round(n / top * (height - 10)), 1)
            y -= h
            segments.append(
                {
                    "trigger": trigger,
                    "n": n,
                    "y": str(y),
                    "h": str(h),
                    "colour": TRIGGER_COLOURS.get(trigger, "#888"),
                    "title": f"{label}: {n} {trigger}",
                }
            )
        bars.append(
            {
                "x": str(index * (width + 4)),
                "day": day,
                "label": label,
                "segments": segments,
                "total": str(sum(n for _, n in parts)),
            }
        )
    return {
        "bars": bars,
        "width": len(bars) * (width + 4),
        "height": height,
        "top": top,
        "bar_width": width,
        "legend": TRIGGER_COLOURS,
    }


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
    filters = filters_from(request)
    with metrics.reporting():
        (now, tables), before = metrics.current(filters), metrics.headline(filters.previous())
    changes = {name: _change(getattr(now, name), getattr(before, name)) for name in vars(now)}
    return render(
        request,
        "cases/metrics.html",
        {
            "filters": filters,
            "h": now,
            "previous": before,
            "changes": changes,
            "queues_table": tables.queues,
            "integrations_table": tables.integrations,
            "overrides": tables.overrides,
            "misroutes": tables.misroutes,
            "heat": heat(tables.confusion),
            "chart": chart(tables.volume, filters.start, filters.end),
            "queues": Queue.objects.filter(is_active=True),
            "integrations": Integration.objects.all(),
            "intents": intent_choices(filters, tables),
            "query": request.GET.urlencode(),
        },
    )


TABLES = {
    "queues": metrics.by_queue,
    "integrations": metrics.by_integration,
    "overrides": metrics.overrides_by_intent,
    "confusion": metrics.confusion,
    "misroutes": metrics.misroutes_by_rule,
    "volume": metrics.volume_by_day,
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


@login_required
@supervisors_only
def corrections_jsonl(request: HttpRequest) -> StreamingHttpResponse:
    records = metrics.corrections(filters_from(request))
    response = StreamingHttpResponse(
        (json.dumps(record, ensure_ascii=False) + "\n" for record in records),
        content_type="application/x-ndjson",
    )
    response["Content-Disposition"] = 'attachment; filename="intent-corrections.jsonl"'
    return response
