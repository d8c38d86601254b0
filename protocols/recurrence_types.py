"""The typed recurrence: what :mod:`protocols.recurrence_grammar` reads from chat and
:mod:`protocols.recurrence` places in time (see that module for the rules).

Pure data and its checks; nothing here knows about dates beyond the fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from protocols.schedule import ScheduleError

# A turn without ``at`` starts at nine in the morning, local time: early enough that the day is
# still ahead, late enough that a reminder the evening before is not a surprise.
DEFAULT_AT = time(9, 0)
LAST = -1  # "the last friday", "the last day"

MAX_INTERVAL = {"day": 90, "week": 52, "month": 12, "minute": 600, "second": 3600}


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
class Frequent:
    """Every ``interval`` minutes or seconds, counted from the start of ``start``'s day.

    Not for people: the grammar reads it only where the operator allowed short units (tests
    and demos, ``short_units`` in a feature's config), so an end-to-end test sees a rota turn
    in seconds. Counted in UTC, so no DST change bends it.
    """

    unit: Literal["minute", "second"]
    interval: int = 1


@dataclass(frozen=True)
class AfterGathering:
    """At each of the room's gatherings."""


Pattern = Daily | WeeklyOn | MonthlyOnDay | MonthlyOnWeekday | AfterGathering | Frequent

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
        if isinstance(self.pattern, AfterGathering | Frequent) != (self.at is None):
            raise ValueError("'at' is None exactly for after-each-gathering and frequent recurrences")
        if self.until is not None and self.until < self.start:
            raise ValueError("until is before start")


def _check_pattern(pattern: Pattern) -> None:
    """Programming errors (the parser never builds these); user errors are caught earlier."""
    if isinstance(pattern, AfterGathering):
        return
    unit = (
        pattern.unit
        if isinstance(pattern, Frequent)
        else {Daily: "day", WeeklyOn: "week"}.get(type(pattern), "month")
    )
    if not 1 <= pattern.interval <= MAX_INTERVAL[unit]:
        raise ValueError(f"interval out of range: {pattern.interval}")
    if isinstance(pattern, WeeklyOn | MonthlyOnWeekday) and not 0 <= pattern.weekday <= 6:
        raise ValueError(f"weekday must be 0..6, not {pattern.weekday}")
    if isinstance(pattern, MonthlyOnDay) and not (pattern.day == LAST or 1 <= pattern.day <= 31):
        raise ValueError(f"day of month out of range: {pattern.day}")
    if isinstance(pattern, MonthlyOnWeekday) and pattern.nth not in (1, 2, 3, 4, LAST):
        raise ValueError(f"nth weekday out of range: {pattern.nth}")
