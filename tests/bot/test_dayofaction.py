"""Tier 2: local autonomy (decline, rejoin, local note), liaisons by lottery with a backup,
and drills with their report, through the runtime with a stand-in herald."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from bots.dayofaction.feature import DayOfActionFeature
from bots.dayofaction.herald_port import CoalitionInfo, PhaseView, RunSpec
from bots.lottery.feature import LotteryFeature
from bots.runtime.ids import RoomID
from tests.bot.dayofaction_stub import StubHerald, run_info, stub_of
from tests.bot.fakes import ROOM, FakeBot, add_room, close, fake_bot

MOD, LIA, BAK, MEM = (f"@{n}:test.example" for n in ("mod", "lia", "bak", "mem"))
ROOM2 = "!room2:test.example"
COORD = "!coord:test.example"
T = TypeVar("T")


async def doa_bot(tmp_path: Path) -> tuple[FakeBot, StubHerald]:
    bot = await fake_bot(
        tmp_path,
        [StubHerald, LotteryFeature, DayOfActionFeature],
        members=[MOD, LIA, BAK, MEM],
        moderators=[MOD],
    )
    await add_room(bot, ROOM2, [MEM])
    await add_room(bot, COORD, [MOD], moderators=[MOD])
    bot.fake.names.update({ROOM: "North", ROOM2: "South", COORD: "Coordination"})
    stub = stub_of(bot.features)
    stub.coalitions.append(CoalitionInfo("north", (RoomID(ROOM), RoomID(ROOM2)), (RoomID(COORD),)))
    stub.add_run(
        run_info("r1", bot.now + timedelta(days=1), bot.now + timedelta(days=2), [ROOM, ROOM2], [COORD]),
        RunSpec(),
    )
    stub.templates["national-day-of-action"] = [
        PhaseView(
            "announce", "Announcement", timedelta(days=-7), "Day of action next week", timedelta(hours=48)
        ),
        PhaseView("go", "Go", timedelta(hours=-2), "Two hours to go", timedelta(hours=1)),
        PhaseView("start", "Start", timedelta(0), "We start now", None),
    ]
    return bot, stub


def inner(bot: FakeBot, cls: type[T]) -> T:
    """The running contract feature of class ``cls`` (inside its bridge)."""
    return next(f for f in bot.features if isinstance(f, cls))


def feature(bot: FakeBot) -> DayOfActionFeature:
    return inner(bot, DayOfActionFeature)


async def test_a_room_declines_a_run_and_the_herald_is_told_so_and_rejoin_undoes_it(tmp_path: Path) -> None:
    bot, stub = await doa_bot(tmp_path)
    try:
        out = await bot.say(ROOM, MOD, "!protocol decline r1 we march elsewhere")
        assert "sits run r1 out" in out[0].body
        [told] = [s for s in out if s.room_id == COORD]
        assert "North declined run r1: we march elsewhere" in told.body
        doa = feature(bot)
        assert await doa.declined_rooms("r1") == {ROOM: "we march elsewhere"}
        assert await doa.escalation_chain("r1", RoomID(ROOM), [COORD]) == []
        assert [t.id for t in await doa.escalation_chain("r1", RoomID(ROOM2), [COORD])] == [COORD]
        [again] = await bot.say(ROOM, MOD, "!protocol decline r1")
        assert "already sits" in again.body
        sent = await stub.send_phase("r1", "go", "Two hours to go")  # as the herald delivers
        assert list(sent) == [RoomID(ROOM2)]
        await bot.say(ROOM, MOD, "!protocol rejoin r1")
        assert await doa.declined_rooms("r1") == {}
    finally:
        await close(bot)


async def test_declining_for_another_room_or_without_a_mandate_is_refused_and_changes_nothing(
    tmp_path: Path,
) -> None:
    bot, _ = await doa_bot(tmp_path)
    try:
        [member] = await bot.say(ROOM, MEM, "!protocol decline r1")
        assert "liaison or a moderator" in member.body
        [coord] = await bot.say(COORD, MOD, "!protocol decline r1")
        assert "only for itself" in coord.body
        [unknown] = await bot.say(ROOM, MOD, "!protocol decline r9")
        assert "no run 'r9'" in unknown.body
        [rejoin] = await bot.say(ROOM, MOD, "!protocol rejoin r1")
        assert "has not declined" in rejoin.body
        assert await feature(bot).declined_rooms("r1") == {}
    finally:
        await close(bot)


async def test_a_local_note_is_kept_for_the_rooms_phase_messages(tmp_path: Path) -> None:
    bot, stub = await doa_bot(tmp_path)
    try:
        [ok] = await bot.say(ROOM, MOD, "!local note r1 Wir treffen uns am Brunnen — bring water")
        assert "ends with your note" in ok.body
        assert await feature(bot).local_note("r1", ROOM) == "Wir treffen uns am Brunnen — bring water"
        await stub.send_phase("r1", "go", "Two hours to go")
        await bot.flush()
        north = next(s for s in bot.fake.sent if s.room_id == ROOM and s.body.startswith("Two hours"))
        [note] = [s for s in bot.fake.sent if s.body.startswith("Local note:")]
        assert note.room_id == ROOM and note.reply_to == north.event_id and "am Brunnen" in note.body
        [long] = await bot.say(ROOM, MOD, "!local note r1 " + "x" * 501)
        assert "at most 500" in long.body
        [member] = await bot.say(ROOM, MEM, "!local note r1 hi")
        assert "liaison or a moderator" in member.body
    finally:
        await close(bot)


async def test_a_drawn_liaison_is_the_rooms_liaison_with_a_backup_and_hands_off_at_mandate_end(
    tmp_path: Path,
) -> None:
    bot, _ = await doa_bot(tmp_path)
    try:
        await bot.say(ROOM, MOD, "!roles set liaison")
        await bot.say(ROOM, MOD, "!roles term 7d")
        [commit] = await bot.say(ROOM, MOD, "!draw liaison")
        draw_id = re.search(r"Draw (\w+)", commit.body).group(1)  # type: ignore[union-attr]
        bot.now += timedelta(seconds=31)
        await bot.fire(f"lottery:reveal-{draw_id}")
        lottery = inner(bot, LotteryFeature)
        mandate = await lottery.mandates.get(ROOM, "liaison")
        assert mandate is not None
        holder = mandate.holder
        told = await bot.fire("dayofaction:liaisons")
        assert any(f"{holder} is this room's liaison" in s.body for s in told)
        backup = next(p for p in (LIA, BAK, MEM) if p != holder)
        [named] = await bot.say(ROOM, MOD, f"!coalition backup {backup}")
        assert "Backup liaison" in named.body
        chain = await feature(bot).escalation_chain("r1", RoomID(ROOM), [COORD])
        assert [(t.kind, t.id) for t in chain] == [
            ("liaison", holder),
            ("backup", backup),
            ("coordination", COORD),
        ]
        [shown] = await bot.say(COORD, MOD, "!coalition liaisons")
        assert f"North: liaison {holder}" in shown.body and f"backup {backup}" in shown.body
        bot.now = mandate.expires + timedelta(seconds=1)
        told = await bot.fire("dayofaction:liaisons")
        assert any("mandate as liaison ended" in s.body and f"The backup, {backup}" in s.body for s in told)
        chain = await feature(bot).escalation_chain("r1", RoomID(ROOM2), [COORD])
        assert [t.kind for t in chain] == ["coordination"]  # the other room has nobody
    finally:
        await close(bot)


async def test_bad_backup_input_is_refused(tmp_path: Path) -> None:
    bot, _ = await doa_bot(tmp_path)
    try:
        [stranger] = await bot.say(ROOM, MOD, "!coalition backup @nobody:test.example")
        assert "not in this room" in stranger.body
        [member] = await bot.say(ROOM, MEM, f"!coalition backup {BAK}")
        assert "liaison or a moderator" in member.body
        [shape] = await bot.say(ROOM, MOD, "!coalition backup bob")
        assert "not a Matrix user id" in shape.body
    finally:
        await close(bot)


async def test_a_drill_sends_every_phase_marked_escalates_and_reports_per_room_ack_times(
    tmp_path: Path,
) -> None:
    bot, _ = await doa_bot(tmp_path)
    try:
        [unknown] = await bot.say(COORD, MOD, "!protocol drill nope")
        assert "no template 'nope'" in unknown.body
        [slow] = await bot.say(COORD, MOD, "!protocol drill national-day-of-action speed 0x")
        assert "speed" in slow.body
        [member] = await bot.say(ROOM, MOD, "!protocol drill national-day-of-action")
        assert "coordination room" in member.body
        [started] = await bot.say(COORD, MOD, "!protocol drill national-day-of-action speed 3600x")
        drill_id = re.search(r"(drill-\w+)", started.body).group(1)  # type: ignore[union-attr]
        sent = await bot.fire(f"dayofaction:drill:{drill_id}:send:0")
        assert {s.room_id for s in sent} == {ROOM, ROOM2} and all(s.body.startswith("DRILL") for s in sent)
        north = next(s for s in sent if s.room_id == ROOM)
        bot.now += timedelta(seconds=7)
        await bot.react(ROOM, MEM, north.event_id, "✅")
        for seq in (1, 2):
            await bot.fire(f"dayofaction:drill:{drill_id}:send:{seq}")
        escalated = await bot.fire(f"dayofaction:drill:{drill_id}:esc:0:1")
        assert [s.room_id for s in escalated] == [COORD] and "South" in escalated[
            0
        ].body  # no liaison in South
        [report] = await bot.fire(f"dayofaction:drill:{drill_id}:report")
        assert report.room_id == COORD and "DRILL — report" in report.body
        assert (
            "North: announce 7s, go silent" in report.body
            and "South: announce silent, go silent" in report.body
        )
        assert "Silent rooms: South." in report.body
        row = await bot.db.fetchone("SELECT COUNT(*) FROM dayofaction_drill_phase")
        assert row is not None and row[0] == 6
        bot.now += timedelta(days=7, minutes=5)
        await next(f for f in bot.features if f.name == "dayofaction").forget_expired(bot.now)
        await bot.flush()
        for table in ("dayofaction_drill", "dayofaction_drill_phase", "dayofaction_message"):
            row = await bot.db.fetchone(f"SELECT COUNT(*) FROM {table}")
            assert row is not None and row[0] == 0, table
        assert len(bot.fake.redacted) == 6 + 1 + 1  # phases, the escalation, the report
    finally:
        await close(bot)
