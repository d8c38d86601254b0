"""The bot's direct chat with a person, opened once and found again (per feature and bot).

Every feature that writes to one person (escalations, skill swaps, surveys, rides, drills) asks
here, so a conversation is reused while the bot is still in it, and a new encrypted one is opened
when the person left or removed the bot.
"""

from __future__ import annotations

from bots.runtime.errors import MatrixError
from bots.runtime.host import Host
from bots.runtime.ids import RoomID, UserID
from bots.runtime.room_names import Text, opened_from, spoken_for


async def dm_room(
    host: Host,
    user_id: str,
    *,
    title: Text,
    topic: Text,
    encrypted: bool = True,
    setting: str | None = None,
    language_room: str | None = None,
) -> RoomID:
    """The direct chat this feature opened with ``user_id`` before (if the bot is still in it),
    else a new one. The room setting that remembers it (``setting``, by default named after the
    feature and the bot) keeps two features' conversations apart. A new chat's name and topic
    are in the language of ``language_room``, the room it is opened from (English without one),
    and so are its messages until its member uses a command in another room."""
    setting = setting or f"{host.feature}.dm.{host.user_id}"
    for found in await host.settings.rooms_where(setting, user_id):
        room = RoomID(found)
        try:
            await host.members(room)
            return room
        except MatrixError:  # the bot is out of it: open a new one
            await host.settings.delete(room, setting)
    name = await spoken_for(host.settings, language_room, title)
    about = await spoken_for(host.settings, language_room, topic)
    room = await host.create_room(name, [UserID(user_id)], encrypted=encrypted, is_direct=True, topic=about)
    await host.settings.put(room, setting, user_id)
    await opened_from(host.settings, room, language_room)
    return room
