"""Tier 2: the lottery loses nothing to a crash at its awkward moments.

Each test kills the process at one point (the step after it raises :class:`Killed`, which no
handler catches, as nothing survives a real kill), then starts the runtime again on the same
database, and checks that what was owed happens, once.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

import pytest

from bots.runtime.ids import RoomID
from tests.bot.fakes import ROOM, FakeBot, close, fake_bot
from tests.bot.test_lottery import ANA, BEN, CHI, NOW, draw_id_of, feature, jobs, lottery, lottery_bot


class Killed(BaseException):
    """The process dies here (a BaseException: no `except Exception` in the code catches it)."""


async def restarted(tmp_path: Path, now_offset: timedelta, members: list[str]) -> FakeBot:
    """The runtime started again on the same database, ``now_offset`` after NOW."""
    bot = await fake_bot(tmp_path, [lottery], members=members, moderators=[ANA], now=NOW + now_offset)
    bot._ids = itertools.count(10_000)  # new event ids after the restart
    return bot


async def test_a_redraw_owed_when_a_mandate_ended_survives_a_crash_before_the_draw(
    tmp_path: Path,
) -> None:
    bot = await lottery_bot(tmp_path, members=[ANA, BEN])
    await bot.say(ROOM, ANA, "!roles set care")
    await bot.say(ROOM, ANA, "!roles term 1d")
    await bot.say(ROOM, ANA, "!roles redraw on")
    [commit] = await bot.say(ROOM, BEN, "!draw")
    await bot.fire(f"lottery:reveal-{draw_id_of(commit)}")
    [expire] = jobs(bot, "lottery:expire-")
    bot.now = NOW + timedelta(days=1)

    async def killed(room_id: RoomID, origin: str) -> str | None:
        raise Killed

    feature(bot).opening_draw = killed  # type: ignore[method-assign]
    sent_before = len(bot.fake.sent)
    with pytest.raises(Killed):
        await bot.scheduler.fire(expire)  # the vacancy notice is committed, then the process dies
    await bot.flush()
    [vacancy] = bot.fake.sent[sent_before:]
    assert "care is vacant now" in vacancy.body and "I draw again now" in vacancy.body
    await close(bot)

    again = await restarted(tmp_path, timedelta(days=1, minutes=1), [ANA, BEN])
    try:
        await again.flush()
        commits = [s for s in again.fake.sent if "Commitment:" in s.body]
        assert len(commits) == 1 and "care" in commits[0].body  # the owed redraw, opened at start
        assert jobs(again, "lottery:reveal-") == [f"lottery:reveal-{draw_id_of(commits[0])}"]
        await feature(again).start()  # started again: the redraw is not owed twice
        await again.flush()
        assert len([s for s in again.fake.sent if "Commitment:" in s.body]) == 1
        row = await again.db.fetchone("SELECT COUNT(*) FROM lottery_redraw")
        assert row is not None and row[0] == 0
    finally:
        await close(again)


async def test_the_window_for_chance_starts_when_the_commitment_is_delivered(tmp_path: Path) -> None:
    # The process dies after handling !draw, before the commitment reached the room; it comes
    # back long after the window "ended". Members must still get the whole window to react
    # after the commitment is delivered, or the bot's seed alone would decide.
    bot = await lottery_bot(tmp_path, members=[ANA, BEN, CHI])
    await bot.outbox.stop()  # nothing is delivered before the crash
    await bot.handle(
        ROOM,
        {
            "type": "m.room.message",
            "event_id": "$draw",
            "sender": BEN,
            "origin_server_ts": int(NOW.timestamp() * 1000),
            "content": {"msgtype": "m.text", "body": "!draw care"},
        },
    )
    assert bot.fake.sent == []
    [draw_id] = [j.removeprefix("lottery:reveal-") for j in jobs(bot, "lottery:reveal-")]
    await close(bot)

    later = timedelta(minutes=10)
    again = await restarted(tmp_path, later, [ANA, BEN, CHI])
    try:
        await again.flush()  # the outbox delivers the commitment now, ten minutes late
        [commit] = [s for s in again.fake.sent if "Commitment:" in s.body]
        assert draw_id_of(commit) == draw_id
        # The reveal job is due (its time passed while the bot was down) but the window is not
        # over: it counts from the delivery.
        assert await again.fire(f"lottery:reveal-{draw_id}") == []
        assert jobs(again, "lottery:reveal-") == [f"lottery:reveal-{draw_id}"]
        await again.react(ROOM, ANA, commit.event_id, "🎲")
        await again.react(ROOM, CHI, commit.event_id, "🍀")
        again.now = NOW + later + timedelta(seconds=29)
        assert await again.fire(f"lottery:reveal-{draw_id}") == []
        again.now = NOW + later + timedelta(seconds=30)
        [result] = await again.fire(f"lottery:reveal-{draw_id}")
        assert f"Draw {draw_id} result" in result.body and "2 contributions" in result.body
    finally:
        await close(again)


async def test_a_commitment_the_room_refused_calls_the_draw_off(tmp_path: Path) -> None:
    # Nobody saw the commitment, so nobody could add chance: the seed alone must not decide.
    bot = await lottery_bot(tmp_path, members=[ANA, BEN])
    try:
        bot.fake.refuse.add(ROOM)
        await bot.say(ROOM, BEN, "!draw care")
        [job] = jobs(bot, "lottery:reveal-")
        draw_id = job.removeprefix("lottery:reveal-")
        bot.now = NOW + timedelta(minutes=1)
        assert await bot.fire(job) == []
        assert await feature(bot).draws.get(draw_id) is None
        assert await feature(bot).mandates.current(ROOM) == {}
        assert jobs(bot, "lottery:reveal-") == []
    finally:
        await close(bot)
