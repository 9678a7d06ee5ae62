"""``manage.py metrics_rollups``: roll up the metrics of existing history, day by day (the beat
task keeps them up to date after that)."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.services.metrics_rollups import metrics_rollups_backfill


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from error


class Command(BaseCommand):
    help = (
        "Recompute the metrics' daily rollups from the cases, from the first handoff (or "
        "--from) to yesterday (or --to). Safe to run twice or beside the beat task."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="start", help="first day (YYYY-MM-DD)")
        parser.add_argument("--to", dest="end", help="last day (YYYY-MM-DD)")

    def handle(self, *args: Any, **options: Any) -> None:
        start = _day(options["start"]) if options["start"] else None
        end = _day(options["end"]) if options["end"] else None
        if start and end and start > end:
            raise CommandError("--from is after --to")
        began = time.perf_counter()
        days = metrics_rollups_backfill(start=start, end=end)
        self.stdout.write(f"rolled up {days} days in {time.perf_counter() - began:.1f} s")
