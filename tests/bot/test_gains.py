"""Tier 2: the ledger of gains through the runtime, with a fake homeserver.

Recording gains (no author, no head count), bad input that changes nothing, the room's list,
how a room shares, the coalition tally through the herald, and forgetting texts while counts
stay.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bots.calendar import CalendarFeature
from bots.gains import GainsFeature
from bots.herald.feature import HeraldFeature
from bots.runtime.ids import RoomID
from bots.runtime.offline import forget_contract_features
from tests.bot.fakes import ROOM, FakeBot, add_room, close, fake_bot
from tests.bot.test_calendar import PUBLIC, addresses, get

ALICE = "@alice:test.example"  # moderator of the coordination room
BOB = "@bob:test.example"  # moderator of room B
CAROL = "@carol:test.example"  # moderator of room C
DAN = "@dan:test.example"  # member of room B
ROOM_B = "!b:test.example"
ROOM_C = "!c:test.example"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


async def gains_bot(tmp_path: Path, config_extra: str = "") -> FakeBot:
    bot = await fake_bot(
        tmp_path,
        [HeraldFeature, GainsFeature],
        members=[ALICE],
        moderators=[ALICE],
        now=NOW,
        config_extra=config_extra,
    )
    await add_room(bot, ROOM_B, [BOB, DAN], moderators=[BOB])
    await add_room(bot, ROOM_C, [CAROL], moderators=[CAROL])
    bot.fake.names.update({ROOM: "Coordination", ROOM_B: "Lyon group", ROOM_C: "Leeds group"})
    return bot


async def join_coalition(bot: FakeBot) -> None:
    await bot.say(ROOM, ALICE, "!coalition create spring")
    for room, who in ((ROOM_B, BOB), (ROOM_C, CAROL)):
        [reply] = await bot.say(ROOM, ALICE, "!coalition invite")
        token = re.search(r"cj-[a-z2-7]{32}", reply.body)
        assert token, reply.body
        await bot.say(room, who, f"!coalition join {token.group(0)}")


async def rows(bot: FakeBot, table: str) -> int:
    row = await bot.db.fetchone(f"SELECT COUNT(*) FROM {table}")
    return int(row[0]) if row else 0


async def test_record_list_and_take_back_gains(tmp_path: Path) -> None:
    bot = await gains_bot(tmp_path)
    try:
        [one] = await bot.say(ROOM_B, DAN, "!gain add kitchen a free kitchen every Sunday, run by us")
        assert "Recorded gain #1 in kitchen" in one.body and "free kitchen" not in one.body
        await bot.say(ROOM_B, DAN, "!gain add Cooperative the bakery co-op opened")
        await bot.say(ROOM_B, BOB, "!gain add kitchen second pot")
        [listed] = await bot.say(ROOM_B, DAN, "!gains")
        assert "Gains of this room (3 in all):" in listed.body
        assert "kitchen: 2\n• cooperative: 1" in listed.body
        assert "#1 kitchen: a free kitchen every Sunday, run by us" in listed.body
        assert DAN not in listed.body and BOB not in listed.body  # no author is kept
        assert "without their texts" in listed.body
        [not_mod] = await bot.say(ROOM_B, DAN, "!gain remove 3")
        assert "power level" in not_mod.body
        [removed] = await bot.say(ROOM_B, BOB, "!gain remove 3")
        assert "Took back gain #3 (kitchen)" in removed.body
        [listed] = await bot.say(ROOM_B, DAN, "!gains")
        assert "kitchen: 1" in listed.body and "second pot" not in listed.body
        [elsewhere] = await bot.say(ROOM_C, CAROL, "!gain remove 1")
        assert "no gain #1 here" in elsewhere.body
    finally:
        await close(bot)


async def test_bad_input_changes_nothing(tmp_path: Path) -> None:
    bot = await gains_bot(tmp_path, config_extra="features:\n  gains:\n    categories: [land]\n")
    try:
        [unknown] = await bot.say(ROOM_B, DAN, "!gain add turnout 5000 people marched")
        assert "'turnout' is not a category" in unknown.body and "land" in unknown.body
        [empty] = await bot.say(ROOM_B, DAN, "!gain add kitchen")
        assert "Usage: !gain add <category> <text>" in empty.body
        [long] = await bot.say(ROOM_B, DAN, "!gain add media " + "x" * 3_000)
        assert "at most 280" in long.body
        [huge] = await bot.say(ROOM_B, DAN, "!gain add media " + "x" * 5_000)
        assert "limited to 4,000 characters" in huge.body
        [share] = await bot.say(ROOM_B, BOB, "!gains share everyone")
        assert "not a way to share" in share.body
        assert await rows(bot, "gains_entry") == 0 and await rows(bot, "gains_count") == 0
        assert await rows(bot, "gains_room") == 0
        [operator_category] = await bot.say(ROOM_B, DAN, "!gain add land a community garden plot")
        assert "in land" in operator_category.body
    finally:
        await close(bot)


async def test_the_coalition_tally_counts_every_member_room_and_shares_by_consent(tmp_path: Path) -> None:
    bot = await gains_bot(tmp_path)
    try:
        [alone] = await bot.say(ROOM_B, DAN, "!gains coalition")
        assert "not in a coalition" in alone.body
        await join_coalition(bot)
        await bot.say(ROOM_B, DAN, "!gain add kitchen Lyon soup kitchen")
        await bot.say(ROOM_B, DAN, "!gain add space Lyon squat opened")
        await bot.say(ROOM_C, CAROL, "!gain add kitchen Leeds kitchen")
        await bot.say(ROOM, ALICE, "!gain add fund Strike fund")
        [tally] = await bot.say(ROOM_C, CAROL, "!gains coalition")
        assert "Gains of coalition spring: 4 in 3 of 3 member rooms counted here." in tally.body
        assert "kitchen: 2\n• space: 1\n• fund: 1" in tally.body
        assert "Lyon" not in tally.body and "Leeds" not in tally.body  # counts only, by default
        [refused] = await bot.say(ROOM_B, DAN, "!gains share named")
        assert "power level" in refused.body
        await bot.say(ROOM_B, BOB, "!gains share named")
        await bot.say(ROOM_C, CAROL, "!gains share anonymous")
        [tally] = await bot.say(ROOM_B, DAN, "!gains coalition")
        assert "Lyon group (kitchen): Lyon soup kitchen" in tally.body
        assert "a member group (kitchen): Leeds kitchen" in tally.body and "Leeds group" not in tally.body
        assert "Strike fund" not in tally.body
    finally:
        await close(bot)


async def test_after_retention_only_counts_remain(tmp_path: Path) -> None:
    bot = await gains_bot(tmp_path, config_extra="features:\n  gains:\n    keep_text: 30d\n")
    try:
        await bot.say(ROOM_B, DAN, "!gain add care a care rota for the night shift")
        gains = next(f for f in bot.features if f.name == "gains")
        bot.now += timedelta(days=29)
        await gains.forget_expired(bot.now)
        assert await rows(bot, "gains_entry") == 1
        bot.now += timedelta(days=2)
        await gains.forget_expired(bot.now)
        assert await rows(bot, "gains_entry") == 0
        [listed] = await bot.say(ROOM_B, DAN, "!gains")
        assert "care: 1" in listed.body and "night shift" not in listed.body
        await gains.forget_room(RoomID(ROOM_B))
        assert await rows(bot, "gains_count") == 0
    finally:
        await close(bot)


async def test_a_gain_has_no_author_and_no_head_count_field(tmp_path: Path) -> None:
    bot = await gains_bot(tmp_path)
    try:
        columns = {r[1] for r in await bot.db.fetchall("PRAGMA table_info(gains_entry)")}
        assert columns == {"id", "bot", "room_id", "category", "text", "created_at"}
        counts = {r[1] for r in await bot.db.fetchall("PRAGMA table_info(gains_count)")}
        assert counts == {"bot", "room_id", "category", "n"}  # n: gains of the category, not people
        [one] = await bot.say(ROOM_B, DAN, "!gain add space 300 people took the square")
        assert "Recorded gain #1 in space" in one.body
        [tally] = await bot.say(ROOM_B, DAN, "!gains")
        assert "space: 1" in tally.body  # a gain counts once, whatever number its text holds
    finally:
        await close(bot)


async def test_affinity_forget_forgets_gain_texts_offline_and_keeps_counts(tmp_path: Path) -> None:
    bot = await gains_bot(tmp_path, config_extra="features:\n  gains:\n    keep_text: 30d\n")
    try:
        await bot.say(ROOM_B, DAN, "!gain add media a neighbourhood radio on air")
        runs = bot.app.bots[0].model_copy(update={"features": ["gains"]})
        config = bot.app.model_copy(update={"bots": [runs]})
        assert await forget_contract_features(config, bot.db, NOW + timedelta(days=29)) == {"gains": 0}
        assert await forget_contract_features(config, bot.db, NOW + timedelta(days=31)) == {"gains": 1}
        assert await rows(bot, "gains_entry") == 0
        assert [tuple(r) for r in await bot.db.fetchall("SELECT room_id, category, n FROM gains_count")] == [
            (ROOM_B, "media", 1)
        ]
    finally:
        await close(bot)


async def test_a_room_in_two_coalitions_names_the_one_whose_tally_it_wants(tmp_path: Path) -> None:
    bot = await gains_bot(tmp_path)
    try:
        await join_coalition(bot)  # Lyon (B) and Leeds (C) in spring, coordinated from ROOM
        # Leeds coordinates summer too, and invites Lyon: Lyon and Leeds are in both.
        [created] = await bot.say(ROOM_C, CAROL, "!coalition create summer")
        assert "coordinates it" in created.body
        [invited] = await bot.say(ROOM_C, CAROL, "!coalition invite")
        token = re.search(r"cj-[a-z2-7]{32}", invited.body)
        assert token
        await bot.say(ROOM_B, BOB, f"!coalition join {token.group(0)}")
        await bot.say(ROOM_B, DAN, "!gain add kitchen Lyon soup kitchen")
        await bot.say(ROOM_C, CAROL, "!gain add media Leeds radio")
        await bot.say(ROOM, ALICE, "!gain add fund Strike fund")
        [which] = await bot.say(ROOM_B, DAN, "!gains coalition")
        assert "several coalitions (spring, summer)" in which.body and "in <coalition>" in which.body
        [spring] = await bot.say(ROOM_B, DAN, "!gains coalition in spring")
        assert "Gains of coalition spring: 3 in 3 of 3 member rooms" in spring.body
        assert "kitchen: 1\n• media: 1\n• fund: 1" in spring.body
        [summer] = await bot.say(ROOM_B, DAN, "!gains coalition in summer")
        assert "Gains of coalition summer: 2 in 2 of 2 member rooms" in summer.body
        assert "kitchen: 1\n• media: 1" in summer.body and "fund" not in summer.body
        [nope] = await bot.say(ROOM_B, DAN, "!gains coalition in autumn")
        assert "not in coalition autumn; it is in: spring, summer" in nope.body
        [coordination] = await bot.say(ROOM, ALICE, "!gains coalition")  # in one: no need to name it
        assert "Gains of coalition spring: 3 in 3 of 3" in coordination.body
    finally:
        await close(bot)


async def test_the_public_page_shows_the_coalitions_counts_once_its_coordination_room_chooses(
    tmp_path: Path,
) -> None:
    bot = await fake_bot(
        tmp_path,
        [HeraldFeature, GainsFeature, CalendarFeature],
        members=[ALICE, "@eve:test.example"],
        moderators=[ALICE],
        now=NOW,
        config_extra=PUBLIC,
    )
    try:
        await add_room(bot, ROOM_B, [BOB, DAN], moderators=[BOB])
        await add_room(bot, ROOM_C, [CAROL], moderators=[CAROL])
        bot.fake.names.update({ROOM: "Coordination", ROOM_B: "Lyon group", ROOM_C: "Leeds group"})
        [alone] = await bot.say(ROOM_B, BOB, "!gains public on")
        assert "not in a coalition" in alone.body
        await join_coalition(bot)
        await bot.say(ROOM_B, BOB, "!gains share named")  # texts shared in the coalition, not in public
        await bot.say(ROOM_B, DAN, "!gain add kitchen Lyon soup kitchen")
        await bot.say(ROOM_B, DAN, "!gain add space Lyon squat opened")
        await bot.say(ROOM_C, CAROL, "!gain add kitchen Leeds kitchen")
        page_url, _feed = await addresses(bot)
        before = (await get(page_url))[2].decode()
        assert "Gains in self-rule" not in before  # off until the coordination room chooses
        [member] = await bot.say(ROOM_B, BOB, "!gains public on")
        assert "Only a coordination room of coalition spring" in member.body
        [not_mod] = await bot.say(ROOM, "@eve:test.example", "!gains public on")
        assert "power level" in not_mod.body
        assert await rows(bot, "gains_room") == 1  # only Lyon's way of sharing: nothing half-written
        [on] = await bot.say(ROOM, ALICE, "!gains public on")
        assert "The public page of coalition spring shows its gains counted by category" in on.body
        page = (await get(page_url))[2].decode()
        assert '<h2 id="gains">Gains in self-rule, by category</h2>' in page
        assert "<li>kitchen: 2</li>\n<li>space: 1</li>" in page
        for secret in ("Lyon", "Leeds", "soup", "squat", DAN, BOB, CAROL):
            assert secret not in page, secret
        [share] = await bot.say(ROOM_B, DAN, "!gains")
        assert "under its name" in share.body  # the public choice left Lyon's sharing as it was
        [off] = await bot.say(ROOM, ALICE, "!gains public off")
        assert "shows no gains" in off.body
        assert (await get(page_url))[2].decode() == before
        await bot.say(ROOM, ALICE, "!gains public on")
        gains = next(f for f in bot.features if isinstance(f, GainsFeature))
        await gains.forget_room(RoomID(ROOM))  # the coordination room removed the bot
        assert await gains.page_tally(ROOM, "spring") is None
    finally:
        await close(bot)
