"""Tier 2: the router and dispatcher, with a fake homeserver."""

from __future__ import annotations

from pathlib import Path

from bots.runtime.context import Context
from bots.runtime.errors import UserError
from bots.runtime.feature import Feature
from bots.runtime.router import Router, Words
from tests.bot.fakes import ROOM, close, fake_bot

ALICE = "@alice:test.example"
MALLORY = "@mallory:elsewhere.example"


class Echo(Feature):
    name = "echo"
    router = Router("echo")

    @router.command("echo", help="Say it back")
    async def echo(ctx: Context, count: int, *, text: Words) -> None:  # type: ignore[misc]
        await ctx.reply(" ".join([text] * count))

    @router.command("boom", help="Fails")
    async def boom(ctx: Context, *words: str) -> None:  # type: ignore[misc]
        raise RuntimeError(f"failed on {' '.join(words)}")

    @router.command("refuse", help="Refuses", power="moderator")
    async def refuse(ctx: Context) -> None:  # type: ignore[misc]
        raise UserError("no, because reasons")


async def test_ping_help_and_unknown(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [Echo], members=[ALICE])
    try:
        [pong] = await bot.say(ROOM, ALICE, "!ping")
        assert pong.body == "pong" and pong.content["msgtype"] == "m.notice" and pong.reply_to
        [help_] = await bot.say(ROOM, ALICE, "!help")
        assert "!echo <count> text <text>" in help_.body and "!ping" in help_.body
        [one] = await bot.say(ROOM, ALICE, "!help echo")
        assert one.body.startswith("!echo <count> text <text>")
        [unknown] = await bot.say(ROOM, ALICE, "!ecko 2")
        assert "Unknown command !ecko" in unknown.body and "!echo" in unknown.body
    finally:
        await close(bot)


async def test_arguments_and_usage_errors(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [Echo], members=[ALICE])
    try:
        [ok] = await bot.say(ROOM, ALICE, "!echo 2 text hi there")
        assert ok.body == "hi there hi there"
        [bad] = await bot.say(ROOM, ALICE, "!echo two text hi")
        assert "'two' is not a valid <count>" in bad.body and "Usage: !echo <count> text <text>" in bad.body
        [missing] = await bot.say(ROOM, ALICE, "!echo 2")
        assert "missing 'text <text>'" in missing.body
    finally:
        await close(bot)


async def test_errors_are_caught_in_one_place(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    bot = await fake_bot(tmp_path, [Echo], members=[ALICE], moderators=[ALICE])
    try:
        [sorry] = await bot.say(ROOM, ALICE, "!boom secret body text")
        assert "Sorry" in sorry.body
        assert "secret body text" not in caplog.text and "$in1" in caplog.text
        [refused] = await bot.say(ROOM, ALICE, "!refuse")
        assert refused.body == "no, because reasons"
        # The runtime carries on after both.
        [pong] = await bot.say(ROOM, ALICE, "!ping")
        assert pong.body == "pong"
    finally:
        await close(bot)


async def test_power_levels_and_access(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [Echo], members=[ALICE, MALLORY])
    try:
        [denied] = await bot.say(ROOM, ALICE, "!refuse")
        assert "power level 50" in denied.body
        assert await bot.say(ROOM, MALLORY, "!ping") == []  # a server not allowed: ignored
        assert await bot.say(ROOM, ALICE, "hello there") == []  # not a command
        assert await bot.say(ROOM, ALICE, "!ping", msgtype="m.notice") == []
    finally:
        await close(bot)


async def test_same_event_twice_is_answered_once(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [Echo], members=[ALICE])
    try:
        event = {"type": "m.room.message", "event_id": "$dup", "sender": ALICE, "origin_server_ts": 1,
                 "content": {"msgtype": "m.text", "body": "!ping"}}
        await bot.handle(ROOM, event)
        await bot.handle(ROOM, event)
        await bot.flush()
        assert [s.body for s in bot.fake.sent] == ["pong"]
    finally:
        await close(bot)


async def test_reply_fallback_is_stripped(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [Echo], members=[ALICE])
    try:
        [pong] = await bot.say(ROOM, ALICE, "> <@bob:test.example> something\n\n!ping")
        assert pong.body == "pong"
    finally:
        await close(bot)


async def test_a_room_version_12_creator_passes_power_checks(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [Echo], members=[ALICE, "@bob:test.example"])
    try:
        [denied] = await bot.say(ROOM, ALICE, "!refuse")
        assert "needs power level 50" in denied.body
        bot.fake.room_creators[ROOM] = {ALICE}  # listed nowhere in m.room.power_levels
        [passed] = await bot.say(ROOM, ALICE, "!refuse")
        assert passed.body == "no, because reasons"
        [still_denied] = await bot.say(ROOM, "@bob:test.example", "!refuse")
        assert "needs power level 50" in still_denied.body
    finally:
        await close(bot)


async def test_a_command_in_a_thread_is_answered_in_that_thread(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [Echo], members=[ALICE])
    try:
        # What Element sends in a thread: the thread relation, and a fallback reply.
        relates = {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
                   "m.in_reply_to": {"event_id": "$last-in-thread"}}
        [pong] = await bot.say(ROOM, ALICE, "!ping", **{"m.relates_to": relates})
        rel = pong.content["m.relates_to"]
        assert rel["rel_type"] == "m.thread" and rel["event_id"] == "$root"
        assert rel["is_falling_back"] is False and rel["m.in_reply_to"]["event_id"] == pong.reply_to
        assert pong.reply_to != "$last-in-thread"  # it answers the command itself
        [plain] = await bot.say(ROOM, ALICE, "!ping")
        assert "rel_type" not in plain.content["m.relates_to"]
    finally:
        await close(bot)


async def test_a_command_family_alone_lists_its_commands(tmp_path: Path) -> None:
    class Family(Feature):
        name = "family"
        router = Router("family")

        @router.command("ghost add", help="Add one")
        async def add(ctx: Context, *, text: Words) -> None:  # type: ignore[misc]
            await ctx.reply("added")

        @router.command("ghost list", help="List them")
        async def list_(ctx: Context) -> None:  # type: ignore[misc]
            await ctx.reply("listed")

    bot = await fake_bot(tmp_path, [Family], members=[ALICE])
    try:
        [reply] = await bot.say(ROOM, ALICE, "!ghost")
        assert reply.body.startswith("!ghost needs one of:")
        assert "!ghost add text <text> — Add one" in reply.body and "!ghost list — List them" in reply.body
    finally:
        await close(bot)


async def test_a_rule_or_time_refusal_is_the_answer_in_one_place(tmp_path: Path) -> None:
    from protocols.errors import RuleError
    from protocols.timespec import parse_zone

    class Rules(Feature):
        name = "rules"
        router = Router("rules")

        @router.command("strict", help="Refuses by a rule")
        async def strict(ctx: Context) -> None:  # type: ignore[misc]
            raise RuleError("a pool of two cannot make a triad")

        @router.command("zone", help="Reads a zone")
        async def zone(ctx: Context) -> None:  # type: ignore[misc]
            parse_zone(ctx.tail(1))

    bot = await fake_bot(tmp_path, [Rules], members=[ALICE])
    try:
        [strict] = await bot.say(ROOM, ALICE, "!strict")
        assert strict.body == "a pool of two cannot make a triad"
        [zone] = await bot.say(ROOM, ALICE, "!zone Mars/Olympus_Mons")
        assert "Mars/Olympus_Mons" in zone.body and "Sorry" not in zone.body
    finally:
        await close(bot)
