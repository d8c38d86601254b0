"""The ghost chair: an empty seat kept at every gathering for those who are not there.

"In every gathering, leave a symbolic space for those not present. The incarcerated comrade. The
parent who could not attend. The future participant who has yet to join. This empty seat reminds
the group that no one can legitimately claim to speak for the whole." (seed: The Ghost Chair and
the Absent Voice)

A room keeps an ordered list of *absent voices* (``!ghost add/list/remove``), starting from a
short default set. The reminder rotates through them, one voice per reminder, under one of a few
framings, so the chair never becomes a fixed formula read past. Gatherings (``!gathering``)
post the reminder at their start, optionally with a reminder before and a care reminder after.

Pure: the caller passes ``now``, the room's zone and the rotation counter it stores.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from protocols.errors import RuleError
from protocols.schedule import (
    Once,
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

# --- absent voices ------------------------------------------------------------------------

MAX_VOICE_LENGTH = 300
MAX_VOICES = 30  # a chair for everyone is a chair for no one: keep the list one can read aloud
MAX_GATHERINGS_PER_ROOM = 20

DEFAULT_ABSENT_VOICES: tuple[str, ...] = (
    "the comrade in prison",
    "the parent at home with the children",
    "the member who has not yet joined",
    "those who could not afford to come",
    "the neighbour whose language is not spoken here",
)

# Each framing names one voice; rotated so the ritual does not fossilize into a script.
FRAMINGS: tuple[str, ...] = (
    "An empty chair is kept tonight for {voice}. Before we decide, ask: how would this land "
    "for them?",
    "The ghost chair is here for {voice}. No one in this room speaks for the whole.",
    "Someone is missing: {voice}. Leave room for what they would have said.",
    "We keep a seat for {voice}. Whatever we decide, we decide without them: hold it lightly.",
    "Look at the empty chair. It belongs to {voice}. Who here is about to speak for them, and "
    "should they?",
)
_NO_VOICE = "those who are not here"

_WHITESPACE = re.compile(r"\s+")


class GhostChairError(RuleError):
    """A ghost-chair or gathering rule refused the input; the message says what to do."""


def validate_voice(text: str) -> str:
    """Clean one absent voice (whitespace collapsed); empty or overlong text is refused."""
    cleaned = _WHITESPACE.sub(" ", text).strip()
    if not cleaned:
        raise GhostChairError(
            "Say who the chair is for: !ghost add <text>, e.g. the comrade in prison"
        )
    if len(cleaned) > MAX_VOICE_LENGTH:
        raise GhostChairError(
            f"That voice is {len(cleaned)} characters long; keep it to {MAX_VOICE_LENGTH}."
        )
    return cleaned


def add_voice(voices: Sequence[str], text: str) -> tuple[str, ...]:
    """The list with ``text`` appended; refused when full or already there (any case)."""
    voice = validate_voice(text)
    if any(v.casefold() == voice.casefold() for v in voices):
        raise GhostChairError(f"'{voice}' already has a chair. See them with !ghost list.")
    if len(voices) >= MAX_VOICES:
        raise GhostChairError(
            f"The room already keeps {MAX_VOICES} absent voices; remove one first with "
            "!ghost remove <n>."
        )
    return (*voices, voice)


def remove_voice(voices: Sequence[str], number: str | int) -> tuple[tuple[str, ...], str]:
    """Remove the voice at 1-based position ``number`` (as typed); returns (new list, removed)."""
    if not voices:
        raise GhostChairError(
            "There are no absent voices to remove. Add one with !ghost add <text>."
        )
    try:
        index = int(str(number).strip())
    except ValueError:
        raise GhostChairError(
            f"'{number}' is not a number: use !ghost remove <n>, with n from !ghost list."
        ) from None
    if not 1 <= index <= len(voices):
        raise GhostChairError(
            f"There is no voice number {index}: choose 1 to {len(voices)} (see !ghost list)."
        )
    removed = voices[index - 1]
    return (*voices[: index - 1], *voices[index:]), removed


def render_voices(voices: Sequence[str]) -> tuple[str, str]:
    """``!ghost list``: the voices numbered as ``!ghost remove`` expects, as (plain, html)."""
    if not voices:
        text = "No absent voices are kept here. Add one with !ghost add <text>."
        return text, html.escape(text)
    plain = "The ghost chair is kept for:\n" + "\n".join(
        f"{n}. {voice}" for n, voice in enumerate(voices, start=1)
    )
    items = "".join(f"<li>{html.escape(voice)}</li>" for voice in voices)
    return plain, f"<p>The ghost chair is kept for:</p><ol>{items}</ol>"


# --- the reminder -------------------------------------------------------------------------


def reminder(
    voices: Sequence[str], rotation_index: int, framing_index: int, late: bool = False
) -> tuple[str, str]:
    """The ghost-chair reminder for one voice under one framing, as (plain, html).

    Both indexes wrap around, so the caller may pass an ever-growing counter. With no voices
    left, the chair is kept for "those who are not here". ``late`` adds a short note that the
    reminder comes after the gathering began (the bot was away).
    """
    voice = voices[rotation_index % len(voices)] if voices else _NO_VOICE
    framing = FRAMINGS[framing_index % len(FRAMINGS)]
    plain = "🪑 " + framing.format(voice=voice)
    rich = "🪑 " + html.escape(framing).format(voice=f"<em>{html.escape(voice)}</em>")
    if late:
        note = "(Posted late: the bot was away when the gathering began.)"
        plain += f"\n{note}"
        rich += f"<br><small>{html.escape(note)}</small>"
    return plain, rich


def reminder_for_turn(voices: Sequence[str], turn: int, late: bool = False) -> tuple[str, str]:
    """The reminder for the room's ``turn``-th reminder (its stored rotation counter).

    The voice advances every turn and the framing every full round of voices, so every voice
    meets every framing in time, whatever the list's length.
    """
    count = max(len(voices), 1)
    return reminder(voices, turn, turn // count, late=late)


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


def parse_gathering(args: str, default_zone: ZoneInfo, now: datetime) -> GatheringSpec:
    """Parse what follows ``!gathering``: ``every tue 19:00 Europe/Paris draw remind 1h`` or
    ``at 2026-05-01 18:00 draw care 2h``. The zone defaults to the room's.
    """
    words = args.split()
    if not words or words[0].lower() not in ("every", "at"):
        raise GhostChairError(f"Use {USAGE_EVERY}, or {USAGE_AT}.")
    try:
        if words[0].lower() == "every":
            return _parse_every(words[1:], default_zone, now)
        return _parse_at(words[1:], default_zone, now)
    except TimeSpecError as exc:
        # Time words come from timespec; make them the ritual's user-facing error type.
        raise GhostChairError(str(exc)) from exc


def _split_zone(words: list[str], default_zone: ZoneInfo) -> tuple[ZoneInfo, bool, list[str]]:
    if words and words[0].lower() not in _OPTION_WORDS:
        return parse_zone(words[0]), True, words[1:]
    return default_zone, False, words


def _parse_every(words: list[str], default_zone: ZoneInfo, now: datetime) -> GatheringSpec:
    if len(words) < 2:
        raise GhostChairError(f"Use {USAGE_EVERY}, e.g. !gathering every tuesday 19:00")
    weekday = parse_weekday(words[0])
    at = parse_hhmm(words[1])
    zone, zone_given, rest = _split_zone(words[2:], default_zone)
    options, end_date = _parse_options(rest, allow_until=True, usage=USAGE_EVERY)
    if end_date is not None and end_date < now.astimezone(zone).date():
        raise GhostChairError(f"The end date {end_date.isoformat()} has already passed.")
    schedule = Weekly(weekday, at, zone, end_date)
    if next_occurrence(schedule, now) is None:
        raise GhostChairError(
            f"No {weekday_name(weekday)} at {format_hhmm(at)} is left before the end date "
            f"{end_date}; choose a later end date."
        )
    if options.remind_before is not None and options.remind_before > MAX_REMIND_BEFORE:
        raise GhostChairError(
            f"A weekly reminder can come at most {format_duration(MAX_REMIND_BEFORE)} before."
        )
    return GatheringSpec(schedule, options, zone_given)


def _parse_at(words: list[str], default_zone: ZoneInfo, now: datetime) -> GatheringSpec:
    if len(words) < 2:
        raise GhostChairError(f"Use {USAGE_AT}, e.g. !gathering at 2026-05-01 18:00 Europe/Paris")
    zone, zone_given, rest = _split_zone(words[2:], default_zone)
    instant = parse_when(" ".join(words[:2]), zone)
    options, _ = _parse_options(rest, allow_until=False, usage=USAGE_AT)
    if instant <= now:
        raise GhostChairError(
            f"{format_local(instant, zone)} has already passed; choose a time in the future."
        )
    return GatheringSpec(Once(instant, zone), options, zone_given)


def _parse_options(
    words: list[str], allow_until: bool, usage: str
) -> tuple[GatheringOptions, date | None]:
    draw = False
    remind: timedelta | None = None
    care: timedelta | None = None
    until: date | None = None
    i = 0
    while i < len(words):
        word = words[i].lower()
        if word == "draw":
            draw = True
            i += 1
            continue
        if word not in _OPTION_WORDS or (word == "until" and not allow_until):
            hint = " (until is only for weekly gatherings)" if word == "until" else ""
            raise GhostChairError(f"'{words[i]}' is not understood here{hint}. Use {usage}.")
        if i + 1 >= len(words):
            raise GhostChairError(f"'{word}' needs a value. Use {usage}.")
        value = words[i + 1]
        if word == "remind":
            remind = parse_duration(value)
        elif word == "care":
            care = parse_duration(value)
            if care > MAX_CARE_AFTER:
                raise GhostChairError(
                    f"A care reminder comes at most {format_duration(MAX_CARE_AFTER)} after."
                )
        else:
            until = _parse_date(value)
        i += 2
    return GatheringOptions(draw=draw, remind_before=remind, care_after=care), until


def _parse_date(text: str) -> date:
    match = _DATE.match(text)
    if match:
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            pass
    raise GhostChairError(f"'{text}' is not a date: use YYYY-MM-DD, like 2026-09-30")


def parse_gathering_id(text: str) -> int:
    """``!gathering cancel <id>``: the id as shown by ``!gathering list``."""
    cleaned = text.strip().lstrip("#")
    # ASCII digits only ("²" is a digit to isdigit but not to int), and few enough to be a
    # database id (a longer number overflows SQLite's 64-bit integers).
    if cleaned.isascii() and cleaned.isdigit() and len(cleaned) <= 12 and int(cleaned) > 0:
        return int(cleaned)
    raise GhostChairError(
        f"'{text}' is not a gathering id: use !gathering cancel <id>, with an id from "
        "!gathering list."
    )


def check_room_capacity(existing: int) -> None:
    """Refuse one more gathering in a room that already has the maximum."""
    if existing >= MAX_GATHERINGS_PER_ROOM:
        raise GhostChairError(
            f"This room already has {MAX_GATHERINGS_PER_ROOM} gatherings; cancel one first "
            "(!gathering list, then !gathering cancel <id>)."
        )


def describe_schedule(schedule: Schedule) -> str:
    """``every tuesday 19:00 Europe/Paris until 2026-09-30`` or ``once, 2026-05-01 18:00 CEST``."""
    if isinstance(schedule, Once):
        return f"once, {format_local(schedule.at, schedule.zone)}"
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


@dataclass(frozen=True)
class GatheringLine:
    """One row of ``!gathering list``."""

    gathering_id: int
    schedule: Schedule
    options: GatheringOptions
    next_at: datetime | None


def render_gatherings(lines: Sequence[GatheringLine]) -> tuple[str, str]:
    """``!gathering list`` as (plain, html): id, schedule, options, next occurrence."""
    if not lines:
        text = "No gatherings are scheduled here. Add one with !gathering every <weekday> <HH:MM>."
        return text, html.escape(text)
    plain_rows: list[str] = []
    html_rows: list[str] = []
    for line in lines:
        when = describe_schedule(line.schedule)
        opts = describe_options(line.options) or "-"
        upcoming = (
            format_local(line.next_at, line.schedule.zone) if line.next_at is not None else "none"
        )
        plain_rows.append(f"#{line.gathering_id}: {when}; {opts}; next {upcoming}")
        html_rows.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(cell)}</td>"
                for cell in (f"#{line.gathering_id}", when, opts, upcoming)
            )
            + "</tr>"
        )
    plain = "Gatherings:\n" + "\n".join(plain_rows)
    rich = (
        "<table><tr><th>id</th><th>when</th><th>options</th><th>next</th></tr>"
        + "".join(html_rows)
        + "</table>"
    )
    return plain, rich


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


def before_text(occurrence: datetime, zone: ZoneInfo) -> tuple[str, str]:
    """The heads-up posted ``remind_before`` ahead of a gathering."""
    text = (
        f"A gathering begins at {format_local(occurrence, zone)}. Who cannot come? "
        "Name them, and their chair will be kept."
    )
    return text, html.escape(text)


def care_text() -> tuple[str, str]:
    """The care check-in posted ``care_after`` a gathering ends."""
    text = (
        "Care check-in after the gathering: how is everyone? Rest is part of the work. If you "
        "carried a lot today, say so, and let someone else carry the next part."
    )
    return text, html.escape(text)


def missed_note(missed: Sequence[datetime], zone: ZoneInfo) -> tuple[str, str]:
    """One short note for gatherings that passed while the bot was away (never silently lost)."""
    if not missed:
        raise ValueError("no missed gatherings to note")
    if len(missed) == 1:
        text = (
            f"The bot was away at {format_local(missed[0], zone)}: that gathering passed "
            "without its ghost-chair reminder."
        )
    else:
        text = (
            f"The bot was away: {len(missed)} gatherings passed without their ghost-chair "
            f"reminder, from {format_local(missed[0], zone)} to {format_local(missed[-1], zone)}."
        )
    return text, html.escape(text)
