"""Tier 2: the role lottery through the runtime, with a fake homeserver.

Commands and their permissions, bad input that changes nothing, reactions and replies as
contributions, the reveal job (once, also across a restart), mandate reminders and expiry,
release and two-person renewal, chance groupings, cell rooms with a sunset, the API the ghost
chair calls, and forgetting.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from bots.lottery import LotteryFeature
from bots.runtime.bot import BotRuntime, FeatureFactory
from bots.runtime.contract import ContractFeature, factory
from bots.runtime.offline import forget_contract_features
from bots.runtime.registry import feature_section
from protocols.lottery import PublishedDraw, commitment, verify
from storage.room_settings import RoomSettings
from tests.bot.fakes import BOT, ROOM, FakeBot, Sent, add_room, close, fake_bot, running

ANA = "@ana:test.example"  # moderator
BEN = "@ben:test.example"
CHI = "@chi:test.example"
DEV = "@dev:test.example"
PEOPLE = [ANA, BEN, CHI, DEV]
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
DOC = Path(__file__).resolve().parents[2] / "docs" / "lottery-algorithm.md"


def lottery(bot: BotRuntime) -> ContractFeature[Any]:
    """The lottery as the registry builds it, from the bot's ``features.lottery`` section."""
    return factory(LotteryFeature, feature_section(bot.app, "lottery"))(bot)


def built(cls: Any) -> FeatureFactory:
    """Another feature next to the lottery, as the runtime builds it: a contract feature from
    the bot's config section, an old one as it is."""
    if isinstance(cls, type) and issubclass(cls, ContractFeature):
        return lambda bot: factory(cls, feature_section(bot.app, cls.name))(bot)
    return cast(FeatureFactory, cls)


async def lottery_bot(tmp_path: Path, members: list[str] = PEOPLE, config_extra: str = "") -> FakeBot:
    return await fake_bot(
        tmp_path, [lottery], members=members, moderators=[ANA], now=NOW, config_extra=config_extra
    )


def feature(bot: FakeBot) -> LotteryFeature:
    return running(bot, LotteryFeature)


def draw_id_of(sent: Sent) -> str:
    match = re.search(r"Draw (\w+)", sent.body)
    assert match, sent.body
    return match.group(1)


def jobs(bot: FakeBot, prefix: str) -> list[str]:
    return [j for j in bot.scheduler.job_ids() if j.startswith(prefix)]


async def count(bot: FakeBot, table: str) -> int:
    row = await bot.db.fetchone(f"SELECT COUNT(*) FROM {table}")
    assert row is not None
    return int(row[0])


async def snapshot(bot: FakeBot) -> dict[str, list[tuple[object, ...]]]:
    tables = (
        "lottery_room",
        "lottery_room_option",
        "lottery_mandate",
        "lottery_renewal",
        "lottery_draw",
        "lottery_history",
        "lottery_stepback",
        "lottery_grouping",
        "lottery_cell_room",
    )
    out = {}
    for table in tables:
        out[table] = [tuple(r) for r in await bot.db.fetchall(f"SELECT * FROM {table}")]
    return out


async def test_roles_setup_needs_a_moderator_and_shows_the_settings(tmp_path: Path) -> None:
    bot = await lottery_bot(tmp_path)
    try:
        [shown] = await bot.say(ROOM, BEN, "!roles")
        assert shown.reply_to is not None
        for role in ("facilitator", "timekeeper", "liaison", "care", "mediation"):
            assert f"{role}: vacant" in shown.body
        assert (
            "Mandates last 1w" in shown.body
            and "30s" in shown.body
            and "<li><strong>" in shown.html
            and "<table>" not in shown.html
        )
        [denied] = await bot.say(ROOM, BEN, "!roles set a b")
        assert "power level 50" in denied.body
        [done] = await bot.say(ROOM, ANA, "!roles set facilitator, care timekeeper")
        assert "facilitator, care, timekeeper" in done.body
        [term] = await bot.say(ROOM, ANA, "!roles term 2d")
        assert "last 2d" in term.body
        [window] = await bot.say(ROOM, ANA, "!roles window 45s")
        assert "45s" in window.body
        [redraw] = await bot.say(ROOM, ANA, "!roles redraw on")
        assert "again at once" in redraw.body
        [shown] = await bot.say(ROOM, DEV, "!roles")
        assert "mediation" not in shown.body and "Mandates last 2d" in shown.body
        assert "45s" in shown.body and "drawn again at once" in shown.body
        [denied] = await bot.say(ROOM, BEN, "!roles redraw off")
        assert "power level" in denied.body
        [helped] = await bot.say(ROOM, BEN, "!help roles")
        assert "!roles set [<role>...]" in helped.body and "!roles window <duration>" in helped.body
    finally:
        await close(bot)


async def test_bad_input_gets_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    bot = await lottery_bot(tmp_path)
    try:
        before = await snapshot(bot)
        cases = {
            "!roles term -1d": "not a duration",
            "!roles term 30m": "between 1h and 90d",
            "!roles window 1s": "between 5s and 1h",
            "!roles redraw maybe": "neither on nor off",
            "!roles set Care! x": "not a role name",
            "!roles set care care": "named twice",
            "!draw dancing": "'dancing' is not a role here",
            "!cells 9-3": "write the smaller first",
            "!cells 5-7 tables": "unexpected 'tables'",
            "!verify nothing": "There is no draw nothing",
            "!release care": "Nobody holds 'care'",
            "!release juggling": "not a role here",
            "!renew care": "Nobody holds 'care'",
            "!stepback forever": "not a duration",
            "!roles extra": "Usage: !roles",
        }
        for command, expected in cases.items():
            [reply] = await bot.say(ROOM, ANA, command)
            assert expected in reply.body, (command, reply.body)
            assert "something went wrong" not in reply.body
        assert await snapshot(bot) == before
        assert jobs(bot, "lottery:") == []
        await add_room(bot, "!dm:test.example", [BEN], direct=True)
        [direct] = await bot.say("!dm:test.example", BEN, "!draw")
        assert "works in a group room" in direct.body
    finally:
        await close(bot)


async def test_an_empty_pool_is_refused(tmp_path: Path) -> None:
    bot = await lottery_bot(tmp_path, members=[ANA, BEN])
    try:
        await bot.say(ROOM, ANA, "!stepback")
        await bot.say(ROOM, BEN, "!stepback 2d")
        before = await snapshot(bot)
        [reply] = await bot.say(ROOM, BEN, "!draw")
        assert "Nobody is in the pool" in reply.body
        [order] = await bot.say(ROOM, BEN, "!order")
        assert "Nobody is in the pool" in order.body
        assert await snapshot(bot) == before and await count(bot, "lottery_draw") == 0
    finally:
        await close(bot)


async def test_draw_commit_contributions_reveal_and_verify(tmp_path: Path) -> None:
    bot = await lottery_bot(tmp_path)
    try:
        await bot.say(ROOM, ANA, "!roles set facilitator care timekeeper")
        command_sent = await bot.say(ROOM, BEN, "!draw")
        [commit] = command_sent
        draw_id = draw_id_of(commit)
        assert commit.reply_to is not None  # the commitment answers the !draw
        digest = re.search(r"Commitment: ([0-9a-f]{64})", commit.body)
        assert digest, commit.body
        assert "among 4" in commit.body and BOT not in commit.body
        assert "react to this message or reply to it within 30s" in commit.body
        assert jobs(bot, "lottery:reveal-") == [f"lottery:reveal-{draw_id}"]
        [early] = await bot.say(ROOM, CHI, f"!verify {draw_id}")
        assert "not revealed yet" in early.body
        # Two reactions, a repeat of one, a reply; a reaction to another message is no chance.
        assert await bot.react(ROOM, CHI, commit.event_id, "🎲") == []
        await bot.react(ROOM, DEV, commit.event_id, "🍀")
        await bot.react(ROOM, DEV, early.event_id, "🍀")
        assert (
            await bot.say(
                ROOM, ANA, "for luck", **{"m.relates_to": {"m.in_reply_to": {"event_id": commit.event_id}}}
            )
            == []
        )
        stored = await feature(bot).draws.get(draw_id)
        assert stored is not None and len(stored.contributions) == 3
        assert stored.commitment == digest.group(1)

        bot.now = NOW + timedelta(seconds=31)
        [result] = await bot.fire(f"lottery:reveal-{draw_id}")
        assert result.reply_to == commit.event_id
        assert f"Draw {draw_id} result" in result.body and "3 contributions" in result.body
        assert "Seed: " in result.body and feature(bot).draws.seed(stored).hex() in result.body
        holders = re.findall(r"(facilitator|care|timekeeper) → (@\w+:test.example)", result.body)
        assert [r for r, _ in holders] == ["facilitator", "care", "timekeeper"]
        assert len({h for _, h in holders}) == 3  # nobody twice while others have none
        assert result.content["m.mentions"]["user_ids"] == [h for _, h in holders]
        # A late reaction changes nothing; the reveal never runs twice.
        await bot.react(ROOM, CHI, commit.event_id, "🎉")
        assert (await feature(bot).draws.get(draw_id)).contributions == stored.contributions  # type: ignore[union-attr]
        assert await feature(bot)._reveal(draw_id) is None
        assert [s for s in bot.fake.sent if f"Draw {draw_id} result" in s.body] == [result]

        [checked] = await bot.say(ROOM, DEV, f"!verify {draw_id}")
        assert f"Draw {draw_id} checks out" in checked.body and "<pre><code>" in checked.html
        published = PublishedDraw.from_json(json.loads(checked.body.splitlines()[-1]))
        assert verify(published) and published.commitment == digest.group(1)
        assert [list(p) for p in published.assignment.picks] == [list(h) for h in holders]
        # What !verify shows is what the offline program in the docs reads: it agrees.
        program = re.findall(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.DOTALL)[0]
        (tmp_path / "verify_draw.py").write_text(program, "utf-8")
        (tmp_path / "draw.json").write_text(checked.body.splitlines()[-1], "utf-8")
        offline = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(tmp_path / "verify_draw.py"), str(tmp_path / "draw.json")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert offline.returncode == 0 and "MATCHES" in offline.stdout, offline.stdout
        [roles] = await bot.say(ROOM, BEN, "!roles")
        for role, holder in holders:
            assert f"{role}: {holder} until 2026-11-29 12:00 UTC" in roles.body
        [none_left] = await bot.say(ROOM, BEN, "!draw")
        assert "Every role is held" in none_left.body
    finally:
        await close(bot)


async def test_only_one_draw_at_a_time_and_named_roles(tmp_path: Path) -> None:
    bot = await lottery_bot(tmp_path)
    try:
        [commit] = await bot.say(ROOM, BEN, "!draw care LIAISON")
        assert "Draw " in commit.body and "care, liaison" in commit.body
        [busy] = await bot.say(ROOM, CHI, "!draw")
        assert f"Draw {draw_id_of(commit)} is still open" in busy.body
        [locked] = await bot.say(ROOM, ANA, "!roles set care")
        assert "A draw is open" in locked.body
        await bot.fire(f"lottery:reveal-{draw_id_of(commit)}")
        [held] = await bot.say(ROOM, CHI, "!draw care")
        assert "'care' is held" in held.body
        [ended] = await bot.say(ROOM, ANA, "!roles set care facilitator")
        assert "Mandates that ended with their role: liaison" in ended.body
        assert len(jobs(bot, "lottery:expire-")) == 1
    finally:
        await close(bot)


async def test_a_restart_between_commit_and_reveal_reveals_the_committed_draw(tmp_path: Path) -> None:
    bot = await lottery_bot(tmp_path)
    [commit] = await bot.say(ROOM, BEN, "!draw facilitator care")
    draw_id = draw_id_of(commit)
    await bot.react(ROOM, CHI, commit.event_id, "🎲")
    posted = re.search(r"Commitment: ([0-9a-f]{64})", commit.body)
    assert posted
    await close(bot)  # the process goes away; the draw is in the database only

    again = await lottery_bot(tmp_path)  # start() rebuilds the reveal job from the table
    try:
        assert jobs(again, "lottery:reveal-") == [f"lottery:reveal-{draw_id}"]
        again.now = NOW + timedelta(minutes=5)
        [result] = await again.fire(f"lottery:reveal-{draw_id}")
        assert f"Draw {draw_id} result" in result.body and "1 contribution " in result.body
        assert result.reply_to == commit.event_id  # the commitment message, sent before the restart
        stored = await feature(again).draws.get(draw_id)
        assert stored is not None and stored.published is not None
        assert commitment(stored.inputs, stored.published.seed) == posted.group(1)
        assert stored.published.seed.hex() in result.body
        # Started once more: nothing left to reveal, nothing posted twice.
        await feature(again).start()
        assert jobs(again, "lottery:reveal-") == []
    finally:
        await close(again)


async def test_reminder_then_expiry_announces_the_vacancy_and_can_redraw(tmp_path: Path) -> None:
    bot = await lottery_bot(tmp_path, members=[ANA, BEN])
    try:
        await bot.say(ROOM, ANA, "!roles set care")
        await bot.say(ROOM, ANA, "!roles term 1d")
        [commit] = await bot.say(ROOM, BEN, "!draw")
        [result] = await bot.fire(f"lottery:reveal-{draw_id_of(commit)}")
        holder = re.search(r"care → (\S+)", result.body).group(1)  # type: ignore[union-attr]
        [remind] = jobs(bot, "lottery:remind-")
        [expire] = jobs(bot, "lottery:expire-")
        assert await bot.fire(remind) == []  # too early: nothing said
        bot.now = NOW + timedelta(hours=18, minutes=1)  # a 1-day term: reminded 6 hours before
        bot.scheduler.at(remind, bot.now, feature(bot)._remind, ROOM, "care")
        [reminded] = await bot.fire(remind)
        assert reminded.body.startswith(f"{holder}: your mandate as care ends 2026-11-23 12:00 UTC")
        assert reminded.content["m.mentions"] == {"user_ids": [holder]}
        bot.scheduler.at(remind, bot.now, feature(bot)._remind, ROOM, "care")
        assert await bot.fire(remind) == []  # once per term

        await bot.say(ROOM, ANA, "!roles redraw on")
        bot.now = NOW + timedelta(days=1)
        vacancy, redraw = await bot.fire(expire)
        assert f"The mandate of care ({holder}) ended: care is vacant now" in vacancy.body
        assert "I draw again now" in vacancy.body
        assert "Draw " in redraw.body and "Commitment:" in redraw.body and redraw.reply_to is None
        assert await count(bot, "lottery_mandate") == 0
        # The redraw remembers who just held the role: their weight is halved.
        stored = await feature(bot).draws.get(draw_id_of(redraw))
        assert stored is not None and stored.inputs.weights["care"][holder] == 1260
        await bot.say(ROOM, ANA, "!roles redraw off")
        [result2] = await bot.fire(f"lottery:reveal-{draw_id_of(redraw)}")
        bot.now = NOW + timedelta(days=2)
        [vacancy2] = await bot.fire(jobs(bot, "lottery:expire-")[0])
        assert "Draw again with !draw" in vacancy2.body and result2.body != vacancy2.body
        [roles] = await bot.say(ROOM, BEN, "!roles")
        assert "care: vacant" in roles.body

        # The bot was removed from the room: the mandate still ends, the redraw is given up.
        await bot.say(ROOM, ANA, "!roles redraw on")
        [commit3] = await bot.say(ROOM, BEN, "!draw")
        await bot.fire(f"lottery:reveal-{draw_id_of(commit3)}")
        bot.fake.members.pop(ROOM)
        bot.now = NOW + timedelta(days=4)
        [vacancy3] = await bot.fire(jobs(bot, "lottery:expire-")[0])
        assert "I draw again now" in vacancy3.body
        assert await count(bot, "lottery_mandate") == 0 and jobs(bot, "lottery:reveal-") == []
    finally:
        await close(bot)


async def test_release_by_the_holder_and_renewal_by_two_other_people(tmp_path: Path) -> None:
    bot = await lottery_bot(tmp_path)
    try:
        await bot.say(ROOM, ANA, "!roles set care liaison")
        [commit] = await bot.say(ROOM, BEN, "!draw")
        [result] = await bot.fire(f"lottery:reveal-{draw_id_of(commit)}")
        care = re.search(r"care → (\S+)", result.body).group(1)  # type: ignore[union-attr]
        liaison = re.search(r"liaison → (\S+)", result.body).group(1)  # type: ignore[union-attr]
        others = [p for p in PEOPLE if p not in (care, liaison)]
        [refused] = await bot.say(ROOM, others[0], "!release care")
        assert f"Only {care} can release 'care'" in refused.body
        [released] = await bot.say(ROOM, liaison, "!release liaison")
        assert "vacant now" in released.body
        assert await feature(bot).mandates.get(ROOM, "liaison") is None
        assert len(jobs(bot, "lottery:expire-")) == 1

        before = await feature(bot).mandates.get(ROOM, "care")
        assert before is not None
        [proposed] = await bot.say(ROOM, others[0], "!renew care")
        assert "is proposed" in proposed.body and f"neither {care} nor {others[0]}" in proposed.body
        [self_confirm] = await bot.say(ROOM, care, "!renew care")
        assert "another member has to confirm" in self_confirm.body
        [own_proposal] = await bot.say(ROOM, others[0], "!renew care")
        assert "a different member has to confirm" in own_proposal.body
        [roles] = await bot.say(ROOM, care, "!roles")
        assert f"renewal proposed by {others[0]}" in roles.body
        [confirmed] = await bot.say(ROOM, others[1], "!renew care")
        assert f"{care} holds care for one more term, until 2026-12-06 12:00 UTC" in confirmed.body
        after = await feature(bot).mandates.get(ROOM, "care")
        assert after is not None and after.expires == before.expires + timedelta(days=7)
        assert after.renewals == 1 and after.renewal is None
        # The old end passes: nothing ends, and the reminder comes again for the new term.
        bot.now = before.expires + timedelta(hours=1)
        assert await bot.fire(jobs(bot, "lottery:expire-")[0]) == []
        assert await feature(bot).mandates.get(ROOM, "care") == after
        assert len(jobs(bot, "lottery:remind-")) == 1
    finally:
        await close(bot)


async def test_stepback_leaves_the_pool_and_stepin_returns(tmp_path: Path) -> None:
    bot = await lottery_bot(tmp_path)
    try:
        [out] = await bot.say(ROOM, CHI, "!stepback 3d")
        assert "out of the pool until 2026-11-25 12:00 UTC" in out.body
        [order] = await bot.say(ROOM, BEN, "!order")
        assert CHI not in order.body and all(p in order.body for p in (ANA, BEN, DEV))
        assert BOT not in order.body and "<ol>" in order.html
        [commit] = await bot.say(ROOM, BEN, "!draw care")
        assert "among 3" in commit.body and CHI not in commit.body
        [back] = await bot.say(ROOM, CHI, "!stepin")
        assert "Welcome back" in back.body
        [never] = await bot.say(ROOM, CHI, "!stepin")
        assert "had not stepped back" in never.body
        [order] = await bot.say(ROOM, BEN, "!order")
        assert CHI in order.body
        # A step-back for a while ends by itself.
        await bot.say(ROOM, DEV, "!stepback 1h")
        bot.now = NOW + timedelta(hours=2)
        [order] = await bot.say(ROOM, BEN, "!order")
        assert DEV in order.body
    finally:
        await close(bot)


async def test_triads_and_cells(tmp_path: Path) -> None:
    many = [f"@p{i}:test.example" for i in range(10)]
    bot = await lottery_bot(tmp_path, members=many)
    try:
        [first] = await bot.say(ROOM, many[0], "!triads")
        groups = [line for line in first.body.splitlines() if line.strip().startswith("Triad")]
        assert len(groups) == 3  # 10 = 4 + 3 + 3
        assert sorted(line.count("@") for line in groups) == [3, 3, 4]
        [cells] = await bot.say(ROOM, many[0], "!cells")
        lines = [line for line in cells.body.splitlines() if line.strip().startswith("Cell")]
        assert sorted(line.count("@") for line in lines) == [5, 5]
        [small] = await bot.say(ROOM, many[0], "!cells 2-3")
        assert "Affinity cells of 2-3" in small.body
        [impossible] = await bot.say(ROOM, many[0], "!cells 4-4")
        assert "cannot be split into cells of 4-4" in impossible.body
        assert await count(bot, "lottery_grouping") == 3
        await add_room(bot, "!two:test.example", [many[0], many[1]])
        [few] = await bot.say("!two:test.example", many[0], "!triads")
        assert "Triads need at least 3 people" in few.body
    finally:
        await close(bot)


async def test_cells_with_rooms_invite_and_close_at_sunset(tmp_path: Path) -> None:
    many = [ANA, *(f"@p{i}:test.example" for i in range(5))]
    bot = await lottery_bot(
        tmp_path, members=many, config_extra="features:\n  lottery:\n    cell_room_sunset: 2d\n"
    )
    try:
        bot.fake.names[ROOM] = "Marshals"
        [denied] = await bot.say(ROOM, many[1], "!cells 3-3 rooms")
        assert "power level" in denied.body and bot.fake.created == []
        assert await count(bot, "lottery_cell_room") == 0
        sent = await bot.say(ROOM, ANA, "!cells 3-3 rooms")
        assert len(bot.fake.created) == 2
        invited = sorted(u for c in bot.fake.created for u in c["invite"])
        assert invited == sorted(many) and BOT not in invited
        assert {c["name"] for c in bot.fake.created} == {"Marshals · cell 1 of 2", "Marshals · cell 2 of 2"}
        assert all(c["encrypted"] is False for c in bot.fake.created)  # as the parent room
        [reply] = [s for s in sent if s.room_id == ROOM]
        assert "Each cell has its own room now" in reply.body and "2026-11-24 12:00 UTC" in reply.body
        welcomes = [s for s in sent if s.room_id != ROOM]
        assert len(welcomes) == 2 and all("Welcome to cell" in w.body for w in welcomes)
        sunsets = jobs(bot, "lottery:sunset-")
        assert len(sunsets) == 2

        bot.now = NOW + timedelta(days=2)
        for job in sunsets:
            [closing] = await bot.fire(job)
            assert "reached its sunset" in closing.body
            assert bot.fake.left[-1] == closing.room_id
        assert sorted(bot.fake.left) == sorted(c["room_id"] for c in bot.fake.created)
        assert await feature(bot).cell_rooms.open() == []
        # Who was in the closed rooms is forgotten; the rows count for the daily cap a day long.
        members = await bot.db.fetchall("SELECT members FROM lottery_cell_room")
        assert [r[0] for r in members] == ["[]", "[]"]
        await feature(bot).forget_expired(NOW + timedelta(days=2, minutes=1))
        assert await count(bot, "lottery_cell_room") == 0
    finally:
        await close(bot)


async def test_cell_rooms_survive_a_restart_until_their_sunset(tmp_path: Path) -> None:
    bot = await lottery_bot(tmp_path, members=[ANA, BEN, CHI, DEV])
    await bot.say(ROOM, ANA, "!cells 2-2 rooms")
    assert len(bot.fake.created) == 2
    await close(bot)
    again = await lottery_bot(tmp_path)
    try:
        assert len(jobs(again, "lottery:sunset-")) == 2
        again.now = NOW + timedelta(days=30)
        for job in jobs(again, "lottery:sunset-"):
            await again.fire(job)
        assert len(again.fake.left) == 2
    finally:
        await close(again)


async def test_the_api_for_the_ghost_chair(tmp_path: Path) -> None:
    bot = await lottery_bot(tmp_path)
    lottery = feature(bot)
    try:
        # how another feature of the bot reaches it: by its class, typed
        assert lottery.host.peer(LotteryFeature) is lottery
        await bot.say(ROOM, ANA, "!roles set care")
        draw_id = await lottery.opening_draw(ROOM, "gathering-7-2026-11-22")
        await bot.flush()
        assert draw_id is not None
        [commit] = [s for s in bot.fake.sent if f"Draw {draw_id}" in s.body]
        assert commit.reply_to is None
        # Called again with the same key (a job run twice): the same draw, nothing new posted.
        sent = len(bot.fake.sent)
        assert await lottery.opening_draw(ROOM, "gathering-7-2026-11-22") == draw_id
        await bot.flush()
        assert len(bot.fake.sent) == sent
        await bot.fire(f"lottery:reveal-{draw_id}")
        assert await lottery.opening_draw(ROOM, "gathering-8") is None
        await bot.flush()
        assert "Every role is held" in bot.fake.sent[-1].body

        await lottery.speaking_order(ROOM, "gathering-8")
        await lottery.speaking_order(ROOM, "gathering-8")
        await bot.flush()
        orders = [s for s in bot.fake.sent if s.body.startswith("Speaking order")]
        assert len(orders) == 1 and all(p in orders[0].body for p in PEOPLE)
        assert orders[0].reply_to is None
    finally:
        await close(bot)


async def test_roles_show_local_time_in_the_room_zone(tmp_path: Path) -> None:
    bot = await lottery_bot(tmp_path)
    try:
        await RoomSettings(bot.db).set_zone(ROOM, ZoneInfo("Europe/Paris"))
        await bot.say(ROOM, ANA, "!roles set care")
        [commit] = await bot.say(ROOM, BEN, "!draw")
        assert "until 2026-11-22 13:00 CET" in commit.body  # the reveal, 30 s on, local
        await bot.fire(f"lottery:reveal-{draw_id_of(commit)}")
        [roles] = await bot.say(ROOM, BEN, "!roles")
        assert "until 2026-11-29 13:00 CET" in roles.body and "Times in Europe/Paris" in roles.body
    finally:
        await close(bot)


async def test_sweep_forgets_draws_past_retention(tmp_path: Path) -> None:
    bot = await lottery_bot(tmp_path, config_extra="retention:\n  draw_history: 10d\n")
    try:
        [commit] = await bot.say(ROOM, BEN, "!draw care")
        draw_id = draw_id_of(commit)
        await bot.fire(f"lottery:reveal-{draw_id}")
        await bot.say(ROOM, BEN, "!triads")
        await feature(bot).forget_expired(NOW + timedelta(days=9))
        assert await count(bot, "lottery_draw") == 1
        await feature(bot).forget_expired(NOW + timedelta(days=11))
        for table in ("lottery_draw", "lottery_contribution", "lottery_history", "lottery_grouping"):
            assert await count(bot, table) == 0, table
        [gone] = await bot.say(ROOM, BEN, f"!verify {draw_id}")
        assert "There is no draw" in gone.body and "kept for 10d" in gone.body
    finally:
        await close(bot)


async def test_affinity_forget_forgets_lottery_records_offline(tmp_path: Path) -> None:
    # `affinity forget` runs without bots: the lottery's own forget_expired, on an offline host.
    bot = await lottery_bot(tmp_path, config_extra="retention:\n  draw_history: 10d\n")
    try:
        [commit] = await bot.say(ROOM, BEN, "!draw care")
        await bot.fire(f"lottery:reveal-{draw_id_of(commit)}")
        await bot.say(ROOM, BEN, "!triads")
        await bot.say(ROOM, CHI, "!stepback 1d")
        runs = bot.app.bots[0].model_copy(update={"features": ["lottery"]})
        config = bot.app.model_copy(update={"bots": [runs]})
        kept = await forget_contract_features(config, bot.db, NOW + timedelta(days=9))
        assert kept.get("lottery", 0) == 1 and await count(bot, "lottery_draw") == 1  # the step-back
        counts = await forget_contract_features(config, bot.db, NOW + timedelta(days=11))
        assert counts["lottery"] == 3  # the draw, its history, the triads
        for table in ("lottery_draw", "lottery_history", "lottery_grouping", "lottery_stepback"):
            assert await count(bot, table) == 0, table
        assert await count(bot, "lottery_mandate") == 1  # a running mandate ends on its own
    finally:
        await close(bot)


async def test_accounts_named_as_other_bots_are_never_in_the_pool(tmp_path: Path) -> None:
    bridge = "@telegrambot:test.example"
    bot = await lottery_bot(tmp_path, members=[*PEOPLE, bridge], config_extra=f'other_bots: ["{bridge}"]\n')
    try:
        [order] = await bot.say(ROOM, BEN, "!order")
        assert bridge not in order.body and all(p in order.body for p in PEOPLE)
        [commit] = await bot.say(ROOM, BEN, "!draw care")
        assert "among 4" in commit.body and bridge not in commit.body
    finally:
        await close(bot)
