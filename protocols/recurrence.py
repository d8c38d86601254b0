"""Recurrences beyond weekly, for rotas and gatherings alike: the chat grammar and its occurrences.

What people type (any case; ``at HH:MM`` and ``until YYYY-MM-DD`` may follow, in either order)::

    every day                              every 3 days
    every tuesday                          every week on tuesday
    every 2 weeks on saturday              every other week on saturday
    every month on the 15th                every 2 months on the 1st
    every month on the last day
    every month on the 2nd tuesday         every month on the last friday
    after each gathering                   (after every gathering)

The dates come from ``dateutil.rrule`` (RFC 5545), not from arithmetic of our own. The rule runs on
the room's local wall clock and each local time is then placed in UTC with the rules of
:mod:`protocols.schedule`, so every recurrence behaves like a weekly gathering does:

- the wall-clock time is kept across DST changes (09:00 stays 09:00 in summer and winter);
- a time the clocks skip (02:30 on the spring-forward night) moves forward to the moment they
  jump (03:00), never an hour late; a time that happens twice takes its first occurrence.

Month ends: a day that a month does not have is *moved to that month's last day*, not skipped
("every month on the 31st" falls on 30 April and on 28 or 29 February). A care duty that
silently disappears from every short month would leave people without it for weeks; people
who want the very end of each month can say so (``on the last day``). ``the 5th tuesday`` is
refused for the same reason: most months have none.

Counting starts at ``start`` (a local date, usually the day the recurrence was set up): "every
2 weeks" and "every 3 months" count from the first matching day on or after it. ``until`` is a local date (a sunset, as in
:mod:`protocols.schedule`): occurrences on it still happen, none after.

``after each gathering`` has no dates of its own: its occurrences are the room's gatherings,
which the caller passes as a :data:`NextGathering` (see :func:`following`). The turn starts when
the gathering does; no ``at`` is accepted for it.

Downtime is handled as for gatherings (:func:`catch_up`, the same rule and result type as
:func:`protocols.schedule.catch_up`): the newest occurrence that fell due is posted, late if
within grace; all older ones, and the newest too past grace, go into one note.

Pure: ``now`` and the zone are passed in; nothing here reads the clock.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil import rrule

from protocols.schedule import (
    ON_TIME_WINDOW,
    CatchUp,
    Misfire,
    Schedule,
    ScheduleError,
    local_instant,
    misfire,
    parse_hhmm,
    parse_weekday,
    weekday_name,
)
from protocols.schedule import next_occurrence as schedule_next_occurrence

# A turn without ``at`` starts at nine in the morning, local time: early enough that the day is
# still ahead, late enough that a reminder the evening before is not a surprise.
DEFAULT_AT = time(9, 0)
LAST = -1  # "the last friday", "the last day"

MAX_INTERVAL = {"day": 90, "week": 52, "month": 12}
_ORDINAL_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": LAST}
_ORDINAL = re.compile(r"^(\d{1,2})(st|nd|rd|th)$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_RRULE_WEEKDAYS = (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU)

GRAMMAR_HINT = (
    "say it like: every tuesday, every 2 weeks on saturday, every month on the 15th, every month "
    "on the 2nd tuesday, every month on the last friday, or after each gathering; then "
    "optionally at HH:MM"
)


class RecurrenceError(ScheduleError):
    """A recurrence the user typed cannot be used; the message says what would work."""


# --- the typed recurrence -----------------------------------------------------------------


@dataclass(frozen=True)
class Daily:
    """Every ``interval`` days."""

    interval: int = 1


@dataclass(frozen=True)
class WeeklyOn:
    """Every ``interval`` weeks on ``weekday`` (0 = Monday)."""

    weekday: int
    interval: int = 1


@dataclass(frozen=True)
class MonthlyOnDay:
    """Every ``interval`` months on day ``day`` (1..31, or :data:`LAST`); past a month's end,
    on its last day."""

    day: int
    interval: int = 1


@dataclass(frozen=True)
class MonthlyOnWeekday:
    """Every ``interval`` months on the ``nth`` (1..4, or :data:`LAST`) ``weekday``."""

    nth: int
    weekday: int
    interval: int = 1


@dataclass(frozen=True)
class AfterGathering:
    """At each of the room's gatherings."""


Pattern = Daily | WeeklyOn | MonthlyOnDay | MonthlyOnWeekday | AfterGathering

# The next gathering strictly after an instant (UTC), or None: how "after each gathering" learns
# the room's gatherings without this module knowing where they are stored.
NextGathering = Callable[[datetime], "datetime | None"]


@dataclass(frozen=True)
class Recurrence:
    """A pattern at local wall time ``at`` in ``zone``, counted from the local date ``start``,
    until the local date ``until`` (inclusive; None: no end). ``at`` is None only for
    :class:`AfterGathering`."""

    pattern: Pattern
    at: time | None
    zone: ZoneInfo
    start: date
    until: date | None = None

    def __post_init__(self) -> None:
        _check_pattern(self.pattern)
        if isinstance(self.pattern, AfterGathering) != (self.at is None):
            raise ValueError("'at' is None exactly for after-each-gathering recurrences")
        if self.until is not None and self.until < self.start:
            raise ValueError("until is before start")


def _check_pattern(pattern: Pattern) -> None:
    """Programming errors (the parser never builds these); user errors are caught earlier."""
    if isinstance(pattern, AfterGathering):
        return
    unit = {Daily: "day", WeeklyOn: "week"}.get(type(pattern), "month")
    if not 1 <= pattern.interval <= MAX_INTERVAL[unit]:
        raise ValueError(f"interval out of range: {pattern.interval}")
    if isinstance(pattern, WeeklyOn | MonthlyOnWeekday) and not 0 <= pattern.weekday <= 6:
        raise ValueError(f"weekday must be 0..6, not {pattern.weekday}")
    if isinstance(pattern, MonthlyOnDay) and not (pattern.day == LAST or 1 <= pattern.day <= 31):
        raise ValueError(f"day of month out of range: {pattern.day}")
    if isinstance(pattern, MonthlyOnWeekday) and pattern.nth not in (1, 2, 3, 4, LAST):
        raise ValueError(f"nth weekday out of range: {pattern.nth}")


# --- parsing ------------------------------------------------------------------------------


def parse_recurrence(text: str, zone: ZoneInfo, now: datetime) -> Recurrence:
    """``"every 2 weeks on saturday at 10:00"`` -> a :class:`Recurrence` counted from today.

    ``now`` (aware) fixes ``start`` (today, in ``zone``) and refuses an ``until`` in the past.
    """
    if now.tzinfo is None:
        raise ValueError("pass an aware datetime (UTC)")
    pattern, at, until = _parse_parts(text)
    today = now.astimezone(zone).date()
    if until is not None and until < today:
        raise RecurrenceError(
            f"The end date {until.isoformat()} is in the past (today is {today.isoformat()} in "
            f"{zone.key}): give a date from today on."
        )
    return Recurrence(pattern, at, zone, today, until)


def load_recurrence(text: str, zone: ZoneInfo, start: date) -> Recurrence:
    """A stored recurrence back from :func:`describe`'s text and its ``start`` date (no check
    against today: an old end date is simply an expired recurrence)."""
    pattern, at, until = _parse_parts(text)
    if until is not None and until < start:
        raise RecurrenceError(f"The end date {until.isoformat()} is before the start {start}.")
    return Recurrence(pattern, at, zone, start, until)


def _parse_parts(text: str) -> tuple[Pattern, time | None, date | None]:
    words = text.lower().split()
    at: time | None = None
    until: date | None = None
    # Trailing options, in either order: "at HH:MM", "until YYYY-MM-DD".
    while len(words) >= 2 and words[-2] in ("at", "until"):
        keyword, value = words[-2], words[-1]
        words = words[:-2]
        if keyword == "at":
            if at is not None:
                raise RecurrenceError("'at' is given twice: give one time of day.")
            at = parse_hhmm(value)
        else:
            if until is not None:
                raise RecurrenceError("'until' is given twice: give one end date.")
            until = _parse_date(value)
    for keyword in ("at", "until"):
        if keyword in words:
            raise RecurrenceError(
                f"'{keyword}' needs a value and goes at the end, like 'every tuesday at 18:00 "
                "until 2027-06-30'."
            )
    pattern = _parse_pattern(words, text)
    if isinstance(pattern, AfterGathering):
        if at is not None:
            raise RecurrenceError("'after each gathering' starts with each gathering: leave out 'at HH:MM'.")
    elif at is None:
        at = DEFAULT_AT
    return pattern, at, until


def _parse_date(text: str) -> date:
    match = _DATE.match(text)
    if match:
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            pass
    raise RecurrenceError(f"'{text}' is not a date: use YYYY-MM-DD, like 2027-06-30.")


def _nonsense(text: str) -> RecurrenceError:
    shown = text.strip() or "(nothing)"
    return RecurrenceError(f"'{shown}' is not a recurrence I understand: {GRAMMAR_HINT}.")


def _parse_pattern(words: list[str], text: str) -> Pattern:
    if words in (["after", "each", "gathering"], ["after", "every", "gathering"]):
        return AfterGathering()
    if len(words) < 2 or words[0] != "every":
        raise _nonsense(text)
    rest = words[1:]
    # "every tuesday": the common case, a weekday straight after "every".
    if len(rest) == 1 and rest[0] not in ("day", "week", "month", "other"):
        try:
            return WeeklyOn(parse_weekday(rest[0]))
        except ScheduleError:
            raise _nonsense(text) from None
    interval, rest = _interval(rest, text)
    if not rest:
        raise _nonsense(text)
    unit = rest[0].removesuffix("s")
    if unit not in MAX_INTERVAL:
        raise _nonsense(text)  # "every fortnight", "every year"
    if interval > MAX_INTERVAL[unit]:
        raise RecurrenceError(
            f"Every {interval} {unit}s is too far apart: at most every {MAX_INTERVAL[unit]} {unit}s."
        )
    on = rest[1:]
    if unit == "day":
        if on:
            raise _nonsense(text)
        return Daily(interval)
    if unit == "week":
        if len(on) != 2 or on[0] != "on":
            raise RecurrenceError(
                f"Say which day of the week, like 'every {_every(interval, 'week')} on saturday'."
            )
        try:
            return WeeklyOn(parse_weekday(on[1]), interval)
        except ScheduleError as exc:
            raise RecurrenceError(str(exc)) from None
    # month
    if len(on) not in (3, 4) or on[:2] != ["on", "the"]:
        raise RecurrenceError(
            f"Say which day of the month, like 'every {_every(interval, 'month')} on the 15th', "
            "'on the 2nd tuesday' or 'on the last friday'."
        )
    if on[2:] == ["last", "day"]:
        return MonthlyOnDay(LAST, interval)
    return _month_day_or_weekday(on[2:], interval, text)


def _interval(rest: list[str], text: str) -> tuple[int, list[str]]:
    if rest[0] == "other":
        return 2, rest[1:]
    if rest[0].isdigit():
        # ASCII digits only ("²" is a digit to isdigit() but not to int()), and a sane count.
        if not rest[0].isascii() or len(rest[0]) > 3:
            raise RecurrenceError(f"'{text.strip()}': the number must be between 1 and 999.")
        number = int(rest[0])
        if number < 1:
            raise RecurrenceError(f"'{text.strip()}': the number must be at least 1.")
        return number, rest[1:]
    return 1, rest


def _every(interval: int, unit: str) -> str:
    return unit if interval == 1 else f"{interval} {unit}s"


def _month_day_or_weekday(words: list[str], interval: int, text: str) -> Pattern:
    """``["15th"]`` -> the 15th; ``["2nd", "tuesday"]`` or ``["last", "friday"]`` -> a weekday."""
    first = words[0]
    ordinal = _ORDINAL.match(first)
    if len(words) == 1:
        if not ordinal or not _suffix_fits(int(ordinal.group(1)), ordinal.group(2)):
            raise _nonsense(text)
        day = int(ordinal.group(1))
        if not 1 <= day <= 31:
            raise RecurrenceError(f"A month has days 1 to 31, not {day}: try 'on the last day'.")
        return MonthlyOnDay(day, interval)
    if len(words) != 2:
        raise _nonsense(text)
    if first in _ORDINAL_WORDS:
        nth = _ORDINAL_WORDS[first]
    elif ordinal and _suffix_fits(int(ordinal.group(1)), ordinal.group(2)):
        nth = int(ordinal.group(1))
    else:
        raise _nonsense(text)
    try:
        weekday = parse_weekday(words[1])
    except ScheduleError as exc:
        raise RecurrenceError(str(exc)) from None
    if nth not in (1, 2, 3, 4, LAST):
        raise RecurrenceError(
            f"Most months have no {first} {weekday_name(weekday)}: use 1st to 4th, or last."
        )
    return MonthlyOnWeekday(nth, weekday, interval)


def _suffix_fits(number: int, suffix: str) -> bool:
    if 10 <= number % 100 <= 20:
        return suffix == "th"
    return suffix == {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")


def describe(recurrence: Recurrence) -> str:
    """The recurrence as people type it (``parse_recurrence(describe(r))`` gives it back)."""
    pattern = recurrence.pattern
    if isinstance(pattern, AfterGathering):
        text = "after each gathering"
    elif isinstance(pattern, Daily):
        text = f"every {_every(pattern.interval, 'day')}"
    elif isinstance(pattern, WeeklyOn):
        day = weekday_name(pattern.weekday)
        text = f"every {day}" if pattern.interval == 1 else f"every {pattern.interval} weeks on {day}"
    elif isinstance(pattern, MonthlyOnDay):
        day_text = "last day" if pattern.day == LAST else _ordinal(pattern.day)
        text = f"every {_every(pattern.interval, 'month')} on the {day_text}"
    else:
        nth = "last" if pattern.nth == LAST else _ordinal(pattern.nth)
        text = f"every {_every(pattern.interval, 'month')} on the {nth} {weekday_name(pattern.weekday)}"
    if recurrence.at is not None:
        text += f" at {recurrence.at.hour:02d}:{recurrence.at.minute:02d}"
    if recurrence.until is not None:
        text += f" until {recurrence.until.isoformat()}"
    return text


def _ordinal(number: int) -> str:
    if 10 <= number % 100 <= 20:
        return f"{number}th"
    return f"{number}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(number % 10, 'th') }"


# --- occurrences --------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _rule(pattern: Pattern, at: time, start: date, until: date | None) -> rrule.rrule:
    """The rrule on naive local wall times. Cached: rrule caches what it has computed, and a
    rota asks for the same rule at every turn."""
    assert not isinstance(pattern, AfterGathering)
    dtstart = datetime.combine(start, at)
    if pattern.interval > 1 and not isinstance(pattern, Daily):
        # "Every 2 weeks on monday" set up on a tuesday starts next monday, not in 13 days:
        # count the weeks (or months) from the first matching day on or after ``start``.
        dtstart = _rule(replace(pattern, interval=1), at, start, None)[0]
    common = {
        "dtstart": dtstart,
        "until": datetime.combine(until, time.max) if until is not None else None,
        "cache": True,
    }
    if isinstance(pattern, Daily):
        return rrule.rrule(rrule.DAILY, interval=pattern.interval, **common)
    if isinstance(pattern, WeeklyOn):
        return rrule.rrule(
            rrule.WEEKLY,
            interval=pattern.interval,
            byweekday=_RRULE_WEEKDAYS[pattern.weekday],
            **common,
        )
    if isinstance(pattern, MonthlyOnWeekday):
        return rrule.rrule(
            rrule.MONTHLY,
            interval=pattern.interval,
            byweekday=_RRULE_WEEKDAYS[pattern.weekday](pattern.nth),
            **common,
        )
    assert isinstance(pattern, MonthlyOnDay)
    if pattern.day == LAST or pattern.day <= 28:
        return rrule.rrule(rrule.MONTHLY, interval=pattern.interval, bymonthday=pattern.day, **common)
    # The 29th-31st: of the days 28..day that the month has, the last one. That is the day
    # itself where the month has it, else the month's last day (see the module docstring).
    return rrule.rrule(
        rrule.MONTHLY,
        interval=pattern.interval,
        bymonthday=tuple(range(28, pattern.day + 1)),
        bysetpos=-1,
        **common,
    )


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None:
        raise ValueError("pass aware datetimes (UTC)")


def _iter_after(
    recurrence: Recurrence, after: datetime, next_gathering: NextGathering | None
) -> Iterator[datetime]:
    """Occurrences strictly after ``after``, oldest first, as UTC instants."""
    _require_aware(after)
    if isinstance(recurrence.pattern, AfterGathering):
        if next_gathering is None:
            raise RecurrenceError(
                "'after each gathering' needs a gathering: schedule one with !gathering every, "
                "or choose days, like 'every tuesday'."
            )
        ends = _local_end(recurrence)
        cursor = after
        while True:
            instant = next_gathering(cursor)
            if instant is None or (ends is not None and instant >= ends):
                return
            if instant <= cursor:
                raise ValueError("next_gathering must return an instant after the one given")
            yield instant.astimezone(UTC)
            cursor = instant
    assert recurrence.at is not None
    rule = _rule(recurrence.pattern, recurrence.at, recurrence.start, recurrence.until)
    zone = recurrence.zone
    # Start a day early in local time: near midnight and across a jump, the local date of
    # ``after`` can be a day past an occurrence that is still ahead of it.
    cursor_day = after.astimezone(zone).date() - timedelta(days=1)
    for naive in rule.xafter(datetime.combine(cursor_day, time.min), inc=True):
        instant = local_instant(naive.date(), naive.time(), zone)
        if instant > after:
            yield instant


def _local_end(recurrence: Recurrence) -> datetime | None:
    if recurrence.until is None:
        return None
    return local_instant(recurrence.until + timedelta(days=1), time(0, 0), recurrence.zone)


def next_occurrence(
    recurrence: Recurrence, after: datetime, next_gathering: NextGathering | None = None
) -> datetime | None:
    """The first occurrence strictly after ``after`` (UTC), or None when none is left."""
    return next(_iter_after(recurrence, after, next_gathering), None)


def occurrences_between(
    recurrence: Recurrence,
    after: datetime,
    until: datetime,
    next_gathering: NextGathering | None = None,
) -> list[datetime]:
    """Every occurrence in ``(after, until]``, oldest first."""
    _require_aware(until)
    found: list[datetime] = []
    for instant in _iter_after(recurrence, after, next_gathering):
        if instant > until:
            break
        found.append(instant)
    return found


def next_occurrences(
    recurrence: Recurrence,
    after: datetime,
    count: int,
    next_gathering: NextGathering | None = None,
) -> list[datetime]:
    """The next ``count`` occurrences after ``after`` (fewer if the recurrence ends)."""
    found: list[datetime] = []
    if count <= 0:
        return found
    for instant in _iter_after(recurrence, after, next_gathering):
        found.append(instant)
        if len(found) == count:
            break
    return found


def ends_at(recurrence: Recurrence) -> datetime | None:
    """From this instant on no occurrence remains (None: it never ends by itself)."""
    return _local_end(recurrence)


def is_expired(recurrence: Recurrence, now: datetime) -> bool:
    """True when no occurrence is left after ``now`` (run :func:`catch_up` before deleting)."""
    _require_aware(now)
    end = ends_at(recurrence)
    return end is not None and now >= end


def following(schedules: Iterable[Schedule]) -> NextGathering:
    """A :data:`NextGathering` over the room's gathering schedules (the soonest of them)."""
    frozen = tuple(schedules)

    def next_gathering(after: datetime) -> datetime | None:
        upcoming = [
            instant for instant in (schedule_next_occurrence(s, after) for s in frozen) if instant is not None
        ]
        return min(upcoming, default=None)

    return next_gathering


# --- downtime -----------------------------------------------------------------------------


def catch_up(
    recurrence: Recurrence,
    last_handled: datetime,
    now: datetime,
    grace: timedelta,
    next_gathering: NextGathering | None = None,
    on_time_window: timedelta = ON_TIME_WINDOW,
) -> CatchUp:
    """What to post after downtime, by the rule gatherings follow
    (:func:`protocols.schedule.catch_up`): every occurrence in ``(last_handled, now]`` is
    covered once; the newest is posted (late if past the on-time window but within ``grace``),
    the rest, and the newest too past grace, are returned as ``missed`` for one note. Store
    ``handled_through`` with what you send; pass the creation time for a fresh recurrence.
    """
    _require_aware(now)
    due = occurrences_between(recurrence, last_handled, now, next_gathering)
    if not due:
        return CatchUp(post=None, late=False, missed=(), handled_through=None)
    newest = due[-1]
    decision = misfire(newest, now, grace, last_handled, on_time_window)
    if decision in (Misfire.ON_TIME, Misfire.LATE):
        return CatchUp(
            post=newest,
            late=decision is Misfire.LATE,
            missed=tuple(due[:-1]),
            handled_through=newest,
        )
    return CatchUp(post=None, late=False, missed=tuple(due), handled_through=newest)
