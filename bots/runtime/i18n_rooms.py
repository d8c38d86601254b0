"""Which language a room is spoken to in, and rendering a message in it.

A group room speaks the language a moderator set with ``!language`` (the shared room setting
``language``, storage/room_settings.py), English until then. A direct chat follows its member:
each time they use a command in a group room, their direct chats with the bot take that room's
language (the room setting ``i18n.follow`` of the DM), until they set one with ``!language`` in
the DM itself, which then stays. Only a language tag is stored on the DM room, never which room
it came from, and the DM's settings are forgotten with the room.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from bots.runtime.i18n import DEFAULT, SHIPPED, check_language, rendering
from bots.runtime.ids import RoomID
from bots.runtime.message import Message, Span
from storage.room_settings import RoomSettings

if TYPE_CHECKING:
    from bots.runtime.bot import BotRuntime

FOLLOW_KEY = "i18n.follow"
PINNED = ""  # the DM set its own language: it follows no room


async def room_language(settings: RoomSettings, room_id: str) -> str:
    """The language ``room_id`` is spoken to in."""
    followed = await settings.get(room_id, FOLLOW_KEY)
    language = followed or await settings.language(room_id)
    return language if language in SHIPPED else DEFAULT


async def render(settings: RoomSettings, room_id: str, message: Message | Span) -> tuple[str, str]:
    """``message`` as ``room_id`` reads it: (plain body, HTML), in its language and zone."""
    language = await room_language(settings, room_id)
    zone = await settings.zone(room_id)
    msg = message if isinstance(message, Message) else Message.of(message)
    with rendering(language, zone):
        return msg.plain, msg.html


async def set_room_language(settings: RoomSettings, room_id: RoomID, code: str, direct: bool) -> str:
    """``!language <code>``: check first (LanguageError, nothing changed), then store. In a DM
    the language is the member's own and stops following their rooms."""
    language = check_language(code)
    await settings.set_language(room_id, language)
    if direct:
        await settings.put(room_id, FOLLOW_KEY, PINNED)
    else:
        await settings.delete(room_id, FOLLOW_KEY)
    return language


async def follow(settings: RoomSettings, language_room: str, direct_chats: Iterable[str]) -> int:
    """A member used a command in ``language_room``: their direct chats that follow their rooms
    take its language. How many changed."""
    language = await room_language(settings, language_room)
    changed = 0
    for dm in direct_chats:
        now = await settings.get(dm, FOLLOW_KEY)
        if now == PINNED or (now is None and await _set_in_dm(settings, dm)):
            continue
        if now != language:
            await settings.put(dm, FOLLOW_KEY, language)
            changed += 1
    return changed


async def _set_in_dm(settings: RoomSettings, dm: str) -> bool:
    """A DM that set a language before following existed (or through another path) keeps it."""
    return await settings.language(dm) != DEFAULT


async def direct_chats_of(bot: BotRuntime, user: str) -> list[str]:
    """The direct chats between the bot and ``user`` (from what the bot already knows of its
    rooms; the fake runtime of the tests names its DMs in ``direct_rooms``)."""
    found: list[str] = []
    rooms = bot.client.rooms if bot.client is not None else {}
    for room_id, room in rooms.items():
        if user in room.users and bot.is_direct(RoomID(room_id)):
            found.append(room_id)
    for room_id, direct in bot.direct_rooms.items():
        if direct and room_id not in rooms and user in await bot.matrix.joined_members(RoomID(room_id)):
            found.append(room_id)
    return found
