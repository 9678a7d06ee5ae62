"""The STAR dialogues (../shared/data/star) as conversations, steps and labels.

Read in place, never copied into the project. ``annoyed`` is the wizard's answer to "did the
user become aggressive or annoyed": a label to train and judge against, never an input.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from escalation.conversation import BOT, CUSTOMER, Message, Step

STAR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "star"
DIALOGUES = STAR / "dialogues.jsonl.gz"


@dataclass(frozen=True)
class Dialogue:
    id: str
    messages: tuple[Message, ...]
    steps: tuple[Step, ...]
    intent: str | None
    annoyed: bool | None


def read(path: Path = DIALOGUES) -> Iterator[Dialogue]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            yield dialogue(json.loads(line))


def labelled(path: Path = DIALOGUES) -> list[Dialogue]:
    return [d for d in read(path) if d.annoyed is not None]


def dialogue(row: dict) -> Dialogue:
    messages: list[Message] = []
    steps: list[Step] = []
    for event in row["events"]:
        role = event["role"]
        if role in (CUSTOMER, BOT) and event.get("text"):
            messages.append(Message(role, event["text"], f"m{len(messages)}"))
        elif role == "query_result":
            # A lookup that found nothing (0) or could not run (-1) is a failed step.
            failed = event.get("total") in (0, -1)
            after = messages[-1].id if messages else ""
            steps.append(Step(f"lookup {len(steps) + 1}", failed, after))
    tasks = row.get("tasks") or []
    return Dialogue(
        id=str(row["id"]),
        messages=tuple(messages),
        steps=tuple(steps),
        intent=tasks[0] if tasks else None,
        annoyed=row.get("user_annoyed"),
    )
