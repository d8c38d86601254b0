"""Affinity cells: ``!cells [<min-max>] [rooms]`` splits the pool by chance; with ``rooms``
(a moderator) each cell gets its own room, which closes at its sunset.

The cells are written before their rooms are created (once per command: the command's key),
so a command handled again after a crash invites the same people to the same cells. The caps
(per command, per room per day) are checked in the same transaction. Job
``sunset-<cell>`` (namespaced ``lottery:`` by the host): the closing note, then the bot leaves
and forgets the room.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from bots.lottery import render
from bots.lottery.base import log
from bots.lottery.bounds import check_cells
from bots.lottery.groupings import GroupingsPart
from bots.runtime import room_names
from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import ArgumentError, Converter
from bots.runtime.errors import PERMANENT, MatrixError, UsageError
from bots.runtime.i18n import _, when
from bots.runtime.i18n_join import concat
from bots.runtime.i18n_rooms import room_language
from bots.runtime.i18n_rules import said_clause
from bots.runtime.ids import RoomID, UserID
from bots.runtime.keys import key
from bots.runtime.message import Inline
from bots.runtime.room_names import spoken
from protocols.groups import (
    DEFAULT_CELL_MAX,
    DEFAULT_CELL_MIN,
    GroupingError,
    cells,
    check_cell_rooms,
    parse_cell_bounds,
)
from storage.lottery import forget_room
from storage.lottery_cell_rooms import CellRoom

# A closing note that cannot be sent or a leave that fails for now is tried again this much later.
SUNSET_RETRY = timedelta(minutes=5)
# The period of the daily cap on cell rooms per room (protocols.groups.MAX_CELL_ROOMS_PER_DAY).
CELL_ROOM_DAY = timedelta(days=1)
CELLS_USAGE = "Usage: !cells [<min-max>] [rooms], like !cells 5-7 rooms"


@dataclass(frozen=True)
class CellOption:
    """One word of ``!cells``: a size range, or ``rooms``."""

    bounds: tuple[int, int] | None = None
    rooms: bool = False


def _cell_option(word: str) -> CellOption:
    if word.lower() == "rooms":
        return CellOption(rooms=True)
    if word[:1].isdigit():
        try:
            return CellOption(bounds=parse_cell_bounds(word))
        except GroupingError as exc:
            raise ArgumentError(said_clause(exc)) from None
    raise ArgumentError(_("unexpected '{word}'", word=word))


CellWord = Annotated[CellOption, Converter(_cell_option, "word", "min-max|rooms")]


def _cells_title(low: int, high: int) -> Inline:
    return _("Affinity cells of {low}-{high}, by chance:", low=low, high=high)


class CellsPart(GroupingsPart):
    @command(
        "cells",
        help="Split the pool into affinity cells (default 5-7); with 'rooms' (moderator) each cell "
        "gets its own room, which closes at its sunset",
        where="room",
    )
    async def cells(self, ctx: CommandContext, *option: CellWord) -> None:
        bounds = [o.bounds for o in option if o.bounds is not None]
        rooms = [o for o in option if o.rooms]
        if len(bounds) > 1 or len(rooms) > 1:
            raise UsageError(_("give the size range and 'rooms' once each. {usage}", usage=CELLS_USAGE))
        low, high = bounds[0] if bounds else (DEFAULT_CELL_MIN, DEFAULT_CELL_MAX)
        if rooms:
            await ctx.require_power("moderator")
            await self._cell_rooms(ctx, low, high)
            return
        grouped = await self._draw_cells(ctx.room_id, ctx.now, low, high)
        await self.groupings.record(ctx.room_id, "cells", grouped, ctx.now)
        await ctx.reply(render.groups(_cells_title(low, high), render.cell, grouped))

    async def _draw_cells(self, room_id: str, now: datetime, low: int, high: int) -> list[tuple[str, ...]]:
        members = await self.pool_of(room_id, now)
        check_cells(len(set(members)), low, high)  # refused in the room's language
        previous = await self.groupings.recent(room_id, "cells", 1)
        return cells(members, self._rng, low, high, previous[0] if previous else ())

    async def _cell_rooms(self, ctx: CommandContext, low: int, high: int) -> None:
        """Plan the cells (once per command), then create and invite each room not made yet."""
        source = ctx.key("cells", self.host.user_id)  # each bot's cells are its own
        planned = await self.cell_rooms.of_source(source)
        if not planned:
            grouped = await self._draw_cells(ctx.room_id, ctx.now, low, high)
            sunset = ctx.now + self.config.cell_room_sunset
            async with self.host.db.transaction():
                recent = await self.cell_rooms.made_since(ctx.room_id, ctx.now - CELL_ROOM_DAY)
                check_cell_rooms(len(grouped), recent)  # refused: nothing recorded or created
                await self.groupings.record(ctx.room_id, "cells", grouped, ctx.now)
                planned = await self.cell_rooms.plan(ctx.room_id, source, grouped, sunset, ctx.now)
        parent = await self.host.room_name(ctx.room_id)
        encrypted = await self.host.is_encrypted(ctx.room_id)
        zone = await self.zone_of(ctx.room_id)
        failed: list[int] = []
        for cell in planned:
            if cell.closed:  # handled again after its rooms closed: nothing to make or schedule
                continue
            if cell.room_id is None:
                try:
                    cell = await self._make_cell_room(
                        cell, len(planned), parent, ctx.room_id, encrypted, zone
                    )
                except MatrixError as exc:
                    log.warning("cell room %d could not be created: %s", cell.id, exc.errcode)
                    failed.append(cell.cell_index + 1)
                    continue
            self._schedule_sunset(cell)
        note: list[Inline] = [
            _(
                "Each cell has its own room now (invitations sent). The rooms close {when}: I post a "
                "closing note there and leave.",
                when=when(planned[0].sunset_at, zone),
            )
        ]
        if failed:
            note += [
                " ",
                _("I could not create the room for cell {cells}.", cells=", ".join(map(str, failed))),
            ]
        title = _cells_title(low, high)
        await ctx.reply(render.groups(title, render.cell, [cell.members for cell in planned], concat(*note)))

    async def _make_cell_room(
        self, cell: CellRoom, count: int, parent: str, parent_room: str, encrypted: bool, zone: ZoneInfo
    ) -> CellRoom:
        number = cell.cell_index + 1
        language = await room_language(self.host.settings, parent_room)
        room_id = await self.host.create_room(
            spoken(room_names.drawn_cell(parent, number, count), language, zone),
            [UserID(m) for m in cell.members],
            encrypted=encrypted,
            topic=spoken(
                _("An affinity cell drawn by chance. It closes {when}.", when=when(cell.sunset_at, zone)),
                language,
                zone,
            ),
        )
        await self.cell_rooms.set_room(cell.id, room_id)
        welcome = render.cell_welcome(number, count, cell.members, cell.sunset_at, zone)
        await self.host.post(room_id, welcome, key(self.name, "cell-welcome", cell.id, room_id))
        log.info("cell room %d created with %d invitations", cell.id, len(cell.members))
        made = await self.cell_rooms.get(cell.id)
        assert made is not None
        return made

    def _schedule_sunset(self, cell: CellRoom) -> None:
        self.host.schedule.at(f"sunset-{cell.id}", cell.sunset_at, self._sunset, cell.id)

    async def _sunset(self, cell_id: int) -> None:
        """Post the closing note, then leave the room and forget it (practice disappearance)."""
        cell = await self.cell_rooms.get(cell_id)
        if cell is None or cell.room_id is None or cell.closed:
            return
        room = RoomID(cell.room_id)
        retry = self.host.clock() + SUNSET_RETRY
        closing = render.cell_closing(cell.cell_index + 1)
        try:
            await self.host.post(room, closing, key(self.name, "cell-close", cell.id, room), wait=True)
        except TimeoutError:
            log.warning("cell room %d: closing note still sending; trying again later", cell_id)
            self.host.schedule.at(f"sunset-{cell_id}", retry, self._sunset, cell_id)
            return
        try:
            await self.host.leave(room, "This cell reached its sunset.")
        except PERMANENT as exc:
            log.info("cell room %d: already out of it (%s)", cell_id, exc.errcode)
        except MatrixError as exc:
            log.warning("cell room %d: leaving failed for now (%s)", cell_id, exc.errcode)
            self.host.schedule.at(f"sunset-{cell_id}", retry, self._sunset, cell_id)
            return
        await self.cell_rooms.close(cell_id, self.host.clock())
        await forget_room(self.host.db, self.host.user_id, room)
        log.info("cell room %d closed at its sunset", cell_id)
