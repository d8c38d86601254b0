"""Tier 2: the router and dispatcher, with a fake homeserver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bots.runtime.commands import CommandContext, command
from bots.runtime.contract import ContractFeature, NoConfig
from bots.runtime.errors import UserError
from bots.runtime.keys import key
from bots.runtime.message import Message
from bots.runtime.router import Words
from tests.bot.fakes import ROOM, close, fake_bot, recorded

ALICE = "@alice:test.example"
MALLORY = "@mallory:elsewhere.example"


class Echo(ContractFeature[NoConfig]):
    name = "echo"
    title = "Echo"

    @command("echo", help="Say it back")
    async def echo(self, ctx: CommandContext, count: int, *, text: Words) -> None:
        await ctx.reply(Message.of(" ".join([text] * count)))

    @command("boom", help="Fails")
    async def boom(self, ctx: CommandContext, *words: str) -> None:
        raise RuntimeError(f"failed on {' '.join(words)}")

    @command("refuse", help="Refuses", power="moderator")
    async def refuse(self, ctx: CommandContext) -> None:
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
        event = recorded(
            "text",
            event_id="$dup",
            sender=ALICE,
            origin_server_ts=1,
            content={"msgtype": "m.text", "body": "!ping"},
        )
        await bot.deliver(ROOM, event)
        await bot.deliver(ROOM, event)
        await bot.handle(ROOM, event)  # the same as a bare dict (a replayed batch)
        await bot.flush()
        assert [s.body for s in bot.fake.sent] == ["pong"]
        # the one key scheme: the same event and reply position always give the same id
        assert bot.fake.sent[0].txn_id == key("runtime", "$dup", "reply", 1)
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
        thread = recorded("thread", sender=ALICE)
        relates = thread["content"]["m.relates_to"]
        assert relates["is_falling_back"] is True and relates["rel_type"] == "m.thread"
        relates["m.in_reply_to"]["event_id"] = "$last-in-thread"
        [pong] = await bot.deliver(ROOM, thread)
        rel = pong.content["m.relates_to"]
        assert rel["rel_type"] == "m.thread" and rel["event_id"] == relates["event_id"]
        assert rel["is_falling_back"] is False and rel["m.in_reply_to"]["event_id"] == pong.reply_to
        assert pong.reply_to == thread["event_id"] != "$last-in-thread"  # it answers the command itself
        [plain] = await bot.say(ROOM, ALICE, "!ping")
        assert "rel_type" not in plain.content["m.relates_to"]
    finally:
        await close(bot)


async def test_a_command_family_alone_lists_its_commands(tmp_path: Path) -> None:
    class Family(ContractFeature[NoConfig]):
        name = "family"
        title = "Family"

        @command("ghost add", help="Add one")
        async def add(self, ctx: CommandContext, *, text: Words) -> None:
            await ctx.reply(Message.of("added"))

        @command("ghost list", help="List them")
        async def list_(self, ctx: CommandContext) -> None:
            await ctx.reply(Message.of("listed"))

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

    class Rules(ContractFeature[NoConfig]):
        name = "rules"
        title = "Rules"

        @command("strict", help="Refuses by a rule")
        async def strict(self, ctx: CommandContext) -> None:
            raise RuleError("a pool of two cannot make a triad")

        @command("zone", help="Reads a zone")
        async def zone(self, ctx: CommandContext, name: str) -> None:
            parse_zone(name)

    bot = await fake_bot(tmp_path, [Rules], members=[ALICE])
    try:
        [strict] = await bot.say(ROOM, ALICE, "!strict")
        assert strict.body == "a pool of two cannot make a triad"
        [zone] = await bot.say(ROOM, ALICE, "!zone Mars/Olympus_Mons")
        assert "Mars/Olympus_Mons" in zone.body and "Sorry" not in zone.body
    finally:
        await close(bot)


async def test_events_as_synapse_sends_them_reach_the_right_handler(tmp_path: Path) -> None:
    """Each recorded kind of event, parsed by nio as the sync loop gets it."""
    bot = await fake_bot(tmp_path, [Echo], members=[ALICE])
    try:

        def event(name: str) -> dict[str, Any]:
            return recorded(name, sender=ALICE)

        assert [s.body for s in await bot.deliver(ROOM, event("text"))] == ["pong"]
        # A reply: the fallback quote is not the command, the text after it is.
        [help_] = await bot.deliver(ROOM, event("reply"))
        assert "!ping" in help_.body and help_.reply_to == event("reply")["event_id"]
        # Never answered: notices (other bots'), an edit of a command, an emote that is no command.
        for name in ("notice", "edit", "emote"):
            assert await bot.deliver(ROOM, event(name)) == [], name
        assert await bot._already_handled(event("edit")["event_id"])
        # A reaction goes to the features' hook, not the commands.
        assert await bot.deliver(ROOM, event("reaction")) == []
        assert await bot._already_handled(event("reaction")["event_id"])
        # Someone else's membership changes are no commands; a join is not the bot's join time.
        for name in ("member_join", "member_leave"):
            assert await bot.deliver(ROOM, event(name)) == [], name
        # An event the bot cannot decrypt yet waits for its key instead of being answered.
        assert await bot.deliver(ROOM, event("encrypted")) == []
        assert [e.event_id for _, _, e in bot._undecrypted] == [event("encrypted")["event_id"]]
        # One from before the bot joined is not waited for (nor its key asked for): it was
        # never meant for this device, and it would be skipped once decrypted anyway.
        early = recorded("encrypted", sender=ALICE, event_id="$early", origin_server_ts=5)
        await bot._set_joined_ts(ROOM, 10, overwrite=True)
        assert await bot.deliver(ROOM, early) == []
        assert [e.event_id for _, _, e in bot._undecrypted] == [event("encrypted")["event_id"]]
    finally:
        await close(bot)
