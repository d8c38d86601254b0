"""What every part of the ghost-chair feature shares: its contract declaration, its
repositories, the zone a room reads times in, its job ids and message keys, and the way to the
lottery for a gathering's opening draw.

The feature class (:mod:`bots.ghostchair.feature`) is assembled from this base, the gatherings'
steps (:mod:`bots.ghostchair.steps`) and the commands (:mod:`bots.ghostchair.commands`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bots.ghostchair.config import GhostChairConfig
from bots.ghostchair.lottery_link import find_lottery
from bots.ghostchair.recurrences import RecurringGatherings
from bots.lottery.feature import LotteryFeature
from bots.runtime.contract import ContractFeature
from bots.runtime.host import Host
from bots.runtime.keys import key
from protocols.ghostchair import DEFAULT_ABSENT_VOICES
from protocols.timespec import parse_zone
from storage.ghostchair import AbsentVoices, Gathering


def job_id(gathering_id: int) -> str:
    """A gathering's one job (the host's schedule puts it in the feature's namespace)."""
    return f"gathering-{gathering_id}"


class GhostChairBase(ContractFeature[GhostChairConfig]):
    name = "ghostchair"
    title = "Ghost chair and gatherings"
    config_model = GhostChairConfig
    migrations = Path(__file__).parent / "migrations"

    def __init__(self, host: Host, config: GhostChairConfig) -> None:
        super().__init__(host, config)
        self.grace = config.misfire_grace
        self.default_zone = parse_zone(config.default_timezone)
        defaults = config.default_voices
        # Voices and gatherings are this bot's own; the room's zone is the room's (every bot reads it).
        self.voices = AbsentVoices(
            host.db, host.user_id, DEFAULT_ABSENT_VOICES if defaults is None else tuple(defaults)
        )
        # Gatherings beyond weekly carry their recurrence (this feature's own table).
        self.gatherings = RecurringGatherings(host.db, host.user_id)

    async def room_zone(self, room_id: str) -> ZoneInfo:
        """The room's zone (room settings), else the configured default."""
        return await self.host.settings.zone_set(room_id) or self.default_zone

    async def resting(self, room_id: str, now: datetime) -> bool:
        """Whether the room is a cell resting after a scheduled reshuffle (the care feature's
        ``!cells every ... pause``): then no gathering of it fires."""
        from bots.care.feature import CareFeature  # care builds on the ghost chair: imported here

        care = self.host.peer(CareFeature)
        return care is not None and await care.paused(room_id, now) is not None

    def lottery(self) -> LotteryFeature | None:
        """This bot's lottery, for a gathering's opening draw (None: not enabled)."""
        return find_lottery(self.host)

    def step_key(self, gathering: Gathering, step: str, occurrence: datetime) -> str:
        # The creation time as well as the id: an id is never reused (AUTOINCREMENT), and a
        # restored or rebuilt database must not make a new gathering's message a "duplicate".
        created = int(gathering.created_at.timestamp())
        return key(self.name, "gathering", gathering.id, created, step, int(occurrence.timestamp()))
