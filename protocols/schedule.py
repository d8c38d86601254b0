"""When gatherings happen: weekly and one-off schedules, sunsets, and what to do about misfires.

A weekly gathering keeps its local wall-clock time across DST changes (19:00 in Paris stays 19:00
in summer and winter). Two wall times need a rule:

- a time the clocks skip (02:30 on the spring-forward night) moves to the first valid instant
  after it, the moment the clocks jump (03:00 local): the gathering happens as close as possible
  to when people expect it, and never an hour late;
- a time that happens twice (01:30 on the fall-back night) uses its first occurrence.

A schedule may have an end date (its *sunset*): occurrences on that local date still happen,
none after it, and the schedule is then expired and may be deleted.

Misfires: the bot may be down when a gathering falls due. :func:`misfire` decides about one
occurrence (on time, late within a grace period, missed past it, or already done, never twice);
:func:`catch_up` takes every occurrence since the last one handled, posts at most the newest
(late if within grace) and returns the rest for one short note, so nothing is silently dropped.

Pure: the caller passes ``now`` (aware UTC) and remembers the last occurrence it handled.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from protocols.errors import RuleError

if TYPE_CHECKING:
    from protocols.recurrence import Recurrence

WEEKDAY_NAMES: tuple[str, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


class ScheduleError(RuleError):
    """A weekday, time or schedule the user typed cannot be used; the message says why."""


# --- parsing ------------------------------------------------------------------------------


def parse_weekday(text: str) -> int:
    """``"Tuesday"`` or ``"tue"`` (any case) -> 1. Monday is 0, as in :meth:`date.weekday`."""
    cleaned = text.strip().lower()
    for number, name in enumerate(WEEKDAY_NAMES):
        if cleaned == name or cleaned == name[:3]:
            return number
    raise ScheduleError(
        "'{text}' is not a weekday: use a name like tuesday or its first three letters (tue)", text=text
    )


def parse_hhmm(text: str) -> time:
    """``"19:30"`` -> 19:30 (24-hour clock; ``7:05`` is fine, ``25:00`` and ``7pm`` are not)."""
    match = _HHMM.match(text.strip())
    if match:
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour <= 23 and minute <= 59:
            return time(hour, minute)
    raise ScheduleError("'{text}' is not a time of day: use HH:MM on a 24-hour clock, like 19:30", text=text)


def format_hhmm(at: time) -> str:
    return f"{at.hour:02d}:{at.minute:02d}"


def weekday_name(weekday: int) -> str:
    return WEEKDAY_NAMES[weekday]


# --- schedules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Weekly:
    """Every ``weekday`` (0 = Monday) at local wall time ``at`` in ``zone``, until ``end_date``.

    ``end_date`` is a local date: occurrences on it still happen (None: no sunset).
    """

    weekday: int
    at: time
    zone: ZoneInfo
    end_date: date | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0..6, not {self.weekday}")


@dataclass(frozen=True)
class Once:
    """One gathering at the instant ``at`` (aware); ``zone`` is how it is shown."""

    at: datetime
    zone: ZoneInfo

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("a one-off gathering needs an aware datetime")


@dataclass(frozen=True)
class Recurring:
    """A gathering on a recurrence beyond weekly (every n weeks, monthly on a date or the nth
    weekday): a :class:`protocols.recurrence.Recurrence`, whose dates come from
    ``dateutil.rrule`` with the same DST rules as :class:`Weekly`. (That module builds on this
    one, so it is imported where it is used.)"""

    recurrence: Recurrence

    @property
    def zone(self) -> ZoneInfo:
        return self.recurrence.zone


Schedule = Weekly | Once | Recurring
# How far back the last occurrence before a recurring gathering's sunset may lie (every 12
# months at most, see protocols.recurrence_types.MAX_INTERVAL).
_LONGEST_GAP = timedelta(days=400)


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None:
        raise ValueError("pass aware datetimes (UTC)")


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant (UTC) when local clocks in ``zone`` show ``at`` on ``day``.

    A skipped wall time gives the moment the clocks jump (the first valid instant after it);
    a repeated one gives its first occurrence.
    """
    naive = datetime.combine(day, at)
    # fold=0: for a repeated time, the first occurrence; for a skipped one, the offset before
    # the jump, which lands *after* the jump (02:30 CET is 03:30 CEST).
    later = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall(later, zone) == naive:
        return later
    # Skipped: fold=1 applies the offset after the jump, which lands before it. The jump lies
    # between the two; find the first whole second whose wall time is not before ``naive``.
    earlier = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = int(earlier.timestamp()), int(later.timestamp())
    while lo < hi:
        mid = (lo + hi) // 2
        if _wall(datetime.fromtimestamp(mid, UTC), zone) >= naive:
            hi = mid
        else:
            lo = mid + 1
    return datetime.fromtimestamp(lo, UTC)


def wall_time_exists(day: date, at: time, zone: ZoneInfo) -> bool:
    """Whether local clocks in ``zone`` ever show ``at`` on ``day`` (False in a DST gap)."""
    naive = datetime.combine(day, at)
    return _wall(naive.replace(tzinfo=zone).astimezone(UTC), zone) == naive


def sunset_instant(end_date: date, zone: ZoneInfo) -> datetime:
    """The end of ``end_date`` in ``zone`` (the next local midnight), in UTC."""
    return local_instant(end_date + timedelta(days=1), time(0, 0), zone)


def next_occurrence(schedule: Schedule, after: datetime) -> datetime | None:
    """The first occurrence strictly after ``after`` (UTC), or None when there is none left."""
    _require_aware(after)
    if isinstance(schedule, Once):
        at = schedule.at.astimezone(UTC)
        return at if at > after else None
    if isinstance(schedule, Recurring):
        from protocols import recurrence

        return recurrence.next_occurrence(schedule.recurrence, after)
    zone = schedule.zone
    # Start a day early: near midnight and across a jump, the local date of ``after`` can be
    # a day past the date of the occurrence that is still ahead.
    day = after.astimezone(zone).date() - timedelta(days=1)
    day += timedelta(days=(schedule.weekday - day.weekday()) % 7)
    instant = local_instant(day, schedule.at, zone)
    while instant <= after:
        day += timedelta(days=7)
        instant = local_instant(day, schedule.at, zone)
    if schedule.end_date is not None and instant >= sunset_instant(schedule.end_date, zone):
        return None
    return instant


def occurrences_between(schedule: Schedule, after: datetime, until: datetime) -> list[datetime]:
    """Every occurrence in ``(after, until]``, oldest first (what fell due while the bot slept)."""
    _require_aware(until)
    found: list[datetime] = []
    instant = next_occurrence(schedule, after)
    while instant is not None and instant <= until:
        found.append(instant)
        instant = next_occurrence(schedule, instant)
    return found


def final_occurrence(schedule: Schedule) -> datetime | None:
    """The last occurrence there will ever be; None for a weekly schedule without a sunset."""
    if isinstance(schedule, Once):
        return schedule.at.astimezone(UTC)
    if isinstance(schedule, Recurring):
        end = ends_at(schedule)
        if end is None:
            return None
        found = occurrences_between(schedule, end - _LONGEST_GAP, end)
        return found[-1] if found else None
    if schedule.end_date is None:
        return None
    zone = schedule.zone
    day = schedule.end_date - timedelta(days=(schedule.end_date.weekday() - schedule.weekday) % 7)
    return local_instant(day, schedule.at, zone)


def ends_at(schedule: Schedule) -> datetime | None:
    """From this instant on no occurrence remains (None: the schedule never ends by itself)."""
    if isinstance(schedule, Once):
        return schedule.at.astimezone(UTC)
    if isinstance(schedule, Recurring):
        from protocols import recurrence

        return recurrence.ends_at(schedule.recurrence)
    if schedule.end_date is None:
        return None
    return sunset_instant(schedule.end_date, schedule.zone)


def is_expired(schedule: Schedule, now: datetime) -> bool:
    """True when no occurrence is left after ``now``: a passed one-off, or a weekly past sunset.

    Expired is not the same as handled: run :func:`catch_up` first, so the last occurrences
    are posted or noted before the schedule is deleted.
    """
    _require_aware(now)
    end = ends_at(schedule)
    return end is not None and now >= end


# --- misfires -----------------------------------------------------------------------------


class Misfire(Enum):
    """What to do about one occurrence when the job runs (or the bot wakes up)."""

    NOT_DUE = "not_due"  # called before the scheduled instant: schedule it again, post nothing
    ON_TIME = "on_time"  # post as usual
    LATE = "late"  # post, marked as late
    MISSED = "missed"  # too late to be useful: one short note instead
    ALREADY_DONE = "already_done"  # handled before (posted or noted): never twice


# A job runs a few seconds after its instant; that is still on time.
ON_TIME_WINDOW = timedelta(minutes=2)


def misfire(
    scheduled: datetime,
    now: datetime,
    grace: timedelta,
    last_handled: datetime | None,
    on_time_window: timedelta = ON_TIME_WINDOW,
) -> Misfire:
    """Decide about the occurrence at ``scheduled``.

    ``last_handled`` is the newest occurrence already posted or noted (the caller stores it);
    anything at or before it is done. Up to ``on_time_window`` after the instant is on time; up
    to ``grace`` is late; past that, missed (a zero grace means on time or missed).
    """
    _require_aware(scheduled)
    _require_aware(now)
    if last_handled is not None and scheduled <= last_handled:
        return Misfire.ALREADY_DONE
    if now < scheduled:
        return Misfire.NOT_DUE
    delay = now - scheduled
    if delay <= on_time_window:
        return Misfire.ON_TIME
    if delay <= grace:
        return Misfire.LATE
    return Misfire.MISSED


@dataclass(frozen=True)
class CatchUp:
    """What to do now for a schedule, given everything that fell due since it was last handled.

    ``post``: the occurrence to post now (or None), ``late`` whether to mark it so; ``missed``:
    the occurrences to summarise in one note, oldest first; ``handled_through``: the newest
    occurrence covered here, to store as the new last-handled mark (None: nothing to store).
    """

    post: datetime | None
    late: bool
    missed: tuple[datetime, ...]
    handled_through: datetime | None


def catch_up(
    schedule: Schedule,
    last_handled: datetime,
    now: datetime,
    grace: timedelta,
    on_time_window: timedelta = ON_TIME_WINDOW,
) -> CatchUp:
    """Every occurrence in ``(last_handled, now]``: the newest is posted if within grace, all
    older ones (and the newest too, past grace) go into one note. Pass the creation time as
    ``last_handled`` for a schedule that never fired. Each occurrence is covered exactly once
    as long as the caller stores ``handled_through`` together with what it sends.
    """
    return catch_up_from(
        occurrences_between(schedule, last_handled, now), last_handled, now, grace, on_time_window
    )


def catch_up_from(
    due: Sequence[datetime],
    last_handled: datetime,
    now: datetime,
    grace: timedelta,
    on_time_window: timedelta = ON_TIME_WINDOW,
) -> CatchUp:
    """The catch-up rule itself, for the occurrences ``due`` in ``(last_handled, now]`` (oldest
    first) of any kind of schedule: gatherings (:func:`catch_up`) and recurrences
    (:func:`protocols.recurrence.catch_up`) share it, so downtime means the same for both."""
    _require_aware(now)
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
