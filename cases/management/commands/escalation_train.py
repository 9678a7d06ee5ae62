"""``manage.py escalation_train``: rebuild the frustration model (escalation/model.json) from the
STAR dialogues, and optionally the desk's own outcomes, and print its cross-validated figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.risk import desk_outcomes
from escalation import star
from escalation.conversation import as_messages
from escalation.model import ARTEFACT
from escalation.train import Example, train, write


class Command(BaseCommand):
    help = (
        "Retrain the escalation model deterministically and print its cross-validated ROC-AUC "
        "and average precision. The artefact is plain JSON weights; nothing runs on load."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, default=star.DIALOGUES, help="STAR dialogues")
        parser.add_argument("--out", type=Path, default=ARTEFACT, help="where to write it")
        parser.add_argument(
            "--with-desk-outcomes",
            action="store_true",
            help="Also learn from this desk's outcomes: risk flag verdicts, 'customer had to "
            "repeat' answers, low and high CSAT (see cases/risk.py desk_outcomes).",
        )
        parser.add_argument(
            "--export-outcomes",
            type=Path,
            help="Write the desk's outcomes as JSON lines (escalation.train --extra's form) "
            "and stop.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["export_outcomes"]:
            path: Path = options["export_outcomes"]
            count = 0
            with path.open("w", encoding="utf-8") as out:
                for row in desk_outcomes():
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                    count += 1
            self.stdout.write(f"wrote {count} labelled conversations to {path}")
            return
        if not options["data"].is_file():
            raise CommandError(f"No STAR dialogues at {options['data']} (see ../shared/data).")
        extra = None
        if options["with_desk_outcomes"]:
            extra = [
                Example(as_messages(row["transcript"]), row["annoyed"]) for row in desk_outcomes()
            ]
        artefact, cv = train(options["data"], extra)
        write(artefact, options["out"])
        on = artefact["trained_on"]
        self.stdout.write(
            f"{cv['folds']}-fold cross-validated on "
            f"{on['star_dialogues'] + on['extra_examples']} conversations "
            f"({on['extra_examples']} from this desk, {on['annoyed']} needing a person): "
            f"ROC-AUC {cv['roc_auc']:.4f}, average precision {cv['average_precision']:.4f} "
            f"(nested: C chosen inside each fold); shipped with C {cv['C']:g}, chosen by "
            "cross-validation on them all"
        )
        self.stdout.write(f"wrote {options['out']}")
