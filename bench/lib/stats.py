"""Percentiles and the summaries every benchmark prints."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values; NaN for none."""
    if not sorted_values:
        return math.nan
    rank = max(math.ceil(pct / 100 * len(sorted_values)) - 1, 0)
    return sorted_values[min(rank, len(sorted_values) - 1)]


def summary(
    values: Iterable[float], scale: float = 1.0, pcts: Sequence[int] = (50, 90, 99), digits: int = 2
) -> dict[str, float]:
    """``{"p50": …, "p90": …, "p99": …, "max": …}`` of the values times ``scale`` (NaN if none;
    an infinite value, a frame that never came, stays infinite)."""
    ordered = sorted(values)

    def rounded(value: float) -> float:
        return round(value * scale, digits) if math.isfinite(value) else value

    found = {f"p{pct}": rounded(percentile(ordered, pct)) for pct in pcts}
    found["max"] = rounded(ordered[-1]) if ordered else math.nan
    return found
