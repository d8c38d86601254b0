"""Tier 2: what the bot writes beyond its plain replies follows the language too: the names and
topics of the rooms it creates (a cell room: its parent room's language; a direct chat: the
language of the room it is opened from). English keeps its words (tests/bot/test_lottery.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bots.calendar import CalendarFeature
from bots.care import CareFeature
from bots.dayofaction.herald_port import RunSpec
from bots.ghostchair.feature import GhostChairFeature
from bots.herald.feature import HeraldFeature
from bots.intake.feature import IntakeFeature
from bots.lottery import LotteryFeature
from tests.bot.dayofaction_stub import StubHerald, run_info, stub_of
from tests.bot.fakes import ROOM, FakeBot, add_room, close, fake_bot

MOD = "@mod:test.example"
ANA = "@ana:test.example"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a Sunday
COORD = "!coord:test.example"


async def polish(bot: FakeBot, room: str = ROOM) -> None:
    [done] = await bot.say(room, MOD, "!language pl")
    assert done.body == "Od teraz odpowiadam tutaj w języku: polski."


async def test_a_polish_rooms_cell_rooms_are_named_in_polish(tmp_path: Path) -> None:
    people = [MOD, *(f"@p{i}:test.example" for i in range(5))]
    bot = await fake_bot(tmp_path, [LotteryFeature], members=people, moderators=[MOD], now=NOW)
    try:
        bot.fake.names[ROOM] = "Marszałkowie"
        await polish(bot)
        await bot.say(ROOM, MOD, "!cells 3-3 rooms")
        names = {c["name"] for c in bot.fake.created}
        assert names == {"Marszałkowie · komórka 1 z 2", "Marszałkowie · komórka 2 z 2"}
        topics = {c["topic"] for c in bot.fake.created}
        assert topics == {"Komórka afinicji utworzona w losowaniu. Zamyka się wt., 22 gru 2026 12:00 UTC."}
    finally:
        await close(bot)


async def test_a_survey_dm_opened_from_a_polish_room_is_named_in_polish(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [StubHerald, IntakeFeature], members=[MOD, ANA], moderators=[MOD], now=NOW)
    try:
        await add_room(bot, COORD, [MOD], moderators=[MOD])
        run = run_info("r1", NOW + timedelta(days=1), NOW + timedelta(days=3), [ROOM], [COORD])
        stub_of(bot.features).add_run(run, RunSpec(survey=("why",)))
        await polish(bot)
        await bot.say(COORD, MOD, "!intake start")
        await bot.say(ROOM, ANA, "!intake me")
        [dm] = [c for c in bot.fake.created if c["is_direct"]]
        assert (dm["name"], dm["topic"]) == ("Ankieta", "Krótka ankieta na dzień akcji")
        assert dm["invite"] == [ANA]
    finally:
        await close(bot)


async def test_the_standard_survey_questions_are_asked_in_polish(tmp_path: Path) -> None:
    """A Polish member answers the standard questions in Polish (a Polish option counts as
    its English one); the coordination room, still English, reads the counts in English."""
    people = [ANA, *(f"@p{i}:test.example" for i in range(3))]
    bot = await fake_bot(
        tmp_path, [StubHerald, IntakeFeature], members=[MOD, *people], moderators=[MOD], now=NOW
    )
    try:
        await add_room(bot, COORD, [MOD], moderators=[MOD])
        run = run_info("r1", NOW + timedelta(days=1), NOW + timedelta(days=3), [ROOM], [COORD])
        stub_of(bot.features).add_run(run, RunSpec(survey=("why", "seats")))
        await polish(bot)
        await bot.say(COORD, MOD, "!intake start")
        for n, person in enumerate(people):
            out = await bot.say(ROOM, person, "!intake me")
            [first] = [s for s in out if s.room_id not in (ROOM, COORD)]
            await add_room(bot, first.room_id, [person], direct=True)
            assert first.body.startswith("Pytanie 1 z 2: Dlaczego przychodzisz?")
            assert "1. solidarność / 2. sprawa / 3. przyjaciele / 4. pierwszy raz / 5. inne" in first.body
            if n == 0:
                [wrong] = await bot.say(first.room_id, person, "kwiaty")
                assert wrong.body.startswith("'kwiaty'")
                assert "1. solidarność / 2. sprawa" in wrong.body and wrong.body.endswith(
                    "Dlaczego przychodzisz?"
                )
            [second] = await bot.say(first.room_id, person, "Przyjaciele")
            assert (
                "Ile miejsc oferujesz (liczba dodatnia) lub potrzebujesz (0, jeśli żadnego)?" in second.body
            )
            await bot.say(first.room_id, person, "2")
        [counts] = await bot.say(COORD, MOD, "!intake counts")
        assert "why: friends 4" in counts.body
        await polish(bot, COORD)
        [counts] = await bot.say(COORD, MOD, "!intake counts")
        assert "why: przyjaciele 4" in counts.body
    finally:
        await close(bot)


async def test_the_lotterys_bounds_and_impossible_cells_are_refused_in_polish(tmp_path: Path) -> None:
    people = [MOD, *(f"@p{i}:test.example" for i in range(9))]
    bot = await fake_bot(tmp_path, [LotteryFeature], members=people, moderators=[MOD], now=NOW)
    try:
        english, *_ = await bot.say(ROOM, MOD, "!cells 4-4")
        assert english.body == (
            "10 people cannot be split into cells of 4-4. Try !cells 3-4 (3 cells) or !cells 4-5 (2 cells)."
        )
        await polish(bot)
        [window] = await bot.say(ROOM, MOD, "!roles window 2h")
        assert window.body == "Okno na dodanie swojego losu trwa: najkrócej 5 sekund, najdłużej 1 godzina."
        [term] = await bot.say(ROOM, MOD, "!roles term 1s")
        assert term.body.startswith("Mandat trwa: najkrócej ")
        [cells] = await bot.say(ROOM, MOD, "!cells 4-4")
        assert cells.body == (
            "Nie da się podzielić 10 osób na komórki po 4-4. "
            "Spróbuj !cells 3-4 (3 komórki) lub !cells 4-5 (2 komórki)."
        )
        [few] = await bot.say(ROOM, MOD, "!cells 12-14")
        assert few.body == (
            "10 osób to za mało na komórki po 12-14: zostańcie razem jako jedna komórka z 10."
        )
        rows = await bot.db.fetchone("SELECT COUNT(*) FROM lottery_grouping")
        assert rows is not None and rows[0] == 0  # refused: nothing recorded
    finally:
        await close(bot)


async def reply(bot: FakeBot, text: str, start: str) -> str:
    """The body of the reply to ``text`` that starts with ``start`` (a notice may come too)."""
    bodies = [s.body for s in await bot.say(ROOM, MOD, text)]
    found = [b for b in bodies if b.startswith(start)]
    assert found, bodies
    return found[0]


async def test_recurrences_and_schedules_are_described_in_polish(tmp_path: Path) -> None:
    bot = await fake_bot(
        tmp_path,
        [CareFeature, LotteryFeature, GhostChairFeature],
        members=[MOD, ANA],
        moderators=[MOD],
        now=NOW,
    )
    try:
        english = await reply(bot, "!rota add meals every 2 weeks on tuesday at 18:00 size 2", "Rota meals:")
        assert english.startswith("Rota meals: every 2 weeks on tuesday at 18:00, 2 people a turn.")
        await polish(bot)
        added = await reply(bot, "!rota add soup every 5 days at 18:00 size 2", "Dyżur soup:")
        assert added.startswith("Dyżur soup: co 5 dni o 18:00, 2 osoby na kolejkę.")
        monthly = await reply(bot, "!rota add tea every month on the last friday size 1", "Dyżur tea:")
        assert monthly.startswith("Dyżur tea: co miesiąc: ostatni w miesiącu dzień – piątek o 09:00, 1 osoba")
        weekly = await reply(bot, "!rota add bread every 2 weeks on tuesday size 2", "Dyżur bread:")
        assert weekly.startswith("Dyżur bread: co 2 tygodnie, wtorek o 09:00, 2 osoby")
        gathering = await reply(bot, "!gathering every tuesday 19:00", "")
        assert "co tydzień, wtorek 19:00, strefa UTC" in gathering
    finally:
        await close(bot)


async def test_event_add_grammar_errors_are_said_in_polish(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [HeraldFeature, CalendarFeature], members=[MOD], moderators=[MOD], now=NOW)
    try:
        await bot.say(ROOM, MOD, "!coalition create spring")
        [english] = await bot.say(ROOM, MOD, "!event add Blockade at 2026-11-01 10:00")
        assert english.body == "2026-11-01 10:00 UTC is in the past: the calendar is for what is to come"
        await polish(bot)
        [past] = await bot.say(ROOM, MOD, "!event add Blockade at 2026-11-01 10:00")
        assert past.body == "2026-11-01 10:00 UTC już minęło: kalendarz jest na to, co dopiero nadejdzie"
        [private] = await bot.say(ROOM, MOD, "!event add Blockade at 2026-12-05 10:00 private")
        assert (
            private.body == "'private' zachowuje miejsce dla członków: najpierw podaj miejsce (where <place>)"
        )
        [edit] = await bot.say(ROOM, MOD, "!event edit x title Hi")
        assert edit.body.startswith("'x' to nie numer wydarzenia (zobacz !events). Użycie: !event edit <id>")
        [named] = await bot.say(ROOM, MOD, "!event add Meet @bob:test.example at 2026-12-05 10:00")
        assert named.body.startswith("Tytuł zawiera identyfikator lub link Matrix")
        [listing] = await bot.say(ROOM, MOD, "!events")
        assert not re.search(r"#\d", listing.body)  # refused: nothing was added
    finally:
        await close(bot)


def test_the_public_calendar_page_speaks_its_configured_language() -> None:
    from datetime import date

    from bots.calendar.config import CalendarConfig
    from bots.calendar.page import render_page
    from protocols.calendar_page import PageDay, PageItem

    item = PageItem(
        "18:00–20:00", "Europe/Warsaw", "Blokada", None, "Warszawa", False, "2026-12-05T18:00:00+01:00"
    )
    days = [PageDay(date(2026, 12, 5), "Saturday 5 December 2026", (item,))]
    english = render_page("spring", days, None).decode()
    assert '<html lang="en">' in english and "<h1>spring coalition calendar</h1>" in english
    assert "Saturday 5 December 2026" in english and "To be announced" in english
    polish = render_page("spring", days, None, CalendarConfig(language="pl-PL").language).decode()
    assert '<html lang="pl">' in polish and "<h1>Kalendarz koalicji spring</h1>" in polish
    assert "sobota, 5 grudnia 2026" in polish and "<dt>Gdzie</dt><dd>Zostanie ogłoszone</dd>" in polish
    assert "coalition calendar" not in polish and "Saturday" not in polish
    try:
        CalendarConfig(language="xx")
    except ValueError as exc:
        assert "'xx' is not a language I speak" in str(exc)
    else:
        raise AssertionError("an unknown language was accepted")
