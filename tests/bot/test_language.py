"""Tier 2: ``!language`` sets the room's language; replies, errors and ``!help`` follow it; a
member's direct chat follows the last room they used, until they choose its language there."""

from __future__ import annotations

from pathlib import Path

from bots.ghostchair.feature import GhostChairFeature
from bots.runtime.i18n_rooms import FOLLOW_KEY
from storage.room_settings import RoomSettings
from tests.bot.fakes import ROOM, add_room, close, fake_bot

ALICE = "@alice:test.example"  # a moderator of ROOM
BOB = "@bob:test.example"
DM = "!dm-bob:test.example"


async def test_a_room_switched_to_polish_answers_in_polish(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [GhostChairFeature], members=[ALICE, BOB], moderators=[ALICE])
    try:
        [shown] = await bot.say(ROOM, BOB, "!language")
        assert "I answer here in English." in shown.body and "pl (polski)" in shown.body
        [done] = await bot.say(ROOM, ALICE, "!language pl")
        assert done.body == "Od teraz odpowiadam tutaj w języku: polski."
        assert await RoomSettings(bot.db).language(ROOM) == "pl"
        [unknown] = await bot.say(ROOM, BOB, "!drwa")
        assert unknown.body.startswith("Nieznane polecenie !drwa.")
        [listing] = await bot.say(ROOM, BOB, "!help")
        assert "Podstawy:" in listing.body and "Puste krzesło i spotkania:" in listing.body
        assert "!ping — Sprawdź, czy bot działa" in listing.body
        assert "<strong>Podstawy</strong>" in listing.html
        [one] = await bot.say(ROOM, BOB, "!help ghost list")
        assert one.body == "!ghost list — Nieobecne głosy, dla których ten pokój trzyma krzesło"
        [refused] = await bot.say(ROOM, BOB, "!ghost remove 1")
        assert refused.body == "to wymaga poziomu uprawnień 50 w tym pokoju (masz 0); poproś moderatora"
        [missing] = await bot.say(ROOM, ALICE, "!ghost remove")
        assert missing.body.startswith("brakuje <n>. Użycie: !ghost remove <n>")
    finally:
        await close(bot)


async def test_a_bad_code_or_a_member_without_power_changes_nothing(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [], members=[ALICE, BOB], moderators=[ALICE])
    try:
        [bad] = await bot.say(ROOM, ALICE, "!language klingon")
        assert bad.body == (
            "'klingon' is not a language I speak: choose one of en (English), es (español), "
            "pl (polski), de (Deutsch). Nothing was changed."
        )
        [refused] = await bot.say(ROOM, BOB, "!language de")
        assert "needs power level 50" in refused.body
        settings = RoomSettings(bot.db)
        assert await settings.language(ROOM) == "en" and await settings.get(ROOM, FOLLOW_KEY) is None
        [fine] = await bot.say(ROOM, ALICE, "!language DE")  # a tag in any case, or with a region
        assert fine.body == "Ab jetzt antworte ich hier auf Deutsch."
        [still] = await bot.say(ROOM, ALICE, "!language xx")
        assert still.body.startswith("'xx' ist keine Sprache, die ich spreche")
        assert await settings.language(ROOM) == "de"
    finally:
        await close(bot)


async def test_a_direct_chat_follows_the_last_room_until_it_chooses(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [], members=[ALICE, BOB], moderators=[ALICE])
    other = "!other:test.example"
    await add_room(bot, other, [BOB], moderators=[BOB])
    await add_room(bot, DM, [BOB], direct=True)
    try:
        await bot.say(ROOM, ALICE, "!language es")
        [english] = await bot.say(DM, BOB, "!drwa")
        assert english.body.startswith("Unknown command")  # Bob has not used the Spanish room yet
        await bot.say(ROOM, BOB, "!ping")
        [spanish] = await bot.say(DM, BOB, "!drwa")
        assert spanish.body.startswith("Comando desconocido !drwa.")
        await bot.say(other, BOB, "!language pl")  # his last room is now a Polish one
        [polish] = await bot.say(DM, BOB, "!drwa")
        assert polish.body.startswith("Nieznane polecenie")
        [own] = await bot.say(DM, BOB, "!language de")  # anyone may choose their own DM's
        assert own.body == "Ab jetzt antworte ich hier auf Deutsch."
        await bot.say(ROOM, BOB, "!ping")  # a Spanish room no longer moves his DM
        [german] = await bot.say(DM, BOB, "!drwa")
        assert german.body.startswith("Unbekannter Befehl")
        await bot.say(ROOM, ALICE, "!language es")
        assert await RoomSettings(bot.db).get(ROOM, FOLLOW_KEY) is None  # rooms never follow
    finally:
        await close(bot)
