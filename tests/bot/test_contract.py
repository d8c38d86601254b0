"""Tier 2: the feature contract, proved by the example feature (tests/bot/example_feature.py),
which registers itself and runs on today's runtime without any central table naming it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import pytest

from bots.config import ConfigError
from bots.runtime.commands import CommandContext, command
from bots.runtime.contract import ContractFeature, factory
from bots.runtime.converters import IntRange, Metavar, OnOff, Room, Text, UserRef, When
from bots.runtime.delivery import KindedSender
from bots.runtime.host import Host
from bots.runtime.ids import EventID, RoomID
from bots.runtime.message import Message
from bots.runtime.outbox import Outbox
from bots.runtime.registry import REGISTRY
from bots.runtime.router import Words
from bots.runtime.runtime_host import RuntimeHost
from bots.sweeper import Sweeper
from storage.feature_migrations import feature_version
from tests.bot.fakes import BOT, ROOM, FakeBot, add_room, close, fake_bot

ANA = "@ana:test.example"
OTHER = RoomID("!other:test.example")
EXAMPLE = "tests.bot.example_feature"


async def contract_bot(tmp_path: Path, features: list[Any]) -> FakeBot:
    """A fake bot whose outbox sends by kind (the wiring docs/contract-migration.md lists for
    fakes.py and bot.py)."""
    bot = await fake_bot(tmp_path, features, members=[ANA], moderators=[ANA])
    await bot.outbox.stop()
    bot.outbox = Outbox(bot.db, bot.name, KindedSender(bot.fake).send, clock=lambda: bot.now.timestamp())
    bot.outbox.start()
    return bot


def running_named(bot: FakeBot, name: str) -> ContractFeature[Any]:
    [found] = [f for f in bot.features if f.name == name]
    return found


async def count(bot: FakeBot, sql: str, *params: Any) -> int:
    row = await bot.db.fetchone(sql, params)
    assert row is not None
    return int(row[0])


# -- registration and config -----------------------------------------------------------------


def test_a_feature_is_found_by_its_module_path_and_unknown_names_are_config_errors() -> None:
    cls = REGISTRY.find(EXAMPLE, "bots[0].features[0]")
    assert cls.name == "example" and "example" in REGISTRY.names()
    with pytest.raises(ConfigError, match=r"bots\[0\].features\[1\]: unknown feature 'nosuch'"):
        REGISTRY.find("nosuch", "bots[0].features[1]")
    with pytest.raises(ConfigError, match=r"unknown feature 'no\.such\.module'"):
        REGISTRY.find("no.such.module")
    with pytest.raises(ConfigError, match="exactly one feature"):
        REGISTRY.find("bots.runtime.message")
    with pytest.raises(ConfigError, match="not a feature name"):
        REGISTRY.find("../etc")


def test_the_config_key_is_validated_and_named() -> None:
    cls = REGISTRY.find(EXAMPLE)
    factory(cls, {"keep": "2d"})
    with pytest.raises(ConfigError, match=r"features\.example\.keep: .*duration"):
        factory(cls, {"keep": "soon"})
    with pytest.raises(ConfigError, match=r"features\.example\.kep: unknown key"):
        factory(cls, {"kep": "2d"})
    with pytest.raises(ConfigError, match=r"features\.example\.keep"):
        factory(cls, {"keep": 5})  # a bare number has no unit


# -- the example feature through the runtime -------------------------------------------------


async def test_the_example_feature_answers_migrates_sweeps_and_forgets_a_room(tmp_path: Path) -> None:
    bot = await contract_bot(tmp_path, [factory(REGISTRY.find(EXAMPLE), {"keep": "2d"})])
    try:
        assert await feature_version(bot.db, "example") == 1  # its migration ran at start

        [reply] = await bot.say(ROOM, ANA, "!note buy <milk> & tell @room *now*")
        assert reply.reply_to is not None and reply.body.startswith(
            "Kept note 1: buy <milk> & tell @room *now*."
        )
        assert "<strong>buy &lt;milk&gt; &amp; tell @room *now*</strong>" in reply.html
        assert reply.content["m.mentions"] == {}
        assert "forgotten after 2d" in reply.body
        assert (
            await count(bot, "SELECT COUNT(*) FROM example_note WHERE reply_event_id = ?", reply.event_id)
            == 1
        )

        [usage] = await bot.say(ROOM, ANA, "!note")
        assert "Usage: !note <text>" in usage.body
        [listed] = await bot.say(ROOM, ANA, "!help note")
        assert "!note <text> — Keep a note" in listed.body

        # a note in another room, kept later than the first
        await add_room(bot, OTHER, [ANA])
        bot.now += timedelta(days=1)
        await bot.say(OTHER, ANA, "!note the other room")
        await bot.say(OTHER, ANA, "!note and another")

        # the sweep forgets what outlived features.example.keep, and redacts its reply first
        bot.now += timedelta(days=1, hours=1)
        await Sweeper(bot, bot.app.retention).sweep()
        await bot.flush()
        assert (ROOM, reply.event_id) in bot.fake.redacted
        assert await count(bot, "SELECT COUNT(*) FROM example_note") == 2

        # a room that removed the bot is forgotten; others are not touched
        await add_room(bot, ROOM, [ANA])
        await bot.say(ROOM, ANA, "!note stays")
        member = {
            "type": "m.room.member",
            "state_key": str(BOT),
            "sender": ANA,
            "event_id": "$kick",
            "content": {"membership": "leave"},
        }
        await bot._on_removed(
            OTHER, SimpleNamespace(timeline=SimpleNamespace(events=[SimpleNamespace(source=member)]))
        )
        assert await count(bot, "SELECT COUNT(*) FROM example_note WHERE room_id = ?", OTHER) == 0
        assert await count(bot, "SELECT COUNT(*) FROM example_note WHERE room_id = ?", ROOM) == 1
    finally:
        await close(bot)


# -- the grammar: converters, metavars, deferred values -------------------------------------


class Grammar(ContractFeature[Any]):
    """Not registered: a feature need not be, to be run by a test through factory()."""

    name = "grammar"
    title = "Grammar"

    @command("at", help="Echo a time")
    async def at(self, ctx: CommandContext, when: When) -> None:
        await ctx.reply(Message.of(when.isoformat()))

    @command("pick", help="A number")
    async def pick(self, ctx: CommandContext, n: Annotated[int, IntRange(1, 5)], on: OnOff = True) -> None:
        await ctx.reply(Message.of(f"{n} {on}"))

    @command("who", help="A user")
    async def who(self, ctx: CommandContext, user: UserRef) -> None:
        await ctx.reply(Message.of(user))

    @command("say as", help="Free text as typed")
    async def say_as(self, ctx: CommandContext, n: int, voice: Text) -> None:
        await ctx.reply(Message.of(f"{n}|{voice}"))

    @command("goto", help="A room")
    async def goto(
        self, ctx: CommandContext, room: Room, *, where: Annotated[Words, Metavar("place")]
    ) -> None:
        await ctx.reply(Message.of(f"{room} {where}"))


async def test_converters_finish_the_grammar(tmp_path: Path) -> None:
    bot = await contract_bot(tmp_path, [factory(Grammar)])
    try:
        host = running_named(bot, "grammar").host
        from zoneinfo import ZoneInfo

        await host.settings.set_zone(ROOM, ZoneInfo("Europe/Paris"))
        [r] = await bot.say(ROOM, ANA, "!at 2026-12-01 18:30")
        assert r.body == "2026-12-01T17:30:00+00:00"  # read in the room's zone
        [r] = await bot.say(ROOM, ANA, "!at 2026-12-01 18:30 UTC")
        assert r.body == "2026-12-01T18:30:00+00:00"
        [r] = await bot.say(ROOM, ANA, "!at tomorrow")
        assert "is not a time" in r.body and "Usage: !at <when>" in r.body
        [r] = await bot.say(ROOM, ANA, "!at 2026-12-01 18:30 Mars/Olympus")
        assert "not a time zone" in r.body
        [r] = await bot.say(ROOM, ANA, "!at 2026-03-29 02:30")
        assert "does not exist" in r.body  # the clocks skip it in Paris

        assert (await bot.say(ROOM, ANA, "!pick 3 off"))[0].body == "3 False"
        assert (await bot.say(ROOM, ANA, "!pick 5"))[0].body == "5 True"
        [r] = await bot.say(ROOM, ANA, "!pick 9")
        assert "from 1 to 5" in r.body and "Usage: !pick <n> [<on|off>]" in r.body
        [r] = await bot.say(ROOM, ANA, "!pick 2 maybe")
        assert "neither on nor off" in r.body

        assert (await bot.say(ROOM, ANA, "!who @ben:test.example"))[0].body == "@ben:test.example"
        [r] = await bot.say(ROOM, ANA, "!who ben")
        assert "not a Matrix user id" in r.body

        [r] = await bot.say(ROOM, ANA, '!say as 2 the neighbour\'s kid  said "hi" at home')
        assert r.body == '2|the neighbour\'s kid  said "hi" at home'  # quotes, apostrophes, spacing kept
        [r] = await bot.say(ROOM, ANA, "!say as 2")
        assert "missing <voice>" in r.body

        bot.fake.aliases["#crew:test.example"] = "!crew:test.example"
        [r] = await bot.say(ROOM, ANA, "!goto #crew:test.example where the square")
        assert r.body == "!crew:test.example the square"
        [r] = await bot.say(ROOM, ANA, "!goto crew where x")
        assert "is not a room" in r.body and "Usage: !goto <room> where <place>" in r.body
    finally:
        await close(bot)


# -- the host: one way out -------------------------------------------------------------------


async def test_the_host_posts_edits_redacts_and_uploads_through_the_outbox(tmp_path: Path) -> None:
    bot = await contract_bot(tmp_path, [])
    try:
        host: Host = RuntimeHost(bot, "demo")
        sent = await host.post(ROOM, Message.of("hello"), "demo-1", wait=True)
        assert sent == bot.fake.sent[-1].event_id
        assert (
            await host.post(ROOM, Message.of("again"), "demo-1", wait=True) == sent
        )  # same key, same message
        assert len(bot.fake.sent) == 1
        await host.edit(ROOM, EventID(sent), Message.of("hello, edited"), "demo-2")
        await host.redact(ROOM, EventID(sent), "demo-3", reason="expired")
        await host.upload(
            ROOM, b"BEGIN:VCALENDAR", "c.ics", "text/calendar", "demo-4", reply_to=EventID(sent)
        )
        await bot.flush()
        bot.fake.encrypted.add(ROOM)
        await host.upload(ROOM, b"secret", "s.ics", "text/calendar", "demo-5")
        await bot.flush()
        edit, plain_file, sealed_file = bot.fake.sent[1:]
        assert edit.content["m.new_content"]["body"] == "hello, edited"
        assert edit.content["m.relates_to"] == {"rel_type": "m.replace", "event_id": sent}
        assert bot.fake.redacted == [(ROOM, sent)]
        assert plain_file.content["msgtype"] == "m.file" and plain_file.content["url"].startswith("mxc://")
        assert plain_file.reply_to == sent
        assert "url" not in sealed_file.content and sealed_file.content["file"]["url"].startswith("mxc://")
        assert bot.fake.uploads[1][0] != b"secret"  # only ciphertext reached the server
        # nothing of what was sent rests in the outbox
        assert await count(bot, "SELECT COUNT(*) FROM outbox WHERE content != '{}'") == 0

        # the one exception, for a DM whose timing must not rest on disk: nothing in the outbox
        draft = await host.send_unstored(ROOM, Message.of("your draft"), "demo-6")
        assert draft == bot.fake.sent[-1].event_id
        assert await host.redact_unstored(ROOM, EventID(draft or ""), "demo-7")
        assert (ROOM, draft) in bot.fake.redacted
        assert await count(bot, "SELECT COUNT(*) FROM outbox WHERE txn_id IN ('demo-6', 'demo-7')") == 0
        bot.fake.refuse.add(ROOM)
        assert await host.send_unstored(ROOM, Message.of("refused"), "demo-8") is None
        bot.fake.refuse.clear()

        bot.fake.room_creators[ROOM] = {"@ben:test.example"}
        table = await host.power_table(ROOM)
        assert (table.of(ANA), table.of("@eve:test.example"), table.needed_for("redact")) == (50, 0, 50)
        assert table.of("@ben:test.example") > 100  # a room version 12 creator outranks every level

        calls: list[str] = []

        async def job(*ids: str | int) -> None:
            calls.append(",".join(map(str, ids)))

        host.schedule.at("j", bot.now + timedelta(days=1), job, "a")
        host.schedule.at("j", bot.now + timedelta(days=2), job, "b")  # replaces
        assert host.schedule.job_ids() == ["j"] and "demo:j" in bot.scheduler.job_ids()
        await host.schedule.fire("j")
        assert calls == ["b"] and not host.schedule.has("j")
        assert host.schedule.cancel("j") is False
    finally:
        await close(bot)


# -- what app.py will call -------------------------------------------------------------------


async def test_factories_come_from_the_registry_with_their_config_section(tmp_path: Path) -> None:
    from bots.config import parse_config
    from bots.runtime.registry import factories_for, feature_section

    config = parse_config(
        f'homeserver: http://localhost:1\ndata_dir: "{tmp_path}"\n'
        'bots:\n  - user_id: "@bot:test.example"\n    password: x\n'
        "features:\n  lottery:\n    default_term: 3d\n"
    )
    from bots.lottery import LotteryFeature
    from bots.runtime.contract import validate_config

    lottery = validate_config(LotteryFeature, feature_section(config, "lottery"))
    assert getattr(lottery, "default_term", None) == timedelta(days=3)
    assert feature_section(config, "example") == {}
    # a feature by its module path next to a built-in that registers itself
    bot = config.bots[0].model_copy(update={"features": [EXAMPLE, "lottery"]})
    made = factories_for(config.model_copy(update={"bots": [bot]}), 0)
    assert len(made) == 2
    # every feature is registered now: a name nothing registers is refused, naming its key
    unknown = config.bots[0].model_copy(update={"features": [EXAMPLE, "lottery", "notmoved"]})
    with pytest.raises(ConfigError, match=r"bots\[0\]\.features\[2\]: unknown feature 'notmoved'"):
        factories_for(config.model_copy(update={"bots": [unknown]}), 0)
    bad = config.bots[0].model_copy(update={"features": ["nosuch.module"]})
    with pytest.raises(ConfigError, match=r"bots\[0\]\.features\[0\]: unknown feature"):
        factories_for(config.model_copy(update={"bots": [bad]}), 0)


async def test_affinity_forget_runs_the_same_hook_offline_and_queues_the_redactions(tmp_path: Path) -> None:
    from bots.runtime.offline import Offline, OfflineHost, forget_contract_features

    bot = await contract_bot(tmp_path, [factory(REGISTRY.find(EXAMPLE), {"keep": "1d"})])
    try:
        [reply] = await bot.say(ROOM, ANA, "!note old news")
        await bot.outbox.stop()  # the bot is down from here on
        later = bot.now + timedelta(days=8)  # the config has no features.example: its default, 7d
        offline_bot = bot.config.model_copy(update={"features": [EXAMPLE]})
        config = bot.app.model_copy(update={"bots": [offline_bot]})
        assert await forget_contract_features(config, bot.db, later) == {"example": 1}
        assert await count(bot, "SELECT COUNT(*) FROM example_note") == 0
        # the redaction waits in the outbox for the bot's next run
        assert (
            await count(
                bot,
                "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND event_type = 'm.room.redaction' "
                "AND content LIKE ?",
                f"%{reply.event_id}%",
            )
            == 1
        )
        host: Host = OfflineHost(config, str(BOT), bot.db, "example", lambda: later)
        with pytest.raises(Offline):
            await host.members(ROOM)
        with pytest.raises(Offline):
            await host.post(ROOM, Message.of("x"), "k", wait=True)
    finally:
        bot.scheduler.shutdown()
        await bot.db.close()
