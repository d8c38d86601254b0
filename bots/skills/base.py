"""What every part of the skill-swap board shares: its repositories, reading a typed skill,
and the bot's direct chat with a person (where matches are asked)."""

from __future__ import annotations

import logging

from bots.runtime.contract import ContractFeature
from bots.runtime.errors import MatrixError
from bots.runtime.host import Host
from bots.runtime.ids import RoomID, UserID
from bots.skills.config import SkillsConfig
from bots.skills.store import Entries, Held, Known, Matches, Requirements
from protocols.skills import normalise_skill

log = logging.getLogger("bots.skills")

DM_KEY = "skills.dm.{bot}"


class SkillsBase(ContractFeature[SkillsConfig]):
    name = "skills"
    title = "Skill swap"
    config_model = SkillsConfig

    def __init__(self, host: Host, config: SkillsConfig) -> None:
        super().__init__(host, config)
        db, me = host.db, host.user_id
        self.entries = Entries(db, me)
        self.matches = Matches(db, me)
        self.known = Known(db, me)
        self.held = Held(db, me)
        self.requirements = Requirements(db, me)

    @staticmethod
    def skill_of(typed: str) -> str:
        return normalise_skill(typed)

    @property
    def dm_key(self) -> str:
        return DM_KEY.format(bot=self.host.user_id)

    async def dm_room(self, user_id: str) -> RoomID:
        """The bot's direct chat with ``user_id`` for skill swaps: the one opened before, else new."""
        for found in await self.host.settings.rooms_where(self.dm_key, user_id):
            room = RoomID(found)
            try:
                await self.host.members(room)
                return room
            except MatrixError:  # the bot is out of it: open a new one
                await self.host.settings.delete(room, self.dm_key)
        room = await self.host.create_room(
            "Skill swap",
            [UserID(user_id)],
            encrypted=self.config.encrypt_dms,
            is_direct=True,
            topic="Asks that meet offers: you decide whether to be put in touch",
        )
        await self.host.settings.put(room, self.dm_key, user_id)
        return room
