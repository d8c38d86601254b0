"""A room's liaison for the coalition, drawn by the room's lottery, with a backup.

When a draw gives someone the ``liaison`` role, they are the room's liaison until the mandate
ends. Then the room is told, and the backup (if named, and not the one leaving) steps in until
the next draw; without a backup the room needs a redraw, and escalations skip to the
coordination rooms meanwhile. An overloaded liaison (many escalations answered lately) is offered
``!stepback``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from protocols.errors import RuleError

LIAISON_ROLE = "liaison"
ANSWER_WINDOW = timedelta(days=30)
OVERLOAD = 5  # escalations answered in the window that make a liaison "overloaded"


class LiaisonError(RuleError):
    """A liaison rule refused the input."""


@dataclass(frozen=True)
class Liaison:
    room: str
    liaison: str | None
    backup: str | None
    term_end: datetime | None  # None: named by hand, no mandate


@dataclass(frozen=True)
class HandOff:
    """What a mandate's end changes: who held it, who holds it now (None: redraw needed)."""

    room: str
    leaving: str
    acting: str | None
    redraw_needed: bool


def drawn(current: Liaison | None, room: str, role: str, holder: str, term_end: datetime) -> Liaison | None:
    """A draw's result; only the liaison role changes anything. The backup stays, unless the new
    liaison was the backup (one person is never both)."""
    if role != LIAISON_ROLE:
        return current
    backup = current.backup if current is not None else None
    return Liaison(room, holder, None if backup == holder else backup, term_end)


def name_backup(current: Liaison | None, room: str, backup: str, bot: str) -> Liaison:
    if backup == bot:
        raise LiaisonError("The bot cannot be a backup: name a person.")
    if current is not None and current.liaison == backup:
        raise LiaisonError("That person is the liaison already; a backup is someone else.")
    base = current or Liaison(room, None, None, None)
    return replace(base, backup=backup)


def hand_off(current: Liaison, now: datetime) -> tuple[Liaison, HandOff | None]:
    """At or after the mandate's end: the backup acts (with no term: until the next draw), or
    nobody does and a redraw is needed. Before the end, or with no mandate, nothing changes."""
    if current.liaison is None or current.term_end is None or now < current.term_end:
        return current, None
    acting = current.backup if current.backup and current.backup != current.liaison else None
    after = Liaison(current.room, acting, None, None)
    return after, HandOff(current.room, current.liaison, acting, redraw_needed=acting is None)


def answered_recently(
    answers: Iterable[tuple[str, datetime]], now: datetime, window: timedelta = ANSWER_WINDOW
) -> dict[str, int]:
    """person -> escalations answered within ``window`` before ``now``."""
    out: dict[str, int] = {}
    for person, at in answers:
        if now - window <= at <= now:
            out[person] = out.get(person, 0) + 1
    return out


def overloaded(counts: dict[str, int], threshold: int = OVERLOAD) -> list[str]:
    """Who answered at least ``threshold`` escalations lately (offered a step back), sorted."""
    return sorted(p for p, n in counts.items() if n >= threshold)
