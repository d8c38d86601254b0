"""Tier 2: when the bot is out of a room (left, kicked, banned), each feature forgets it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bots.ghostchair import GhostChairFeature
from bots.runtime.ids import RoomID
from tests.bot.fakes import BOT, ROOM, FakeBot, close, fake_bot
from tests.bot.test_lottery import built, lottery

ANA = "@ana:test.example"
BEN = "@ben:test.example"
OTHER = RoomID("!other:test.example")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday


def kicked(event_id: str = "$kick1") -> Any:
    member = {
        "type": "m.room.member",
        "state_key": str(BOT),
        "sender": ANA,
        "event_id": event_id,
        "content": {"membership": "leave"},
    }
    return SimpleNamespace(timeline=SimpleNamespace(events=[SimpleNamespace(source=member)]))


async def rows(bot: FakeBot, table: str, room: str) -> int:
    row = await bot.db.fetchone(f"SELECT COUNT(*) FROM {table} WHERE room_id = ?", (room,))
    assert row is not None
    return int(row[0])


async def test_a_room_the_bot_is_out_of_is_forgotten_and_others_are_not(tmp_path: Path) -> None:
    bot = await fake_bot(
        tmp_path, [built(GhostChairFeature), lottery], members=[ANA, BEN], moderators=[ANA], now=NOW
    )
    try:
        bot.fake.members[OTHER] = [str(BOT), ANA, BEN]
        bot.fake.powers[OTHER] = {ANA: 50}
        await bot._set_joined_ts(OTHER, 0, overwrite=True)
        for room in (ROOM, OTHER):
            for text in (
                "!ghost add the night-shift nurse",
                "!gathering every tue 19:00",
                "!roles set facilitator care",
                "!draw",
            ):
                [reply] = await bot.say(room, ANA, text)
                assert "power level" not in reply.body and "Sorry" not in reply.body, reply.body
        for table in ("ghost_gathering", "ghost_room", "lottery_room", "lottery_draw"):
            assert await rows(bot, table, ROOM) == 1 and await rows(bot, table, OTHER) == 1, table
        jobs_before = set(bot.scheduler.job_ids())

        await bot._on_removed(ROOM, kicked())
        for table in ("ghost_gathering", "ghost_room", "ghost_voice", "lottery_room", "lottery_draw"):
            assert await rows(bot, table, ROOM) == 0, table
        assert await rows(bot, "ghost_gathering", OTHER) == 1 and await rows(bot, "lottery_draw", OTHER) == 1
        gone = jobs_before - set(bot.scheduler.job_ids())
        assert any(j.startswith("ghostchair:gathering-") for j in gone)
        # The reveal jobs still pending: the forgotten room's posts nothing, the other's reveals.
        before = len(bot.fake.sent)
        for job in [j for j in bot.scheduler.job_ids() if j.startswith("lottery:reveal-")]:
            await bot.fire(job)
        after = bot.fake.sent[before:]
        assert not [s for s in after if s.room_id == ROOM]
        assert [s for s in after if s.room_id == OTHER and " result:" in s.body]

        # The same leave seen again (a replayed sync) is handled once; nothing fails.
        await bot._on_removed(ROOM, kicked())
        assert await rows(bot, "ghost_gathering", OTHER) == 1
    finally:
        await close(bot)


async def test_a_rooms_lottery_options_go_with_it(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [lottery], members=[ANA, BEN], moderators=[ANA], now=NOW)
    try:
        await bot.say(ROOM, ANA, "!roles window 10s")
        await bot.say(ROOM, ANA, "!roles redraw on")
        assert await rows(bot, "lottery_room_option", ROOM) == 1
        await bot._on_removed(ROOM, kicked("$kick2"))
        assert await rows(bot, "lottery_room_option", ROOM) == 0
    finally:
        await close(bot)
