"""The pool and chance groupings: ``!stepback`` / ``!stepin`` (out of the pool and back, care,
not shame), a speaking order, and check-in triads away from the last triads' pairs.

Orders and groupings come from :class:`random.SystemRandom`.
"""

from __future__ import annotations

from datetime import timedelta

from bots.lottery import render
from bots.lottery.draws import DrawsPart
from bots.runtime.commands import CommandContext, command
from bots.runtime.i18n import _, when
from bots.runtime.i18n_rules import said
from bots.runtime.ids import RoomID
from bots.runtime.keys import key
from bots.runtime.message import Message
from protocols.errors import RuleError
from protocols.groups import pairs_in, speaking_order, triads

ORDER_TITLE = _("Speaking order, by chance:")


class GroupingsPart(DrawsPart):
    # -- the public interface (the ghost chair) -------------------------------------------------

    async def speaking_order(self, room_id: RoomID, origin: str) -> None:
        """Post a random speaking order of the pool as ``!order`` would; ``origin`` is a stable
        id of what asked for it (the same origin, one message)."""
        k = key(self.name, "order", origin)
        try:
            order = await self._order(room_id)
        except RuleError as exc:
            await self.host.post(room_id, Message.of(said(exc)), k)
            return
        await self.host.post(room_id, render.numbered(ORDER_TITLE, order), k)

    # -- commands: the pool -------------------------------------------------------------------

    @command("stepback", help="Leave the pool, for a while or until !stepin (care, not shame)", where="room")
    async def step_back(self, ctx: CommandContext, duration: timedelta | None = None) -> None:
        until = ctx.now + duration if duration is not None else None
        await self.stepbacks.step_back(ctx.room_id, ctx.sender, ctx.now, until)
        zone = await self.zone_of(ctx.room_id)
        if until:
            said_ = _(
                "You are out of the pool until {when}. Take care. Roles you hold stay yours until they "
                "end or you !release them.",
                when=when(until, zone),
            )
        else:
            said_ = _(
                "You are out of the pool until you type !stepin. Take care. Roles you hold stay yours "
                "until they end or you !release them."
            )
        await ctx.reply(Message.of(said_))

    @command("stepin", help="Rejoin the pool", where="room")
    async def step_in(self, ctx: CommandContext) -> None:
        if await self.stepbacks.step_in(ctx.room_id, ctx.sender):
            await ctx.reply(Message.of(_("Welcome back: you are in the pool again.")))
        else:
            await ctx.reply(Message.of(_("You had not stepped back: you are in the pool.")))

    # -- commands: groupings ------------------------------------------------------------------

    async def _order(self, room_id: str) -> list[str]:
        return speaking_order(await self.pool_of(room_id, self.host.clock()), self._rng)

    @command("order", help="A random speaking order of the pool", where="room")
    async def order(self, ctx: CommandContext) -> None:
        await ctx.reply(render.numbered(ORDER_TITLE, await self._order(ctx.room_id)))

    @command("triads", help="Check-in triads by chance, away from the last triads' pairs", where="room")
    async def triads(self, ctx: CommandContext) -> None:
        members = await self.pool_of(ctx.room_id, ctx.now)
        previous = await self.groupings.recent(ctx.room_id, "triads", 1)
        pairs = pairs_in(previous[0] if previous else ())
        met = [tuple(pair) for pair, n in pairs.items() for _ in range(n)]
        grouped = triads(members, self._rng, met)
        await self.groupings.record(ctx.room_id, "triads", grouped, ctx.now)
        await ctx.reply(render.groups(_("Check-in triads, by chance:"), render.triad, grouped))
