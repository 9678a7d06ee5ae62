"""The metrics page's volume chart: handoffs per day (per hour for a one-day period), stacked by
why they came, laid out for an SVG with its axes, values and labels, and the same figures as a
table for a screen reader.

Coordinates and labels are strings made here: the template only places them (localising a value
per rectangle in the template costs more than the rest of the page's rendering).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.utils import formats

from vocabulary import TriggerReason

TRIGGER_COLOURS: dict[str, str] = {
    TriggerReason.CUSTOMER_REQUEST: "#2456d3",
    TriggerReason.REPEATED_FAILURE: "#b42318",
    TriggerReason.LOW_CONFIDENCE: "#8a5a00",
    TriggerReason.FRUSTRATION: "#c2410c",
    TriggerReason.POLICY_SENSITIVE: "#6b4fbb",
    TriggerReason.HIGH_VALUE: "#1f7a3f",
    TriggerReason.OTHER: "#8891a5",
}
WIDTH, HEIGHT = 720, 210
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 18, 172  # the plot area; labels go around it
MAX_BAR = 30  # px: a week's bars stay bars, not slabs
MAX_TICK_LABELS = 12


@dataclass(frozen=True)
class Slot:
    """One bar's place on the x axis: a day or an hour."""

    key: date | datetime
    label: str  # in the bar's title and the table: "Dec. 4, 2026", "Dec. 4, 2026 09:00"
    short: str  # under the axis: "4 Dec", "09"


def trigger_label(trigger: str) -> str:
    try:
        return str(TriggerReason(trigger).label)
    except ValueError:
        return trigger.replace("_", " ")


def _scale(busiest: int) -> tuple[int, int]:
    """A round tick step (1, 2, 5 x 10^k) and the axis top, at most five steps above zero, just
    over the busiest bar."""
    for magnitude in (10**k for k in range(12)):
        for step in (magnitude, 2 * magnitude, 5 * magnitude):
            if busiest <= 5 * step:
                return step, max(math.ceil(busiest / step), 1) * step
    raise ValueError(busiest)


def day_slots(start: date, end: date) -> list[Slot]:
    return [
        Slot(day, formats.localize(day), formats.date_format(day, "j M"))
        for day in (start + timedelta(days=i) for i in range((end - start).days + 1))
    ]


def hour_slots(hours: list[datetime]) -> list[Slot]:
    """The hours from the first to the last handoff of the day (local time)."""
    if not hours:
        return []
    first, last = min(hours), max(hours)
    slots = []
    moment = first
    while moment <= last:
        label = f"{formats.localize(moment.date())} {moment:%H}:00"
        slots.append(Slot(moment, label, f"{moment:%H}:00"))
        moment += timedelta(hours=1)
    return slots


def build(
    rows: list[dict[str, Any]], slots: list[Slot], *, key: str, unit: str, title: str
) -> dict[str, Any]:
    """The chart of ``rows`` (``{key, trigger, n}``) over ``slots``; no bars without rows."""
    if not rows or not slots:
        return {"bars": [], "title": title}
    parts: dict[Any, list[tuple[str, int]]] = {slot.key: [] for slot in slots}
    for row in rows:
        parts.setdefault(row[key], []).append((row["trigger"], row["n"]))
    totals = {slot.key: sum(n for _, n in parts[slot.key]) for slot in slots}
    step, top = _scale(max(totals.values()))
    plot = BOTTOM - TOP
    slot_width = (WIDTH - LEFT - RIGHT) / len(slots)
    bar_width = min(MAX_BAR, slot_width * 0.72)
    every = math.ceil(len(slots) / MAX_TICK_LABELS)
    triggers = sorted({t for part in parts.values() for t, _ in part}, key=_trigger_order)
    bars: list[dict[str, Any]] = []
    for index, slot in enumerate(slots):
        x = LEFT + index * slot_width + (slot_width - bar_width) / 2
        y = float(BOTTOM)
        segments = []
        for trigger, n in sorted(parts[slot.key], key=lambda part: _trigger_order(part[0])):
            h = max(n / top * plot, 1.0)
            y -= h
            segments.append(
                {
                    "y": f"{y:.1f}",
                    "h": f"{h:.1f}",
                    "colour": TRIGGER_COLOURS.get(trigger, "#888"),
                    "title": f"{slot.label}: {n} {trigger_label(trigger).lower()}",
                }
            )
        counts = dict(parts[slot.key])
        bars.append(
            {
                "x": f"{x:.1f}",
                "middle": f"{x + bar_width / 2:.1f}",
                "label": slot.label,
                "short": slot.short if index % every == 0 else "",
                "total": totals[slot.key],
                "value_y": f"{y - 4:.1f}",
                "segments": segments,
                "counts": [counts.get(trigger, 0) for trigger in triggers],
            }
        )
    busiest = max(slots, key=lambda slot: totals[slot.key])
    total = sum(totals.values())
    return {
        "title": title,
        "unit": unit,
        "bars": bars,
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "bottom": BOTTOM,
        "label_y": BOTTOM + 16,
        "axis_title_y": HEIGHT - 2,
        "middle_x": (LEFT + WIDTH - RIGHT) // 2,
        "middle_y": (TOP + BOTTOM) // 2,
        "bar_width": f"{bar_width:.1f}",
        "ticks": [
            {"value": value, "y": f"{BOTTOM - value / top * plot:.1f}"}
            for value in range(0, top + 1, step)
        ],
        "legend": [(trigger_label(t), TRIGGER_COLOURS.get(t, "#888")) for t in triggers],
        "columns": [trigger_label(t) for t in triggers],
        "summary": (
            f"{total} handoffs from {bars[0]['label']} to {bars[-1]['label']}; the busiest "
            f"{unit} was {busiest.label} with {totals[busiest.key]}."
        ),
    }


def _trigger_order(trigger: str) -> int:
    order = list(TRIGGER_COLOURS)
    return order.index(trigger) if trigger in order else len(order)


def volume_chart(
    volume: list[dict[str, Any]], start: date, end: date, hours: list[dict[str, Any]] | None
) -> dict[str, Any]:
    """By hour when the period is one day (``hours`` given), otherwise by day."""
    if hours is not None:
        slots = hour_slots([row["hour"] for row in hours])
        title = "Handoffs per hour, by why they came"
        return build(hours, slots, key="hour", unit="hour", title=title)
    title = "Handoffs per day, by why they came"
    return build(volume, day_slots(start, end), key="day", unit="day", title=title)
