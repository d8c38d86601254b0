"""The ghost chair's messages, each a :class:`~bots.runtime.message.Message` (plain text and
HTML from one source; a voice typed by a person is text, never markup).

Pure functions (no Matrix, no database): the feature decides what to say, these say it. Times
are shown in the gathering's zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bots.runtime import i18n_recurrence as described
from bots.runtime.i18n import Translatable, _, duration, ngettext, when
from bots.runtime.i18n_join import concat
from bots.runtime.message import Inline, Message, code, italic
from protocols.gathering import GatheringOptions, GatheringSpec
from protocols.ghostchair import CHAIR, DEFAULT_ABSENT_VOICES, FRAMINGS, NO_VOICE, Reminder
from protocols.schedule import Schedule

LATE_CARE = _("(Posted late: the bot was away when it was due.)")
LATE_NOTE = _("(Posted late: the bot was away when the gathering began.)")


# -- the ritual's words ----------------------------------------------------------------------


def framed(index: int, voice: Inline) -> Translatable:
    """Framing number ``index`` of protocols.ghostchair.FRAMINGS, naming ``voice``.

    Translated for their intent, not word for word: each says that someone is missing and that
    no one here speaks for the whole. The voice is written where a name stands alone (after a
    colon, or as the subject), so a voice typed in any form reads well in every language.
    """
    return (
        _(
            "An empty chair is kept tonight for {voice}. Before we decide, ask: how would this land for them?",
            voice=voice,
        ),
        _("The ghost chair is here for {voice}. No one in this room speaks for the whole.", voice=voice),
        _("Someone is missing: {voice}. Leave room for what they would have said.", voice=voice),
        _(
            "We keep a seat for {voice}. Whatever we decide, we decide without them: hold it lightly.",
            voice=voice,
        ),
        _(
            "Look at the empty chair. It belongs to {voice}. Who here is about to speak for them, and should they?",
            voice=voice,
        ),
    )[index]


# The default voices (and the one for an empty list) in the order of protocols.ghostchair.
DEFAULT_VOICES_SAID: tuple[Translatable, ...] = (
    _("the comrade in prison"),
    _("the parent at home with the children"),
    _("the member who has not yet joined"),
    _("those who could not afford to come"),
    _("the neighbour whose language is not spoken here"),
)
NO_VOICE_SAID = _("those who are not here")


def voice_said(voice: str) -> Inline:
    """A voice as the room reads it: a default one in the room's language, a typed one as typed."""
    if voice in DEFAULT_ABSENT_VOICES:
        return DEFAULT_VOICES_SAID[DEFAULT_ABSENT_VOICES.index(voice)]
    return NO_VOICE_SAID if voice == NO_VOICE else voice


# -- absent voices ---------------------------------------------------------------------------


def voices_list(voices: Sequence[str]) -> Message:
    """``!ghost list``: the voices numbered as ``!ghost remove`` expects."""
    if not voices:
        return Message.of(
            _("No absent voices are kept here. Add one with {command}.", command=code("!ghost add <text>"))
        )
    return Message.of(_("The ghost chair is kept for:")).numbered([voice_said(v) for v in voices])


def voice_added(voice: str, count: int) -> Message:
    return Message.of(
        ngettext(
            "The ghost chair is now also kept for {voice} ({n} voice; see them with {command}).",
            "The ghost chair is now also kept for {voice} ({n} voices; see them with {command}).",
            count,
            voice=italic(voice),
            command=code("!ghost list"),
        )
    )


def voice_removed(voice: str, left: int) -> Message:
    return Message.of(
        ngettext(
            "Removed {voice}. {n} absent voice remains.",
            "Removed {voice}. {n} absent voices remain.",
            left,
            voice=italic(voice_said(voice)),
        )
    )


def reminder(chosen: Reminder) -> Message:
    """The ghost-chair reminder in the room's language: the framing with its voice in italics,
    and a note if late."""
    voice = italic(voice_said(chosen.voice))
    if chosen.framing in FRAMINGS:
        sentence: Inline = framed(FRAMINGS.index(chosen.framing), voice)
    else:  # a framing the catalogue does not know is said as it is written
        before, _sep, after = chosen.framing.partition("{voice}")
        sentence = concat(before, voice, after)
    msg = Message.of(f"{CHAIR} ", sentence)
    return msg.paragraph(LATE_NOTE) if chosen.late else msg


def options_said(options: GatheringOptions) -> Inline:
    """A gathering's options in the room's language; in English as they are typed
    (``draw remind 1h care 2h``); empty when none."""
    parts: list[Inline] = []
    if options.draw:
        parts.append(_("draw"))
    if options.remind_before is not None:
        parts.append(_("remind {length}", length=duration(options.remind_before)))
    if options.care_after is not None:
        parts.append(_("care {length}", length=duration(options.care_after)))
    if not parts:
        return ""
    said = parts[0]
    for part in parts[1:]:
        said = _("{first} {then}", first=said, then=part)
    return said


# -- a gathering's steps ---------------------------------------------------------------------


def heads_up(occurrence: datetime, zone: ZoneInfo) -> Message:
    """The heads-up posted ``remind_before`` ahead of a gathering."""
    return Message.of(
        _(
            "A gathering begins at {when}. Who cannot come? Name them, and their chair will be kept.",
            when=when(occurrence, zone),
        )
    )


def care_check_in(late: bool = False) -> Message:
    """The care check-in posted ``care_after`` a gathering ends."""
    msg = Message.of(
        _(
            "Care check-in after the gathering: how is everyone? Rest is part of the work. If you "
            "carried a lot today, say so, and let someone else carry the next part."
        )
    )
    return msg.paragraph(LATE_CARE) if late else msg


def missed_note(missed: Sequence[datetime], zone: ZoneInfo) -> Message:
    """One short note for gatherings that passed while the bot was away (never silently lost)."""
    if not missed:
        raise ValueError("no missed gatherings to note")
    if len(missed) == 1:
        return Message.of(
            _(
                "The bot was away at {when}: that gathering passed without its ghost-chair reminder.",
                when=when(missed[0], zone),
            )
        )
    return Message.of(
        _(
            "The bot was away: {count} gatherings passed without their ghost-chair reminder, from "
            "{first} to {last}.",
            count=len(missed),
            first=when(missed[0], zone),
            last=when(missed[-1], zone),
        )
    )


NO_LOTTERY = Message.of(
    _(
        "No draw of roles or speaking order: the lottery feature is not enabled for this bot "
        "(the operator can add it to the bot's features)."
    )
)


# -- !gathering ------------------------------------------------------------------------------


def scheduled(gathering_id: int, spec: GatheringSpec, upcoming: datetime | None, adopted: bool) -> Message:
    """The answer to ``!gathering every/at``: what was scheduled, when it is next, what it does.
    (The schedule and its options are described in the room's language.)"""
    options = options_said(spec.options)
    zone = spec.schedule.zone
    msg = Message.of(
        _(
            "Gathering #{id}: {schedule}.",
            id=str(gathering_id),
            schedule=concat(described.schedule(spec.schedule), concat("; ", options) if options else ""),
        )
    )
    if upcoming is not None:
        msg = msg.paragraph(_("Next: {when}.", when=when(upcoming, zone)))
    msg = msg.paragraph(
        _("At its start I post the ghost-chair reminder, then draw the opening roles and a speaking order.")
        if spec.options.draw
        else _("At its start I post the ghost-chair reminder.")
    )
    if adopted:
        msg = msg.paragraph(
            _(
                "This room's zone is now {zone} (change it with {command}).",
                zone=zone.key,
                command=code("!gathering zone <zone>"),
            )
        )
    return msg.paragraph(_("Cancel it with {command}.", command=code(f"!gathering cancel {gathering_id}")))


@dataclass(frozen=True)
class GatheringLine:
    """One entry of ``!gathering list``."""

    gathering_id: int
    schedule: Schedule
    options: GatheringOptions
    next_at: datetime | None


def gatherings_list(lines: Sequence[GatheringLine], room_zone: ZoneInfo) -> Message:
    """``!gathering list``: id, schedule, options and next occurrence, then the room's zone."""
    if not lines:
        msg = Message.of(
            _(
                "No gatherings are scheduled here. Add one with {command}.",
                command=code("!gathering every <weekday> <HH:MM>"),
            )
        )
    else:
        entries = []
        for line in lines:
            upcoming: Inline = (
                when(line.next_at, line.schedule.zone) if line.next_at is not None else _("none")
            )
            opts = options_said(line.options) or "-"
            entries.append(
                (
                    f"#{line.gathering_id}",
                    _(
                        "{schedule}; {options}; next {when}",
                        schedule=described.schedule(line.schedule),
                        options=opts,
                        when=upcoming,
                    ),
                )
            )
        msg = Message.of(_("Gatherings:")).definitions(entries)
    return msg.paragraph(_("This room's zone: {zone}.", zone=room_zone.key))


def cancelled(gathering_id: int, schedule: Schedule) -> Message:
    return Message.of(
        _(
            "Cancelled gathering #{id} ({schedule}).",
            id=str(gathering_id),
            schedule=described.schedule(schedule),
        )
    )


def zone_shown(zone: ZoneInfo) -> Message:
    return Message.of(
        _(
            "This room's zone is {zone}. A moderator sets it with {command}.",
            zone=zone.key,
            command=code("!gathering zone <zone>"),
        )
    )


def zone_set(zone: ZoneInfo) -> Message:
    return Message.of(
        _(
            "This room's zone is now {zone}: new gatherings use it unless they name one; existing "
            "gatherings keep theirs.",
            zone=zone.key,
        )
    )
