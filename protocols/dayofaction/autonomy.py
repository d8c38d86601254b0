"""Local autonomy in a run: a room may sit it out, add its own framing, and is escalated to in a
fixed order.

- A room that **declined** gets no more phases and no escalations; the board shows it as
  declined, apart from **silent** (a room that let an acknowledgement window pass) and
  **pending** (its window is still open). Rejoining undoes the decline.
- Only the room's liaison or someone with the room's moderator power may decline for the room,
  and only in that room: one room never declines for another.
- Escalation goes to the liaison, then the backup, then the coordination rooms; nobody twice.
- A local note (a local demand, a translation) goes under every phase message sent to the room.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from protocols.errors import RuleError

MAX_NOTE = 500
MAX_REASON = 200


class AutonomyError(RuleError):
    """A local-autonomy rule refused the input."""


class RoomState(StrEnum):
    ACKED = "acknowledged"
    PENDING = "pending"
    SILENT = "silent"
    DECLINED = "declined"
    NOT_ASKED = "no ack needed"


def room_state(
    *, declined: bool, acked_at: datetime | None, ack_due: datetime | None, now: datetime
) -> RoomState:
    """How the ack board shows one room for one phase. Declined wins over everything: a room
    that sits the run out is never counted silent."""
    if declined:
        return RoomState.DECLINED
    if acked_at is not None:
        return RoomState.ACKED
    if ack_due is None:
        return RoomState.NOT_ASKED
    return RoomState.SILENT if now >= ack_due else RoomState.PENDING


def tally(states: Iterable[RoomState]) -> dict[RoomState, int]:
    """Counts per state, every state present (zeros too), in the enum's order."""
    out = {s: 0 for s in RoomState}
    for s in states:
        out[s] += 1
    return out


def may_decline(*, sender: str, liaison: str | None, sender_power: int, moderator_power: int) -> bool:
    """The room's liaison or a moderator of the room (the caller checks it is the same room)."""
    return sender == liaison or sender_power >= moderator_power


def check_decline(
    *,
    command_room: str,
    target_room: str,
    sender: str,
    liaison: str | None,
    sender_power: int,
    moderator_power: int,
) -> None:
    """Refuse a decline (or rejoin) for another room, or by someone the room did not mandate."""
    if command_room != target_room:
        raise AutonomyError("A room declines only for itself: say it in the room that sits the run out.")
    if not may_decline(
        sender=sender, liaison=liaison, sender_power=sender_power, moderator_power=moderator_power
    ):
        raise AutonomyError(
            "Only this room's liaison or a moderator of this room can decline or rejoin a run."
        )


def check_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    reason = " ".join(reason.split())
    if len(reason) > MAX_REASON:
        raise AutonomyError("A reason is at most {most} characters.", most=str(MAX_REASON))
    return reason or None


def check_note(text: str) -> str:
    text = text.strip()
    if not text:
        raise AutonomyError("A local note needs some text.")
    if len(text) > MAX_NOTE:
        raise AutonomyError(
            "A local note is at most {most} characters ({length} given).",
            most=str(MAX_NOTE),
            length=str(len(text)),
        )
    return text


def recipients(rooms: Sequence[str], declined: Iterable[str]) -> list[str]:
    """The rooms a phase (or an amendment) still goes to: every member room that did not decline."""
    out = set(declined)
    return [r for r in rooms if r not in out]


@dataclass(frozen=True)
class Target:
    """One step of an escalation: a person by DM, or a coordination room."""

    kind: str  # "liaison", "backup", "coordination"
    id: str


def escalation_chain(
    *,
    room: str,
    declined: Iterable[str],
    liaison: str | None,
    backup: str | None,
    coordination_rooms: Sequence[str],
    exclude: Iterable[str] = (),
) -> list[Target]:
    """Whom to tell, in order, that ``room`` missed an acknowledgement: the liaison, then the
    backup, then each coordination room. Empty for a declined room. ``exclude``: the bot itself
    and anyone who must not be asked (never escalate to the bot)."""
    if room in set(declined):
        return []
    skip = set(exclude)
    chain: list[Target] = []
    for kind, person in (("liaison", liaison), ("backup", backup)):
        if person and person not in skip and all(t.id != person for t in chain):
            chain.append(Target(kind, person))
    seen: set[str] = set()
    for r in coordination_rooms:
        if r not in seen:
            seen.add(r)
            chain.append(Target("coordination", r))
    return chain


def step_due(chain: Sequence[Target], step: int) -> Target | None:
    """The ``step``-th target (0-based), None once the chain is exhausted."""
    return chain[step] if 0 <= step < len(chain) else None


def pick_coalition(room_coalitions: Sequence[str], named: str | None) -> str:
    """The coalition a command means: the one named, or the room's only one."""
    if named is not None:
        if named not in room_coalitions:
            if not room_coalitions:
                raise AutonomyError(
                    "This room is not in a coalition '{named}' (it is in: none).", named=named
                )
            raise AutonomyError(
                "This room is not in a coalition '{named}' (it is in: {joined}).",
                named=named,
                joined=", ".join(room_coalitions),
            )
        return named
    if not room_coalitions:
        raise AutonomyError("This room is in no coalition: !coalition join <name> first.")
    if len(room_coalitions) > 1:
        raise AutonomyError(
            "This room is in several coalitions ({joined}): name one with 'in <coalition>'.",
            joined=", ".join(room_coalitions),
        )
    return room_coalitions[0]
