"""Tier 2: ``Host.delivery(key)``, the one way a feature learns what became of what it sent
(pending, sent with its event id and time, refused with the reason), never by reading the
outbox's table."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bots.runtime.host import Host, Outcome
from bots.runtime.ids import EventID, RoomID
from bots.runtime.message import Message
from bots.runtime.offline import OfflineHost
from bots.runtime.runtime_host import RuntimeHost
from tests.bot.fakes import BOT, ROOM, add_room, close, fake_bot

GONE = RoomID("!gone:test.example")


async def test_the_host_says_what_became_of_a_post_a_refusal_and_an_unknown_key(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [])
    try:
        host: Host = RuntimeHost(bot, "demo")
        await add_room(bot, GONE, [])
        bot.fake.refuse.add(GONE)
        assert await host.delivery("demo-1") is None
        await host.post(ROOM, Message.of("hello"), "demo-1")
        await host.post(GONE, Message.of("hello"), "demo-2")
        await bot.flush()
        [sent] = bot.fake.sent
        assert await host.delivery("demo-1") == Outcome("sent", sent.event_id, bot.now, None)
        refused = await host.delivery("demo-2")
        assert refused is not None and refused.state == "refused" and refused.event_id is None
        assert refused.error is not None and refused.error.startswith("M_FORBIDDEN")
        assert refused.at == bot.now
        # A redaction's outcome names the redacted event.
        bot.now += timedelta(minutes=1)
        await host.redact(ROOM, sent.event_id, "demo-3")
        await bot.flush()
        assert await host.delivery("demo-3") == Outcome("sent", sent.event_id, bot.now, None)
    finally:
        await close(bot)


async def test_offline_what_is_queued_is_pending_until_the_bot_runs(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [])
    try:
        await bot.outbox.stop()  # nothing is sent: the offline host's rows wait
        host: Host = OfflineHost(bot.app, str(BOT), bot.db, "demo", lambda: bot.now)
        await host.redact(ROOM, EventID("$old"), "demo-4")
        assert await host.delivery("demo-4") == Outcome("pending", None, None, None)
        assert await host.delivery("demo-5") is None
    finally:
        await close(bot)
