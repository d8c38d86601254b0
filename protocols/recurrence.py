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

The grammar is :mod:`protocols.recurrence_grammar` and the types
:mod:`protocols.recurrence_types`; both are re-exported here, the one module callers import.

Pure: ``now`` and the zone are passed in; nothing here reads the clock.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from dateutil import rrule

from protocols.recurrence_grammar import (
    GRAMMAR_HINT,
    describe,
    load_recurrence,
    parse_recurrence,
)
from protocols.recurrence_types import (
    DEFAULT_AT,
    LAST,
    MAX_INTERVAL,
    AfterGathering,
    Daily,
    Frequent,
    MonthlyOnDay,
    MonthlyOnWeekday,
    NextGathering,
    Pattern,
    Recurrence,
    RecurrenceError,
    WeeklyOn,
)
from protocols.schedule import ON_TIME_WINDOW, CatchUp, Schedule, catch_up_from, local_instant
from protocols.schedule import next_occurrence as schedule_next_occurrence

__all__ = [
    "DEFAULT_AT",
    "GRAMMAR_HINT",
    "LAST",
    "MAX_INTERVAL",
    "AfterGathering",
    "CatchUp",
    "Daily",
    "Frequent",
    "MonthlyOnDay",
    "MonthlyOnWeekday",
    "NextGathering",
    "Pattern",
    "Recurrence",
    "RecurrenceError",
    "WeeklyOn",
    "catch_up",
    "describe",
    "ends_at",
    "following",
    "is_expired",
    "load_recurrence",
    "next_occurrence",
    "next_occurrences",
    "occurrences_between",
    "parse_recurrence",
]

_RRULE_WEEKDAYS = (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU)


# --- occurrences --------------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _rule(pattern: Pattern, at: time, start: date, until: date | None) -> rrule.rrule:
    """The rrule on naive local wall times. Cached: rrule caches what it has computed, and a
    rota asks for the same rule at every turn."""
    assert not isinstance(pattern, AfterGathering | Frequent)
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
    if isinstance(recurrence.pattern, Frequent):
        yield from _frequent_after(recurrence, recurrence.pattern, after)
        return
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


def _frequent_after(recurrence: Recurrence, pattern: Frequent, after: datetime) -> Iterator[datetime]:
    """Every few minutes or seconds, counted in UTC from the local start of ``start``."""
    origin = local_instant(recurrence.start, time(0, 0), recurrence.zone)
    frequency = rrule.MINUTELY if pattern.unit == "minute" else rrule.SECONDLY
    ends = _local_end(recurrence)
    rule = rrule.rrule(frequency, interval=pattern.interval, dtstart=origin)
    instant = rule.after(after.astimezone(UTC), inc=False)
    while instant is not None and (ends is None or instant < ends):
        yield instant
        instant = rule.after(instant, inc=False)


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
    (:func:`protocols.schedule.catch_up_from`, shared with them): every occurrence in
    ``(last_handled, now]`` is covered once; the newest is posted (late if past the on-time
    window but within ``grace``), the rest, and the newest too past grace, are returned as
    ``missed`` for one note. Store ``handled_through`` with what you send; pass the creation
    time for a fresh recurrence.
    """
    _require_aware(now)
    due = occurrences_between(recurrence, last_handled, now, next_gathering)
    return catch_up_from(due, last_handled, now, grace, on_time_window)
