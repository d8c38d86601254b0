"""The scheduled reshuffles' messages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bots.care.cells_store import CellRoom, StoredCells
from bots.runtime.message import Message, code
from protocols.groups import Group
from protocols.recurrence import describe
from protocols.reshuffle import CellsSchedule
from protocols.timespec import format_duration, format_local


def _what(schedule: CellsSchedule) -> str:
    text = f"{describe(schedule.recurrence)}, cells of {schedule.min_size}-{schedule.max_size}"
    if schedule.rooms:
        text += ", each with its own room"
    if schedule.pause is not None:
        text += f", then {format_duration(schedule.pause)} of rest"
    return text


def scheduled(schedule: CellsSchedule, first: datetime | None) -> Message:
    msg = Message.of(f"Cells reshuffle {_what(schedule)}.")
    if first is not None:
        msg = msg.paragraph(f"The first reshuffle is {format_local(first, schedule.recurrence.zone)}.")
    return msg.paragraph(
        "At each one the old cells close (their rooms get a closing note and I leave them, "
        "forgetting what served them) and new cells form, away from people who already met. ",
        code("!cells stop"),
        " ends it.",
    )


def none_scheduled() -> Message:
    return Message.of(
        "This room does not reshuffle on a schedule. Set one with ", code("!cells every ..."), "."
    )


def schedule_shown(stored: StoredCells, upcoming: datetime | None, cells: int, paused: bool) -> Message:
    zone = stored.schedule.recurrence.zone
    msg = Message.of(
        f"Cells reshuffle {_what(stored.schedule)}. Generation {stored.generation}: {cells} cells."
    )
    if paused:
        msg = msg.paragraph("The cells are resting now: no rota of theirs turns.")
    when = format_local(upcoming, zone) if upcoming is not None else "never (the schedule has ended)"
    return msg.paragraph(f"Next reshuffle: {when}.")


def stopped() -> Message:
    return Message.of("Stopped reshuffling: the current cells stay as they are.")


def missed(count: int) -> Message:
    what = "A reshuffle" if count == 1 else f"{count} reshuffles"
    return Message.of(f"{what} passed while the bot was away; the cells change at the next one.")


def cannot_form(reason: str) -> Message:
    return Message.of(f"No new cells this time: {reason} The current cells stay.")


def generation(number: int, cells: Sequence[Group], schedule: CellsSchedule, at: datetime) -> Message:
    msg = Message.of(f"Affinity cells, generation {number}, away from those who already met:")
    msg = msg.definitions((f"Cell {i}", ", ".join(c)) for i, c in enumerate(cells, start=1))
    if schedule.pause is not None:
        msg = msg.paragraph(f"Rest until {format_local(at + schedule.pause, schedule.recurrence.zone)}.")
    return msg


def rooms_opened(number: int, cells: Sequence[Group]) -> Message:
    return Message.of(
        f"Affinity cells, generation {number}, each with its own room (invitations sent):"
    ).definitions((f"Cell {i}", ", ".join(c)) for i, c in enumerate(cells, start=1))


def welcome(cell: CellRoom, count: int, stored: StoredCells, zone: ZoneInfo) -> Message:
    msg = Message.of(
        f"Welcome to cell {cell.cell_index + 1} of {count}, generation {cell.generation}: "
        f"{', '.join(cell.members)}. This cell closes at the next reshuffle: then I post a closing "
        "note and leave."
    )
    if stored.schedule.pause is not None and stored.boundary_at is not None:
        rest = format_local(stored.boundary_at + stored.schedule.pause, zone)
        msg = msg.paragraph(f"First, rest: no ritual of this cell fires until {rest}.")
    return msg


def closing(index: int) -> Message:
    return Message.of(
        f"Cell {index} closes: a new generation of cells begins. Thank you for meeting. I am "
        "leaving this room now, and forgetting what served it; you may stay, or let it go."
    )
