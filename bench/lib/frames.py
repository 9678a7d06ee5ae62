"""Which live frames were lost: the capacity benchmark's accounting, apart from its load
generator (which patches the standard library with gevent) so that it can be tested alone."""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

CLOSE_GRACE = 1.0  # a frame for an event this close to its socket's close may be lost


@dataclass
class Session:
    """One page's socket: its groups (from hello), when it said hello and closed, the cursors
    of the live event frames it received."""

    opened: float
    groups: set[str] = field(default_factory=set)
    hello_at: float | None = None
    closed_at: float | None = None
    received: set[int] = field(default_factory=set)


def parse_sent(items: Iterable[bytes | str]) -> list[tuple[int, float, list[str]]]:
    """``bench.capacity_probe``'s list: (cursor, commit time, groups) of each event frame."""
    sent = []
    for item in items:
        text = item.decode() if isinstance(item, bytes) else item
        cursor, committed, groups = text.split(" ", 2)
        sent.append((int(cursor), float(committed), groups.split(",")))
    return sent


def lost_frames(
    sent: list[tuple[int, float, list[str]]], sessions: list[Session], started: float,
    ended: float,
) -> dict[str, Any]:  # fmt: skip
    """Each event committed in [started, ended] should reach every socket of one of its groups
    that had its hello before the commit and was still open CLOSE_GRACE after it; a socket in
    two of its groups counts once."""
    by_group: dict[str, list[Session]] = defaultdict(list)
    for session in sessions:
        if session.hello_at is not None and (session.closed_at or ended) >= started:
            for group in session.groups:
                by_group[group].append(session)
    opened = {}
    for group, members in by_group.items():
        members.sort(key=lambda s: s.hello_at or 0.0)
        opened[group] = [s.hello_at or 0.0 for s in members]
    events = expected = lost = 0
    for cursor, committed, groups in sent:
        if not started <= committed <= ended:
            continue
        events += 1
        seen: set[int] = set()
        for group in groups:
            members = by_group.get(group, [])
            for session in members[: bisect_right(opened.get(group, []), committed)]:
                if id(session) in seen:
                    continue
                seen.add(id(session))
                if session.closed_at is not None and session.closed_at < committed + CLOSE_GRACE:
                    continue
                expected += 1
                lost += cursor not in session.received
    return {"events": events, "expected": expected, "lost": lost}
