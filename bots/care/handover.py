"""Handovers: "a burden bearer who handles logistics for a short term and then hands the ledger
to another" (seed).

Before a mandate ends (``handover_ask_before``), its holder is asked by DM for a short note:
what the next person needs. They answer by writing in that direct room, or any time during the
mandate with ``!handover <role> <note>`` in a direct message. When the role has a new holder
(another person), the note goes to them by DM, once, and is deleted; an undelivered note is
deleted after ``handover_notes``. Nothing about it goes to the room.

The mandates are the lottery's: this part reads them through ``host.peer`` (the running
mandates of this bot, read only) every ``handover_check``; the lottery needs no hook.
"""

from __future__ import annotations

from datetime import datetime

from bots.care import render_handover as render
from bots.care.base import log
from bots.care.commands import RotaCommands
from bots.care.config import CareConfig
from bots.care.handover_store import Handover, Handovers
from bots.lottery.feature import LotteryFeature
from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import Text
from bots.runtime.errors import UserError
from bots.runtime.host import Host
from bots.runtime.i18n import _
from bots.runtime.ids import EventID, RoomID
from bots.runtime.keys import key
from protocols.mandates import Mandate

MAX_NOTE = 2000
SCAN_JOB = "handover-scan"


class HandoverPart(RotaCommands):
    def __init__(self, host: Host, config: CareConfig) -> None:
        super().__init__(host, config)
        self.handovers = Handovers(host.db, host.user_id)

    def _mandates_source(self) -> LotteryFeature | None:
        return self.host.peer(LotteryFeature)

    def start_handovers(self) -> None:
        if self._mandates_source() is not None:
            self.host.schedule.every(SCAN_JOB, self.config.handover_check, self.scan_handovers)

    async def scan_handovers(self) -> None:
        """Ask holders whose mandate ends soon; deliver notes to the next holders."""
        lottery = self._mandates_source()
        if lottery is None:
            return
        now = self.host.clock()
        running = await lottery.mandates.all()
        for mandate in running:
            if mandate.expires > now and now >= mandate.expires - self.config.handover_ask_before:
                await self._ask(mandate, now)
        for handover in await self.handovers.with_notes():
            current = await lottery.mandates.get(handover.room_id, handover.role)
            if current is not None and current.holder != handover.holder and current.active(now):
                await self._deliver(handover, current, now)

    async def _ask(self, mandate: Mandate, now: datetime) -> None:
        known = await self.handovers.get(mandate.room, mandate.role, mandate.holder)
        if known is not None and known.asked_at is not None:
            return
        dm = await self.dm_room(mandate.holder, now, mandate.room)
        room_name = await self.host.room_name(RoomID(mandate.room))
        k = key(self.name, "handover-ask", mandate.room, mandate.role, int(mandate.expires.timestamp()))
        written = known is not None and known.note is not None
        zone = await self.room_zone(mandate.room)
        await self.host.post(dm, render.ask(mandate, room_name, zone, written), k)
        await self.handovers.asked(mandate.room, mandate.role, mandate.holder, mandate.expires, dm, now)
        log.info("handover: a holder was asked for a note")

    async def _deliver(self, handover: Handover, successor: Mandate, now: datetime) -> None:
        assert handover.note is not None
        dm = await self.dm_room(successor.holder, now, handover.room_id)
        room_name = await self.host.room_name(RoomID(handover.room_id))
        k = key(self.name, "handover", handover.id, int(successor.start.timestamp()))
        message = render.delivered(handover, room_name, self.config.reminders)
        event_id = await self.host.post(dm, message, k, wait=True)
        async with self.host.db.transaction():
            if event_id is not None:
                await self.reminders.add(dm, event_id, now)  # redacted after the retention too
            await self.handovers.delete(handover.id)
        log.info("handover: a note was delivered to the next holder and deleted")

    @command(
        "handover",
        help="Write or change your handover note for a role you hold (in a direct message with the bot)",
    )
    async def handover(self, ctx: CommandContext, role: str, note: Text) -> None:
        if not ctx.is_direct:
            raise UserError(
                _(
                    "Write your handover note to me in a direct message: it goes to the next holder "
                    "only, and nothing about it to the room."
                )
            )
        await self._keep(ctx, role.strip().lower(), str(note))

    async def _keep(self, ctx: CommandContext, role: str, note: str) -> None:
        lottery = self._mandates_source()
        if lottery is None:
            raise UserError(
                _("Handovers need the lottery (roles and mandates), which this bot does not run.")
            )
        text = note.strip()
        if not text:
            raise UserError(_("The note is empty: say what the next person needs."))
        if len(text) > MAX_NOTE:
            raise UserError(_("Keep the note under {n} characters: the essentials only.", n=str(MAX_NOTE)))
        held = [
            m
            for m in await lottery.mandates.all()
            if m.holder == ctx.sender and m.role == role and m.active(ctx.now)
        ]
        if not held:
            raise UserError(_("You hold no {role} mandate now, so there is nothing to hand over.", role=role))
        for mandate in held:
            await self.handovers.write(mandate.room, mandate.role, ctx.sender, mandate.expires, text, ctx.now)
        await ctx.reply(render.kept(role))

    async def reaction_read(self, ctx: CommandContext, target: str) -> bool:
        """A reaction, in the bot's direct room with its sender, to a delivered handover note
        (or a turn reminder) says it was read: the message is redacted and forgotten at once,
        not only after the retention. False when ``target`` is none of them."""
        if not ctx.is_direct or await self.direct.is_dm(ctx.room_id) != ctx.sender:
            return False
        found = await self.reminders.by_event(ctx.room_id, target)
        if found is None:
            return False
        await self.host.redact(RoomID(ctx.room_id), EventID(target), key(self.name, "read", found))
        await self.reminders.delete(found)
        log.info("care: a message was read and deleted")
        return True

    async def on_message(self, ctx: CommandContext) -> bool:
        """A plain message in a direct room where the bot asked for a note is the note."""
        if not ctx.is_direct:
            return False
        waiting = [h for h in await self.handovers.waiting_in(ctx.room_id, ctx.sender) if h.expires > ctx.now]
        if not waiting:
            return False
        await self._keep(ctx, waiting[0].role, ctx.body)
        return True
