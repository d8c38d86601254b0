"""Tier 2: every message the bot sends carries intentional mentions (``m.mentions``), so text
a user typed (``@room``, a display name) quoted in a notice never pings anyone."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bots.ghostchair import GhostChairFeature
from bots.runtime.message import Message
from bots.runtime.runtime_host import RuntimeHost
from tests.bot.fakes import ROOM, Sent, close, fake_bot
from tests.bot.test_herald import ALICE, BOB, NOW, ROOM_B, coalition, settle, start_run
from tests.bot.test_lottery import built, lottery

MOD = "@mod:test.example"


def messages(sent: list[Sent]) -> list[Sent]:
    return [s for s in sent if s.event_type == "m.room.message"]


async def test_replies_mention_nobody_even_when_quoting_at_room(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [built(GhostChairFeature), lottery], members=[MOD], moderators=[MOD])
    try:
        for body in (
            "!ping @room",
            "!pingg @room",
            "!gathering at 2026-12-01 18:00 @room",
            "!gathering at 2026-12-01 18:00",
            "!help",
            "!gathering list",
            "!draw",
        ):
            await bot.say(ROOM, MOD, body)
        sent = messages(bot.fake.sent)
        assert sent
        assert all(s.content.get("m.mentions") == {} for s in sent), [s.content for s in sent]
        assert any("@room" in s.body for s in sent)  # quoted, and still pings nobody
    finally:
        await close(bot)


async def test_post_mentions_exactly_the_people_meant(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [], members=[MOD])
    try:
        host = RuntimeHost(bot, "core")  # every post goes through a host
        await host.post(ROOM, Message.of(f"{MOD} and {MOD}: your turn"), "k1", mentions=[MOD, MOD])
        await host.post(ROOM, Message.of("nobody in particular, @room"), "k2")
        await bot.flush()
        first, second = messages(bot.fake.sent)
        assert first.content["m.mentions"] == {"user_ids": [MOD]}
        assert second.content["m.mentions"] == {}
    finally:
        await close(bot)


async def test_herald_phases_edits_and_files_carry_mentions(tmp_path: Path) -> None:
    bot = await coalition(tmp_path)
    try:
        run = await start_run(bot, "rapid-response", "2026-11-22 12:05")
        await bot.say(ROOM, ALICE, f"!protocol confirm {run}")
        bot.now = NOW + timedelta(minutes=5)
        await bot.fire(next(j for j in bot.scheduler.job_ids() if j.startswith(f"herald:due-{run}-")))
        await settle(bot)
        await bot.say(ROOM_B, BOB, f"!ack {run}")
        await bot.say(ROOM, ALICE, f"!protocol amend {run} Meet at the north gate @room")
        await settle(bot)
        await bot.say(ROOM, ALICE, "!event add Picnic at 2026-12-01 12:00")
        await bot.say(ROOM, ALICE, "!events ics")
        await settle(bot)
        sent = messages(bot.fake.sent)
        assert any("m.new_content" in s.content for s in sent), "an edit was sent"
        assert any(s.content.get("msgtype") == "m.file" for s in sent), "a file was sent"
        missing = [s.content for s in sent if "m.mentions" not in s.content]
        assert not missing
        edits = [s for s in sent if "m.new_content" in s.content]
        assert all("m.mentions" in s.content["m.new_content"] for s in edits)
    finally:
        await close(bot)
