"""Who may do what: the operator's access lists, room power levels (a room version 12 creator
outranks every level), and who in a room is a person rather than a bot."""

from __future__ import annotations

from bots.config import AppConfig
from bots.runtime.adapter import MatrixAdapter
from bots.runtime.ids import RoomID, UserID, server_of

# What a room version 12 creator's "infinite" power level compares as: above any level a room
# can set (power levels are integers of at most 2**53 - 1).
CREATOR_POWER = 2**53


class Permissions:
    """Part of :class:`~bots.runtime.bot.BotRuntime`: access and power."""

    app: AppConfig
    name: str
    matrix: MatrixAdapter

    def allowed(self, user_id: str) -> bool:
        """A user the operator lets use the bots: listed, or on an allowed server."""
        if user_id in self.app.access.allowed_users:
            return True
        servers = self.app.allowed_servers_for(self.name)
        return "*" in servers or server_of(user_id) in servers

    def power_needed(self, level: int | str | None) -> int | None:
        if level is None:
            return None
        if level == "moderator":
            return self.app.access.moderator_level
        if level == "admin":
            return 100
        return int(level)

    async def power_of(self, room_id: RoomID, user_id: str) -> int:
        """The user's power level, read fresh; a room version 12 creator outranks every level."""
        if user_id in await self.matrix.creators(room_id):
            return CREATOR_POWER
        levels = await self.matrix.power_levels(room_id)
        users = levels.get("users", {})
        return int(users.get(user_id, levels.get("users_default", 0)))

    async def human_members(self, room_id: RoomID) -> list[UserID]:
        """Joined members minus the bot itself, the other bots of this process and the
        accounts the operator named as bots (``other_bots``)."""
        bots = {b.user_id for b in self.app.bots} | set(self.app.other_bots)
        return [u for u in await self.matrix.joined_members(room_id) if u not in bots]
