"""Tier 2: gatherings beyond weekly (``!gathering repeat ...``) through the runtime.

The clock is the test's; jobs run when the test fires them, as the timer would at their time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from protocols.gathering import describe_schedule
from tests.bot.fakes import ROOM, close
from tests.bot.test_ghostchair import (
    ALICE,
    MOD,
    NOW,
    TUESDAY_PARIS,
    chairs,
    count,
    ghost,
    ghost_bot,
    restart,
    when,
)

JOB = "ghostchair:gathering-1"


async def test_every_two_weeks_fires_then_skips_a_week_and_catches_up_once(tmp_path: Path) -> None:
    bot = await ghost_bot(tmp_path)
    try:
        cases = {
            "!gathering repeat whenever": "not a recurrence I understand",
            "!gathering repeat every month on the 5th tuesday at 19:00": "Most months have no 5th tuesday",
            "!gathering repeat after each gathering": "dates of its own",
            "!gathering repeat every 2 weeks on tuesday until 2020-01-01": "in the past",
            "!gathering repeat draw": "Say how often first",
            "!gathering repeat every day at 19:00 remind 2d": "at most",
        }
        for text, expected in cases.items():
            [reply] = await bot.say(ROOM, MOD, text)
            assert expected in reply.body, (text, reply.body)
        assert await count(bot, "ghost_gathering") == 0 and await count(bot, "ghostchair_recurrence") == 0
        [refused] = await bot.say(ROOM, ALICE, "!gathering repeat every 2 weeks on tuesday at 19:00")
        assert "power level" in refused.body

        [reply] = await bot.say(ROOM, MOD, "!gathering repeat every 2 weeks on tuesday at 19:00 Europe/Paris")
        assert reply.body.startswith("Gathering #1: every 2 weeks on tuesday at 19:00 Europe/Paris"), (
            reply.body
        )
        assert when(bot, JOB) == TUESDAY_PARIS
        [listed] = await bot.say(ROOM, ALICE, "!gathering list")
        assert "#1: every 2 weeks on tuesday at 19:00 Europe/Paris" in listed.body

        bot.now = TUESDAY_PARIS + timedelta(seconds=3)
        assert len(chairs(await bot.fire(JOB))) == 1
        assert when(bot, JOB) == TUESDAY_PARIS + timedelta(days=14)  # not the next week
        # Down across the next one, back within the grace: posted once, late.
        sent = await restart(bot, TUESDAY_PARIS + timedelta(days=14, minutes=30))
        late = chairs(sent)
        assert len(late) == 1 and "late" in late[0].body.lower()
        assert chairs(await restart(bot, TUESDAY_PARIS + timedelta(days=14, minutes=31))) == []
        # Cancelling deletes its recurrence too.
        await bot.say(ROOM, MOD, "!gathering cancel 1")
        assert await count(bot, "ghostchair_recurrence") == 0
    finally:
        await close(bot)


async def test_a_recurring_gathering_is_dst_correct_and_ends_at_its_sunset(tmp_path: Path) -> None:
    bot = await ghost_bot(tmp_path)
    try:
        # The last Sunday of March 2027 at 02:30 in Paris does not exist: the clocks jump from
        # 02:00 to 03:00, so the gathering is at the jump, 01:00 UTC.
        bot.now = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
        [reply] = await bot.say(
            ROOM,
            MOD,
            "!gathering repeat every month on the last sunday at 02:30 until 2027-04-30 Europe/Paris",
        )
        assert reply.body.startswith(
            "Gathering #1: every month on the last sunday at 02:30 until 2027-04-30"
        ), reply.body
        assert when(bot, JOB) == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
        bot.now = datetime(2027, 3, 28, 1, 0, 5, tzinfo=UTC)
        await bot.fire(JOB)
        # April: summer time, 02:30 CEST is 00:30 UTC.
        assert when(bot, JOB) == datetime(2027, 4, 25, 0, 30, tzinfo=UTC)
        gathering = (await ghost(bot).gatherings.all())[0]
        assert describe_schedule(gathering.schedule).startswith("every month on the last sunday at 02:30")
        bot.now = datetime(2027, 4, 25, 0, 30, 5, tzinfo=UTC)
        await bot.fire(JOB)
        # After its sunset the gathering is deleted with its recurrence.
        await ghost(bot).forget_expired(datetime(2027, 5, 2, tzinfo=UTC))
        assert await count(bot, "ghost_gathering") == 0 and await count(bot, "ghostchair_recurrence") == 0
        assert NOW < bot.now
    finally:
        await close(bot)
