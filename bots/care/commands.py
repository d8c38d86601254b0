"""``!rota ...``: care rotas as a room meets them.

Each handler validates everything before it writes (the rules in :mod:`protocols.rota` return a
new rota and change nothing when they refuse), so a refused command changes nothing; the rules'
refusals (``RuleError``) become the user's error message in the runtime. Every change is then
followed by the rota's job step (:meth:`~bots.care.turns.RotaTurns.advance_locked`), which
gives the turns ahead, reminds and flags, and sets the next job.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, TypeVar

from bots.care import render
from bots.care.base import log, rota_job
from bots.care.storage import StoredRota, SwapRequest
from bots.care.turns import RotaTurns
from bots.ghostchair.feature import GhostChairFeature
from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import ArgumentError, Converter, Words
from bots.runtime.errors import UserError
from bots.runtime.i18n import _
from bots.runtime.i18n_rules import said_clause
from bots.runtime.ids import RoomID
from bots.runtime.keys import key
from protocols.errors import RuleError
from protocols.gathering import parse_date
from protocols.recurrence import AfterGathering, next_occurrence
from protocols.rota import (
    Exchanged,
    Preview,
    join,
    leave,
    new_rota,
    offer,
    open_offers,
    parse_name,
    parse_rota_spec,
    set_away,
    take,
    upcoming,
)

MAX_ROTAS_PER_ROOM = 20
T = TypeVar("T")


def _explained(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` whose refusals (the rules' errors) read as argument errors."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except RuleError as exc:
            raise ArgumentError(said_clause(exc)) from None

    return convert


def _request_id(text: str) -> int:
    cleaned = text.strip().lstrip("#")
    if cleaned.isascii() and cleaned.isdigit() and len(cleaned) <= 12 and int(cleaned) > 0:
        return int(cleaned)
    raise ArgumentError(_("'{text}' is not a request: use the number of a swap request, like 3", text=text))


RotaName = Annotated[str, Converter(_explained(parse_name), "word", "name")]
Day = Annotated[date, Converter(_explained(parse_date), "word", "date")]
RequestId = Annotated[int, Converter(_request_id, "word", "request")]
Spec = Annotated[
    Words,
    Converter(Words, "words", "every <recurrence> [at HH:MM] [size <n>] [remind <duration>] [until <date>]"),
]


class RotaCommands(RotaTurns):
    async def _rota(self, ctx: CommandContext, name: str) -> StoredRota:
        stored = await self.rotas.named(ctx.room_id, name)
        if stored is None:
            raise UserError(_("There is no {name} rota here: !rota list shows this room's rotas.", name=name))
        return stored

    @command(
        "rota add",
        help="Start a care rota, e.g. !rota add meals every tuesday at 18:00 size 2 (volunteers join it)",
        where="room",
    )
    async def rota_add(self, ctx: CommandContext, name: RotaName, spec: Spec) -> None:
        zone = await self.room_zone(ctx.room_id)
        recurrence, size, remind = parse_rota_spec(spec, zone, ctx.now, self.config.short_units)
        if isinstance(recurrence.pattern, AfterGathering) and self.host.peer(GhostChairFeature) is None:
            raise UserError(
                _(
                    "'after each gathering' needs the ghost chair (gatherings), which this bot does "
                    "not run: choose days, like every tuesday. Nothing was added."
                )
            )
        possible = await self.volunteers_possible(ctx.room_id)
        rota = new_rota(name, recurrence, size, possible, random.SystemRandom(), ctx.now, remind)
        async with self.lock:
            existing = await self.rotas.in_room(ctx.room_id)
            if any(r.rota.name == rota.name for r in existing):
                raise UserError(_("This room already has a {name} rota: !rota show {name}.", name=rota.name))
            if len(existing) >= MAX_ROTAS_PER_ROOM:
                raise UserError(_("This room already has {n} rotas: remove one first.", n=MAX_ROTAS_PER_ROOM))
            stored = await self.rotas.add(ctx.room_id, rota, ctx.now)
            await self.advance_locked(stored.id)
        following = await self.next_gathering(ctx.room_id, recurrence)
        log.info("rota %d added", stored.id)
        await ctx.reply(render.added(rota, next_occurrence(recurrence, ctx.now, following)))

    @command("rota list", help="This room's rotas and who holds each next turn", where="room")
    async def rota_list(self, ctx: CommandContext) -> None:
        lines = []
        for stored in await self.rotas.in_room(ctx.room_id):
            ahead = await self._ahead(stored, ctx.now, 1)
            lines.append(render.rota_line(stored.rota, ahead[0] if ahead else None))
        await ctx.reply(render.rotas_list(lines))

    async def _ahead(self, stored: StoredRota, now: datetime, count: int) -> list[Preview]:
        stepped = await self.stepped_back(stored.room_id, now)
        following = await self.next_gathering(stored.room_id, stored.rota.recurrence)
        return upcoming(stored.rota, now, count, stepped, following)

    @command(
        "rota show", help="A rota's turns ahead (as they will be given) and open swap requests", where="room"
    )
    async def rota_show(self, ctx: CommandContext, name: RotaName) -> None:
        stored = await self._rota(ctx, name)
        ahead = await self._ahead(stored, ctx.now, self.config.turns_ahead)
        offered = {(t.number, giver) for t, giver in open_offers(stored.rota, ctx.now)}
        turns = {t.number: t for t in stored.rota.turns}
        requests = [
            (r.id, turns[r.turn_number], r.giver)
            for r in await self.swaps.of_rota(stored.id)
            if (r.turn_number, r.giver) in offered
        ]
        await ctx.reply(render.board(stored.rota, ahead, requests, ctx.now, self.lead(stored.rota)))

    @command("rota remove", help="End a rota and forget its turns", power="moderator", where="room")
    async def rota_remove(self, ctx: CommandContext, name: RotaName) -> None:
        async with self.lock:
            stored = await self._rota(ctx, name)
            await self.rotas.remove(stored.id)  # its swap requests go with it
            self.host.schedule.cancel(rota_job(stored.id))
        log.info("rota %d removed", stored.id)
        await ctx.reply(render.removed(name))

    @command("rota join", help="Volunteer for a rota", where="room")
    async def rota_join(self, ctx: CommandContext, name: RotaName) -> None:
        async with self.lock:
            stored = await self._rota(ctx, name)
            rota = join(stored.rota, ctx.sender)
            await self.rotas.save(stored.id, rota)
            await self.advance_locked(stored.id)
        await ctx.reply(render.joined(rota))

    @command("rota leave", help="Stop volunteering for a rota; your turns ahead go to others", where="room")
    async def rota_leave(self, ctx: CommandContext, name: RotaName) -> None:
        async with self.lock:
            stored = await self._rota(ctx, name)
            stepped = await self.stepped_back(ctx.room_id, ctx.now)
            rota, changed = leave(stored.rota, ctx.sender, ctx.now, stepped)
            await self.rotas.save(stored.id, rota)
            await self._drop_requests(stored.id, ctx.sender)
            await self.advance_locked(stored.id)
        await ctx.reply(render.left(rota, len(changed)))

    @command(
        "rota away",
        help="Be skipped by every rota here for a while (e.g. 2w), without it counting against you",
        where="room",
    )
    async def rota_away(self, ctx: CommandContext, duration: timedelta) -> None:
        if duration <= timedelta(0):
            raise UserError(_("Say how long you will be away, like 2w."))
        until = ctx.now + duration
        async with self.lock:
            mine = [s for s in await self.rotas.in_room(ctx.room_id) if ctx.sender in s.rota.pool]
            if not mine:
                raise UserError(_("You are in no rota here, so there is nothing to be away from."))
            stepped = await self.stepped_back(ctx.room_id, ctx.now)
            changed = 0
            for stored in mine:
                rota, turns = set_away(stored.rota, ctx.sender, until, ctx.now, stepped)
                await self.rotas.save(stored.id, rota)
                await self._drop_requests(stored.id, ctx.sender, before=until)
                changed += len(turns)
            for stored in mine:
                await self.advance_locked(stored.id)
        zone = await self.room_zone(ctx.room_id)
        await ctx.reply(render.away([s.rota.name for s in mine], until, zone, changed))

    @command("rota swap", help="Ask someone to take your turn on a date (YYYY-MM-DD)", where="room")
    async def rota_swap(self, ctx: CommandContext, name: RotaName, day: Day) -> None:
        async with self.lock:
            stored = await self._rota(ctx, name)
            rota, turn = offer(stored.rota, ctx.sender, day, ctx.now)
            async with self.host.db.transaction():
                await self.rotas.save(stored.id, rota)
                request = await self.swaps.add(stored.id, turn, ctx.sender, ctx.now)
        event_id = await ctx.reply(render.swap_request(rota, request, turn, ctx.sender), wait=True)
        if event_id is not None:
            await self.swaps.set_event(request, event_id)
        log.info("rota %d: swap request %d", stored.id, request)
        await self.advance(stored.id)

    @command("rota take", help="Take the turn of a swap request (its number)", where="room")
    async def rota_take(self, ctx: CommandContext, request: RequestId) -> None:
        found = await self.swaps.get(request)
        if found is None or found.room_id != ctx.room_id:
            raise UserError(
                _(
                    "There is no open swap request #{request} here: !rota show <name> lists them.",
                    request=str(request),
                )
            )
        await self.take_request(found, ctx)

    async def take_request(self, request: SwapRequest, ctx: CommandContext) -> None:
        """``ctx.sender`` takes the turn of ``request`` (a command or a reaction)."""
        async with self.lock:
            stored = await self.rotas.get(request.rota_id)
            if stored is None:
                raise UserError(_("That rota is gone."))
            stepped = await self.stepped_back(ctx.room_id, ctx.now)
            rota, result = take(stored.rota, request.turn_number, request.giver, ctx.sender, ctx.now, stepped)
            async with self.host.db.transaction():
                await self.rotas.save(stored.id, rota)
                await self.swaps.delete(request.id)
            await self.advance_locked(stored.id)
        if isinstance(result, Exchanged):
            message = render.exchanged(rota, result.turn, result.other, result.giver, result.taker)
        else:
            message = render.taken(rota, result.turn, result.giver, result.taker)
        await self.host.post(RoomID(ctx.room_id), message, key(self.name, "taken", request.id, ctx.event_id))
        log.info("rota %d: swap request %d taken", stored.id, request.id)

    async def _drop_requests(self, rota_id: int, member: str, before: datetime | None = None) -> None:
        """A member's swap requests that their leaving or being away answered."""
        for request in await self.swaps.of_rota(rota_id):
            if request.giver == member and (before is None or request.turn_at < before):
                await self.swaps.delete(request.id)

    async def reaction_take(self, ctx: CommandContext, target: str) -> bool:
        """A reaction to a swap request takes it; False when ``target`` is not one."""
        request = await self.swaps.by_event(ctx.room_id, target)
        if request is None:
            return False
        if ctx.sender == request.giver:
            return True  # the giver reacting to their own request: nothing to do
        await self.take_request(request, ctx)
        return True
