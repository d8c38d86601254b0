"""Rides: ``!ride offer <seats> from <area> at <time>`` and ``!ride need from <area> [seats]``,
in a member room or by DM (naming the run). The bot proposes matches by area and time to the
driver by DM; only when the driver approves (``!ride approve <n>``, in that DM) do driver and
rider learn each other's name, each by DM, never in a room. ``!rides`` shows counts per area.
Everything goes with the run.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bots.config import Strict
from bots.dayofaction.herald_port import RunInfo, require_port, run_for
from bots.dayofaction.run_feature import RunFeature
from bots.rides import render
from bots.rides.grammar import Area, AreaSeats, Clock, Seats
from bots.rides.store import RideStore
from bots.runtime import room_names
from bots.runtime.commands import CommandContext, command
from bots.runtime.direct_rooms import dm_room
from bots.runtime.errors import UserError
from bots.runtime.i18n import _
from bots.runtime.ids import RoomID
from bots.runtime.keys import key
from bots.runtime.registry import register
from protocols.dayofaction.rides import Need, Offer, counts_per_area, match
from storage.db import Database

log = logging.getLogger(__name__)


class RidesConfig(Strict):
    """``features.rides``."""

    encrypt_dms: bool = True


@register
class RidesFeature(RunFeature[RidesConfig, RideStore]):
    name = "rides"
    title = "Rides"
    config_model = RidesConfig
    migrations = Path(__file__).parent / "migrations"
    records = "ride offers, needs and proposals, and the DMs about them"

    def open_store(self, db: Database) -> RideStore:
        return RideStore(db)

    @command("ride offer", help="Offer seats to the action, leaving from an area at a time")
    async def ride_offer(
        self, ctx: CommandContext, seats: Seats, *, from_: Area, at: Clock, run: str | None = None
    ) -> None:
        info = await self._run(ctx, run)
        offer_id = await self.store.add_offer(
            info.run_id, ctx.room_id, ctx.sender, from_, at, seats, info.forget_at
        )
        log.info("rides: offer %s in run %s", offer_id, info.run_id)
        await self.reply_kept(
            ctx,
            info,
            render.offer_kept(seats, from_, at, info.run_id),
        )
        await self._match(info)

    @command("ride need", help="Ask for seats to the action from an area (optionally around a time)")
    async def ride_need(
        self, ctx: CommandContext, *, from_: AreaSeats, at: Clock | None = None, run: str | None = None
    ) -> None:
        info = await self._run(ctx, run)
        area, seats = from_
        need_id = await self.store.add_need(
            info.run_id, ctx.room_id, ctx.sender, area, seats, at, info.forget_at
        )
        log.info("rides: need %s in run %s", need_id, info.run_id)
        await self.reply_kept(
            ctx,
            info,
            render.need_kept(seats, area, at, info.run_id),
        )
        await self._match(info)

    @command("rides", help="Seats offered and needed per area (counts, no names)")
    async def rides(self, ctx: CommandContext, *, run: str | None = None) -> None:
        info = await self._run(ctx, run)
        taken, _ = await self.store.proposals(info.run_id)
        rows = counts_per_area(
            await self.store.offers(info.run_id), await self.store.needs(info.run_id), taken
        )
        await ctx.reply(render.per_area(info.run_id, rows))

    @command(
        "ride approve", help="Driver, by DM: take the rider of a proposal; you both learn the other's name"
    )
    async def ride_approve(self, ctx: CommandContext, ride: int) -> None:
        offer, need, run_id = await self._pending(ctx, ride)
        info = await require_port(self.host).dayofaction_run(run_id)
        if info is None:
            raise UserError(_("Run {run} is over: its rides are forgotten.", run=run_id))
        await self.store.decide(offer.id, need.id, "approved")
        await self.reply_kept(
            ctx,
            info,
            render.approved(need.rider, need.seats, need.area),
        )
        rider_dm = await self._dm(need.rider, info, (await self.store.asked_in(offer.id, need.id))[1])
        event = await self.host.post(
            rider_dm,
            render.taken(offer.driver, offer.area, offer.at),
            key(self.name, "approved", offer.id, need.id),
            wait=True,
        )
        await self.keep(rider_dm, event, info)

    @command("ride decline", help="Driver, by DM: not this rider (they may be matched with someone else)")
    async def ride_decline(self, ctx: CommandContext, ride: int) -> None:
        offer, need, run_id = await self._pending(ctx, ride)
        await self.store.decide(offer.id, need.id, "refused")
        await ctx.reply(render.declined())
        info = await require_port(self.host).dayofaction_run(run_id)
        if info is not None:
            await self._match(info)

    # -- helpers --------------------------------------------------------------------------------

    async def _run(self, ctx: CommandContext, run: str | None) -> RunInfo:
        if not ctx.is_direct:
            info = await run_for(self.host, ctx.room_id, run)
            if ctx.room_id not in info.member_rooms:
                raise UserError(_("Rides are offered in a member room of the run, or by DM with 'run <id>'."))
            return info
        if run is None:
            raise UserError(_("By DM, name the run: add 'run <id>' (see !protocol status in your room)."))
        named = await require_port(self.host).dayofaction_run(run)
        if named is None or named.forget_at <= self.host.clock():
            raise UserError(_("There is no run '{run}'.", run=run))
        for room in named.member_rooms:
            if ctx.sender in await self.host.members(room):
                return named
        raise UserError(_("You are in none of the member rooms of run '{run}'.", run=run))

    async def _pending(self, ctx: CommandContext, ride: int) -> tuple[Offer, Need, str]:
        if not ctx.is_direct:
            raise UserError(_("Answer a ride proposal in our direct chat, where it was asked."))
        found = await self.store.pending_for(ride, ctx.sender)
        if found is None:
            raise UserError(_("No ride proposal {id} waits for your answer.", id=str(ride)))
        return found

    async def _dm(self, person: str, info: RunInfo, asked_in: str | None) -> RoomID:
        """The rides' direct chat with ``person``; a new one is named, and speaks, in the language
        of the room they offered or asked in, else of the run's coordination room."""
        return await dm_room(
            self.host,
            person,
            title=room_names.RIDES,
            topic=room_names.RIDES_TOPIC,
            encrypted=self.config.encrypt_dms,
            language_room=await room_names.language_room(
                self.host.settings, [asked_in, *info.coordination_rooms]
            ),
        )

    async def _match(self, info: RunInfo) -> None:
        """Propose every new match to its driver by DM (without the rider's name)."""
        taken, refused = await self.store.proposals(info.run_id)
        offers = await self.store.offers(info.run_id)
        needs = {n.id: n for n in await self.store.needs(info.run_id)}
        by_id = {o.id: o for o in offers}
        for p in match(offers, list(needs.values()), taken, refused):
            await self.store.propose(p)
            offer, need = by_id[p.offer], needs[p.need]
            text = render.proposal(need.id, info.run_id, need.seats, need.area, need.at, offer.at)
            room = await self._dm(offer.driver, info, (await self.store.asked_in(offer.id, need.id))[0])
            event = await self.host.post(room, text, key(self.name, "proposal", offer.id, need.id), wait=True)
            await self.keep(room, event, info)
