"""What every part of the skill-swap board shares: its repositories, reading a typed skill,
and the bot's direct chat with a person (where matches are asked)."""

from __future__ import annotations

import logging

from bots.runtime import room_names
from bots.runtime.contract import ContractFeature
from bots.runtime.direct_rooms import dm_room
from bots.runtime.host import Host
from bots.runtime.ids import RoomID
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

    async def dm_room(self, user_id: str, language_room: str | None = None) -> RoomID:
        """The bot's direct chat with ``user_id`` for skill swaps: the one opened before, else new.
        A new one is named, and speaks, in the language of ``language_room`` (the room whose
        board made the match, which both people of a match share); an existing one follows its
        member's rooms (bots/runtime/i18n_rooms.py)."""
        return await dm_room(
            self.host,
            user_id,
            title=room_names.SKILL_SWAP,
            topic=room_names.SKILL_SWAP_TOPIC,
            encrypted=self.config.encrypt_dms,
            setting=self.dm_key,
            language_room=language_room,
        )
