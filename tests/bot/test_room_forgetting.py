"""Tier 2: a room the bot is out of loses its shared room settings (zone, language, kind and
features' own keys) and the bot's join record, unless another bot of the database is still in it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

from bots.runtime.ids import RoomID
from storage.room_settings import RoomSettings
from tests.bot.fakes import BOT, ROOM, close, fake_bot

ANA = "@ana:test.example"
SHARED = RoomID("!shared:test.example")
OTHER_BOT = "@other-bot:test.example"


def kicked(event_id: str) -> Any:
    member = {
        "type": "m.room.member",
        "state_key": str(BOT),
        "sender": ANA,
        "event_id": event_id,
        "content": {"membership": "leave"},
    }
    return SimpleNamespace(timeline=SimpleNamespace(events=[SimpleNamespace(source=member)]))


async def test_a_room_the_bot_left_forgets_its_settings_unless_another_bot_is_there(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [], members=[ANA])
    settings = RoomSettings(bot.db)
    try:
        await bot._set_joined_ts(SHARED, 0, overwrite=True)
        await bot.db.execute(  # another bot of this database is in SHARED too
            "INSERT INTO room_joined (bot, room_id, joined_ts) VALUES (?, ?, 0)", (OTHER_BOT, SHARED)
        )
        for room in (ROOM, SHARED):
            await settings.set_zone(room, ZoneInfo("Europe/Paris"))
            await settings.put(room, "example.note", "kept until the room goes")

        await bot._on_removed(ROOM, kicked("$kick1"))
        assert await settings.zone_set(ROOM) is None and await settings.get(ROOM, "example.note") is None
        assert await bot._joined_ts(ROOM) is None  # its messages are no longer read

        await bot._on_removed(SHARED, kicked("$kick2"))
        assert await bot._joined_ts(SHARED) is None
        # The other bot still serves SHARED: the room's settings stay for it.
        assert await settings.zone_set(SHARED) == ZoneInfo("Europe/Paris")
        assert await settings.get(SHARED, "example.note") == "kept until the room goes"
    finally:
        await close(bot)
