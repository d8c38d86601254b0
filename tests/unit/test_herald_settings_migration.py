"""The herald's first own migration: a room's time zone and language move from its local details
to the room settings every feature reads, so a room has one answer to "what zone am I in"."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bots.herald import HeraldFeature
from storage.db import Database
from storage.feature_migrations import apply_feature_migrations, read_feature_migrations
from storage.herald import LocalDetails
from storage.room_settings import RoomSettings

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
BOT = "@bot:test.example"


async def test_zone_and_language_move_to_the_room_settings(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "affinity.db")
    try:
        local = LocalDetails(db, BOT)
        await local.set("!lyon:x", "timezone", "Europe/Paris", NOW)
        await local.set("!lyon:x", "language", "fr", NOW)
        await local.set("!lyon:x", "meeting_point", "Place Bellecour", NOW)
        await local.set("!leeds:x", "language", "English", NOW)  # a name, not a tag
        await local.set("!rio:x", "language", "pt-BR", NOW)
        settings = RoomSettings(db)
        await settings.set_zone("!rio:x", ZoneInfo("America/Sao_Paulo"))
        await local.set("!rio:x", "timezone", "Europe/Lisbon", NOW)  # the shared setting wins

        assert HeraldFeature.migrations is not None
        steps = read_feature_migrations(HeraldFeature.migrations)
        applied = await apply_feature_migrations(db, "herald", steps, NOW.timestamp())
        assert applied[0] == "001_room_settings.sql"  # later steps are the herald's own tables
        assert applied == [step.name for step in steps]

        assert (await settings.zone("!lyon:x")).key == "Europe/Paris"
        assert await settings.language("!lyon:x") == "fr"
        assert await settings.language("!rio:x") == "pt-br"
        assert (await settings.zone("!rio:x")).key == "America/Sao_Paulo"
        assert await settings.language("!leeds:x") == "en"  # not copied: set a tag again
        # The herald keeps only what is its own; nothing of zone or language is left there.
        assert await local.get_all("!lyon:x") == {"meeting_point": "Place Bellecour"}
        assert await local.get_all("!leeds:x") == {} and await local.get_all("!rio:x") == {}
        # Applied once: a second start changes nothing.
        assert await apply_feature_migrations(db, "herald", steps, NOW.timestamp()) == []
    finally:
        await db.close()
