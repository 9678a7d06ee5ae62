from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template

register = template.Library()
NO_DATA = "no data"


@register.filter
def pct(value: float | None) -> str:
    return NO_DATA if value is None else f"{value * 100:.1f}%"


@register.filter
def dur(value: timedelta | None) -> str:
    if value is None:
        return NO_DATA
    seconds = int(value.total_seconds())
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


@register.filter
def num(value: float | None, digits: int = 2) -> str:
    return NO_DATA if value is None else f"{value:.{digits}f}"


@register.filter
def change(value: float | None, kind: str = "pct") -> str:
    """The change against the previous period, signed; empty when either side has no data."""
    if value is None:
        return ""
    if kind == "pct":
        return f"{value * 100:+.1f} pts"
    if kind == "dur":
        return ("+" if value >= 0 else "-") + dur(timedelta(seconds=abs(value)))
    if kind == "int":
        return f"{value:+.0f}"
    return f"{value:+.2f}"


@register.filter
def get(mapping: dict[str, Any], key: str) -> Any:
    return mapping.get(key)
