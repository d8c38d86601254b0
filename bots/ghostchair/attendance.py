"""Who is coming to a gathering, as a Matrix poll: a tap beats typing ``!`` commands.

``!gathering poll <id>`` posts a poll about the gathering's next occurrence (Coming / Maybe /
Not this time); people answer in their client; ``!gathering poll end <id>`` reads the answers,
closes the poll and says how many are coming. A poll names who answered (Matrix polls are never
anonymous), which is fine for "who is coming", something people say aloud anyway.

What is kept: the poll's event id, as the room setting ``ghostchair.poll.<id>``, until the poll
is ended (or the bot leaves the room): no answer is stored, the answers stay in the room. While
it is open the poll is pinned, where the bot has the power to pin.
"""

from __future__ import annotations

from bots.ghostchair.base import GhostChairBase
from bots.ghostchair.grammar import GatheringId
from bots.runtime.commands import CommandContext, command
from bots.runtime.errors import UserError
from bots.runtime.i18n import _, ngettext, when
from bots.runtime.ids import EventID
from bots.runtime.message import Message, code
from bots.runtime.pins import pin, unpin
from bots.runtime.polls import end_poll, read_poll, start_poll
from protocols.schedule import next_occurrence
from storage.ghostchair import Gathering

ANSWERS = ("coming", "maybe", "not")


def poll_key(gathering_id: int) -> str:
    return f"ghostchair.poll.{gathering_id}"


class AttendancePolls(GhostChairBase):
    async def _gathering_here(self, ctx: CommandContext, id_: int) -> Gathering:
        gathering = await self.gatherings.get(id_)
        if gathering is None or gathering.room_id != ctx.room_id:
            raise UserError(_("There is no gathering #{id} in this room; see !gathering list.", id=str(id_)))
        return gathering

    @command(
        "gathering poll", help="Ask who is coming to a gathering's next meeting, as a poll", where="room"
    )
    async def gathering_poll(self, ctx: CommandContext, id_: GatheringId) -> None:
        gathering = await self._gathering_here(ctx, id_)
        if await self.host.settings.get(ctx.room_id, poll_key(id_)):
            raise UserError(
                _(
                    "Gathering #{id} already has a poll open; end it with {command}.",
                    id=str(id_),
                    command=code(f"!gathering poll end {id_}"),
                )
            )
        upcoming = next_occurrence(gathering.schedule, ctx.now)
        if upcoming is None:
            raise UserError(_("Gathering #{id} has no meeting to come.", id=str(id_)))
        question = _("Who is coming on {when}? (Your answer is visible to the room.)", when=when(upcoming))
        answers = [("coming", _("Coming")), ("maybe", _("Maybe")), ("not", _("Not this time"))]
        poll = await start_poll(self.host, ctx.room_id, question, answers, ctx.key("poll", id_))
        if poll is None:
            raise UserError(_("The room did not take the poll; ask a moderator whether I may post here."))
        await self.host.settings.put(ctx.room_id, poll_key(id_), poll)
        await pin(self.host, ctx.room_id, poll)  # pinned while open, where the bot may pin

    @command("gathering poll end", help="Close a gathering's poll and say how many are coming", where="room")
    async def gathering_poll_end(self, ctx: CommandContext, id_: GatheringId) -> None:
        poll = await self.host.settings.get(ctx.room_id, poll_key(id_))
        if not poll:  # (a poll outlives its gathering's cancellation: it can still be ended)
            await self._gathering_here(ctx, id_)
            raise UserError(
                _(
                    "Gathering #{id} has no poll open; start one with {command}.",
                    id=str(id_),
                    command=code(f"!gathering poll {id_}"),
                )
            )
        result = await read_poll(self.host, ctx.room_id, EventID(poll), ANSWERS)
        coming, maybe, absent = (result.count(a) for a in ANSWERS)
        summary = ngettext(
            "{n} person is coming, {maybe} maybe, {absent} not this time.",
            "{n} people are coming, {maybe} maybe, {absent} not this time.",
            coming,
            maybe=maybe,
            absent=absent,
        )
        await end_poll(self.host, ctx.room_id, EventID(poll), result, summary, ctx.key("poll-end", id_))
        await self.host.settings.delete(ctx.room_id, poll_key(id_))
        await unpin(self.host, ctx.room_id, poll)
        await ctx.reply(Message.of(_("Gathering #{id}: {summary}", id=str(id_), summary=summary)))
