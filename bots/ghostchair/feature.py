"""The ghost-chair feature: absent voices, gatherings on a schedule, and catching up after
downtime, on the feature contract.

The class is assembled from the commands (:mod:`bots.ghostchair.commands`), the gatherings'
steps (:mod:`bots.ghostchair.steps`) and what they share (:mod:`bots.ghostchair.base`). This
module adds its life cycle: rebuilding the jobs at start, its retention, and forgetting a room.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bots.ghostchair.attendance import AttendancePolls
from bots.ghostchair.base import job_id
from bots.ghostchair.commands import GatheringCommands, VoiceCommands
from bots.runtime.ids import RoomID
from bots.runtime.registry import register
from protocols.schedule import Schedule

log = logging.getLogger(__name__)


@register
class GhostChairFeature(VoiceCommands, GatheringCommands, AttendancePolls):
    """``!ghost ...`` and ``!gathering ...``; one job per gathering, rebuilt from its row."""

    def retention(self) -> dict[str, timedelta]:
        # A gathering lives until its sunset (a one-off: its time) and the care check-in after
        # its last occurrence, and is deleted once that last occurrence was handled; a room's
        # voices live while the bot is in the room (forget_room).
        return {"gathering_after_its_end": timedelta(0)}

    async def start(self) -> None:
        """Catch up on every gathering (late posts, missed notes, owed draws) and rebuild its job."""
        for gathering in await self.gatherings.all():
            await self.advance(gathering.id)
        await self.forget_expired(self.host.clock())

    async def gathering_schedules(self, room_id: str) -> list[Schedule]:
        """The room's gathering schedules (read only): what a care rota "after each gathering"
        turns with (bots/care reaches this through ``host.peer``)."""
        return [g.schedule for g in await self.gatherings.in_room(room_id)]

    async def forget_room(self, room_id: RoomID) -> None:
        """Out of the room: its gatherings stop and its absent voices are forgotten."""
        gatherings = await self.gatherings.in_room(room_id)
        for gathering in gatherings:
            self.host.schedule.cancel(job_id(gathering.id))
        await self.gatherings.forget_room(room_id)
        await self.voices.forget_room(room_id)
        if gatherings:
            log.info("out of a room: %d gatherings stopped", len(gatherings))
