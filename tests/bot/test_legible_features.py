"""Tier 2: each feature of the suite answers a room switched to Polish in Polish: its replies,
its refusals (the rules' own included) and its lines of ``!help``, generated from the same
declarations. Plural forms follow Polish (one, few, many) and times read in Polish, in the
room's zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bots.calendar import CalendarFeature
from bots.care import CareFeature
from bots.dayofaction.feature import DayOfActionFeature
from bots.dayofaction.herald_port import CoalitionInfo, RunSpec
from bots.gains import GainsFeature
from bots.herald.feature import HeraldFeature
from bots.intake.feature import IntakeFeature
from bots.lottery.feature import LotteryFeature
from bots.rides.feature import RidesFeature
from bots.runtime.i18n import catalogued, rendering
from bots.runtime.ids import RoomID
from bots.skills import SkillsFeature
from bots.slots.feature import SlotsFeature
from tests.bot.dayofaction_stub import StubHerald, run_info, stub_of
from tests.bot.fakes import ROOM, FakeBot, add_room, close, fake_bot

MOD = "@mod:test.example"
ANA = "@ana:test.example"
BEN = "@ben:test.example"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a Sunday
COORD = "!coord:test.example"


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
        [twice] = await bot.say(ROOM, ANA, "!rota join meals")  # the rota rules' refusal
        assert twice.body == "Już jesteś w dyżurze meals."
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


async def run_bot(tmp_path: Path, feature: type, spec: RunSpec) -> FakeBot:
    """A bot with a stand-in herald and one run: ROOM a member room, COORD its coordination."""
    bot = await fake_bot(tmp_path, [StubHerald, feature], members=[MOD, ANA, BEN], moderators=[MOD], now=NOW)
    await add_room(bot, COORD, [MOD], moderators=[MOD])
    stub_of(bot.features).add_run(
        run_info("r1", bot.now + timedelta(days=1), bot.now + timedelta(days=3), [ROOM], [COORD]), spec
    )
    return bot


async def test_slots_answer_in_polish(tmp_path: Path) -> None:
    bot = await run_bot(tmp_path, SlotsFeature, RunSpec(("Marshal: 2", "medic: 1"), NOW + timedelta(hours=6)))
    try:
        await polish(bot)
        assert (await help_line(bot, "slot claim")).endswith(
            "— Zajmij miejsce (albo miejsce na liście oczekujących)"
        )
        [listed] = await bot.say(ROOM, ANA, "!slot")
        assert listed.body.startswith("Miejsca przebiegu r1 w tym pokoju:")
        assert "marshal: 0 z 2 (jeszcze nikt)" in listed.body
        assert "losowane niedz., 22 lis 2026 18:00 UTC;" in listed.body  # the room's zone, in Polish
        [got] = await bot.say(ROOM, ANA, "!slot claim medic")
        assert got.body == "Masz miejsce jako medic."
        more = [s.body for s in await bot.say(ROOM, BEN, "!slot claim medic")]  # more people than places
        assert any(b.startswith("medic ma więcej osób niż miejsc: osoby, które je zajmą") for b in more)
        assert any(b.startswith("medic ma więcej chętnych niż miejsc") for b in more)
        [nope] = await bot.say(ROOM, ANA, "!slot claim cook")  # the rule's refusal, in Polish
        assert nope.body == "Nie ma miejsca 'cook'. Miejsca: marshal, medic."
    finally:
        await close(bot)


async def test_rides_answer_in_polish(tmp_path: Path) -> None:
    bot = await run_bot(tmp_path, RidesFeature, RunSpec())
    try:
        await polish(bot)
        assert (await help_line(bot, "rides")).endswith(
            "— Miejsca oferowane i potrzebne według okolic (liczby, bez imion)"
        )
        [kept] = await bot.say(ROOM, ANA, "!ride offer 3 from North at 08:00")
        assert kept.body.startswith("Oferta zapisana: 3 miejsca z north o 08:00 na przebieg r1.")
        [five] = await bot.say(ROOM, BEN, "!ride offer 5 from south at 09:00")
        assert five.body.startswith("Oferta zapisana: 5 miejsc z south")
        [counts] = await bot.say(ROOM, MOD, "!rides")
        assert "north: oferowane 3, potrzebne 0" in counts.body
        [bad] = await bot.say(ROOM, ANA, "!ride offer 2 from north at 25:99")
        assert bad.body.startswith("'25:99' to nie godzina: użyj GG:MM, np. 08:30. Użycie: ")
    finally:
        await close(bot)


async def test_intake_answers_in_polish(tmp_path: Path) -> None:
    bot = await run_bot(tmp_path, IntakeFeature, RunSpec(survey=("why", "seats")))
    try:
        await polish(bot)
        assert (await help_line(bot, "intake me")).endswith(
            "— Wypełnij krótką ankietę przebiegu w zaszyfrowanej wiadomości prywatnej"
        )
        out = await bot.say(COORD, MOD, "!intake start")
        [invitation] = [s for s in out if s.room_id == ROOM]
        assert invitation.body.startswith("Krótka ankieta przebiegu r1 (2 pytania, w zaszyfrowanej")
        [early] = await bot.say(ROOM, ANA, "!intake counts")
        assert early.body == "Liczby z ankiety są pokazywane w pokoju koordynacyjnym przebiegu."
        [english] = await bot.say(COORD, MOD, "!intake counts")  # the coordination room speaks English
        assert english.body.startswith("Survey of run r1: counts per room")
        await bot.say(COORD, MOD, "!language pl")
        [counts] = await bot.say(COORD, MOD, "!intake counts")
        assert counts.body.startswith("Ankieta przebiegu r1: liczby na pokój, od 3 odpowiedzi.")
        assert "Żaden pokój nie ma jeszcze 3 odpowiedzi" in counts.body
    finally:
        await close(bot)


async def test_the_day_of_action_answers_in_polish(tmp_path: Path) -> None:
    bot = await fake_bot(
        tmp_path,
        [StubHerald, LotteryFeature, DayOfActionFeature],
        members=[MOD, ANA],
        moderators=[MOD],
        now=NOW,
    )
    try:
        await add_room(bot, COORD, [MOD], moderators=[MOD])
        stub = stub_of(bot.features)
        stub.coalitions.append(CoalitionInfo("north", (RoomID(ROOM),), (RoomID(COORD),)))
        stub.add_run(
            run_info("r1", NOW + timedelta(days=1), NOW + timedelta(days=2), [ROOM], [COORD]), RunSpec()
        )
        await polish(bot)
        [listing] = await bot.say(ROOM, ANA, "!help")
        assert "Dzień akcji: autonomia lokalna, łącznicy, ćwiczenia:" in listing.body
        assert (await help_line(bot, "ack drill")).endswith(
            "— Potwierdź ostatnią wiadomość ćwiczenia w tym pokoju"
        )
        out = await bot.say(ROOM, MOD, "!protocol decline r1 we march elsewhere")
        assert out[0].body.startswith("Ten pokój nie bierze udziału w przebiegu r1:")
        [told] = [s for s in out if s.room_id == COORD]  # the coordination room speaks English
        assert "declined run r1: we march elsewhere." in told.body
        [again] = await bot.say(ROOM, MOD, "!protocol decline r1")
        assert again.body == "Ten pokój już nie bierze udziału w przebiegu r1; !protocol rejoin r1 to cofa."
        [member] = await bot.say(ROOM, ANA, "!protocol rejoin r1")  # a rule's refusal
        assert member.body == (
            "Zrezygnować z przebiegu albo do niego wrócić może tylko łącznik tego pokoju albo jego moderator."
        )
        [nothing] = await bot.say(ROOM, ANA, "!ack drill")
        assert nothing.body == "Żadna wiadomość ćwiczenia nie czeka tu na potwierdzenie."
        [nope] = await bot.say(ROOM, MOD, "!local note nope hello")
        assert nope.body == "Nie ma przebiegu 'nope' dla tego pokoju. Zobacz !protocol status."
    finally:
        await close(bot)


async def test_polish_help_lists_every_command_of_these_features_in_polish(tmp_path: Path) -> None:
    """``!help`` is generated from the declarations: in a Polish room each command of the care,
    skills, gains, lottery and day-of-action features (slots, intake, rides) shows its Polish
    help under its feature's Polish title, and no English help is left."""
    features = [StubHerald, LotteryFeature, CareFeature, SkillsFeature, GainsFeature]
    features += [DayOfActionFeature, SlotsFeature, IntakeFeature, RidesFeature]
    bot = await fake_bot(tmp_path, features, members=[MOD, ANA], moderators=[MOD], now=NOW)
    try:
        await polish(bot)
        [listing] = await bot.say(ROOM, ANA, "!help")
        ours = {f.router.feature: f.router.title for f in bot.features if f.router is not None}
        ours.pop(StubHerald.name, None)
        checked = 0
        for feature, commands in bot.commands.by_feature().items():
            if feature not in ours:
                continue
            with rendering("pl"):
                title = catalogued(ours[feature]).plain()
                lines = {c.usage: catalogued(c.help).plain() for c in commands}
            assert title != ours[feature] and f"{title}:" in listing.body
            for command in commands:
                assert lines[command.usage] != command.help, command.usage  # translated
                assert f"{command.usage} — {lines[command.usage]}" in listing.body
                checked += 1
        assert checked >= 50
    finally:
        await close(bot)


async def test_the_calendar_answers_in_polish(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [HeraldFeature, CalendarFeature], members=[MOD], moderators=[MOD], now=NOW)
    try:
        room_b, bob = "!b:test.example", "@bob:test.example"
        await add_room(bot, room_b, [bob, ANA], moderators=[bob])
        await bot.say(ROOM, MOD, "!coalition create spring")
        [token] = await bot.say(ROOM, MOD, "!coalition invite")
        found = re.search(r"cj-[a-z2-7]{32}", token.body)
        assert found, token.body
        await bot.say(room_b, bob, f"!coalition join {found.group(0)}")
        await bot.say(room_b, bob, "!language pl")
        [listing] = await bot.say(room_b, ANA, "!help")
        assert "Publiczny kalendarz:" in listing.body
        assert "!events — Nadchodzące akcje w kalendarzu koalicji" in listing.body
        [added] = await bot.say(room_b, bob, "!event add Blockade at 2026-12-05 10:00 where Main square")
        assert added.body.startswith(
            "Dodano do kalendarza spring jako #1: Blockade, sob., 5 gru 2026 10:00 UTC"
        )
        [coming] = await bot.say(room_b, ANA, "!events")
        assert coming.body.startswith("Nadchodzące w kalendarzu spring (1):")
        [refused] = await bot.say(room_b, ANA, "!event cancel 1")
        assert refused.body == "Może to zrobić tylko łącznik tego pokoju albo moderator."
        [missing] = await bot.say(room_b, bob, "!event cancel 7")
        assert missing.body == "Ten pokój nie dodał wydarzenia #7 do kalendarza spring; !events je pokazuje."
    finally:
        await close(bot)
