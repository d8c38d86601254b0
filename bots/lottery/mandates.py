"""Roles and mandates: a room's roles and settings, mandates that end on their own (a reminder
to the holder, then the vacancy), early release, and two-person renewal.

Jobs (namespaced ``lottery:`` by the host, rebuilt at start): ``remind-<k>`` and ``expire-<k>``
for each mandate. A vacancy in a room that draws again owes a redraw, written with the vacancy
notice in one transaction, so a crash between the notice and the draw loses nothing.
"""

from __future__ import annotations

from datetime import timedelta

from bots.lottery import bounds, render
from bots.lottery.base import LotteryBase, log, short_id
from bots.lottery.config import LotteryConfig
from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import OnOff
from bots.runtime.errors import MatrixError
from bots.runtime.host import Host
from bots.runtime.i18n import _, when
from bots.runtime.i18n import duration as duration_
from bots.runtime.ids import RoomID
from bots.runtime.keys import key
from bots.runtime.message import Inline, Message
from bots.skills.feature import SkillsFeature
from protocols.lottery_room import parse_roles
from protocols.mandates import Mandate, reminder_at
from storage.lottery_mandates import Shadows


def _mandate_jobs(mandate: Mandate) -> tuple[str, str]:
    k = short_id(mandate.room, mandate.role)
    return f"remind-{k}", f"expire-{k}"


class MandatesPart(LotteryBase):
    def __init__(self, host: Host, config: LotteryConfig) -> None:
        super().__init__(host, config)
        self.shadows = Shadows(host.db, host.user_id)

    # -- commands: a room's roles and settings ------------------------------------------------

    @command("roles", help="The roles, who holds them and until when (local time)", where="room")
    async def show_roles(self, ctx: CommandContext) -> None:
        setup = await self.rooms.setup(ctx.room_id)
        options = await self.options.get(ctx.room_id)
        current = await self.mandates.current(ctx.room_id)
        pending = [d.draw_id for d in await self.draws.pending(ctx.room_id)]
        zone = await self.zone_of(ctx.room_id)
        shadows = await self.shadows.of(ctx.room_id)
        skills = self.host.peer(SkillsFeature)
        needs = await skills.requirements.of(ctx.room_id) if skills is not None else {}
        await ctx.reply(render.roles(setup, options, current, pending, ctx.now, zone, shadows, needs))

    @command("roles set", help="Define this room's roles, in drawing order", power="moderator", where="room")
    async def set_roles(self, ctx: CommandContext, *role: str) -> None:
        names = parse_roles(role)
        await self._no_open_draw(ctx.room_id)
        ended = await self.rooms.set_roles(ctx.room_id, names, ctx.now)
        for mandate in ended:
            self._cancel_mandate(mandate)
        text: list[Inline] = [_("Roles here, in drawing order: {roles}.", roles=", ".join(names))]
        if ended:
            text += [
                " ",
                _(
                    "Mandates that ended with their role: {ended}.",
                    ended=", ".join(f"{m.role} ({m.holder})" for m in ended),
                ),
            ]
        await ctx.reply(Message.of(*text))

    @command("roles term", help="How long a mandate lasts (e.g. 7d)", power="moderator", where="room")
    async def set_term(self, ctx: CommandContext, duration: timedelta) -> None:
        term = bounds.term(duration)
        await self.rooms.set_term(ctx.room_id, term, ctx.now)
        await ctx.reply(
            Message.of(
                _(
                    "Mandates drawn from now on last {term}; running ones keep their end.",
                    term=duration_(term),
                )
            )
        )

    @command(
        "roles window",
        help="How long members have to add their chance to a draw (e.g. 30s)",
        power="moderator",
        where="room",
    )
    async def set_window(self, ctx: CommandContext, duration: timedelta) -> None:
        window = bounds.window(duration)
        await self.options.set_window(ctx.room_id, window, ctx.now)
        await ctx.reply(
            Message.of(
                _(
                    "From the next draw on, members have {window} to add their chance.",
                    window=duration_(window),
                )
            )
        )

    @command(
        "roles redraw",
        help="on: draw a role again as soon as its mandate ends; off: leave it vacant",
        power="moderator",
        where="room",
    )
    async def set_redraw(self, ctx: CommandContext, on_off: OnOff) -> None:
        await self.options.set_redraw(ctx.room_id, on_off, ctx.now)
        await ctx.reply(
            Message.of(
                _("When a mandate ends, I draw its role again at once.")
                if on_off
                else _("When a mandate ends, its role stays vacant until someone types !draw.")
            )
        )

    # -- commands: a mandate ------------------------------------------------------------------

    @command("release", help="End your own mandate early", where="room")
    async def release(self, ctx: CommandContext, role: str) -> None:
        name = await self._role(ctx.room_id, role)
        ended = await self.mandates.release(ctx.room_id, name, ctx.sender, ctx.now)
        self._cancel_mandate(ended)
        await ctx.reply(
            Message.of(
                _(
                    "You released {role}: it is vacant now. Thank you for holding it. Draw it again with "
                    "!draw {role}.",
                    role=name,
                )
            )
        )

    @command(
        "renew",
        help="Propose renewing a mandate; another member (not the holder, not the proposer) "
        "confirms with the same command",
        where="room",
    )
    async def renew(self, ctx: CommandContext, role: str) -> None:
        """The first ``!renew`` proposes; a second, by someone else, confirms."""
        name = await self._role(ctx.room_id, role)
        mandate = await self.mandates.get(ctx.room_id, name)
        zone = await self.zone_of(ctx.room_id)
        term = (await self.rooms.setup(ctx.room_id)).term
        if mandate is not None and mandate.renewal is not None and mandate.active(ctx.now):
            renewed = await self.mandates.confirm_renewal(ctx.room_id, name, ctx.sender, ctx.now, term)
            await self.shadows.renewed(ctx.room_id, name, ctx.now, renewed.expires)
            self._schedule_mandate(renewed)
            await ctx.reply(
                Message.of(
                    _(
                        "{who} confirmed: {holder} holds {role} for one more term, until {when}.",
                        who=ctx.sender,
                        holder=renewed.holder,
                        role=name,
                        when=when(renewed.expires, zone),
                    )
                )
            )
            return
        proposed = await self.mandates.propose_renewal(ctx.room_id, name, ctx.sender, ctx.now)
        await ctx.reply(
            Message.of(
                _(
                    "Renewing {holder} as {role} for {term} is proposed. Another member (neither {holder} "
                    "nor {who}) confirms with !renew {role} before {when}; otherwise the mandate ends as "
                    "planned.",
                    holder=proposed.holder,
                    role=name,
                    term=duration_(term),
                    who=ctx.sender,
                    when=when(proposed.expires, zone),
                )
            )
        )

    # -- jobs ---------------------------------------------------------------------------------

    def _schedule_mandate(self, mandate: Mandate) -> None:
        remind, expire = _mandate_jobs(mandate)
        if not mandate.reminded:
            self.host.schedule.at(remind, reminder_at(mandate), self._remind, mandate.room, mandate.role)
        else:
            self.host.schedule.cancel(remind)
        self.host.schedule.at(expire, mandate.expires, self._expire_job, mandate.room, mandate.role)

    def _cancel_mandate(self, mandate: Mandate) -> None:
        for job in _mandate_jobs(mandate):
            self.host.schedule.cancel(job)

    async def _remind(self, room_id: str, role: str) -> None:
        mandate = await self.mandates.get(room_id, role)
        now = self.host.clock()
        if mandate is None or mandate.reminded or not reminder_at(mandate) <= now < mandate.expires:
            return
        message = render.reminder(mandate, await self.zone_of(room_id))
        k = key(self.name, "remind", room_id, role, mandate.holder, mandate.expires.timestamp())
        async with self.host.db.transaction():
            if not await self.mandates.mark_reminded(mandate):
                return
            await self.host.post(RoomID(room_id), message, k)

    async def _expire_job(self, room_id: str, role: str) -> None:
        await self._expire_due()

    async def _expire_due(self) -> None:
        """End every mandate whose term is over: tell each room, and draw again where wanted."""
        now = self.host.clock()
        async with self.host.db.transaction():
            ended = await self.mandates.expire(now)
            by_room: dict[str, list[Mandate]] = {}
            for mandate in ended:
                by_room.setdefault(mandate.room, []).append(mandate)
            for room_id, mandates in by_room.items():
                again = (await self.options.get(room_id)).redraw
                ends = (f"{m.role}\x1e{m.holder}\x1e{m.expires.timestamp()}" for m in mandates)
                k = key(self.name, "vacant", room_id, *ends)
                await self.host.post(RoomID(room_id), render.vacancy(mandates, again), k)
                if again:  # owed with the notice: a crash before the draw does not lose it
                    await self.redraws.owe(room_id, k, now)
        for mandate in ended:
            self._cancel_mandate(mandate)
        if ended:
            log.info("lottery: %d mandates ended", len(ended))
        await self._open_owed_redraws()

    async def _open_owed_redraws(self) -> None:
        """Open every redraw owed (one draw per key however often this runs), then forget it."""
        for room_id, owed in await self.redraws.owed():
            try:
                await self.opening_draw(RoomID(room_id), owed)
            except MatrixError as exc:  # removed from the room meanwhile: the vacancy stands
                log.warning("lottery: could not draw again after a mandate ended (%s)", exc.errcode)
            await self.redraws.done(owed)
