"""The care feature, assembled: rotas (``!rota ...``) with their job, and its life cycle:
rebuilding the jobs at start, reactions that take a swap request, retention and forgetting.

Forgetting (see :meth:`CareFeature.retention`): who did which turn lives ``turn_history``, then
only counts per member remain (:func:`protocols.rota.fold_history`); swap requests go when taken,
when their turn passes or after ``swap_requests``; DM reminders are redacted and forgotten after
``reminders``; the bot's direct rooms are forgotten when unused that long; a rota past its end
(``until``) is deleted once its last turn was handled; leaving a room forgets its rotas.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timedelta

from bots.care.base import log, rota_job
from bots.care.cells import ReshufflePart, cells_job
from bots.runtime.commands import CommandContext
from bots.runtime.ids import EventID, RoomID
from bots.runtime.keys import key
from bots.runtime.registry import register
from protocols.recurrence import ends_at
from protocols.rota import fold_history


@register
class CareFeature(ReshufflePart):
    """Care rotas (``!rota add/list/show/remove/join/leave/away/swap/take``) and handovers
    (``!handover``), and scheduled reshuffles of cells (``!cells every/schedule/stop``)."""

    async def start(self) -> None:
        """Catch up on every rota (late turns, missed notes) and rebuild its job."""
        for stored in await self.rotas.all():
            await self.advance(stored.id)
        self.start_handovers()
        for schedule in await self.cell_schedules.all():
            await self.boundary(schedule.id)

    async def stop(self) -> None:
        """Steps still running are cancelled: their rows say what is done, start() redoes the rest."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def on_reaction(self, ctx: CommandContext, target: EventID, key: str) -> None:
        """In a room, a reaction to a swap request takes it; in the bot's direct room, a
        reaction to a delivered handover note or a reminder deletes it (read)."""
        if not await self.reaction_take(ctx, target):
            await self.reaction_read(ctx, target)

    def retention(self) -> Mapping[str, timedelta]:
        return {
            "who did which turn (then counts per member)": self.config.turn_history,
            "swap requests": self.config.swap_requests,
            "DM reminders": self.config.reminders,
            "direct rooms unused": self.config.reminders,
            "handover notes not delivered": self.config.handover_notes,
        }

    async def forget_expired(self, now: datetime) -> int:
        deleted = 0
        async with self.lock:
            for stored in await self.rotas.all():
                end = ends_at(stored.rota.recurrence)
                if end is not None and now >= end + self.config.misfire_grace:
                    # Past its end by more than the grace: its job has handled (or noted) its
                    # last turns (start() catches up before the first sweep), so the rota goes.
                    await self.rotas.remove(stored.id)
                    self.host.schedule.cancel(rota_job(stored.id))
                    deleted += 1
                    continue
                folded = fold_history(stored.rota, now - self.config.turn_history)
                if folded != stored.rota:
                    await self.rotas.save(stored.id, folded)
                    deleted += len(stored.rota.turns) - len(folded.turns)
        for request in await self.swaps.ended(now, now - self.config.swap_requests):
            if request.event_id is not None:
                await self.host.redact(
                    RoomID(request.room_id),
                    EventID(request.event_id),
                    key(self.name, "forget-swap", request.id),
                )
            await self.swaps.delete(request.id)
            deleted += 1
        for reminder_id, room_id, event_id in await self.reminders.older_than(now - self.config.reminders):
            await self.host.redact(
                RoomID(room_id), EventID(event_id), key(self.name, "forget-reminder", reminder_id)
            )
            await self.reminders.delete(reminder_id)
            deleted += 1
        deleted += await self.direct.unused_since(now - self.config.reminders)
        deleted += await self.handovers.older_than(now - self.config.handover_notes)
        if deleted:
            log.info("care: forgot %d records", deleted)
        return deleted

    async def forget_room(self, room_id: RoomID) -> None:
        """Out of the room: its rotas (turns, counts, requests) are forgotten; out of a direct
        room: the reminders sent there and the room itself."""
        async with self.lock:
            for rota_id in await self.rotas.forget_room(room_id):
                self.host.schedule.cancel(rota_job(rota_id))
        await self.reminders.forget_room(room_id)
        await self.direct.forget_room(room_id)
        await self.handovers.forget_room(room_id)
        for schedule_id in await self.cell_schedules.forget_room(room_id):
            self.host.schedule.cancel(cells_job(schedule_id))
