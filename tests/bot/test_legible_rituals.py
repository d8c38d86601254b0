"""Tier 2: the rituals' own words in a Polish room. The ghost chair's reminder (its framing and
a default voice), a gathering's options as they are described back, a time or date that does
not parse, a converter's refusal of a weekday or a voice number, and the blind mirror's prompts
and refusals in the DM conversation of a member of a Polish room. English keeps its words
(tests/bot/test_ghostchair.py, tests/bot/test_mirror.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bots.ghostchair import GhostChairFeature
from bots.lottery import LotteryFeature
from tests.bot.fakes import ROOM, FakeBot, close, fake_bot
from tests.bot.mirror_helpers import ALICE, DMS, dm, mirror_bot, open_round

MOD = "@mod:test.example"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a Sunday


async def polish(bot: FakeBot) -> None:
    [done] = await bot.say(ROOM, MOD, "!language pl")
    assert done.body == "Od teraz odpowiadam tutaj w języku: polski."


async def test_the_ghost_chair_speaks_polish(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [GhostChairFeature], members=[MOD], moderators=[MOD], now=NOW)
    try:
        [english] = await bot.say(ROOM, MOD, "!ghost now")
        assert english.body == (
            "🪑 An empty chair is kept tonight for the comrade in prison. Before we decide, ask: "
            "how would this land for them?"
        )
        await polish(bot)
        [chair] = await bot.say(ROOM, MOD, "!ghost now")
        assert chair.body == (
            "🪑 Dziś zostaje puste krzesło. Czeka na kogoś, kogo tu nie ma: rodzic, który został "
            "w domu z dziećmi. Zanim zdecydujemy, zapytajmy: jak by to przyjęli?"
        )
        assert "<em>rodzic, który został w domu z dziećmi</em>" in chair.html
        [listing] = await bot.say(ROOM, MOD, "!ghost list")
        assert "1. towarzyszka lub towarzysz w więzieniu" in listing.body

        [scheduled] = await bot.say(ROOM, MOD, "!gathering every tue 19:00 Europe/Warsaw remind 1h care 2h")
        assert scheduled.body.startswith(
            "Spotkanie #1: co tydzień, wtorek 19:00, strefa Europe/Warsaw; przypomnienie (wyprzedzenie: "
            "1 godzina), pytanie o samopoczucie (odstęp: 2 godziny)."
        ), scheduled.body
        [listed] = await bot.say(ROOM, MOD, "!gathering list")
        assert "przypomnienie (wyprzedzenie: 1 godzina), pytanie o samopoczucie (odstęp: 2 godziny)" in (
            listed.body
        )

        # A time that does not parse: an unknown zone, a wall time the clocks skip, a bad date.
        [zone] = await bot.say(ROOM, MOD, "!gathering every tue 19:00 Mars/Olympus")
        assert zone.body.startswith(
            "'Mars/Olympus' to nie strefa czasowa: użyj nazwy IANA, np. Europe/Warsaw albo UTC. Użycie: "
            "!gathering every"
        ), zone.body
        [skipped] = await bot.say(ROOM, MOD, "!gathering at 2027-03-28 02:30 Europe/Warsaw")
        assert skipped.body == (
            "'2027-03-28 02:30' nie istnieje w strefie Europe/Warsaw: zegary ją przeskakują"
        ), skipped.body
        [day] = await bot.say(ROOM, MOD, "!gathering at 2027-13-01 18:00")
        assert day.body.startswith("'2027-13-01' to nie data: użyj YYYY-MM-DD, np. 2026-09-30. Użycie: ")
        [far] = await bot.say(ROOM, MOD, "!gathering repeat every 40 months on the 1st")
        assert far.body == "Odstęp w miesiącach (40) jest za duży: najwyżej 12.", far.body
        [odd] = await bot.say(ROOM, MOD, "!gathering repeat every fortnight")
        assert odd.body.startswith(
            "'every fortnight' to nie powtarzanie, które rozumiem: napisz to tak: every tuesday,"
        ), odd.body
        [late] = await bot.say(ROOM, MOD, "!gathering every tue 19:00 remind 7d")
        assert late.body.startswith("Przypomnienie przy spotkaniu cotygodniowym może przyjść z ")
        assert "6 dni" in late.body

        # The converters of a weekday and of a voice number.
        [weekday] = await bot.say(ROOM, MOD, "!gathering every funday 19:00")
        assert weekday.body.startswith(
            "'funday' to nie dzień tygodnia: użyj angielskiej nazwy, np. tuesday, albo jej trzech "
            "pierwszych liter (tue). Użycie: !gathering every <weekday>"
        ), weekday.body
        [number] = await bot.say(ROOM, MOD, "!ghost remove x")
        assert number.body == (
            "'x' to nie liczba: użyj !ghost remove <n>, z n z listy !ghost list. Użycie: !ghost remove <n>"
        ), number.body
        [help_] = await bot.say(ROOM, MOD, "!help")
        assert "Zaplanuj cotygodniowe spotkanie. [zone] to nazwa IANA" in help_.body
        assert "Schedule" not in help_.body
    finally:
        await close(bot)


async def test_the_mirror_conversation_speaks_polish(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        await polish(bot)
        await bot.say(ROOM, ALICE, "!language")  # her DMs follow the room she last used
        [start] = await dm(bot, ALICE, f"reflect {code}")
        assert start.room_id == DMS[ALICE]
        assert start.body.startswith(f"Ślepe lustro {code}: trzy krótkie pytania")
        assert start.body.endswith(
            "(1/3) Co udało ci się zaobserwować? Opisz, co zrobiła grupa, tak jak to widzisz."
        )
        [early] = await dm(bot, ALICE, "submit")
        assert early.body == "Najpierw odpowiedz na to pytanie (1 z 3) albo odpowiedz cancel."
        [second] = await dm(bot, ALICE, "Spokojni porządkowi")
        assert second.body == "(2/3) Co w ich pracy budzi twoją wdzięczność?"
        [third] = await dm(bot, ALICE, "woda")
        assert third.body == "(3/3) Czego mogliby spróbować następnym razem?"
        [review] = await dm(bot, ALICE, "wcześniejszy start")
        assert review.body.startswith(
            "Twoja refleksja, tak jak zostałaby opublikowana (bez twojego imienia):"
        )
        assert "Spokojni porządkowi" in review.body
        assert review.body.endswith("albo cancel, żeby ją odrzucić.")
        [thanks] = await dm(bot, ALICE, "submit")
        assert thanks.body.startswith(f"Dziękuję. Twoja refleksja jest w rundzie {code}.")
        [unknown] = await dm(bot, ALICE, "reflect zzzzzz")
        assert unknown.body == "Żadna runda nie ma kodu zzzzzz. Sprawdź kod w ogłoszeniu w pokoju."
        [same] = await bot.say(ROOM, MOD, "!mirror open !kitchen:test.example closes 5m")
        assert same.body.startswith("Runda musi być otwarta co najmniej tyle: 10 minut"), same.body
    finally:
        await close(bot)


async def test_the_lotterys_own_rules_refuse_in_polish(tmp_path: Path) -> None:
    """A refusal the draw's rules raise (protocols/lottery.py) reaches a Polish room in Polish."""
    bot = await fake_bot(tmp_path, [LotteryFeature], members=[MOD], moderators=[MOD], now=NOW)
    try:
        await polish(bot)
        await bot.say(ROOM, MOD, "!stepback")
        [empty] = await bot.say(ROOM, MOD, "!draw")
        assert empty.body == (
            "W puli nikogo nie ma: wszyscy zrobili krok w tył. Ktoś może wrócić przez !stepin."
        ), empty.body
    finally:
        await close(bot)
