"""Tier 2: a command longer than the router's limit is refused by name of the limit, before any
parser sees it, and changes nothing."""

from __future__ import annotations

from pathlib import Path

from bots.herald import HeraldFeature
from bots.runtime.commands import CommandContext, command
from bots.runtime.contract import ContractFeature, NoConfig, factory
from bots.runtime.message import Message
from bots.runtime.router import MAX_COMMAND_LENGTH
from tests.bot.fakes import ROOM, close, fake_bot

ALICE = "@alice:test.example"


async def table_dump(bot) -> dict[str, list[tuple[object, ...]]]:  # type: ignore[no-untyped-def]
    names = [
        r["name"]
        for r in await bot.db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('handled_event', 'outbox', 'sqlite_sequence')"
        )
    ]
    return {n: [tuple(r) for r in await bot.db.fetchall(f'SELECT * FROM "{n}"')] for n in names}


async def test_a_command_over_the_limit_is_refused(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [factory(HeraldFeature)], members=[ALICE], moderators=[ALICE])
    try:
        before = await table_dump(bot)
        hostile = "!event add " + "t" + " " * (64 * 1024) + "at"
        for body in (hostile, "!ping " + "x" * MAX_COMMAND_LENGTH):
            [refused] = await bot.say(ROOM, ALICE, body)
            assert "limited to 4,000 characters" in refused.body and "Nothing was changed" in refused.body
        assert await table_dump(bot) == before
        # At the limit, a command is read as usual.
        [usage] = await bot.say(ROOM, ALICE, "!ping " + "x" * (MAX_COMMAND_LENGTH - 6))
        assert "Usage: !ping" in usage.body
    finally:
        await close(bot)


class Count(ContractFeature[NoConfig]):
    name = "count"
    title = "Count"

    @command("count", help="Say a number")
    async def count(self, ctx: CommandContext, n: int) -> None:
        await ctx.reply(Message.of(f"n={n}"))


async def test_integer_arguments_are_bounded(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [Count], members=[ALICE])
    try:
        for good, shown in (("42", "n=42"), ("-3", "n=-3"), ("+7", "n=7"), ("9" * 15, "n=" + "9" * 15)):
            [reply] = await bot.say(ROOM, ALICE, f"!count {good}")
            assert reply.body == shown
        for bad in ("9" * 16, "²", "٣", "1.5", "0x10", "--1", "+-1", ""):
            [reply] = await bot.say(ROOM, ALICE, f"!count {bad}".strip())
            assert "Usage: !count <n>" in reply.body, reply.body
    finally:
        await close(bot)
