"""One room-settings store: zone, language, kind and features' own keys, against the real DB."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from storage.db import Database
from storage.room_settings import RoomSettings

ROOM = "!a:x.org"
OTHER = "!b:x.org"


async def test_defaults_setters_and_forgetting(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db")
    try:
        s = RoomSettings(db)
        assert (await s.zone(ROOM)).key == "UTC"
        assert await s.language(ROOM) == "en"
        assert await s.kind(ROOM) == "group"
        await s.set_zone(ROOM, ZoneInfo("Europe/Paris"))
        await s.set_zone(ROOM, ZoneInfo("Europe/Berlin"))
        await s.set_language(ROOM, "pt-BR")
        await s.set_kind(ROOM, "cell")
        await s.put(ROOM, "herald.dm", "@ann:x.org")
        await s.set_language(OTHER, "de")
        assert (await s.zone(ROOM)).key == "Europe/Berlin"
        assert (await s.language(ROOM), await s.kind(ROOM)) == ("pt-BR", "cell")
        assert await s.get(ROOM, "herald.dm") == "@ann:x.org"
        assert await s.rooms_where("herald.dm", "@ann:x.org") == [ROOM]
        assert await s.forget_room(ROOM) == 4
        assert (await s.zone(ROOM)).key == "UTC" and await s.get(ROOM, "herald.dm") is None
        assert await s.language(OTHER) == "de"
    finally:
        await db.close()


async def test_the_ghost_chairs_zone_is_the_same_setting(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db")
    try:
        # The row as the ghost chair's own zone store always wrote it (key "zone").
        await db.execute(
            "INSERT INTO room_setting (room_id, key, value) VALUES (?, 'zone', ?)", (ROOM, "Asia/Tokyo")
        )
        assert (await RoomSettings(db).zone(ROOM)).key == "Asia/Tokyo"
    finally:
        await db.close()


async def test_bad_values_are_refused_and_change_nothing(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db")
    try:
        s = RoomSettings(db)
        with pytest.raises(ValueError):
            await s.set_language(ROOM, "<script>")
        with pytest.raises(ValueError):
            await s.set_kind(ROOM, "throne")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await s.put(ROOM, "zone", "Europe/Paris")  # a shared key only through set_zone
        assert await db.fetchall("SELECT * FROM room_setting") == []
        await db.execute("INSERT INTO room_setting VALUES (?, 'zone', 'Gone/Away')", (ROOM,))
        assert (await s.zone(ROOM)).key == "UTC"
    finally:
        await db.close()
