"""Tier 2: the lottery's bounded resources.

``!cells … rooms`` creates real rooms and sends real invitations: at most
``MAX_CELL_ROOMS_PER_COMMAND`` for one command and ``MAX_CELL_ROOMS_PER_DAY`` for one room in 24
hours, refused with a clear message and nothing created. Triads and cells keep only their latest
groupings, however often a room asks.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from protocols.groups import MAX_CELL_ROOMS_PER_COMMAND, MAX_CELL_ROOMS_PER_DAY
from storage.lottery_groupings import KEEP_GROUPINGS
from tests.bot.fakes import ROOM, close
from tests.bot.test_lottery import ANA, NOW, count, feature, jobs, lottery_bot


def people(n: int) -> list[str]:
    return [ANA, *(f"@p{i}:test.example" for i in range(n - 1))]


async def test_too_many_cell_rooms_for_one_command_are_refused_and_nothing_is_made(
    tmp_path: Path,
) -> None:
    many = people(2 * (MAX_CELL_ROOMS_PER_COMMAND + 1))  # 13 cells of 2
    bot = await lottery_bot(tmp_path, members=many)
    try:
        [refused] = await bot.say(ROOM, ANA, "!cells 2-2 rooms")
        assert f"I create at most {MAX_CELL_ROOMS_PER_COMMAND} cell rooms" in refused.body
        assert "Nothing was created." in refused.body
        assert bot.fake.created == [] and bot.fake.invited == []
        for table in ("lottery_cell_room", "lottery_grouping"):
            assert await count(bot, table) == 0, table
        assert jobs(bot, "lottery:sunset-") == []
        # Larger cells fit under the cap, and the cells without rooms are still there.
        made = await bot.say(ROOM, ANA, "!cells 3-4 rooms")
        assert len(bot.fake.created) == 7 and any("own room" in s.body for s in made)
        [plain] = await bot.say(ROOM, ANA, "!cells 2-2")
        assert "Cell 13" in plain.body
    finally:
        await close(bot)


async def test_cell_rooms_for_one_room_are_capped_per_day(tmp_path: Path) -> None:
    size = 6
    bot = await lottery_bot(tmp_path, members=people(2 * size))  # 6 cells of 2 per command
    try:
        for _ in range(MAX_CELL_ROOMS_PER_DAY // size):
            await bot.say(ROOM, ANA, "!cells 2-2 rooms")
        assert len(bot.fake.created) == MAX_CELL_ROOMS_PER_DAY
        bot.now = NOW + timedelta(hours=23)
        [refused] = await bot.say(ROOM, ANA, "!cells 2-2 rooms")
        assert f"at most {MAX_CELL_ROOMS_PER_DAY} a day" in refused.body
        assert "Nothing was created." in refused.body
        assert len(bot.fake.created) == MAX_CELL_ROOMS_PER_DAY
        assert await count(bot, "lottery_cell_room") == MAX_CELL_ROOMS_PER_DAY
        bot.now = NOW + timedelta(hours=24, minutes=1)
        await bot.say(ROOM, ANA, "!cells 2-2 rooms")
        assert len(bot.fake.created) == MAX_CELL_ROOMS_PER_DAY + size
    finally:
        await close(bot)


async def test_cell_rooms_that_closed_within_the_day_still_count(tmp_path: Path) -> None:
    size = 6
    bot = await lottery_bot(
        tmp_path, members=people(2 * size), config_extra="features:\n  lottery:\n    cell_room_sunset: 1h\n"
    )
    try:
        for _ in range(MAX_CELL_ROOMS_PER_DAY // size):
            await bot.say(ROOM, ANA, "!cells 2-2 rooms")
        bot.now = NOW + timedelta(hours=2)
        for job in jobs(bot, "lottery:sunset-"):
            await bot.fire(job)
        assert len(bot.fake.left) == MAX_CELL_ROOMS_PER_DAY  # every cell room is closed
        [refused] = await bot.say(ROOM, ANA, "!cells 2-2 rooms")
        assert f"at most {MAX_CELL_ROOMS_PER_DAY} a day" in refused.body
        bot.now = NOW + timedelta(days=1, minutes=1)
        await feature(bot).forget_expired(bot.now)
        assert await count(bot, "lottery_cell_room") == 0
        await bot.say(ROOM, ANA, "!cells 2-2 rooms")
        assert len(bot.fake.created) == MAX_CELL_ROOMS_PER_DAY + size
    finally:
        await close(bot)


async def test_repeated_groupings_keep_only_the_latest(tmp_path: Path) -> None:
    bot = await lottery_bot(tmp_path, members=people(9))
    try:
        for _ in range(KEEP_GROUPINGS + 7):
            await bot.say(ROOM, ANA, "!triads")
            await bot.say(ROOM, ANA, "!cells 3-3")
        assert await count(bot, "lottery_grouping") == 2 * KEEP_GROUPINGS
    finally:
        await close(bot)
