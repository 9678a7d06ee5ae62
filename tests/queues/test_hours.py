"""Business time (queues/hours.py) called directly: one function turns seconds of the team's
working time into a deadline, across nights, weekends, holidays and clock changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from queues.hours import (
    ScheduleInvalid,
    business_deadline,
    describe,
    hours_now,
    is_open,
    next_opening,
    schedule_from,
)

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS_9_TO_5 = [{"day": day, "opens": "09:00", "closes": "17:00"} for day in range(5)]


def at(text: str, tz: ZoneInfo = BERLIN) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


def office(**kwargs) -> object:
    return schedule_from(
        kwargs.get("tz", "Europe/Berlin"),
        kwargs.get("hours", WEEKDAYS_9_TO_5),
        kwargs.get("holidays", []),
    )


def test_inside_hours_the_deadline_is_plain_clock_time():
    assert business_deadline(office(), at("2026-12-02 10:00"), 900) == at("2026-12-02 10:15")


def test_the_clock_stops_at_closing_and_goes_on_at_the_next_opening():
    # Wednesday 16:50 + 15 minutes: 10 today, 5 on Thursday morning
    assert business_deadline(office(), at("2026-12-02 16:50"), 900) == at("2026-12-03 09:05")


def test_a_handoff_arriving_on_a_weekend_waits_for_monday():
    saturday = at("2026-12-05 14:00")
    assert not is_open(office(), saturday)
    assert next_opening(office(), saturday) == at("2026-12-07 09:00")
    assert business_deadline(office(), saturday, 900) == at("2026-12-07 09:15")


def test_friday_evening_runs_over_the_weekend():
    assert business_deadline(office(), at("2026-12-04 16:00"), 2 * 3600) == at("2026-12-07 10:00")


def test_a_holiday_is_skipped_whole():
    schedule = office(holidays=["2026-12-24", "2026-12-25"])
    # Wednesday 23rd at 16:30 + 1 h: half an hour that day, the rest on Monday the 28th
    assert business_deadline(schedule, at("2026-12-23 16:30"), 3600) == at("2026-12-28 09:30")
    assert next_opening(schedule, at("2026-12-24 10:00")) == at("2026-12-28 09:00")


def test_overnight_hours_run_past_midnight():
    night = office(hours=[{"day": day, "opens": "22:00", "closes": "06:00"} for day in range(7)])
    assert is_open(night, at("2026-12-03 02:00"))  # Wednesday's span, on Thursday morning
    assert not is_open(night, at("2026-12-03 12:00"))
    # 05:30 + 1 h: half an hour before six, the rest from 22:00
    assert business_deadline(night, at("2026-12-03 05:30"), 3600) == at("2026-12-03 22:30")


def test_a_holiday_closes_the_night_that_starts_on_it():
    night = office(
        hours=[{"day": day, "opens": "22:00", "closes": "06:00"} for day in range(7)],
        holidays=["2026-12-24"],
    )
    assert is_open(night, at("2026-12-24 03:00"))  # the 23rd's night
    assert not is_open(night, at("2026-12-24 23:00"))
    assert next_opening(night, at("2026-12-24 23:00")) == at("2026-12-25 22:00")


def test_a_whole_day_span_and_a_sunday():
    schedule = office(hours=[{"day": 6, "opens": "00:00", "closes": "00:00"}])
    assert is_open(schedule, at("2026-12-06 23:59"))
    assert not is_open(schedule, at("2026-12-07 00:00"))
    assert business_deadline(schedule, at("2026-12-07 08:00"), 60) == at("2026-12-13 00:01")


def test_the_night_the_clocks_go_forward_has_five_hours_from_midnight_to_six():
    # Europe/Berlin, Sunday 29 March 2026: 02:00 becomes 03:00
    night = office(hours=[{"day": day, "opens": "00:00", "closes": "06:00"} for day in range(7)])
    midnight = at("2026-03-29 00:00")
    assert business_deadline(night, midnight, 5 * 3600) == at("2026-03-29 06:00")
    # a sixth hour goes on the next night
    assert business_deadline(night, midnight, 6 * 3600) == at("2026-03-30 01:00")


def test_the_night_the_clocks_go_back_has_seven_hours_from_midnight_to_six():
    # Europe/Berlin, Sunday 25 October 2026: 03:00 becomes 02:00 again
    night = office(hours=[{"day": day, "opens": "00:00", "closes": "06:00"} for day in range(7)])
    midnight = at("2026-10-25 00:00")
    assert business_deadline(night, midnight, 7 * 3600) == at("2026-10-25 06:00")
    assert business_deadline(night, midnight, 6 * 3600) == at("2026-10-25 05:00")


def test_a_deadline_across_a_clock_change_keeps_the_local_opening_time():
    # Friday 27 March 16:00 + 2 h of a 9-to-5 week: Monday 30 March 10:00 local, in summer time
    due = business_deadline(office(), at("2026-03-27 16:00"), 2 * 3600)
    assert due == at("2026-03-30 10:00")
    assert due.astimezone(UTC) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)


def test_the_queues_time_zone_decides_not_the_callers():
    # 08:30 UTC on a Monday is 09:30 in Berlin (open) and 03:30 in New York (closed)
    monday = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    assert is_open(office(), monday)
    new_york = office(tz="America/New_York")
    assert not is_open(new_york, monday)
    assert next_opening(new_york, monday) == at("2026-12-07 09:00", ZoneInfo("America/New_York"))


def test_no_hours_means_around_the_clock():
    schedule = office(hours=[])
    saturday = at("2026-12-05 03:00")
    assert is_open(schedule, saturday)
    assert business_deadline(schedule, saturday, 600) == saturday + timedelta(minutes=10)


def test_a_schedule_closed_on_every_day_for_a_year_does_not_loop_forever():
    days = [(datetime(2026, 12, 1) + timedelta(days=n)).date().isoformat() for n in range(420)]
    schedule = office(holidays=days)
    start = at("2026-12-02 10:00")
    assert business_deadline(schedule, start, 600) == start + timedelta(minutes=10)


@pytest.mark.parametrize(
    ("zone_name", "hours", "holidays", "says"),
    [
        ("Mars/Olympus", [], [], "time zone"),
        ("UTC", [{"day": 7, "opens": "09:00", "closes": "17:00"}], [], "weekday"),
        ("UTC", [{"day": 1, "opens": "9am", "closes": "17:00"}], [], "HH:MM"),
        ("UTC", [], ["25/12/2026"], "YYYY-MM-DD"),
    ],
)
def test_a_schedule_that_makes_no_sense_is_refused_by_name(zone_name, hours, holidays, says):
    with pytest.raises(ScheduleInvalid, match=says):
        schedule_from(zone_name, hours, holidays)


def test_hours_read_as_words_with_days_of_the_same_hours_together():
    schedule = office(
        hours=[*WEEKDAYS_9_TO_5, {"day": 5, "opens": "10:00", "closes": "14:00"}],
    )
    assert describe(schedule) == [
        "Monday\u2013Friday 09:00\u201317:00",
        "Saturday 10:00\u201314:00",
    ]
    night = office(hours=[{"day": 6, "opens": "22:00", "closes": "06:00"}])
    assert describe(night) == ["Sunday 22:00\u201306:00"]


def test_the_pages_hear_when_a_closed_team_is_back():
    now = hours_now(office(), at("2026-12-05 14:00"))
    assert (now.open, now.back_at, now.zone) == (False, at("2026-12-07 09:00"), "Europe/Berlin")
    assert hours_now(office(), at("2026-12-07 10:00")).open
