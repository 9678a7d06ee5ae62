"""What the desk's forms share."""

from __future__ import annotations

# An id column's largest value (PostgreSQL integer; SQLite overflows past 2**63): a posted or
# queried id past it is refused by the form before any lookup.
MAX_ID = 2**31 - 1
