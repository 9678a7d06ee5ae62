"""Reading numbers people (or their browsers) post or put in a query string."""

from __future__ import annotations


def int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def int_or_zero(value: str | None) -> int:
    """A posted id: 0 (which matches no row) when absent or not a number."""
    return int_or_none(value) or 0
