"""The bot's direct chat with a person, opened once and found again (per feature and bot)."""

from __future__ import annotations

from bots.runtime.errors import MatrixError
from bots.runtime.host import Host
from bots.runtime.ids import RoomID, UserID


async def dm_room(host: Host, user_id: str, *, title: str, topic: str, encrypted: bool = True) -> RoomID:
    """The direct chat this feature opened with ``user_id`` before (if the bot is still in it),
    else a new encrypted one. The setting's key names the feature and the bot, so two features
    each keep their own conversation."""
    setting = f"{host.feature}.dm.{host.user_id}"
    for found in await host.settings.rooms_where(setting, user_id):
        room = RoomID(found)
        try:
            await host.members(room)
            return room
        except MatrixError:  # the bot is out of it: open a new one
            await host.settings.delete(room, setting)
    room = await host.create_room(title, [UserID(user_id)], encrypted=encrypted, is_direct=True, topic=topic)
    await host.settings.put(room, setting, user_id)
    return room
