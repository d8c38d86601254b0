"""Pure tests of gathering schedules: weekdays and times, DST, sunsets, misfires, catching up."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import RuleError
from protocols.schedule import (
    CatchUp,
    Misfire,
    Once,
    Weekly,
    catch_up,
    final_occurrence,
    is_expired,
    local_instant,
    misfire,
    next_occurrence,
    occurrences_between,
    parse_hhmm,
    parse_weekday,
    sunset_instant,
    wall_time_exists,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
SUN, MON, TUE = 6, 0, 1


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("monday", 0),
        ("Mon", 0),
        ("TUESDAY", 1),
        ("tue", 1),
        ("wed", 2),
        ("Thursday", 3),
        ("fri", 4),
        ("sat", 5),
        (" sunday ", 6),
        ("SUN", 6),
    ],
)
def test_parse_weekday(text: str, expected: int) -> None:
    assert parse_weekday(text) == expected


@pytest.mark.parametrize("text", ["funday", "", "tu", "mond", "7", "lundi"])
def test_parse_weekday_refuses(text: str) -> None:
    with pytest.raises(RuleError, match="not a weekday"):
        parse_weekday(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("19:30", time(19, 30)), ("7:05", time(7, 5)), ("00:00", time(0, 0)), ("23:59", time(23, 59))],
)
def test_parse_hhmm(text: str, expected: time) -> None:
    assert parse_hhmm(text) == expected


@pytest.mark.parametrize("text", ["25:00", "24:00", "12:60", "7pm", "1930", "12:5", "", "-1:00"])
def test_parse_hhmm_refuses(text: str) -> None:
    with pytest.raises(RuleError, match="HH:MM"):
        parse_hhmm(text)


# --- DST ----------------------------------------------------------------------------------


def test_paris_weekly_keeps_wall_time_across_spring_forward() -> None:
    # 2026-03-29: Paris goes from CET (+1) to CEST (+2).
    weekly = Weekly(SUN, time(19, 0), PARIS)
    got = occurrences_between(weekly, utc(2026, 3, 20), utc(2026, 4, 6))
    assert got == [utc(2026, 3, 22, 18), utc(2026, 3, 29, 17), utc(2026, 4, 5, 17)]
    assert {o.astimezone(PARIS).hour for o in got} == {19}


def test_paris_weekly_keeps_wall_time_across_fall_back() -> None:
    # 2026-10-25: Paris goes from CEST back to CET.
    weekly = Weekly(SUN, time(19, 0), PARIS)
    got = occurrences_between(weekly, utc(2026, 10, 17), utc(2026, 11, 2))
    assert got == [utc(2026, 10, 18, 17), utc(2026, 10, 25, 18), utc(2026, 11, 1, 18)]


def test_skipped_time_moves_to_the_jump() -> None:
    # 02:30 does not exist in Paris on 2026-03-29: the clocks jump from 02:00 to 03:00 CEST.
    assert not wall_time_exists(date(2026, 3, 29), time(2, 30), PARIS)
    got = next_occurrence(Weekly(SUN, time(2, 30), PARIS), utc(2026, 3, 28))
    assert got == utc(2026, 3, 29, 1, 0)
    assert got is not None and got.astimezone(PARIS).strftime("%H:%M %Z") == "03:00 CEST"
    # New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT.
    got = next_occurrence(Weekly(SUN, time(2, 30), NEW_YORK), utc(2026, 3, 7))
    assert got == utc(2026, 3, 8, 7, 0)
    # The week after, the wall time exists again.
    assert next_occurrence(Weekly(SUN, time(2, 30), NEW_YORK), utc(2026, 3, 9)) == utc(2026, 3, 15, 6, 30)


def test_ambiguous_time_takes_the_first_occurrence() -> None:
    # 02:30 happens twice in Paris on 2026-10-25; the first is still CEST (+2).
    assert next_occurrence(Weekly(SUN, time(2, 30), PARIS), utc(2026, 10, 24)) == utc(2026, 10, 25, 0, 30)
    # 01:30 happens twice in New York on 2026-11-01; the first is EDT (-4).
    assert next_occurrence(Weekly(SUN, time(1, 30), NEW_YORK), utc(2026, 10, 31)) == utc(2026, 11, 1, 5, 30)
    # Asked between the two occurrences, the next one is a week later: never the repeat.
    assert next_occurrence(Weekly(SUN, time(1, 30), NEW_YORK), utc(2026, 11, 1, 5, 45)) == utc(
        2026, 11, 8, 6, 30
    )


def test_new_york_weekly_across_both_changes() -> None:
    weekly = Weekly(TUE, time(18, 0), NEW_YORK)
    spring = occurrences_between(weekly, utc(2026, 3, 1), utc(2026, 3, 12))
    assert spring == [utc(2026, 3, 3, 23), utc(2026, 3, 10, 22)]
    fall = occurrences_between(weekly, utc(2026, 10, 25), utc(2026, 11, 5))
    assert fall == [utc(2026, 10, 27, 22), utc(2026, 11, 3, 23)]


def test_across_time_zones_the_local_day_counts() -> None:
    # Sunday 23:30 UTC is already Monday 08:30 in Tokyo: Monday 09:00 Tokyo is 30 minutes away.
    after = utc(2026, 5, 3, 23, 30)
    assert next_occurrence(Weekly(MON, time(9, 0), TOKYO), after) == utc(2026, 5, 4, 0, 0)
    # ...while Monday 09:00 in New York is still more than a day away.
    assert next_occurrence(Weekly(MON, time(9, 0), NEW_YORK), after) == utc(2026, 5, 4, 13, 0)
    # Exactly at an occurrence, the next one is a week later (strictly after).
    assert next_occurrence(Weekly(MON, time(9, 0), TOKYO), utc(2026, 5, 4)) == utc(2026, 5, 11)


def test_local_instant_plain_and_skipped_at_midnight() -> None:
    assert local_instant(date(2026, 7, 1), time(12, 0), PARIS) == utc(2026, 7, 1, 10)
    # Santiago springs forward at midnight (2026-09-06): 00:30 moves to 01:00 the same day.
    santiago = ZoneInfo("America/Santiago")
    got = local_instant(date(2026, 9, 6), time(0, 30), santiago)
    local = got.astimezone(santiago)
    assert (local.date(), local.hour, local.minute) == (date(2026, 9, 6), 1, 0)


# --- property tests -----------------------------------------------------------------------

ZONES = st.sampled_from(
    [
        "Europe/Paris",
        "America/New_York",
        "Asia/Tokyo",
        "UTC",
        "Australia/Lord_Howe",
        "America/Santiago",
        "Asia/Kolkata",
    ]
)
INSTANTS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
TIMES = st.times().map(lambda t: t.replace(second=0, microsecond=0))


@settings(max_examples=300, deadline=None)
@given(zone_name=ZONES, weekday=st.integers(0, 6), at=TIMES, after=INSTANTS)
def test_next_occurrence_properties(zone_name: str, weekday: int, at: time, after: datetime) -> None:
    zone = ZoneInfo(zone_name)
    got = next_occurrence(Weekly(weekday, at, zone), after)
    assert got is not None
    assert got > after
    assert got - after <= timedelta(days=7, hours=2)
    local = got.astimezone(zone)
    assert local.weekday() == weekday
    if wall_time_exists(local.date(), at, zone):
        assert (local.hour, local.minute) == (at.hour, at.minute)
    else:
        # Skipped by DST: the first valid instant after, within the gap, same day.
        wall = local.replace(tzinfo=None)
        assert (
            datetime.combine(local.date(), at)
            < wall
            <= datetime.combine(local.date(), at) + (timedelta(hours=2))
        )
    # Nothing was skipped: from any instant between ``after`` and ``got``, ``got`` is next.
    just_before = max(after, got - timedelta(seconds=1))
    assert next_occurrence(Weekly(weekday, at, zone), just_before) == got


@settings(max_examples=100, deadline=None)
@given(zone_name=ZONES, weekday=st.integers(0, 6), at=TIMES, after=INSTANTS, weeks=st.integers(0, 20))
def test_occurrences_between_are_weekly_and_in_range(
    zone_name: str, weekday: int, at: time, after: datetime, weeks: int
) -> None:
    weekly = Weekly(weekday, at, ZoneInfo(zone_name))
    until = after + timedelta(weeks=weeks)
    got = occurrences_between(weekly, after, until)
    # A week of UTC time holds one occurrence, give or take one where DST stretches a week.
    assert max(weeks - 1, 0) <= len(got) <= weeks + 1
    assert all(after < o <= until for o in got)
    for earlier, later in pairwise(got):
        assert timedelta(days=7) - timedelta(hours=2) <= later - earlier
        assert later - earlier <= timedelta(days=7, hours=2)


# --- sunset -------------------------------------------------------------------------------


def test_sunset_includes_the_end_date_and_nothing_after() -> None:
    weekly = Weekly(TUE, time(19, 0), PARIS, end_date=date(2026, 6, 30))  # a Tuesday
    assert sunset_instant(date(2026, 6, 30), PARIS) == utc(2026, 6, 30, 22)
    assert next_occurrence(weekly, utc(2026, 6, 25)) == utc(2026, 6, 30, 17)
    assert next_occurrence(weekly, utc(2026, 6, 30, 17)) is None
    assert final_occurrence(weekly) == utc(2026, 6, 30, 17)
    assert not is_expired(weekly, utc(2026, 6, 30, 21, 59))
    assert is_expired(weekly, utc(2026, 6, 30, 22))
    # An end date on another weekday: the last Tuesday before it is final.
    assert final_occurrence(Weekly(TUE, time(19, 0), PARIS, date(2026, 7, 6))) == utc(2026, 6, 30, 17)


def test_no_sunset_never_expires_and_once_expires_when_passed() -> None:
    assert not is_expired(Weekly(TUE, time(19, 0), PARIS), utc(2099, 1, 1))
    assert final_occurrence(Weekly(TUE, time(19, 0), PARIS)) is None
    once = Once(utc(2026, 5, 1, 16), PARIS)
    assert next_occurrence(once, utc(2026, 5, 1)) == utc(2026, 5, 1, 16)
    assert next_occurrence(once, utc(2026, 5, 1, 16)) is None
    assert not is_expired(once, utc(2026, 5, 1, 15, 59))
    assert is_expired(once, utc(2026, 5, 1, 16))


# --- misfires -----------------------------------------------------------------------------

AT = utc(2026, 5, 5, 17)
GRACE = timedelta(hours=1)


@pytest.mark.parametrize(
    ("now", "last", "expected"),
    [
        (AT - timedelta(minutes=5), None, Misfire.NOT_DUE),
        (AT, None, Misfire.ON_TIME),
        (AT + timedelta(seconds=90), None, Misfire.ON_TIME),
        (AT + timedelta(minutes=3), None, Misfire.LATE),
        (AT + GRACE, None, Misfire.LATE),
        (AT + GRACE + timedelta(seconds=1), None, Misfire.MISSED),
        (AT + timedelta(days=30), None, Misfire.MISSED),
        (AT + timedelta(seconds=10), AT, Misfire.ALREADY_DONE),
        (AT + timedelta(hours=5), AT, Misfire.ALREADY_DONE),
        (AT + timedelta(days=8), AT + timedelta(days=7), Misfire.ALREADY_DONE),
        (AT + timedelta(minutes=3), AT - timedelta(days=7), Misfire.LATE),
    ],
)
def test_misfire_table(now: datetime, last: datetime | None, expected: Misfire) -> None:
    assert misfire(AT, now, GRACE, last) is expected


def test_zero_grace_is_on_time_or_missed() -> None:
    assert misfire(AT, AT + timedelta(seconds=30), timedelta(0), None) is Misfire.ON_TIME
    assert misfire(AT, AT + timedelta(minutes=5), timedelta(0), None) is Misfire.MISSED


def test_catch_up_after_weeks_down_posts_newest_late_and_notes_the_rest() -> None:
    weekly = Weekly(TUE, time(19, 0), PARIS)
    last = utc(2026, 4, 14, 17)  # the last Tuesday handled before the bot went down
    now = utc(2026, 5, 5, 17, 20)  # three Tuesdays later, 20 minutes into the third
    result = catch_up(weekly, last, now, GRACE)
    assert result == CatchUp(
        post=utc(2026, 5, 5, 17),
        late=True,
        missed=(utc(2026, 4, 21, 17), utc(2026, 4, 28, 17)),
        handled_through=utc(2026, 5, 5, 17),
    )
    # Once the caller stores handled_through, nothing is handled twice.
    again = catch_up(weekly, utc(2026, 5, 5, 17), now + timedelta(minutes=1), GRACE)
    assert again == CatchUp(post=None, late=False, missed=(), handled_through=None)


def test_catch_up_past_grace_notes_everything() -> None:
    weekly = Weekly(TUE, time(19, 0), PARIS)
    result = catch_up(weekly, utc(2026, 4, 14, 17), utc(2026, 5, 5, 20), GRACE)
    assert result.post is None
    assert result.missed == (utc(2026, 4, 21, 17), utc(2026, 4, 28, 17), utc(2026, 5, 5, 17))
    assert result.handled_through == utc(2026, 5, 5, 17)


def test_catch_up_on_time_and_nothing_due() -> None:
    weekly = Weekly(TUE, time(19, 0), PARIS)
    created = utc(2026, 5, 1)
    on_time = catch_up(weekly, created, utc(2026, 5, 5, 17, 0, 5), GRACE)
    assert (on_time.post, on_time.late, on_time.missed) == (utc(2026, 5, 5, 17), False, ())
    assert catch_up(weekly, created, utc(2026, 5, 5, 16, 59), GRACE).handled_through is None


def test_catch_up_stops_at_sunset_and_handles_a_one_off() -> None:
    weekly = Weekly(TUE, time(19, 0), PARIS, end_date=date(2026, 4, 28))
    result = catch_up(weekly, utc(2026, 4, 14, 17), utc(2026, 6, 1), GRACE)
    assert result.missed == (utc(2026, 4, 21, 17), utc(2026, 4, 28, 17))
    once = Once(utc(2026, 5, 1, 16), PARIS)
    late = catch_up(once, utc(2026, 4, 1), utc(2026, 5, 1, 16, 30), GRACE)
    assert (late.post, late.late, late.missed) == (utc(2026, 5, 1, 16), True, ())
    assert catch_up(once, utc(2026, 5, 1, 16), utc(2026, 5, 1, 16, 30), GRACE).post is None


@settings(max_examples=100, deadline=None)
@given(last=INSTANTS, down=st.integers(0, 60 * 24 * 70), grace_min=st.integers(0, 180))
def test_catch_up_covers_every_occurrence_exactly_once(last: datetime, down: int, grace_min: int) -> None:
    weekly = Weekly(TUE, time(19, 0), NEW_YORK)
    now = last + timedelta(minutes=down)
    result = catch_up(weekly, last, now, timedelta(minutes=grace_min))
    covered = list(result.missed) + ([result.post] if result.post is not None else [])
    assert sorted(covered) == occurrences_between(weekly, last, now)
    assert len(set(covered)) == len(covered)
    if covered:
        assert result.handled_through == max(covered)
