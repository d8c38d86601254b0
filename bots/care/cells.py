"""Scheduled reshuffles: ``!cells every <recurrence> <min-max> [rooms] [pause <duration>]``,
``!cells schedule`` and ``!cells stop``.

"Schedule periodic reshuffling of groups and sunset clauses for projects." (seed) At each
boundary (job ``cells-<id>``, carrying only the id) the previous generation's cell rooms get a
closing note and the bot leaves them: leaving is the runtime's removal from a room, so every
feature forgets what served it (draws, mandates, rotas, mirrors, handovers: each feature's
``forget_room``). The new generation is formed from the room's pool (its people, minus those
who stepped back in the lottery) away from every pair that met before
(:func:`protocols.reshuffle.plan_boundary`), and given rooms (``rooms``) or listed in the room.
For ``pause`` after a boundary, no rota of those cells turns (:meth:`ReshufflePart.paused`).

The boundary is recorded (compare-and-set, with the new cells) before any room is touched, so
a crash or a second firing forms one generation; rooms not made yet are made when the job runs
again. A boundary that passed while the bot was down is done late within ``misfire_grace``,
else noted and left to the next one.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Annotated

from bots.care import render_cells as render
from bots.care.base import log
from bots.care.cells_store import CellSchedules, StoredCells
from bots.care.config import CareConfig
from bots.care.handover import HandoverPart
from bots.lottery.feature import LotteryFeature
from bots.runtime import room_names
from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import Converter, Words
from bots.runtime.errors import PERMANENT, MatrixError, UserError
from bots.runtime.host import Host
from bots.runtime.i18n import _, ngettext
from bots.runtime.i18n_rooms import room_language
from bots.runtime.i18n_rules import said
from bots.runtime.ids import RoomID, UserID
from bots.runtime.keys import key
from bots.runtime.room_names import spoken
from protocols.groups import Group
from protocols.recurrence import catch_up
from protocols.reshuffle import in_pause, next_boundary, parse_cells_schedule, plan_boundary

CellsSpec = Annotated[Words, Converter(Words, "words", "recurrence> <min-max> [rooms] [pause <duration>")]


def cells_job(schedule_id: int) -> str:
    return f"cells-{schedule_id}"


class ReshufflePart(HandoverPart):
    def __init__(self, host: Host, config: CareConfig) -> None:
        super().__init__(host, config)
        self.cell_schedules = CellSchedules(host.db, host.user_id)
        self._rng = random.SystemRandom()

    @command(
        "cells every",
        help="Reshuffle this room's affinity cells on a schedule, e.g. !cells every 4 weeks on monday "
        "5-7 rooms pause 2d (old cell rooms close, new ones open, away from pairs who met)",
        power="moderator",
        where="room",
    )
    async def cells_every(self, ctx: CommandContext, spec: CellsSpec) -> None:
        zone = await self.room_zone(ctx.room_id)
        schedule = parse_cells_schedule(f"every {spec}", zone, ctx.now, self.config.short_units)
        if self.host.peer(LotteryFeature) is None:
            raise UserError(_("Cells need the lottery (the room's pool), which this bot does not run."))
        if await self.cell_schedules.in_room(ctx.room_id) is not None:
            raise UserError(
                _("This room already reshuffles on a schedule: !cells stop first, then set a new one.")
            )
        pool = await self._pool(ctx.room_id, ctx.now)
        if len(pool) < schedule.min_size:
            raise UserError(
                ngettext(
                    "The pool has {n} person, fewer than one cell of {size}: nothing was scheduled.",
                    "The pool has {n} people, fewer than one cell of {size}: nothing was scheduled.",
                    len(pool),
                    size=schedule.min_size,
                )
            )
        schedule_id = await self.cell_schedules.add(ctx.room_id, f"every {spec}", schedule, ctx.now)
        first = next_boundary(schedule, ctx.now)
        await self.boundary(schedule_id)
        log.info("cells schedule %d set", schedule_id)
        await ctx.reply(render.scheduled(schedule, first))

    @command("cells schedule", help="When this room's cells reshuffle next", where="room")
    async def cells_schedule(self, ctx: CommandContext) -> None:
        stored = await self.cell_schedules.in_room(ctx.room_id)
        if stored is None:
            await ctx.reply(render.none_scheduled())
            return
        upcoming = next_boundary(stored.schedule, ctx.now)
        current = [c for c in await self.cell_schedules.cells(stored.id) if c.generation == stored.generation]
        paused = in_pause(stored.schedule, stored.boundary_at, ctx.now)
        await ctx.reply(render.schedule_shown(stored, upcoming, len(current), paused))

    @command(
        "cells stop",
        help="Stop reshuffling this room's cells (the current cells stay)",
        power="moderator",
        where="room",
    )
    async def cells_stop(self, ctx: CommandContext) -> None:
        stored = await self.cell_schedules.in_room(ctx.room_id)
        if stored is None:
            raise UserError(_("This room has no reshuffle schedule: nothing to stop."))
        await self.cell_schedules.remove(stored.id)
        self.host.schedule.cancel(cells_job(stored.id))
        await ctx.reply(render.stopped())

    async def _pool(self, room_id: str, now: datetime) -> tuple[str, ...]:
        lottery = self.host.peer(LotteryFeature)
        if lottery is None:
            return tuple(await self.volunteers_possible(room_id))
        return await lottery.pool_of(room_id, now)

    async def paused(self, room_id: str, now: datetime) -> datetime | None:
        """When a cell room's pause ends, if it is resting now (None: not resting)."""
        found = await self.cell_schedules.pause_of(room_id)
        if found is None:
            return None
        began, stored = found
        if began is None or stored.schedule.pause is None or not in_pause(stored.schedule, began, now):
            return None
        return began + stored.schedule.pause

    async def boundary(self, schedule_id: int) -> None:
        """Do what is due for a reshuffle schedule by now, then wait for its next boundary."""
        stored = await self.cell_schedules.get(schedule_id)
        if stored is None:
            self.host.schedule.cancel(cells_job(schedule_id))
            return
        now = self.host.clock()
        plan = catch_up(stored.schedule.recurrence, stored.handled_through, now, self.config.misfire_grace)
        if plan.handled_through is not None:
            await self._reshuffle(stored, plan.post, plan.handled_through, len(plan.missed), now)
        await self._open_rooms(schedule_id)
        upcoming = next_boundary(stored.schedule, now)
        if upcoming is not None:
            self.host.schedule.at(cells_job(schedule_id), upcoming, self.boundary, schedule_id)

    async def _reshuffle(
        self, stored: StoredCells, post: datetime | None, through: datetime, missed: int, now: datetime
    ) -> None:
        room = RoomID(stored.room_id)
        k = key(self.name, "cells", stored.id, int(through.timestamp()))
        if post is None:  # past the grace: noted (``missed`` counts them all), left to the next
            if await self.cell_schedules.advance(stored, through, None, (), stored.met):
                await self.host.post(room, render.missed(missed), k)
            return
        previous = [
            c for c in await self.cell_schedules.cells(stored.id) if c.generation == stored.generation
        ]
        pool = await self._pool(stored.room_id, now)
        old: tuple[Group, ...] = tuple(c.members for c in previous)
        try:
            planned = plan_boundary(stored.generation + 1, old, pool, self._rng, stored.schedule, stored.met)
        except ValueError as exc:  # the pool no longer fits the sizes: say so, keep the cells
            if await self.cell_schedules.advance(stored, through, None, (), stored.met):
                await self.host.post(room, render.cannot_form(said(exc)), k)
            return
        if not await self.cell_schedules.advance(stored, through, post, planned.open, planned.met):
            return  # another run did this boundary
        log.info("cells schedule %d: generation %d formed", stored.id, planned.generation)
        for cell in previous:
            await self._close(cell.id, cell.cell_index, cell.room_id)
        if not stored.schedule.rooms:
            await self.host.post(
                room, render.generation(planned.generation, planned.open, stored.schedule, post), k
            )

    async def _close(self, cell_id: int, index: int, room_id: str | None) -> None:
        """The closing note, then the bot leaves: the runtime's removal makes every feature
        forget the room (draws, mandates, rotas, mirrors, handovers)."""
        if room_id is not None:
            cell_room = RoomID(room_id)
            try:
                await self.host.post(
                    cell_room, render.closing(index + 1), key(self.name, "cell-close", cell_id), wait=True
                )
                await self.host.leave(cell_room, "This cell's generation ended: a new reshuffle.")
            except PERMANENT as exc:
                log.info("cell room %d: already out of it (%s)", cell_id, exc.errcode)
            except (MatrixError, TimeoutError) as exc:
                log.warning("cell room %d: closing failed (%s)", cell_id, type(exc).__name__)
        await self.cell_schedules.close(cell_id)

    async def _open_rooms(self, schedule_id: int) -> None:
        stored = await self.cell_schedules.get(schedule_id)
        if stored is None or not stored.schedule.rooms:
            return
        current = [
            c for c in await self.cell_schedules.cells(schedule_id) if c.generation == stored.generation
        ]
        parent = await self.host.room_name(RoomID(stored.room_id))
        encrypted = await self.host.is_encrypted(RoomID(stored.room_id))
        zone = stored.schedule.recurrence.zone
        language = await room_language(self.host.settings, stored.room_id)
        made = 0
        for cell in current:
            if cell.room_id is not None:
                continue
            try:
                room_id = await self.host.create_room(
                    spoken(
                        room_names.reshuffled_cell(
                            parent, cell.cell_index + 1, len(current), cell.generation
                        ),
                        language,
                        zone,
                    ),
                    [UserID(m) for m in cell.members],
                    encrypted=encrypted,
                    topic=spoken(
                        _("An affinity cell, reshuffled on a schedule: it closes at the next reshuffle."),
                        language,
                        zone,
                    ),
                )
            except MatrixError as exc:
                log.warning("cell room %d could not be created: %s", cell.id, exc.errcode)
                continue
            await self.cell_schedules.set_room(cell.id, room_id)
            welcome = render.welcome(cell, len(current), stored, zone)
            await self.host.post(room_id, welcome, key(self.name, "cell-welcome", cell.id))
            made += 1
        if made:
            note = render.rooms_opened(stored.generation, [c.members for c in current])
            await self.host.post(
                RoomID(stored.room_id), note, key(self.name, "cells-opened", schedule_id, stored.generation)
            )
