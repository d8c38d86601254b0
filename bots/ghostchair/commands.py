"""The ghost chair's chat surface: ``!ghost ...`` (absent voices) and ``!gathering ...``.

Two mixins of the feature class, one per aggregate. Each handler's signature is its grammar
(:mod:`bots.ghostchair.grammar`), and each validates everything before it writes, so a refused
command changes nothing. The rules' refusals (``RuleError``) become the user's error message
where every typed error does, in the runtime.
"""

from __future__ import annotations

import logging
from typing import Annotated

from bots.ghostchair import render
from bots.ghostchair.base import GhostChairBase, job_id
from bots.ghostchair.grammar import (
    AtOptions,
    Day,
    EveryOptions,
    GatheringId,
    TimeOfDay,
    VoiceNumber,
    Weekday,
    Zone,
)
from bots.ghostchair.steps import GatheringSteps
from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import Metavar, Text, Words
from bots.runtime.errors import UserError
from bots.runtime.i18n import _
from protocols.gathering import GatheringSpec, ZoneAndOptions, one_off_gathering, weekly_gathering
from protocols.gathering_recurring import recurring_gathering
from protocols.ghostchair import reminder_for_turn
from protocols.schedule import next_occurrence

log = logging.getLogger(__name__)


class VoiceCommands(GhostChairBase):
    @command(
        "ghost add",
        help="Keep a chair for someone absent (e.g. the comrade in prison)",
        power="moderator",
        where="room",
    )
    async def ghost_add(self, ctx: CommandContext, text: Text) -> None:
        voices = await self.voices.add(ctx.room_id, text, ctx.now)
        await ctx.reply(render.voice_added(voices[-1], len(voices)))

    @command("ghost list", help="The absent voices this room keeps a chair for", where="room")
    async def ghost_list(self, ctx: CommandContext) -> None:
        await ctx.reply(render.voices_list(await self.voices.voices(ctx.room_id)))

    @command(
        "ghost remove",
        help="Stop keeping the chair for voice number n (from !ghost list)",
        power="moderator",
        where="room",
    )
    async def ghost_remove(self, ctx: CommandContext, n: VoiceNumber) -> None:
        removed = await self.voices.remove(ctx.room_id, n, ctx.now)
        left = len(await self.voices.voices(ctx.room_id))
        await ctx.reply(render.voice_removed(removed, left))

    @command("ghost now", help="Post the ghost-chair reminder now", where="room")
    async def ghost_now(self, ctx: CommandContext) -> None:
        voices, turn = await self.voices.take_turn(ctx.room_id, ctx.now)
        await ctx.reply(render.reminder(reminder_for_turn(voices, turn)))


class GatheringCommands(GatheringSteps):
    @command(
        "gathering every",
        # The help texts are whole sentences of the catalogue (no f-string: !help translates them).
        help="Schedule a weekly gathering. [zone] is an IANA name (default: the room's zone); options, "
        "in any order: draw (draw the opening roles and a speaking order through the lottery), "
        "remind <duration> (a heads-up before), care <duration> (a care check-in after), until "
        "<YYYY-MM-DD> (its sunset)",
        power="moderator",
        where="room",
    )
    async def gathering_every(
        self,
        ctx: CommandContext,
        weekday: Weekday,
        at: TimeOfDay,
        options: EveryOptions | None = None,
    ) -> None:
        extra = options or ZoneAndOptions()
        zone = await self.room_zone(ctx.room_id)
        await self._schedule(ctx, weekly_gathering(weekday, at, extra, zone, ctx.now))

    @command(
        "gathering repeat",
        help="Schedule a gathering beyond weekly: every n days or weeks, monthly on a date or "
        "the nth weekday, e.g. every 2 weeks on tuesday at 19:00 (DST-correct). [zone] is an IANA "
        "name (default: the room's zone); options, in any order: draw (draw the opening roles and "
        "a speaking order through the lottery), remind <duration> (a heads-up before), care "
        "<duration> (a care check-in after)",
        power="moderator",
        where="room",
    )
    async def gathering_repeat(
        self,
        ctx: CommandContext,
        recurrence: Annotated[Words, Metavar("every ... [at HH:MM] [until YYYY-MM-DD]")],
    ) -> None:
        zone = await self.room_zone(ctx.room_id)
        await self._schedule(ctx, recurring_gathering(recurrence, zone, ctx.now))

    @command(
        "gathering at",
        help="Schedule a one-off gathering at YYYY-MM-DD HH:MM. [zone] is an IANA name (default: "
        "the room's zone); options, in any order: draw (draw the opening roles and a speaking "
        "order through the lottery), remind <duration> (a heads-up before), care <duration> (a "
        "care check-in after)",
        power="moderator",
        where="room",
    )
    async def gathering_at(
        self, ctx: CommandContext, day: Day, at: TimeOfDay, options: AtOptions | None = None
    ) -> None:
        extra = options or ZoneAndOptions()
        zone = await self.room_zone(ctx.room_id)
        await self._schedule(ctx, one_off_gathering(day, at, extra, zone, ctx.now))

    async def _schedule(self, ctx: CommandContext, spec: GatheringSpec) -> None:
        if spec.options.draw and self.lottery() is None:
            raise UserError(
                _(
                    "draw needs the lottery feature, which is not enabled for this bot: leave out "
                    "draw, or ask the operator to add lottery to the bot's features. Nothing was "
                    "scheduled."
                )
            )
        gathering = await self.gatherings.add(ctx.room_id, spec, ctx.sender, ctx.now)
        zone = spec.schedule.zone
        adopted = spec.zone_given and await self.host.settings.zone_set(ctx.room_id) is None
        if adopted:
            await self.host.settings.set_zone(ctx.room_id, zone)
        await self.advance(gathering.id)  # sets its first job (nothing is due yet)
        log.info("gathering %d scheduled", gathering.id)
        upcoming = next_occurrence(spec.schedule, ctx.now)
        await ctx.reply(render.scheduled(gathering.id, spec, upcoming, adopted))

    @command("gathering list", help="This room's gatherings and when each is next", where="room")
    async def gathering_list(self, ctx: CommandContext) -> None:
        lines = [
            render.GatheringLine(g.id, g.schedule, g.options, next_occurrence(g.schedule, ctx.now))
            for g in await self.gatherings.in_room(ctx.room_id)
        ]
        await ctx.reply(render.gatherings_list(lines, await self.room_zone(ctx.room_id)))

    @command(
        "gathering cancel",
        help="Cancel a gathering (its id from !gathering list)",
        power="moderator",
        where="room",
    )
    async def gathering_cancel(self, ctx: CommandContext, id_: GatheringId) -> None:
        gathering = await self.gatherings.get(id_)
        if gathering is None or gathering.room_id != ctx.room_id:
            raise UserError(_("There is no gathering #{id} in this room; see !gathering list.", id=str(id_)))
        if not await self.gatherings.cancel(ctx.room_id, id_):
            raise UserError(_("Gathering #{id} is already gone; see !gathering list.", id=str(id_)))
        self.host.schedule.cancel(job_id(id_))
        log.info("gathering %d cancelled", id_)
        await ctx.reply(render.cancelled(id_, gathering.schedule))

    @command(
        "gathering zone",
        help="Show this room's time zone, or set it (moderators) by IANA name, e.g. Europe/Paris",
        where="room",
    )
    async def gathering_zone(self, ctx: CommandContext, zone: Zone | None = None) -> None:
        if zone is None:
            await ctx.reply(render.zone_shown(await self.room_zone(ctx.room_id)))
            return
        await ctx.require_power("moderator")
        await self.host.settings.set_zone(ctx.room_id, zone)
        await ctx.reply(render.zone_set(zone))
