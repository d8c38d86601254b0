"""Gatherings: when a room meets, and what the bot does around it (the ghost chair's
schedule side).

A gathering is weekly (``!gathering every tue 19:00 ...``) or one-off (``!gathering at
2026-05-01 18:00 ...``); after its time come a zone and options in any order: ``draw`` (the
lottery's opening roles and a speaking order), ``remind <duration>`` (a heads-up before),
``care <duration>`` (a care check-in after) and, for a weekly one, ``until <YYYY-MM-DD>`` (its
sunset). :func:`next_step` says what a gathering does next, and when.

Pure: the caller passes ``now`` and the room's zone. When things happen is
:mod:`protocols.schedule`; the absent voices and the reminder are :mod:`protocols.ghostchair`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from protocols.errors import RuleError
from protocols.ghostchair import GhostChairError
from protocols.recurrence import describe
from protocols.schedule import (
    Once,
    Recurring,
    Schedule,
    Weekly,
    format_hhmm,
    next_occurrence,
    parse_hhmm,
    parse_weekday,
    weekday_name,
)
from protocols.timespec import (
    TimeSpecError,
    format_duration,
    format_local,
    parse_duration,
    parse_when,
    parse_zone,
)

MAX_GATHERINGS_PER_ROOM = 20

# --- gatherings ---------------------------------------------------------------------------

MAX_REMIND_BEFORE = timedelta(days=6)  # under a week, so a weekly reminder precedes its own day
MAX_CARE_AFTER = timedelta(days=2)


@dataclass(frozen=True)
class GatheringOptions:
    """What a gathering does besides the ghost chair.

    ``draw``: draw the opening roles and a speaking order at the start; ``remind_before``: post
    a heads-up this long before; ``care_after``: a care check-in this long after (None: no).
    """

    draw: bool = False
    remind_before: timedelta | None = None
    care_after: timedelta | None = None


@dataclass(frozen=True)
class GatheringSpec:
    """A parsed ``!gathering every ...`` or ``!gathering at ...``: when, and with what."""

    schedule: Schedule
    options: GatheringOptions
    zone_given: bool  # the user named a zone (the room may adopt it as its default)


USAGE_EVERY = (
    "!gathering every <weekday> <HH:MM> [zone] [draw] [remind <duration>] [care <duration>]"
    " [until <YYYY-MM-DD>]"
)
USAGE_AT = "!gathering at <YYYY-MM-DD HH:MM> [zone] [draw] [remind <duration>] [care <duration>]"
_OPTION_WORDS = frozenset({"draw", "remind", "care", "until"})
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


@dataclass(frozen=True)
class ZoneAndOptions:
    """What may follow a gathering's time: a zone first (None: the room's), then its options
    in any order, and for a weekly gathering its sunset (``until``)."""

    zone: ZoneInfo | None = None
    options: GatheringOptions = GatheringOptions()
    until: date | None = None


def parse_gathering(args: str, default_zone: ZoneInfo, now: datetime) -> GatheringSpec:
    """Parse what follows ``!gathering``: ``every tue 19:00 Europe/Paris draw remind 1h`` or
    ``at 2026-05-01 18:00 draw care 2h``. The zone defaults to the room's.

    The bot reads the same words through its command grammar (one converter per word, and
    :func:`parse_zone_and_options` for the rest), then :func:`weekly_gathering` or
    :func:`one_off_gathering`; this is the same path for a whole line of text.
    """
    words = args.split()
    if not words or words[0].lower() not in ("every", "at"):
        raise GhostChairError("Use {every}, or {at}.", every=USAGE_EVERY, at=USAGE_AT)
    every, words = words[0].lower() == "every", words[1:]
    if len(words) < 2:
        example = "every tuesday 19:00" if every else "at 2026-05-01 18:00 Europe/Paris"
        raise GhostChairError(
            "Use {usage}, e.g. !gathering {example}",
            usage=USAGE_EVERY if every else USAGE_AT,
            example=example,
        )
    try:
        if every:
            weekday, at = parse_weekday(words[0]), parse_hhmm(words[1])
            extra = parse_zone_and_options(words[2:], weekly=True)
            return weekly_gathering(weekday, at, extra, default_zone, now)
        try:
            day, at = parse_date(words[0]), parse_hhmm(words[1])
        except RuleError:
            raise GhostChairError(
                "'{text}' is not a time: use YYYY-MM-DD HH:MM, optionally with a zone (e.g. UTC)",
                text=f"{words[0]} {words[1]}",
            ) from None
        extra = parse_zone_and_options(words[2:], weekly=False)
        return one_off_gathering(day, at, extra, default_zone, now)
    except TimeSpecError as exc:
        # Time words come from timespec; make them the ritual's user-facing error type.
        raise GhostChairError.restated(exc) from exc


def parse_zone_and_options(words: Sequence[str], *, weekly: bool) -> ZoneAndOptions:
    """``Europe/Paris draw remind 1h care 2h until 2026-09-30`` (every part optional; the zone
    first, the rest in any order). ``until`` is for weekly gatherings only."""
    zone: ZoneInfo | None = None
    if words and words[0].lower() not in _OPTION_WORDS:
        zone, words = parse_zone(words[0]), words[1:]
    draw = False
    remind: timedelta | None = None
    care: timedelta | None = None
    until: date | None = None
    known = "draw, remind <duration>, care <duration>" + (", until <YYYY-MM-DD>" if weekly else "")
    i = 0
    while i < len(words):
        word = words[i].lower()
        if word == "draw":
            draw = True
            i += 1
            continue
        if word not in _OPTION_WORDS or (word == "until" and not weekly):
            if word == "until":
                raise GhostChairError(
                    "'{word}' is not understood here (until is only for weekly gatherings): the "
                    "options are {known}",
                    word=words[i],
                    known=known,
                )
            raise GhostChairError(
                "'{word}' is not understood here: the options are {known}", word=words[i], known=known
            )
        if i + 1 >= len(words):
            raise GhostChairError("'{word}' needs a value: the options are {known}", word=word, known=known)
        value = words[i + 1]
        if word == "remind":
            remind = parse_duration(value)
        elif word == "care":
            care = parse_duration(value)
            if care > MAX_CARE_AFTER:
                raise GhostChairError("A care reminder comes at most {most} after.", most=MAX_CARE_AFTER)
        else:
            until = parse_date(value)
        i += 2
    options = GatheringOptions(draw=draw, remind_before=remind, care_after=care)
    return ZoneAndOptions(zone, options, until)


def weekly_gathering(
    weekday: int, at: time, extra: ZoneAndOptions, default_zone: ZoneInfo, now: datetime
) -> GatheringSpec:
    """``!gathering every <weekday> <HH:MM> ...`` checked against ``now``: a sunset still ahead,
    an occurrence left before it, a heads-up shorter than the week."""
    zone = extra.zone or default_zone
    end_date, options = extra.until, extra.options
    if end_date is not None and end_date < now.astimezone(zone).date():
        raise GhostChairError("The end date {date} has already passed.", date=end_date.isoformat())
    schedule = Weekly(weekday, at, zone, end_date)
    if next_occurrence(schedule, now) is None:
        raise GhostChairError(
            "No {weekday} at {time} is left before the end date {date}; choose a later end date.",
            weekday=weekday_name(weekday),
            time=format_hhmm(at),
            date=str(end_date),
        )
    if options.remind_before is not None and options.remind_before > MAX_REMIND_BEFORE:
        raise GhostChairError("A weekly reminder can come at most {most} before.", most=MAX_REMIND_BEFORE)
    return GatheringSpec(schedule, options, extra.zone is not None)


def one_off_gathering(
    day: date, at: time, extra: ZoneAndOptions, default_zone: ZoneInfo, now: datetime
) -> GatheringSpec:
    """``!gathering at <YYYY-MM-DD> <HH:MM> ...``: a wall time that exists in the zone (not
    skipped by a DST change, within the years the bot handles) and is still ahead."""
    if extra.until is not None:
        raise GhostChairError("until is only for weekly gatherings.")
    zone = extra.zone or default_zone
    try:
        instant = parse_when(f"{day.isoformat()} {format_hhmm(at)}", zone)
    except TimeSpecError as exc:
        raise GhostChairError.restated(exc) from exc
    if instant <= now:
        raise GhostChairError(
            "{when} has already passed; choose a time in the future.", when=format_local(instant, zone)
        )
    return GatheringSpec(Once(instant, zone), extra.options, extra.zone is not None)


def parse_date(text: str) -> date:
    """``2026-09-30`` -> that date (a gathering's day, or a weekly gathering's sunset)."""
    match = _DATE.match(text)
    if match:
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            pass
    raise GhostChairError("'{text}' is not a date: use YYYY-MM-DD, like 2026-09-30", text=text)


def parse_gathering_id(text: str) -> int:
    """``!gathering cancel <id>``: the id as shown by ``!gathering list``."""
    cleaned = text.strip().lstrip("#")
    # ASCII digits only ("²" is a digit to isdigit but not to int), and few enough to be a
    # database id (a longer number overflows SQLite's 64-bit integers).
    if cleaned.isascii() and cleaned.isdigit() and len(cleaned) <= 12 and int(cleaned) > 0:
        return int(cleaned)
    raise GhostChairError(
        "'{text}' is not a gathering id: use !gathering cancel <id>, with an id from !gathering list.",
        text=text,
    )


def check_room_capacity(existing: int) -> None:
    """Refuse one more gathering in a room that already has the maximum."""
    if existing >= MAX_GATHERINGS_PER_ROOM:
        raise GhostChairError(
            "This room already has {most} gatherings; cancel one first "
            "(!gathering list, then !gathering cancel <id>).",
            most=MAX_GATHERINGS_PER_ROOM,
        )


def describe_schedule(schedule: Schedule) -> str:
    """``every tuesday 19:00 Europe/Paris until 2026-09-30`` or ``once, 2026-05-01 18:00 CEST``."""
    if isinstance(schedule, Once):
        return f"once, {format_local(schedule.at, schedule.zone)}"
    if isinstance(schedule, Recurring):
        return f"{describe(schedule.recurrence)} {schedule.zone.key}"
    text = f"every {weekday_name(schedule.weekday)} {format_hhmm(schedule.at)} {schedule.zone.key}"
    if schedule.end_date is not None:
        text += f" until {schedule.end_date.isoformat()}"
    return text


def describe_options(options: GatheringOptions) -> str:
    """The options as the user would type them again (empty when none)."""
    parts: list[str] = []
    if options.draw:
        parts.append("draw")
    if options.remind_before is not None:
        parts.append(f"remind {format_duration(options.remind_before)}")
    if options.care_after is not None:
        parts.append(f"care {format_duration(options.care_after)}")
    return " ".join(parts)


StepKind = Literal["remind", "start", "care"]
_STEP_ORDER: dict[str, int] = {"remind": 0, "start": 1, "care": 2}


@dataclass(frozen=True)
class GatheringStep:
    """Something a gathering does at ``due``: the heads-up before, the start (ghost chair, and
    the draw if asked), or the care check-in after, all for the occurrence at ``occurrence``.

    The caller schedules one job at ``due`` for the gathering id, marks ``(kind, occurrence)``
    handled when it acts (never twice), and asks again for the step after.
    """

    kind: StepKind
    occurrence: datetime
    due: datetime


def next_step(
    schedule: Schedule, options: GatheringOptions, after: datetime, not_before: datetime
) -> GatheringStep | None:
    """The first step due strictly after ``after``, for occurrences after ``not_before`` (the
    gathering's creation: no care check-in for a gathering held before it was scheduled).
    None when the schedule has nothing left. Ties go remind, start, care.
    """
    candidates: list[GatheringStep] = []
    start = next_occurrence(schedule, max(after, not_before))
    if start is not None:
        candidates.append(GatheringStep("start", start, start))
    if options.remind_before is not None:
        ahead = next_occurrence(schedule, max(after + options.remind_before, not_before))
        if ahead is not None:
            candidates.append(GatheringStep("remind", ahead, ahead - options.remind_before))
    if options.care_after is not None:
        behind = next_occurrence(schedule, max(after - options.care_after, not_before))
        if behind is not None:
            candidates.append(GatheringStep("care", behind, behind + options.care_after))
    if not candidates:
        return None
    return min(candidates, key=lambda step: (step.due, _STEP_ORDER[step.kind]))
