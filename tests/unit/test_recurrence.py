"""Pure tests of recurrences: the chat grammar, DST, month ends, gatherings, downtime."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.errors import RuleError
from protocols.recurrence import (
    DEFAULT_AT,
    LAST,
    AfterGathering,
    Daily,
    MonthlyOnDay,
    MonthlyOnWeekday,
    Recurrence,
    RecurrenceError,
    WeeklyOn,
    catch_up,
    describe,
    following,
    is_expired,
    load_recurrence,
    next_occurrence,
    next_occurrences,
    occurrences_between,
    parse_recurrence,
)
from protocols.schedule import Weekly, local_instant, wall_time_exists

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ZONES = [BERLIN, NEW_YORK, ZoneInfo("Australia/Sydney"), ZoneInfo("Asia/Kolkata"), ZoneInfo("UTC")]
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # a Tuesday
MON, TUE, FRI, SAT, SUN = 0, 1, 4, 5, 6


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


# --- grammar ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pattern", "at"),
    [
        ("every tuesday", WeeklyOn(TUE), DEFAULT_AT),
        ("Every TUE at 18:30", WeeklyOn(TUE), time(18, 30)),
        ("every week on friday", WeeklyOn(FRI), DEFAULT_AT),
        ("every 2 weeks on saturday", WeeklyOn(SAT, 2), DEFAULT_AT),
        ("every other week on sat at 10:00", WeeklyOn(SAT, 2), time(10, 0)),
        ("every day", Daily(), DEFAULT_AT),
        ("every 3 days at 7:05", Daily(3), time(7, 5)),
        ("every month on the 15th", MonthlyOnDay(15), DEFAULT_AT),
        ("every 2 months on the 1st at 20:00", MonthlyOnDay(1, 2), time(20, 0)),
        ("every month on the 31st", MonthlyOnDay(31), DEFAULT_AT),
        ("every month on the last day", MonthlyOnDay(LAST), DEFAULT_AT),
        ("every month on the 2nd tuesday", MonthlyOnWeekday(2, TUE), DEFAULT_AT),
        ("every month on the first monday", MonthlyOnWeekday(1, MON), DEFAULT_AT),
        ("every month on the last friday at 17:00", MonthlyOnWeekday(LAST, FRI), time(17, 0)),
        ("after each gathering", AfterGathering(), None),
        ("after every gathering", AfterGathering(), None),
    ],
)
def test_parse(text: str, pattern: object, at: time | None) -> None:
    got = parse_recurrence(text, BERLIN, NOW)
    assert got == Recurrence(pattern, at, BERLIN, date(2026, 12, 1))  # type: ignore[arg-type]


def test_parse_until_and_options_in_either_order() -> None:
    a = parse_recurrence("every tuesday at 18:00 until 2027-06-30", BERLIN, NOW)
    b = parse_recurrence("every tuesday until 2027-06-30 at 18:00", BERLIN, NOW)
    assert a == b
    assert a.until == date(2027, 6, 30) and a.at == time(18, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a recurrence"),
        ("sometimes", "not a recurrence"),
        ("every funday", "not a recurrence"),
        ("every fortnight", "not a recurrence"),
        ("every year on the 1st", "not a recurrence"),
        ("every week", "which day of the week"),
        ("every 2 weeks on someday", "not a weekday"),
        ("every month", "which day of the month"),
        ("every month on the 32nd", "days 1 to 31"),
        ("every month on the 1th", "not a recurrence"),
        ("every month on the 5th tuesday", "Most months have no 5th tuesday"),
        ("every 0 weeks on monday", "at least 1"),
        ("every 53 weeks on monday", "at most every 52 weeks"),
        ("every 13 months on the 1st", "at most every 12 months"),
        ("every tuesday at 25:00", "HH:MM"),
        ("every tuesday at", "needs a value"),
        ("every tuesday at 10:00 at 11:00", "given twice"),
        ("after each gathering at 19:00", "leave out 'at HH:MM'"),
        ("every tuesday until 2026-13-01", "not a date"),
        ("every tuesday until 2026-11-30", "in the past"),
    ],
)
def test_parse_refuses_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse_recurrence(text, BERLIN, NOW)


def test_until_today_is_not_in_the_past() -> None:
    assert parse_recurrence("every day until 2026-12-01", BERLIN, NOW).until == date(2026, 12, 1)


patterns = st.one_of(
    st.builds(Daily, st.integers(1, 90)),
    st.builds(WeeklyOn, st.integers(0, 6), st.integers(1, 52)),
    st.builds(MonthlyOnDay, st.sampled_from([*range(1, 32), LAST]), st.integers(1, 12)),
    st.builds(MonthlyOnWeekday, st.sampled_from([1, 2, 3, 4, LAST]), st.integers(0, 6), st.integers(1, 12)),
)
times = st.builds(time, st.integers(0, 23), st.integers(0, 59))


@given(pattern=patterns, at=times, zone=st.sampled_from(ZONES), with_until=st.booleans())
@settings(max_examples=80, deadline=None)
def test_describe_reads_back_as_the_same_recurrence(
    pattern: object, at: time, zone: ZoneInfo, with_until: bool
) -> None:
    until = date(2028, 2, 29) if with_until else None
    rec = Recurrence(pattern, at, zone, NOW.astimezone(zone).date(), until)  # type: ignore[arg-type]
    assert parse_recurrence(describe(rec), zone, NOW) == rec
    # What storage keeps (the text, the zone, the start) gives it back years later too.
    assert load_recurrence(describe(rec), zone, rec.start) == rec


# --- DST ----------------------------------------------------------------------------------


def test_berlin_keeps_wall_time_across_both_changes() -> None:
    rec = parse_recurrence("every 2 weeks on sunday at 19:00", BERLIN, utc(2027, 3, 1))
    got = occurrences_between(rec, utc(2027, 3, 1), utc(2027, 11, 30))
    assert all(local(i, BERLIN).time() == time(19, 0) for i in got)
    assert all(local(i, BERLIN).weekday() == SUN for i in got)
    assert {b - a for a, b in pairwise(got)} == {
        timedelta(days=14),
        timedelta(days=14, hours=-1),  # the fortnight with the spring change is an hour short
        timedelta(days=14, hours=1),
    }
    assert got[:3] == [
        utc(2027, 3, 7, 18, 0),  # CET: 19:00 is 18:00 UTC
        utc(2027, 3, 21, 18, 0),
        utc(2027, 4, 4, 17, 0),  # the clocks went forward on 28 March: CEST
    ]


def test_berlin_time_in_the_spring_gap_moves_forward_to_the_jump() -> None:
    # 2027-03-28: Berlin's clocks jump from 02:00 to 03:00; 02:30 does not exist that night.
    rec = parse_recurrence("every month on the last sunday at 02:30", BERLIN, utc(2027, 1, 1))
    got = next_occurrences(rec, utc(2027, 3, 1), 2)
    assert not wall_time_exists(date(2027, 3, 28), time(2, 30), BERLIN)
    assert got[0] == utc(2027, 3, 28, 1, 0)  # 03:00 CEST, the moment of the jump
    assert local(got[0], BERLIN) == datetime(2027, 3, 28, 3, 0)
    assert local(got[1], BERLIN) == datetime(2027, 4, 25, 2, 30)  # back to the wall time


def test_berlin_repeated_time_in_autumn_takes_the_first() -> None:
    # 2027-10-31: 02:00-03:00 happens twice in Berlin (CEST, then CET).
    rec = parse_recurrence("every month on the last sunday at 02:30", BERLIN, utc(2027, 1, 1))
    assert next_occurrence(rec, utc(2027, 10, 1)) == utc(2027, 10, 31, 0, 30)  # CEST, +2


def test_new_york_nth_weekday_on_the_change_days() -> None:
    # The US changes on the 2nd Sunday of March and the 1st Sunday of November, at 02:00.
    spring = parse_recurrence("every month on the 2nd sunday at 02:30", NEW_YORK, utc(2027, 1, 1))
    assert next_occurrence(spring, utc(2027, 3, 1)) == utc(2027, 3, 14, 7, 0)  # 03:00 EDT
    autumn = parse_recurrence("every month on the 1st sunday at 01:30", NEW_YORK, utc(2027, 1, 1))
    assert next_occurrence(autumn, utc(2027, 11, 1)) == utc(2027, 11, 7, 5, 30)  # first: EDT
    monthly = occurrences_between(autumn, utc(2027, 1, 1), utc(2027, 12, 31))
    assert [local(i, NEW_YORK).time() for i in monthly] == [time(1, 30)] * 12


@given(
    pattern=patterns,
    at=times,
    zone=st.sampled_from(ZONES),
    start=st.dates(date(2025, 1, 1), date(2030, 12, 31)),
)
@settings(max_examples=80, deadline=None)
def test_every_occurrence_keeps_the_wall_time_or_sits_at_the_jump(
    pattern: object, at: time, zone: ZoneInfo, start: date
) -> None:
    rec = Recurrence(pattern, at, zone, start)  # type: ignore[arg-type]
    begin = local_instant(start, time(0, 0), zone)
    got = next_occurrences(rec, begin, 40)
    assert got == sorted(set(got)), "strictly increasing"
    for instant in got:
        wall = local(instant, zone)
        if wall_time_exists(wall.date(), at, zone):
            assert wall.time() == at
        else:  # skipped by the clocks: moved forward to the jump, less than an hour later
            asked = datetime.combine(wall.date(), at)
            assert asked < wall <= asked + timedelta(hours=1)
            assert instant == local_instant(wall.date(), at, zone)
        assert instant > begin
    # next_occurrence walks the same chain, one step at a time
    chained, cursor = [], begin
    for _ in range(min(len(got), 8)):
        step = next_occurrence(rec, cursor)
        assert step is not None
        chained.append(step)
        cursor = step
    assert chained == got[: len(chained)]


def test_every_n_counts_from_the_first_matching_day() -> None:
    # Set up on a Tuesday: "every 2 weeks on monday" starts in 6 days, not 13.
    weeks = parse_recurrence("every 2 weeks on monday at 10:00", BERLIN, NOW)
    got = [local(i, BERLIN).date() for i in next_occurrences(weeks, NOW, 3)]
    assert got == [date(2026, 12, 7), date(2026, 12, 21), date(2027, 1, 4)]
    # Set up on 1 December, after nothing: the 15th this month, then every third month.
    months = parse_recurrence("every 3 months on the 15th", BERLIN, NOW)
    got = [local(i, BERLIN).date() for i in next_occurrences(months, NOW, 3)]
    assert got == [date(2026, 12, 15), date(2027, 3, 15), date(2027, 6, 15)]
    later = parse_recurrence("every 2 months on the 1st", BERLIN, NOW + timedelta(days=1))
    got = [local(i, BERLIN).date() for i in next_occurrences(later, NOW, 2)]
    assert got == [date(2027, 1, 1), date(2027, 3, 1)]


# --- month ends ---------------------------------------------------------------------------


def test_the_31st_falls_on_the_last_day_of_shorter_months() -> None:
    rec = parse_recurrence("every month on the 31st at 18:00", BERLIN, utc(2027, 12, 1))
    days = [local(i, BERLIN).date() for i in next_occurrences(rec, utc(2027, 12, 1), 7)]
    assert days == [
        date(2027, 12, 31),
        date(2028, 1, 31),
        date(2028, 2, 29),  # leap year
        date(2028, 3, 31),
        date(2028, 4, 30),  # moved, not skipped
        date(2028, 5, 31),
        date(2028, 6, 30),
    ]


@pytest.mark.parametrize(
    ("day", "february"), [(29, date(2027, 2, 28)), (30, date(2027, 2, 28)), (28, date(2027, 2, 28))]
)
def test_late_days_in_a_short_february(day: int, february: date) -> None:
    rec = Recurrence(MonthlyOnDay(day), time(9, 0), BERLIN, date(2027, 2, 1))
    assert local(next_occurrences(rec, utc(2027, 1, 31), 1)[0], BERLIN).date() == february


@given(
    day=st.integers(1, 31), interval=st.integers(1, 12), start=st.dates(date(2025, 1, 1), date(2030, 1, 1))
)
@settings(max_examples=60, deadline=None)
def test_a_day_of_the_month_is_never_skipped(day: int, interval: int, start: date) -> None:
    rec = Recurrence(MonthlyOnDay(day, interval), time(12, 0), ZoneInfo("UTC"), start)
    got = [i.date() for i in next_occurrences(rec, utc(start.year, start.month, start.day), 12)]
    months = [d.year * 12 + d.month for d in got]
    assert all(b - a == interval for a, b in pairwise(months))
    for d in got:
        last = (date(d.year + d.month // 12, d.month % 12 + 1, 1) - timedelta(days=1)).day
        assert d.day == min(day, last)


def test_last_weekday_and_last_day() -> None:
    friday = parse_recurrence("every month on the last friday", BERLIN, utc(2027, 1, 1))
    assert [local(i, BERLIN).date() for i in next_occurrences(friday, utc(2027, 1, 1), 3)] == [
        date(2027, 1, 29),
        date(2027, 2, 26),
        date(2027, 3, 26),
    ]
    last = parse_recurrence("every month on the last day", BERLIN, utc(2027, 1, 1))
    assert [local(i, BERLIN).date() for i in next_occurrences(last, utc(2027, 1, 1), 3)] == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
    ]


def test_until_is_inclusive_and_then_expired() -> None:
    rec = parse_recurrence("every tuesday at 18:00 until 2026-12-15", BERLIN, NOW)
    got = occurrences_between(rec, NOW, utc(2027, 6, 1))
    assert [local(i, BERLIN).date() for i in got] == [
        date(2026, 12, 1),
        date(2026, 12, 8),
        date(2026, 12, 15),  # today's 18:00 is still ahead
    ]
    assert next_occurrence(rec, got[-1]) is None
    assert not is_expired(rec, got[-1])
    assert is_expired(rec, utc(2026, 12, 15, 23, 0))  # past local midnight


# --- after each gathering ----------------------------------------------------------------


def test_after_each_gathering_follows_the_gatherings() -> None:
    rec = parse_recurrence("after each gathering", BERLIN, NOW)
    gatherings = following(
        [Weekly(TUE, time(19, 0), BERLIN), Weekly(FRI, time(18, 0), BERLIN, date(2026, 12, 10))]
    )
    got = occurrences_between(rec, NOW, utc(2026, 12, 20), gatherings)
    assert [local(i, BERLIN) for i in got] == [
        datetime(2026, 12, 1, 19, 0),
        datetime(2026, 12, 4, 18, 0),
        datetime(2026, 12, 8, 19, 0),
        datetime(2026, 12, 15, 19, 0),  # the friday gathering ended on the 10th
    ]


def test_after_each_gathering_without_gatherings_is_a_clear_error() -> None:
    rec = parse_recurrence("after each gathering", BERLIN, NOW)
    with pytest.raises(RecurrenceError, match="needs a gathering"):
        next_occurrence(rec, NOW)
    assert next_occurrence(rec, NOW, following([])) is None


# --- downtime -----------------------------------------------------------------------------


def test_catch_up_posts_the_newest_late_and_notes_the_rest() -> None:
    rec = parse_recurrence("every day at 09:00", BERLIN, NOW)
    last = utc(2026, 12, 2, 8, 0)  # the 2nd, 09:00 Berlin, was handled
    now = utc(2026, 12, 5, 8, 30)  # woke up 30 minutes after the 5th's occurrence
    got = catch_up(rec, last, now, grace=timedelta(hours=1))
    assert got.post == utc(2026, 12, 5, 8, 0) and got.late
    assert got.missed == (utc(2026, 12, 3, 8, 0), utc(2026, 12, 4, 8, 0))
    assert got.handled_through == got.post
    # Asked again with the stored mark: nothing more, never twice.
    again = catch_up(rec, got.handled_through, now, grace=timedelta(hours=1))
    assert again.post is None and again.missed == () and again.handled_through is None


def test_catch_up_past_grace_is_one_note_and_on_time_is_not_late() -> None:
    rec = parse_recurrence("every month on the 2nd tuesday at 18:00", BERLIN, NOW)
    late = catch_up(rec, NOW, utc(2027, 2, 9, 20, 0), grace=timedelta(hours=1))
    assert late.post is None
    assert [local(i, BERLIN).date() for i in late.missed] == [
        date(2026, 12, 8),
        date(2027, 1, 12),
        date(2027, 2, 9),
    ]
    on_time = catch_up(rec, NOW, utc(2026, 12, 8, 17, 1), grace=timedelta(hours=1))
    assert on_time.post == utc(2026, 12, 8, 17, 0) and not on_time.late and on_time.missed == ()


def test_load_recurrence_accepts_an_old_end_but_not_one_before_the_start() -> None:
    old = load_recurrence("every tuesday at 18:00 until 2025-03-04", BERLIN, date(2025, 1, 1))
    assert is_expired(old, NOW) and next_occurrence(old, NOW) is None
    with pytest.raises(RecurrenceError, match="before the start"):
        load_recurrence("every tuesday until 2024-12-31", BERLIN, date(2025, 1, 1))


@pytest.mark.parametrize("count", ["²", "٣", "99999999999999999999"])
def test_an_interval_that_is_not_a_small_ascii_number_is_refused(count: str) -> None:
    # isdigit() accepts these; int() does not (or gives a count rrule cannot place).
    with pytest.raises(RuleError):
        parse_recurrence(
            f"every {count} weeks on tuesday", ZoneInfo("UTC"), datetime(2026, 12, 1, tzinfo=UTC)
        )


def test_short_units_only_where_allowed_and_counted_in_utc() -> None:
    with pytest.raises(RecurrenceError, match="not a recurrence"):
        parse_recurrence("every 10 seconds", BERLIN, NOW)
    every = parse_recurrence("every 10 seconds", BERLIN, NOW, short_units=True)
    assert describe(every) == "every 10 seconds" and every.at is None
    assert load_recurrence(describe(every), BERLIN, every.start) == every
    first, second = next_occurrences(every, NOW + timedelta(seconds=3), 2)
    assert (first - NOW, second - first) == (timedelta(seconds=10), timedelta(seconds=10))
    with pytest.raises(RecurrenceError, match="no time of day"):
        parse_recurrence("every 2 minutes at 10:00", BERLIN, NOW, short_units=True)
    plan = catch_up(every, NOW, NOW + timedelta(seconds=35), timedelta(seconds=20))
    assert plan.post == NOW + timedelta(seconds=30) and len(plan.missed) == 2


def test_the_refusal_of_nonsense_says_the_grammar_hint_whole() -> None:
    """The refusal writes GRAMMAR_HINT out (a whole sentence of the catalogue): they agree."""
    from protocols.recurrence_grammar import GRAMMAR_HINT, parse_recurrence

    with pytest.raises(RecurrenceError) as refused:
        parse_recurrence("every fortnight", ZoneInfo("UTC"), datetime(2026, 1, 1, tzinfo=UTC))
    assert str(refused.value) == f"'every fortnight' is not a recurrence I understand: {GRAMMAR_HINT}."
