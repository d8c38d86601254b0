"""Tier 2: the day of action reads Polish in a Polish room, beyond the replies
(tests/bot/test_legible_features.py): a phase the herald copies into a member room (its headline,
the template's Polish text, its checklist heading and its acknowledgement line, a weekday and the
hint for a local detail not set yet), the plan views (``!protocol show`` and the plan of
``!protocol start``, with the checklist and the acknowledgement words), a drill's copy of a
phase, and the names of the direct chats opened for rides and for the liaison's step-back offer,
which take the language of the room the person acted in, else of the coalition's room.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bots.dayofaction.feature import DayOfActionFeature
from bots.dayofaction.herald_port import CoalitionInfo, RunSpec
from bots.lottery.feature import LotteryFeature
from bots.rides.feature import RidesFeature
from bots.runtime.ids import RoomID
from tests.bot import test_dayofaction_herald as doa
from tests.bot.dayofaction_stub import StubHerald, run_info, stub_of
from tests.bot.fakes import ROOM, FakeBot, add_room, close, fake_bot
from tests.bot.test_herald import ALICE, BOB, CAROL, ROOM_B, ROOM_C, coalition, herald, settle

MOD = "@mod:test.example"
ANA = "@ana:test.example"
BEN = "@ben:test.example"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a Sunday
COORD = "!coord:test.example"

MARCH = """\
name: march
description: A march.
phases:
  - key: gather
    offset: "-1h"
    title: Gather
    message: Meet at $meeting_point this $weekday.
    checklist: [Water, Banners]
    ack: {needed: true, within: 30m}
    texts:
      pl: {title: Zbiórka, message: "Spotkanie w miejscu $meeting_point, $weekday. Akcja: $when.", checklist: [Woda, Transparenty]}
  - key: walk
    offset: "0"
    title: Walk
    message: We walk.
"""


async def polish(bot: FakeBot, room: str, who: str) -> None:
    [done] = await bot.say(room, who, "!language pl")
    assert done.body == "Od teraz odpowiadam tutaj w języku: polski."


async def marching(tmp_path: Path) -> FakeBot:
    """The herald's coalition of tests/bot/test_herald.py with the ``march`` template; rooms B
    (its meeting point set, in Paris) and C (nothing set) speak Polish."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "march.yaml").write_text(MARCH)
    bot = await coalition(tmp_path, f"features:\n  herald:\n    template_dirs: ['{templates}']\n")
    await polish(bot, ROOM_B, BOB)
    await polish(bot, ROOM_C, CAROL)
    return bot


async def test_a_phase_copied_into_a_polish_room_reads_polish(tmp_path: Path) -> None:
    bot = await marching(tmp_path)
    try:
        [plan] = await bot.say(ROOM, ALICE, "!protocol start march at 2026-11-22 13:00")
        run = re.search(r"Plan (\w+):", plan.body).group(1)  # type: ignore[union-attr]
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        await settle(bot)
        [lyon] = [s for s in bot.fake.sent if s.room_id == ROOM_B and "📣" in s.body]
        lines = lyon.body.split("\n")
        assert lines[0] == "📣 Zbiórka — march (T-1h)"
        assert (
            "Spotkanie w miejscu Place Bellecour, by the statue, niedziela. Akcja: niedz., 22 lis 2026 14:00 CET."
            in lines
        )
        assert "Lista kontrolna dla twojej grupy:" in lines
        assert "☐ Woda" in lyon.body and "☐ Transparenty" in lyon.body and "Water" not in lyon.body
        assert lines[-1] == f"Potwierdźcie do niedz., 22 lis 2026 13:30 CET: !ack {run} lub zareagujcie ✅."
        assert "<ul>" in lyon.html and "<table" not in lyon.html
        [leeds] = [s for s in bot.fake.sent if s.room_id == ROOM_C and "📣" in s.body]
        assert "[jeszcze nie ustawiono: !local set meeting_point <wartość>]" in leeds.body
        # The coordination room speaks English: the template's own words, as always.
        [coord] = [s for s in bot.fake.sent if s.room_id == ROOM and "📣" in s.body]
        assert coord.body.startswith("📣 Gather — march (T-1h)")
        assert "this Sunday." in coord.body and "Checklist for your group:" in coord.body
        assert "[not set yet: !local set meeting_point <value>]" in coord.body
        assert "Please acknowledge by 2026-11-22 12:30 UTC" in coord.body
    finally:
        await close(bot)


async def test_the_plan_views_of_a_polish_coordination_room_read_polish(tmp_path: Path) -> None:
    bot = await marching(tmp_path)
    try:
        await polish(bot, ROOM, ALICE)
        [show] = await bot.say(ROOM, ALICE, "!protocol show march")
        assert "T-1h gather — Zbiórka (potwierdzić w ciągu 30 minut)" in show.body
        assert "☐ Woda" in show.body and "T+0 walk — Walk (bez potwierdzenia)" in show.body
        [plan] = await bot.say(ROOM, ALICE, "!protocol start march at 2026-11-22 13:00")
        assert re.match(r"Plan \w+: march, akcja niedz\., 22 lis 2026 13:00 UTC — pokoje: 3", plan.body)
        assert "gather (T-1h): Zbiórka, potwierdzić w ciągu 30 minut" in plan.body
    finally:
        await close(bot)


async def test_a_drill_copies_the_phase_in_the_rooms_language(tmp_path: Path) -> None:
    bot = await marching(tmp_path)
    try:
        views = await herald(bot).dayofaction_phases("march", RoomID(ROOM_B), NOW + timedelta(hours=1))
        assert views is not None
        assert [v.title for v in views] == ["Zbiórka", "Walk"]
        assert views[0].text == (
            "Spotkanie w miejscu Place Bellecour, by the statue, niedziela. Akcja: niedz., 22 lis 2026 14:00 CET."
        )
    finally:
        await close(bot)


async def stand_in(tmp_path: Path, features: list[type]) -> FakeBot:
    """A stand-in herald with run r1: ROOM a member room, COORD its coordination room."""
    bot = await fake_bot(
        tmp_path, [StubHerald, *features], members=[MOD, ANA, BEN], moderators=[MOD], now=NOW
    )
    await add_room(bot, COORD, [MOD], moderators=[MOD])
    stub = stub_of(bot.features)
    stub.coalitions.append(CoalitionInfo("north", (RoomID(ROOM),), (RoomID(COORD),)))
    stub.add_run(run_info("r1", NOW + timedelta(days=1), NOW + timedelta(days=3), [ROOM], [COORD]), RunSpec())
    return bot


def direct_chats(bot: FakeBot) -> list[tuple[str, str, list[str]]]:
    return [(c["name"], c["topic"], c["invite"]) for c in bot.fake.created if c["is_direct"]]


async def test_ride_direct_chats_are_named_in_the_language_the_person_asked_in(tmp_path: Path) -> None:
    bot = await stand_in(tmp_path, [RidesFeature])
    try:
        await polish(bot, ROOM, MOD)
        await bot.say(ROOM, ANA, "!ride offer 3 from north at 08:00")
        out = await bot.say(ROOM, BEN, "!ride need from north")
        assert direct_chats(bot) == [("Podwózki", "Przejazdy na dzień akcji", [ANA])]
        [proposal] = [s for s in out if s.room_id not in (ROOM, COORD)]
        number = re.search(r"!ride approve (\d+)", proposal.body).group(1)  # type: ignore[union-attr]
        await add_room(bot, proposal.room_id, [ANA], direct=True)  # the driver joined the DM
        out = await bot.say(proposal.room_id, ANA, f"!ride approve {number}")
        [approved] = [s for s in out if s.room_id == proposal.room_id]
        assert approved.body.startswith("Zatwierdzono. Twój pasażer: @ben:test.example")
        assert direct_chats(bot)[1] == ("Podwózki", "Przejazdy na dzień akcji", [BEN])
    finally:
        await close(bot)


async def test_a_ride_chat_takes_the_coalitions_language_when_the_room_has_none(tmp_path: Path) -> None:
    bot = await stand_in(tmp_path, [RidesFeature])
    try:
        await polish(bot, COORD, MOD)  # the member room set no language
        await bot.say(ROOM, ANA, "!ride offer 3 from north at 08:00")
        await bot.say(ROOM, BEN, "!ride need from north")
        assert direct_chats(bot) == [("Podwózki", "Przejazdy na dzień akcji", [ANA])]
    finally:
        await close(bot)


async def test_a_ride_chat_keeps_english_when_the_room_chose_it(tmp_path: Path) -> None:
    bot = await stand_in(tmp_path, [RidesFeature])
    try:
        await polish(bot, COORD, MOD)
        await bot.say(ROOM, MOD, "!language en")  # chosen, not merely never set
        await bot.say(ROOM, ANA, "!ride offer 3 from north at 08:00")
        await bot.say(ROOM, BEN, "!ride need from north")
        assert direct_chats(bot) == [("Rides", "Rides to a day of action", [ANA])]
    finally:
        await close(bot)


async def test_the_step_back_offer_is_named_in_the_language_of_the_room_answered_for(tmp_path: Path) -> None:
    bot = await stand_in(tmp_path, [LotteryFeature, DayOfActionFeature])
    try:
        await polish(bot, ROOM, MOD)
        autonomy = next(f for f in bot.features if isinstance(f, DayOfActionFeature))
        for minutes in range(5):  # five escalations answered in 30 days: a lot to carry
            await autonomy.record_answer(ROOM, ANA, NOW + timedelta(minutes=minutes))
        await bot.flush()
        assert direct_chats(bot) == [("Koalicja", "Praca łącznika", [ANA])]
        [offer] = [s for s in bot.fake.sent if s.room_id not in (ROOM, COORD)]
        assert offer.body.startswith("Obsłużyłeś(-aś) wiele eskalacji w ostatnich 30 dniach.")
    finally:
        await close(bot)


async def test_the_backup_liaisons_dm_and_the_boards_declined_lines_read_polish(tmp_path: Path) -> None:
    """What the day of action adds to the herald (tests/bot/test_dayofaction_herald.py), in Polish:
    the backup liaison's DM (the phase's title from the template's Polish text) and the lines of
    ``!protocol status`` for a room sitting the run out."""
    template = {**doa.TEMPLATE, "phases": [dict(p) for p in doa.TEMPLATE["phases"]]}  # type: ignore[union-attr]
    template["phases"][0]["texts"] = {"pl": {"title": "Lista", "message": "Jutro o $time działamy."}}  # type: ignore[index]
    bot = await doa.coalition(tmp_path, template)
    try:
        for room, who in ((doa.ROOM_B, doa.BOB), (doa.ROOM_C, doa.CAROL), (ROOM, doa.ALICE)):
            await polish(bot, room, who)
        [plan] = await bot.say(ROOM, doa.ALICE, "!protocol start doa-test at 2026-11-22 14:00 UTC")
        run = re.search(r"Plan (\w+):", plan.body).group(1)  # type: ignore[union-attr]
        await bot.say(ROOM, doa.ALICE, f"!protocol confirm {run}")
        await bot.say(doa.ROOM_C, doa.CAROL, f"!protocol decline {run} idziemy do portu")
        await bot.say(doa.ROOM_B, doa.BOB, f"!coalition backup {doa.DAN}")
        bot.now = NOW + timedelta(hours=1)
        await bot.fire(min(j for j in bot.scheduler.job_ids() if j.startswith(f"herald:due-{run}-")))
        await settle(bot)
        bot.now = NOW + timedelta(hours=1, minutes=31)
        await bot.fire(f"herald:escalate-{run}")
        bot.now = NOW + timedelta(hours=1, minutes=46)
        second = await bot.fire(f"herald:escalate-{run}")
        dms = {c["room_id"]: c for c in bot.fake.created}
        [to_dan] = [s for s in second if dms.get(s.room_id, {}).get("invite") == [doa.DAN]]
        assert dms[to_dan.room_id]["name"] == "Powiadomienia koalicji"
        assert to_dan.body == (
            f"⏰ Lyon nie potwierdził „Lista” akcji {run} (doa-test), a jego łącznik nie odpowiedział: "
            f"jesteś zastępcą łącznika tego pokoju. Sprawdź pokój i potwierdź tam (!ack {run} albo reakcja ✅)."
        )
        [told] = [s for s in second if s.room_id == ROOM and "Lyon" in s.body]  # in Polish too
        assert told.body.startswith(f"⚠️ Brak potwierdzenia od Lyon (test.example) dla „Lista” akcji {run}")
        out = await bot.say(ROOM, doa.ALICE, f"!protocol status {run}")
        assert "Nie biorą udziału w tym przebiegu (zrezygnowali, nie milczą):" in out[-1].body
        assert "Leeds: rezygnuje (idziemy do portu)" in out[-1].body
        assert (
            "Miejsca według pokoi (zajęte / otwarte, oczekujący; imiona zostają w każdym pokoju):"
            in out[-1].body
        )
    finally:
        await close(bot)


async def test_a_template_with_a_broken_translation_is_named_and_nothing_is_planned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Bad input: a template whose Polish text names a variable that does not exist is skipped
    with the file, line and key in the operator's log; the room is told a file could not be
    loaded, the other templates work, and no run of it can be started."""
    caplog.set_level(logging.WARNING, logger="bots.herald")
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "march.yaml").write_text(
        MARCH.replace("$meeting_point, $weekday.", "$meeting_point, $dzien.")
    )
    bot = await coalition(tmp_path, f"features:\n  herald:\n    template_dirs: ['{templates}']\n")
    try:
        await polish(bot, ROOM, ALICE)
        [listing] = await bot.say(ROOM, ALICE, "!protocol list")
        assert "rapid-response" in listing.body and "march" not in listing.body
        assert "Nie udało się wczytać 1 pliku szablonu; dziennik operatora mówi dlaczego." in listing.body
        logged = {r.getMessage() for r in caplog.records if "herald template skipped" in r.getMessage()}
        assert len(logged) == 1, logged  # the one broken file, however often the library is read
        [line] = logged
        assert (
            "march.yaml, line 11, key phases[0].texts.pl.message" in line
            and "unknown variable $dzien" in line
        )
        [refused] = await bot.say(ROOM, ALICE, "!protocol start march at 2026-11-22 13:00")
        assert "'march'" in refused.body and "rapid-response" in refused.body
        assert await herald(bot).runs.list_for("spring") == []
    finally:
        await close(bot)


async def test_the_step_back_offered_from_the_liaison_list_follows_the_room_the_liaison_serves(
    tmp_path: Path,
) -> None:
    """``!coalition liaisons`` asked in the (English) coordination room offers the step back too:
    the new DM takes the language of the Polish room the liaison serves, not the asking room's."""
    bot = await stand_in(tmp_path, [LotteryFeature, DayOfActionFeature])
    try:
        await polish(bot, ROOM, MOD)
        stub_of(bot.features).liaisons[RoomID(ROOM)] = ANA  # type: ignore[assignment]
        autonomy = next(f for f in bot.features if isinstance(f, DayOfActionFeature))
        for minutes in range(5):  # answered earlier (the offer of those days is not this test's)
            await autonomy.autonomy.answered(ROOM, ANA, NOW - timedelta(days=1, minutes=minutes))
        [listing] = [s for s in await bot.say(COORD, MOD, "!coalition liaisons") if s.room_id == COORD]
        assert "answered 5 escalations in 30 days" in listing.body  # the asking room's English
        assert direct_chats(bot) == [("Koalicja", "Praca łącznika", [ANA])]
    finally:
        await close(bot)
