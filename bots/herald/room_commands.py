"""A member room's own commands: its local details (``!local``) and its acknowledgements
(``!ack``, also from a liaison's direct chat). Built on the coalition commands
(``bots.herald.coalitions``); the protocol commands build on these.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bots.herald.base import run_id_of
from bots.herald.coalitions import CoalitionCommands
from bots.herald.render import local_details
from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import Text
from bots.runtime.errors import PermissionDenied, UserError
from bots.runtime.i18n import _
from bots.runtime.message import Inline, Message
from protocols.herald import validate_local


class RoomCommands(CoalitionCommands):
    """``!local set``, ``!local show`` and ``!ack``."""

    # -- local details ------------------------------------------------------------------------

    @command(
        "local set",
        help="Set a local detail used in protocol messages (meeting_point, local_contact, language, timezone)",
    )
    async def local_set(self, ctx: CommandContext, key: str, value: Text) -> None:
        found = await self.seat_of(ctx.room_id, ctx.sender)
        await self.require_liaison(ctx, found[1] if found else None)
        norm_key, norm_value = validate_local(key, value)
        if norm_key == "timezone":
            await self.host.settings.set_zone(ctx.room_id, ZoneInfo(norm_value))
        elif norm_key == "language":
            try:
                await self.host.settings.set_language(ctx.room_id, norm_value)
            except ValueError as exc:
                raise UserError(*exc.args) from None
        else:
            await self.local.set(ctx.room_id, norm_key, norm_value, ctx.now)
        await ctx.reply(Message.of(_("{key} set to: {value}", key=norm_key, value=norm_value)))

    @command("local show", help="Show this room's local details")
    async def local_show(self, ctx: CommandContext) -> None:
        await ctx.reply(local_details(await self.details(ctx.room_id)))

    # -- acknowledgements ---------------------------------------------------------------------

    @command("ack", help="Acknowledge a run's messages for your room (liaison)")
    async def ack(self, ctx: CommandContext, run: str | None = None) -> None:
        run_id = run_id_of(run) if run else None
        named = await self.runs.get(run_id) if run_id is not None else None
        if named is not None:
            found = await self.membership(ctx.room_id, named.coalition) or await self.seat_of(
                ctx.room_id, ctx.sender
            )
        else:
            found = await self.seat_of(ctx.room_id, ctx.sender)
        if found is not None:
            coalition, member = found
            if not await self.may_ack(ctx.room_id, ctx.sender, member):
                raise PermissionDenied(
                    _(
                        "Only this room's liaison ({liaison}) or a moderator acknowledges for the room.",
                        liaison=member.liaison or _("none set"),
                    )
                )
            if run_id is not None:
                await self.run_in(coalition, run_id)
            targets = [member]
        else:
            # A liaison may answer from a direct chat (where the escalation reached them).
            # Only for rooms they are still in: a liaison who left or was kicked is cleared here.
            targets = [
                m
                for m in await self.coalitions.rooms_of_liaison(ctx.sender)
                if await self.still_in_room(m.room_id, ctx.sender, m)
            ]
            if not targets:
                raise UserError(
                    _(
                        "This room is not in a coalition (or it left), so there is nothing to acknowledge here. "
                        "Liaisons acknowledge in their own coalition room, and from a direct chat only for rooms "
                        "they are still in."
                    )
                )
        done: list[Inline] = []
        for member in targets:
            awaiting = await self.runs.awaiting_ack(member.room_id, run_id)
            if not awaiting:
                continue
            latest_run = awaiting[-1].run_id if run_id is None else run_id
            phases = [d.phase_key for d in awaiting if d.run_id == latest_run]
            if await self.runs.ack(latest_run, member.room_id, ctx.sender, ctx.now):
                label: Inline = (
                    _("this room") if member.room_id == ctx.room_id else await self.label(member.room_id)
                )
                done.append(
                    _("run {run} for {room}: {phases}", run=latest_run, room=label, phases=", ".join(phases))
                )
                await self.schedule_escalation(latest_run)
                shared_run = await self.runs.get(latest_run)
                if shared_run is not None:
                    await self.share_acks(shared_run.coalition)
        if not done:
            if run_id:
                raise UserError(_("Nothing from run {run} awaits an acknowledgement here.", run=run_id))
            raise UserError(_("Nothing from any run awaits an acknowledgement here."))
        listed: list[Inline] = []
        for n, item in enumerate(done):
            listed += ["; " if n else "", item]
        await ctx.reply(Message.of(_("✅ Acknowledged"), " ", *listed, "."))
