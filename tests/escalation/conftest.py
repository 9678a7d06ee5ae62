from __future__ import annotations

import pytest

from escalation import star
from escalation.conversation import Message


def conversation(*turns: tuple[str, str]) -> list[Message]:
    """Messages from (role, text) pairs, with ids m0, m1, …"""
    return [Message(role, text, f"m{i}") for i, (role, text) in enumerate(turns)]


@pytest.fixture(scope="session")
def star_dialogues() -> list[star.Dialogue]:
    if not star.DIALOGUES.exists():
        pytest.skip(f"STAR dialogues not found at {star.DIALOGUES}")
    return list(star.read())
