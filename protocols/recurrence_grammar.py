"""Recurrences as people type them in chat, and back (see :mod:`protocols.recurrence` for
what they mean)::

    every day                              every 3 days
    every tuesday                          every week on tuesday
    every 2 weeks on saturday              every other week on saturday
    every month on the 15th                every 2 months on the 1st
    every month on the last day
    every month on the 2nd tuesday         every month on the last friday
    after each gathering                   (after every gathering)

``at HH:MM`` and ``until YYYY-MM-DD`` may follow, in either order. Where the operator allowed
short units (``short_units``: tests and demos), ``every 10 seconds`` and ``every 2 minutes``
are read too.

Pure: ``now`` and the zone are passed in.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from protocols.recurrence_types import (
    DEFAULT_AT,
    LAST,
    MAX_INTERVAL,
    AfterGathering,
    Daily,
    Frequent,
    MonthlyOnDay,
    MonthlyOnWeekday,
    Pattern,
    Recurrence,
    RecurrenceError,
    WeeklyOn,
)
from protocols.schedule import ScheduleError, parse_hhmm, parse_weekday, weekday_name

_ORDINAL_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": LAST}
_ORDINAL = re.compile(r"^(\d{1,2})(st|nd|rd|th)$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_SHORT_UNITS = ("minute", "second")

GRAMMAR_HINT = (
    "say it like: every tuesday, every 2 weeks on saturday, every month on the 15th, every month "
    "on the 2nd tuesday, every month on the last friday, or after each gathering; then "
    "optionally at HH:MM"
)


# --- parsing ------------------------------------------------------------------------------


def parse_recurrence(text: str, zone: ZoneInfo, now: datetime, short_units: bool = False) -> Recurrence:
    """``"every 2 weeks on saturday at 10:00"`` -> a :class:`Recurrence` counted from today.

    ``now`` (aware) fixes ``start`` (today, in ``zone``) and refuses an ``until`` in the past.
    ``short_units``: also read ``every <n> minutes`` and ``every <n> seconds`` (tests, demos).
    """
    if now.tzinfo is None:
        raise ValueError("pass an aware datetime (UTC)")
    pattern, at, until = _parse_parts(text, short_units)
    today = now.astimezone(zone).date()
    if until is not None and until < today:
        raise RecurrenceError(
            "The end date {date} is in the past (today is {today} in {zone}): give a date from today on.",
            date=until.isoformat(),
            today=today.isoformat(),
            zone=zone.key,
        )
    return Recurrence(pattern, at, zone, today, until)


def load_recurrence(text: str, zone: ZoneInfo, start: date) -> Recurrence:
    """A stored recurrence back from :func:`describe`'s text and its ``start`` date (no check
    against today: an old end date is simply an expired recurrence; short units are read, as
    only a config that allowed them could have stored one)."""
    pattern, at, until = _parse_parts(text, short_units=True)
    if until is not None and until < start:
        raise RecurrenceError(
            "The end date {date} is before the start {start}.",
            date=until.isoformat(),
            start=start.isoformat(),
        )
    return Recurrence(pattern, at, zone, start, until)


def _parse_parts(text: str, short_units: bool) -> tuple[Pattern, time | None, date | None]:
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
                "'{keyword}' needs a value and goes at the end, like 'every tuesday at 18:00 until 2027-06-30'.",
                keyword=keyword,
            )
    pattern = _parse_pattern(words, text, short_units)
    if isinstance(pattern, AfterGathering):
        if at is not None:
            raise RecurrenceError("'after each gathering' starts with each gathering: leave out 'at HH:MM'.")
    elif isinstance(pattern, Frequent):
        if at is not None:
            if pattern.unit == "minute":
                raise RecurrenceError("Every few minutes has no time of day: leave out 'at HH:MM'.")
            raise RecurrenceError("Every few seconds has no time of day: leave out 'at HH:MM'.")
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
    raise RecurrenceError("'{text}' is not a date: use YYYY-MM-DD, like 2027-06-30.", text=text)


def _nonsense(text: str) -> RecurrenceError:
    # The sentence is GRAMMAR_HINT's, written out so the catalogue has it whole.
    return RecurrenceError(
        "'{text}' is not a recurrence I understand: say it like: every tuesday, every 2 weeks on "
        "saturday, every month on the 15th, every month on the 2nd tuesday, every month on the last "
        "friday, or after each gathering; then optionally at HH:MM.",
        text=text.strip() or "(nothing)",
    )


def _parse_pattern(words: list[str], text: str, short_units: bool) -> Pattern:
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
    if unit not in MAX_INTERVAL or (unit in _SHORT_UNITS and not short_units):
        raise _nonsense(text)  # "every fortnight", "every year"
    if interval > MAX_INTERVAL[unit]:
        raise _too_far(interval, unit)
    on = rest[1:]
    if unit in _SHORT_UNITS:
        if on:
            raise _nonsense(text)
        return Frequent("minute" if unit == "minute" else "second", interval)
    if unit == "day":
        if on:
            raise _nonsense(text)
        return Daily(interval)
    if unit == "week":
        if len(on) != 2 or on[0] != "on":
            raise RecurrenceError(
                "Say which day of the week, like 'every {every} on saturday'.", every=_every(interval, "week")
            )
        try:
            return WeeklyOn(parse_weekday(on[1]), interval)
        except ScheduleError as exc:
            raise RecurrenceError.restated(exc) from None
    # month
    if len(on) not in (3, 4) or on[:2] != ["on", "the"]:
        raise RecurrenceError(
            "Say which day of the month, like 'every {every} on the 15th', "
            "'on the 2nd tuesday' or 'on the last friday'.",
            every=_every(interval, "month"),
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
            raise RecurrenceError("'{text}': the number must be between 1 and 999.", text=text.strip())
        number = int(rest[0])
        if number < 1:
            raise RecurrenceError("'{text}': the number must be at least 1.", text=text.strip())
        return number, rest[1:]
    return 1, rest


def _too_far(interval: int, unit: str) -> RecurrenceError:
    """The refusal of an interval over MAX_INTERVAL (one sentence per unit: each language
    names its units in its own words)."""
    values = {"interval": str(interval), "most": str(MAX_INTERVAL[unit])}
    if unit == "day":
        return RecurrenceError("Every {interval} days is too far apart: at most every {most} days.", **values)
    if unit == "week":
        return RecurrenceError(
            "Every {interval} weeks is too far apart: at most every {most} weeks.", **values
        )
    if unit == "month":
        return RecurrenceError(
            "Every {interval} months is too far apart: at most every {most} months.", **values
        )
    if unit == "minute":
        return RecurrenceError(
            "Every {interval} minutes is too far apart: at most every {most} minutes.", **values
        )
    return RecurrenceError(
        "Every {interval} seconds is too far apart: at most every {most} seconds.", **values
    )


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
            raise RecurrenceError("A month has days 1 to 31, not {day}: try 'on the last day'.", day=str(day))
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
        raise RecurrenceError.restated(exc) from None
    if nth not in (1, 2, 3, 4, LAST):
        raise RecurrenceError(
            "Most months have no {first} {weekday}: use 1st to 4th, or last.",
            first=first,
            weekday=weekday_name(weekday),
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
    elif isinstance(pattern, Frequent):
        text = f"every {_every(pattern.interval, pattern.unit)}"
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
