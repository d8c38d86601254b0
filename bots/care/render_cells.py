"""The scheduled reshuffles' messages, in the room's language (bots/runtime/i18n.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bots.care.cells_store import CellRoom, StoredCells
from bots.runtime import i18n_recurrence as described
from bots.runtime.i18n import _, duration, ngettext, when
from bots.runtime.i18n_join import concat
from bots.runtime.message import Inline, Message, Span, code
from protocols.groups import Group
from protocols.reshuffle import CellsSchedule


def _what(schedule: CellsSchedule) -> Span:
    parts: list[Inline] = [
        _(
            "{recurrence}, cells of {low}-{high}",
            recurrence=described.recurrence(schedule.recurrence),
            low=schedule.min_size,
            high=schedule.max_size,
        )
    ]
    if schedule.rooms:
        parts.append(_(", each with its own room"))
    if schedule.pause is not None:
        parts.append(_(", then {rest} of rest", rest=duration(schedule.pause)))
    return concat(*parts)


def scheduled(schedule: CellsSchedule, first: datetime | None) -> Message:
    msg = Message.of(_("Cells reshuffle {what}.", what=_what(schedule)))
    if first is not None:
        msg = msg.paragraph(_("The first reshuffle is {when}.", when=when(first, schedule.recurrence.zone)))
    return msg.paragraph(
        _(
            "At each one the old cells close (their rooms get a closing note and I leave them, "
            "forgetting what served them) and new cells form, away from people who already met. "
            "{command} ends it.",
            command=code("!cells stop"),
        )
    )


def none_scheduled() -> Message:
    return Message.of(
        _(
            "This room does not reshuffle on a schedule. Set one with {command}.",
            command=code("!cells every ..."),
        )
    )


def schedule_shown(stored: StoredCells, upcoming: datetime | None, cells: int, paused: bool) -> Message:
    zone = stored.schedule.recurrence.zone
    msg = Message.of(
        _("Cells reshuffle {what}.", what=_what(stored.schedule)),
        " ",
        ngettext(
            "Generation {generation}: {n} cell.",
            "Generation {generation}: {n} cells.",
            cells,
            generation=stored.generation,
        ),
    )
    if paused:
        msg = msg.paragraph(_("The cells are resting now: no rota of theirs turns."))
    if upcoming is not None:
        return msg.paragraph(_("Next reshuffle: {when}.", when=when(upcoming, zone)))
    return msg.paragraph(_("Next reshuffle: never (the schedule has ended)."))


def stopped() -> Message:
    return Message.of(_("Stopped reshuffling: the current cells stay as they are."))


def missed(count: int) -> Message:
    return Message.of(
        ngettext(
            "A reshuffle passed while the bot was away; the cells change at the next one.",
            "{n} reshuffles passed while the bot was away; the cells change at the next one.",
            count,
        )
    )


def cannot_form(reason: Inline) -> Message:
    return Message.of(_("No new cells this time: {reason} The current cells stay.", reason=reason))


def _cells(cells: Sequence[Group]) -> list[tuple[Inline, Inline]]:
    return [(_("Cell {number}", number=i), ", ".join(c)) for i, c in enumerate(cells, start=1)]


def generation(number: int, cells: Sequence[Group], schedule: CellsSchedule, at: datetime) -> Message:
    msg = Message.of(
        _("Affinity cells, generation {number}, away from those who already met:", number=number)
    ).definitions(_cells(cells))
    if schedule.pause is not None:
        msg = msg.paragraph(_("Rest until {when}.", when=when(at + schedule.pause, schedule.recurrence.zone)))
    return msg


def rooms_opened(number: int, cells: Sequence[Group]) -> Message:
    return Message.of(
        _("Affinity cells, generation {number}, each with its own room (invitations sent):", number=number)
    ).definitions(_cells(cells))


def welcome(cell: CellRoom, count: int, stored: StoredCells, zone: ZoneInfo) -> Message:
    msg = Message.of(
        _(
            "Welcome to cell {index} of {count}, generation {generation}: {members}. This cell closes "
            "at the next reshuffle: then I post a closing note and leave.",
            index=cell.cell_index + 1,
            count=count,
            generation=cell.generation,
            members=", ".join(cell.members),
        )
    )
    if stored.schedule.pause is not None and stored.boundary_at is not None:
        rest = when(stored.boundary_at + stored.schedule.pause, zone)
        msg = msg.paragraph(_("First, rest: no ritual of this cell fires until {when}.", when=rest))
    return msg


def closing(index: int) -> Message:
    return Message.of(
        _(
            "Cell {index} closes: a new generation of cells begins. Thank you for meeting. I am "
            "leaving this room now, and forgetting what served it; you may stay, or let it go.",
            index=index,
        )
    )
