"""Tier 2: each feature of the suite answers a room switched to Polish in Polish: its replies,
its refusals (the rules' own included) and its lines of ``!help``, generated from the same
declarations. Plural forms follow Polish (one, few, many) and times read in Polish, in the
room's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bots.care import CareFeature
from bots.gains import GainsFeature
from bots.herald.feature import HeraldFeature
from bots.lottery.feature import LotteryFeature
from bots.skills import SkillsFeature
from tests.bot.fakes import ROOM, FakeBot, close, fake_bot

MOD = "@mod:test.example"
ANA = "@ana:test.example"
BEN = "@ben:test.example"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a Sunday


async def polish(bot: FakeBot) -> None:
    [done] = await bot.say(ROOM, MOD, "!language pl")
    assert done.body == "Od teraz odpowiadam tutaj w języku: polski."


async def help_line(bot: FakeBot, command: str) -> str:
    [one] = await bot.say(ROOM, ANA, f"!help {command}")
    return one.body


async def test_care_answers_in_polish(tmp_path: Path) -> None:
    bot = await fake_bot(
        tmp_path, [CareFeature, LotteryFeature], members=[MOD, ANA, BEN], moderators=[MOD], now=NOW
    )
    try:
        await polish(bot)
        [listing] = await bot.say(ROOM, ANA, "!help")
        assert "Dyżury troski:" in listing.body and "Zgłoś się do dyżuru" in listing.body
        assert (await help_line(bot, "rota take")).endswith(
            "— Przejmij kolejkę z prośby o zamianę (jej numer)"
        )
        [added] = await bot.say(ROOM, MOD, "!rota add meals every tuesday at 18:00 size 2")
        assert added.body.startswith("Dyżur meals: ") and ", 2 osoby na kolejkę." in added.body
        assert "Pierwsza kolejka: wt., 24 lis 2026 18:00 UTC." in added.body  # CLDR's Polish date
        [joined] = await bot.say(ROOM, ANA, "!rota join meals")
        assert joined.body.startswith("Jesteś w dyżurze meals (1 chętna osoba).")
        [missing] = await bot.say(ROOM, ANA, "!rota show soup")
        assert missing.body == "Nie ma tu dyżuru soup: !rota list pokazuje dyżury tego pokoju."
        [away] = await bot.say(ROOM, BEN, "!rota away 2w")
        assert away.body == "Nie jesteś tu w żadnym dyżurze, więc nie ma od czego się oddalić."
    finally:
        await close(bot)


async def test_gains_answer_in_polish(tmp_path: Path) -> None:
    bot = await fake_bot(
        tmp_path, [HeraldFeature, GainsFeature], members=[MOD, ANA], moderators=[MOD], now=NOW
    )
    try:
        await polish(bot)
        assert (await help_line(bot, "gain remove")).endswith("— Wycofaj zdobycz zapisaną przez pomyłkę")
        [kept] = await bot.say(ROOM, ANA, "!gain add kitchen a weekly free kitchen")
        assert kept.body.startswith("Zapisano zdobycz #1 w kategorii kitchen.")
        for _ in range(4):
            await bot.say(ROOM, ANA, "!gain add kitchen another")
        [shown] = await bot.say(ROOM, ANA, "!gains")
        assert "Zdobycze tego pokoju (razem 5):" in shown.body and "Zapamiętane:" in shown.body
        [bad] = await bot.say(ROOM, ANA, "!gain add kitchn soup")  # a rule's refusal, in Polish
        assert bad.body.startswith("'kitchn' to nie kategoria. Kategorie: ")
        assert bad.body.endswith("Nic nie zapisano.")
    finally:
        await close(bot)


async def test_skills_answer_in_polish(tmp_path: Path) -> None:
    bot = await fake_bot(
        tmp_path, [LotteryFeature, SkillsFeature], members=[MOD, ANA, BEN], moderators=[MOD], now=NOW
    )
    try:
        await polish(bot)
        [listing] = await bot.say(ROOM, ANA, "!help")
        assert "Wymiana umiejętności:" in listing.body
        assert (await help_line(bot, "swap no")).endswith(
            "— Odrzuć dopasowanie: nikt nie pozna twojego imienia"
        )
        [posted] = await bot.say(ROOM, ANA, "!offer first-aid trained medic")
        assert posted.body.startswith("Na tablicy jako #1: twoja oferta: first-aid (na 30 dni;")
        for who in (BEN, MOD):
            await bot.say(ROOM, who, "!offer first-aid")
        [board] = await bot.say(ROOM, ANA, "!skills")
        assert "first-aid: 3 oferty, 0 próśb" in board.body  # Polish few and many
        [empty] = await bot.say(ROOM, ANA, "!offer !!!")  # the rule's refusal, in Polish
        assert empty.body == "Nazwij umiejętność jednym lub dwoma słowami, np.: !offer first aid"
        await bot.say(ROOM, MOD, "!roles set medic")
        [required] = await bot.say(ROOM, MOD, "!roles require medic surgery")
        assert required.body.startswith("medic jest losowana tylko wśród osób, które mają surgery.")
    finally:
        await close(bot)
