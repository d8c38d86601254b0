"""What every part of the care feature shares: its contract declaration, its repositories, the
room's zone, the ways to the lottery (step-backs) and the ghost chair (gatherings), the bot's
direct rooms, and job ids and message keys.

The feature class (:mod:`bots.care.feature`) is assembled from this base, the rota's job
(:mod:`bots.care.turns`) and the commands (:mod:`bots.care.commands`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bots.care.config import CareConfig
from bots.care.storage import DirectRooms, Reminders, Rotas, SwapRequests
from bots.ghostchair.feature import GhostChairFeature
from bots.lottery.feature import LotteryFeature
from bots.runtime import room_names
from bots.runtime.contract import ContractFeature
from bots.runtime.errors import MatrixError
from bots.runtime.host import Host
from bots.runtime.ids import RoomID, UserID
from bots.runtime.keys import key
from bots.runtime.room_names import opened_from, spoken_for
from protocols.recurrence import AfterGathering, NextGathering, Recurrence, following
from protocols.rota import StepBacks
from protocols.timespec import parse_zone

log = logging.getLogger("bots.care")


def rota_job(rota_id: int) -> str:
    """A rota's one job (the host's schedule puts it in the feature's namespace)."""
    return f"rota-{rota_id}"


class CareBase(ContractFeature[CareConfig]):
    name = "care"
    title = "Care rotas"
    config_model = CareConfig
    migrations = Path(__file__).parent / "migrations"

    def __init__(self, host: Host, config: CareConfig) -> None:
        super().__init__(host, config)
        db, me = host.db, host.user_id
        self.rotas = Rotas(db, me)
        self.swaps = SwapRequests(db, me)
        self.reminders = Reminders(db, me)
        self.direct = DirectRooms(db, me)
        self.default_zone = parse_zone(config.default_timezone)
        # A rota's state is read, changed and written under this lock: a job and a command on
        # the same rota never overwrite each other.
        self.lock = asyncio.Lock()
        self.tasks: set[asyncio.Task[None]] = set()

    async def room_zone(self, room_id: str) -> ZoneInfo:
        """The room's zone (room settings, shared with gatherings), else the configured default."""
        return await self.host.settings.zone_set(room_id) or self.default_zone

    async def volunteers_possible(self, room_id: str) -> list[str]:
        """Who could volunteer here: the room's people, never this bot."""
        return [m for m in await self.host.members(RoomID(room_id)) if m != self.host.user_id]

    async def stepped_back(self, room_id: str, now: datetime) -> StepBacks:
        """The room's step-backs, from this bot's lottery (``!stepback``); none without one."""
        lottery = self.host.peer(LotteryFeature)
        if lottery is None:
            return {}
        return await lottery.stepbacks.active(room_id, now)

    async def next_gathering(self, room_id: str, recurrence: Recurrence) -> NextGathering | None:
        """The room's gatherings, from this bot's ghost chair, for a rota after each gathering."""
        if not isinstance(recurrence.pattern, AfterGathering):
            return None
        ghost = self.host.peer(GhostChairFeature)
        if ghost is None:
            return following(())
        return following(await ghost.gathering_schedules(room_id))

    async def paused(self, room_id: str, now: datetime) -> datetime | None:
        """When a resting cell room's pause ends (None: not resting); reshuffles override it."""
        return None

    async def dm_room(self, user_id: str, now: datetime, room: str | None = None) -> RoomID:
        """The bot's direct room with ``user_id``: the one it opened before, else a new one
        (named in the language of ``room``, the room the reminder is about)."""
        found = await self.direct.get(user_id)
        if found is not None:
            try:
                await self.host.members(RoomID(found))
                await self.direct.put(user_id, found, now)
                return RoomID(found)
            except MatrixError:
                await self.direct.forget_room(found)  # the bot was removed from it: open a new one
        created = await self.host.create_room(
            await spoken_for(self.host.settings, room, room_names.CARE_REMINDERS),
            [UserID(user_id)],
            encrypted=True,
            is_direct=True,
            topic=await spoken_for(self.host.settings, room, room_names.CARE_TOPIC),
        )
        await self.direct.put(user_id, created, now)
        await opened_from(self.host.settings, created, room)
        return created

    def rota_key(self, rota_id: int, created: datetime, *parts: object) -> str:
        # The creation time as well as the id: a rebuilt database must not make a new rota's
        # message a "duplicate" of an old one's.
        return key(self.name, "rota", rota_id, int(created.timestamp()), *parts)
