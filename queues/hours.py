"""Business hours: when a queue's team works, in the queue's own time zone.

A queue's hours are a weekly list of spans (weekday, opens, closes) in its time zone, and a list
of holidays (dates on which no span opens). A span whose closing time is not after its opening
time runs past midnight ("22:00"-"06:00"; "00:00"-"00:00" is the whole day). No spans at all
means the team works around the clock.

``business_deadline`` is the one function that turns "this many seconds of business time" into
a moment: the SLA clock (cases/services/intake.py) and everything that says when the team is
back (``next_opening``) read the same spans. Arithmetic is done in UTC, so a night on which the
clocks change counts its real length.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# A year of days is searched for the next span; a schedule closed longer than that (every day a
# holiday) counts as around the clock rather than never.
SEARCH_DAYS = 400
DASH = "\u2013"
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ScheduleInvalid(ValueError):
    pass


@dataclass(frozen=True)
class Span:
    weekday: int  # 0 = Monday
    opens: time
    closes: time

    @property
    def overnight(self) -> bool:
        return self.closes <= self.opens

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.weekday,
            "opens": self.opens.strftime("%H:%M"),
            "closes": self.closes.strftime("%H:%M"),
        }


@dataclass(frozen=True)
class Schedule:
    time_zone: ZoneInfo
    spans: tuple[Span, ...] = ()
    holidays: frozenset[date] = frozenset()

    @property
    def always_open(self) -> bool:
        return not self.spans


ALWAYS_OPEN = Schedule(ZoneInfo("UTC"))


def zone(name: str) -> ZoneInfo:
    """An IANA time zone by name; ``ScheduleInvalid`` for a name the system does not know."""
    if name not in _zone_names():
        raise ScheduleInvalid(f"unknown time zone {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ScheduleInvalid(f"unknown time zone {name!r}") from error


_ZONES: frozenset[str] | None = None


def _zone_names() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones()) | {"UTC"}
    return _ZONES


def zone_choices() -> list[str]:
    return sorted(_zone_names())


def clock(value: str) -> time:
    match = _CLOCK.match(value or "")
    if match is None:
        raise ScheduleInvalid(f"{value!r} is not a time of day as HH:MM")
    return time(int(match[1]), int(match[2]))


def schedule_from(
    time_zone: str, hours: Sequence[Mapping[str, Any]], holidays: Sequence[str]
) -> Schedule:
    """A schedule from a queue's stored fields (``[{"day": 0, "opens": "09:00", "closes":
    "17:00"}]``, ``["2026-12-25"]``); ``ScheduleInvalid`` names what is wrong."""
    spans = []
    for item in hours:
        day = item.get("day")
        if not isinstance(day, int) or not 0 <= day <= 6:
            raise ScheduleInvalid(f"{day!r} is not a weekday (0 = Monday ... 6 = Sunday)")
        spans.append(Span(day, clock(item.get("opens", "")), clock(item.get("closes", ""))))
    days = set()
    for text in holidays:
        try:
            days.add(date.fromisoformat(text))
        except (TypeError, ValueError) as error:
            raise ScheduleInvalid(f"{text!r} is not a date as YYYY-MM-DD") from error
    spans.sort(key=lambda span: (span.weekday, span.opens))
    return Schedule(zone(time_zone), tuple(spans), frozenset(days))


def _spans_of_day(schedule: Schedule, day: date) -> Iterator[tuple[datetime, datetime]]:
    """The day's spans that open on it (none on a holiday), as UTC moments."""
    if day in schedule.holidays:
        return
    tz = schedule.time_zone
    for span in schedule.spans:
        if span.weekday != day.weekday():
            continue
        closing_day = day + timedelta(days=1) if span.overnight else day
        opens = datetime.combine(day, span.opens, tzinfo=tz).astimezone(UTC)
        closes = datetime.combine(closing_day, span.closes, tzinfo=tz).astimezone(UTC)
        if closes > opens:  # a span that the clocks' change swallowed whole is no span
            yield opens, closes


def open_spans(schedule: Schedule, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The open spans (UTC, in order, overlapping ones merged) that end after ``start``."""
    first = start.astimezone(schedule.time_zone).date() - timedelta(days=1)  # overnight spans
    pending: tuple[datetime, datetime] | None = None
    for offset in range(SEARCH_DAYS):
        for opens, closes in _spans_of_day(schedule, first + timedelta(days=offset)):
            if pending is not None and opens <= pending[1]:
                pending = (pending[0], max(pending[1], closes))
                continue
            if pending is not None and pending[1] > start:
                yield pending
            pending = (opens, closes)
    if pending is not None and pending[1] > start:
        yield pending


def is_open(schedule: Schedule, at: datetime) -> bool:
    return next_opening(schedule, at) == at


def next_opening(schedule: Schedule, at: datetime) -> datetime:
    """``at`` itself while the team works, else when it is next back."""
    if schedule.always_open:
        return at
    for opens, _closes in open_spans(schedule, at):
        return at if opens <= at else opens.astimezone(at.tzinfo)
    return at


def business_deadline(schedule: Schedule, start: datetime, seconds: float) -> datetime:
    """The moment ``seconds`` of the team's working time after ``start`` have passed.

    Outside hours the clock waits for the next opening; it stops at each closing and on
    holidays, and goes on at the next opening.
    """
    if schedule.always_open:
        return start + timedelta(seconds=seconds)
    remaining = timedelta(seconds=seconds)
    for opens, closes in open_spans(schedule, start):
        begin = max(opens, start)
        if begin + remaining <= closes:
            return (begin + remaining).astimezone(start.tzinfo)
        remaining -= closes - begin
    return start + timedelta(seconds=seconds)


def describe(schedule: Schedule) -> list[str]:
    """The weekly hours in words, days with the same hours together, joined by an en dash:
    ["Monday-Friday 09:00-17:00", "Saturday 10:00-14:00"] (with en dashes)."""
    by_day: dict[int, list[str]] = {}
    for span in schedule.spans:
        by_day.setdefault(span.weekday, []).append(
            f"{span.opens:%H:%M}{DASH}{span.closes:%H:%M}"
            if span.opens != span.closes
            else "all day"
        )
    lines: list[str] = []
    run: list[int] = []
    for day in range(8):
        hours = by_day.get(day) if day < 7 else None
        if run and (hours is None or hours != by_day[run[0]]):
            days = (
                WEEKDAYS[run[0]]
                if len(run) == 1
                else f"{WEEKDAYS[run[0]]}{DASH}{WEEKDAYS[run[-1]]}"
            )
            lines.append(f"{days} {', '.join(by_day[run[0]])}")
            run = []
        if hours is not None:
            run.append(day)
    return lines


@dataclass(frozen=True)
class HoursNow:
    """A queue's hours as its pages show them."""

    always_open: bool
    open: bool
    back_at: datetime | None
    zone: str
    lines: list[str]
    holidays: list[date]


def hours_now(schedule: Schedule, now: datetime) -> HoursNow:
    opening = next_opening(schedule, now)
    return HoursNow(
        always_open=schedule.always_open,
        open=opening == now,
        back_at=None if opening == now else opening,
        zone=schedule.time_zone.key,
        lines=describe(schedule),
        holidays=sorted(day for day in schedule.holidays if day >= now.date()),
    )
