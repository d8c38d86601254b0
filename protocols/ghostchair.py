"""The ghost chair: an empty seat kept at every gathering for those who are not there.

"In every gathering, leave a symbolic space for those not present. The incarcerated comrade. The
parent who could not attend. The future participant who has yet to join. This empty seat reminds
the group that no one can legitimately claim to speak for the whole." (seed: The Ghost Chair and
the Absent Voice)

A room keeps an ordered list of *absent voices* (``!ghost add/list/remove``), starting from a
short default set. The reminder rotates through them, one voice per reminder, under one of a few
framings, so the chair never becomes a fixed formula read past. Gatherings
(:mod:`protocols.gathering`) post the reminder at their start.

Pure: the caller passes ``now``, the room's zone and the rotation counter it stores. The
messages built from these rules (plain text and HTML from one source) are in
:mod:`bots.ghostchair.render`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from protocols.errors import RuleError

# --- absent voices ------------------------------------------------------------------------

MAX_VOICE_LENGTH = 300
MAX_VOICES = 30  # a chair for everyone is a chair for no one: keep the list one can read aloud

DEFAULT_ABSENT_VOICES: tuple[str, ...] = (
    "the comrade in prison",
    "the parent at home with the children",
    "the member who has not yet joined",
    "those who could not afford to come",
    "the neighbour whose language is not spoken here",
)

# Each framing names one voice; rotated so the ritual does not fossilize into a script.
FRAMINGS: tuple[str, ...] = (
    "An empty chair is kept tonight for {voice}. Before we decide, ask: how would this land for them?",
    "The ghost chair is here for {voice}. No one in this room speaks for the whole.",
    "Someone is missing: {voice}. Leave room for what they would have said.",
    "We keep a seat for {voice}. Whatever we decide, we decide without them: hold it lightly.",
    "Look at the empty chair. It belongs to {voice}. Who here is about to speak for them, and should they?",
)
NO_VOICE = "those who are not here"
# The framings, the default voices and NO_VOICE are the ritual's English words: the reminder is
# said in the room's language by bots/ghostchair/render.py, which keeps its own catalogue
# sentences for each (tests/unit/test_ghostchair.py checks that they stay the same).

_WHITESPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"[+-]?[0-9]{1,12}")


class GhostChairError(RuleError):
    """A ghost-chair or gathering rule refused the input; the message says what to do."""


def validate_voice(text: str) -> str:
    """Clean one absent voice (whitespace collapsed); empty or overlong text is refused."""
    cleaned = _WHITESPACE.sub(" ", text).strip()
    if not cleaned:
        raise GhostChairError("Say who the chair is for: !ghost add <text>, e.g. the comrade in prison")
    if len(cleaned) > MAX_VOICE_LENGTH:
        raise GhostChairError(
            "That voice is {length} characters long; keep it to {most}.",
            length=len(cleaned),
            most=MAX_VOICE_LENGTH,
        )
    return cleaned


def add_voice(voices: Sequence[str], text: str) -> tuple[str, ...]:
    """The list with ``text`` appended; refused when full or already there (any case)."""
    voice = validate_voice(text)
    if any(v.casefold() == voice.casefold() for v in voices):
        raise GhostChairError("'{voice}' already has a chair. See them with !ghost list.", voice=voice)
    if len(voices) >= MAX_VOICES:
        raise GhostChairError(
            "The room already keeps {most} absent voices; remove one first with !ghost remove <n>.",
            most=MAX_VOICES,
        )
    return (*voices, voice)


def parse_voice_number(text: str) -> int:
    """``!ghost remove <n>``: n as typed (1-based; checked against the list by remove_voice)."""
    cleaned = str(text).strip()
    if _NUMBER.fullmatch(cleaned):  # ASCII digits only: "²" is a digit to isdigit, not to int
        return int(cleaned)
    raise GhostChairError(
        "'{text}' is not a number: use !ghost remove <n>, with n from !ghost list.", text=text
    )


def remove_voice(voices: Sequence[str], number: str | int) -> tuple[tuple[str, ...], str]:
    """Remove the voice at 1-based position ``number`` (as typed); returns (new list, removed)."""
    if not voices:
        raise GhostChairError("There are no absent voices to remove. Add one with !ghost add <text>.")
    index = number if isinstance(number, int) else parse_voice_number(number)
    if not 1 <= index <= len(voices):
        raise GhostChairError(
            "There is no voice number {number}: choose 1 to {last} (see !ghost list).",
            number=str(index),
            last=len(voices),
        )
    removed = voices[index - 1]
    return (*voices[: index - 1], *voices[index:]), removed


@dataclass(frozen=True)
class Reminder:
    """One ghost-chair reminder: a framing (with ``{voice}`` in it) and the voice it names;
    ``late`` when it comes after the gathering began (the bot was away)."""

    framing: str
    voice: str
    late: bool = False

    @property
    def text(self) -> str:
        return CHAIR + " " + self.framing.format(voice=self.voice)


CHAIR = "🪑"


def reminder(voices: Sequence[str], rotation_index: int, framing_index: int, late: bool = False) -> Reminder:
    """The ghost-chair reminder for one voice under one framing.

    Both indexes wrap around, so the caller may pass an ever-growing counter. With no voices
    left, the chair is kept for "those who are not here".
    """
    voice = voices[rotation_index % len(voices)] if voices else NO_VOICE
    return Reminder(FRAMINGS[framing_index % len(FRAMINGS)], voice, late)


def reminder_for_turn(voices: Sequence[str], turn: int, late: bool = False) -> Reminder:
    """The reminder for the room's ``turn``-th reminder (its stored rotation counter).

    The voice advances every turn and the framing every full round of voices, so every voice
    meets every framing in time, whatever the list's length.
    """
    count = max(len(voices), 1)
    return reminder(voices, turn, turn // count, late=late)
