"""``manage.py replay PATH``: post recorded conversations to a running desk's handoff API."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.replay import as_recent, read_source, replay


class Command(BaseCommand):
    help = (
        "Post handoff packages to the desk's HTTP API: a JSONL file of packages, or STAR "
        "dialogues (.jsonl or .jsonl.gz) mapped to packages. Exits non-zero on any rejection "
        "or connection failure."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="JSONL of handoff packages or STAR dialogues.")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="The desk's base URL.")
        parser.add_argument(
            "--key", default=None, help="Integration API key (default: $HANDOFF_API_KEY)."
        )
        parser.add_argument("--limit", type=int, default=None, help="Send at most N packages.")
        parser.add_argument(
            "--rate", type=float, default=0.0, help="Packages per second (0: as fast as possible)."
        )
        parser.add_argument("--concurrency", type=int, default=1, help="Requests in flight.")
        parser.add_argument(
            "--idempotency",
            action="store_true",
            help="Send an Idempotency-Key derived from each package's body.",
        )
        parser.add_argument(
            "--assess",
            action="store_true",
            help="Ask POST /api/v1/assess after each customer message and hand off as soon as "
            "the desk advises it (otherwise at the recorded end), as a desk-advised bot would.",
        )
        parser.add_argument(
            "--recent",
            action="store_true",
            help="Move each package's message and step times so its latest is the moment it is "
            "sent (a demo of recorded conversations that reads as live).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        key = options["key"] or os.environ.get("HANDOFF_API_KEY", "")
        if not key:
            raise CommandError("An integration key is needed: --key KEY or HANDOFF_API_KEY.")
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        if options["limit"] is not None and options["limit"] < 0:
            raise CommandError("--limit must be 0 or more.")
        if options["recent"] and options["idempotency"]:
            raise CommandError(
                "--recent changes every body each run, so --idempotency keys would never repeat "
                "(and a reused key with a new body is refused): use one or the other."
            )
        if options["rate"] < 0 or options["concurrency"] < 1:
            raise CommandError("--rate must be 0 or more and --concurrency at least 1.")
        if options["verbosity"] < 2:
            logging.getLogger("httpx").setLevel(logging.WARNING)  # not one log line per request
        try:
            packages = read_source(path, options["limit"])
            if options["recent"]:
                packages = _sent_as_recent(packages)
            report = replay(
                packages,
                options["url"],
                key,
                rate=options["rate"],
                concurrency=options["concurrency"],
                idempotency=options["idempotency"],
                assess=options["assess"],
            )
        except (OSError, ValueError) as exc:  # unreadable file or a line that is not JSON
            raise CommandError(str(exc)) from exc
        for line in report.lines():
            self.stdout.write(line)
        if not report.ok:
            raise CommandError(
                f"{report.rejected} rejected, {report.errors} failed to send", returncode=1
            )


def _sent_as_recent(packages: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    # A generator: each package is moved when the replay takes it, just before it is sent.
    for package in packages:
        yield as_recent(package, datetime.now(UTC))
