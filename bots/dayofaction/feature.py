"""The day of action's local autonomy, liaisons and drills, as one registered feature.

The parts: :mod:`~bots.dayofaction.autonomy_part` (declines, local notes, backups, liaisons,
the lottery's liaison) -> :mod:`~bots.dayofaction.drill_runner` (drills). Here: the life cycle,
retention and forgetting.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from bots.dayofaction.autonomy_part import DayOfActionConfig
from bots.dayofaction.drill_runner import DrillPart
from bots.dayofaction.herald_port import herald_port
from bots.runtime.ids import EventID, RoomID
from bots.runtime.keys import key
from bots.runtime.registry import register
from protocols.dayofaction.liaisons import ANSWER_WINDOW


@register
class DayOfActionFeature(DrillPart):
    """``!protocol decline|rejoin|drill``, ``!local note``, ``!coalition backup|liaisons``, ``!ack drill``."""

    name = "dayofaction"
    title = "Day of action: local autonomy, liaisons, drills"
    config_model = DayOfActionConfig
    migrations = Path(__file__).parent / "migrations"

    def retention(self) -> dict[str, timedelta]:
        return {
            "declines and local notes": timedelta(0),  # with the run
            "drills": self.config.drill_keep,
            "escalations answered": ANSWER_WINDOW,
            "a room's liaison and backup (after the term ends)": self.config.liaison_keep,
        }

    async def start(self) -> None:
        port = herald_port(self.host)
        if port is not None:
            port.dayofaction_listen(self)
        self.host.schedule.every("liaisons", self.config.liaison_check, self._sync_liaisons)
        await self._restart_drills()

    async def forget_expired(self, now: datetime) -> int:
        for room, event in await self.drills.expired_messages(now):
            await self.host.redact(RoomID(room), EventID(event), key(self.name, "forget", room, event))
        gone = await self.drills.forget(now)
        return gone + await self.autonomy.forget(now, now - ANSWER_WINDOW)

    async def forget_room(self, room_id: RoomID) -> None:
        await self.autonomy.forget_room(room_id)
        await self.drills.forget_room(room_id)
