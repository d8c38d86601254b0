"""``host.post_many``: one message to many rooms in one transaction, each in its room's language
and zone exactly as ``host.post`` renders it, and nothing queued when any item is bad."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bots.runtime.fan_out import Post, RawPost, room_renderings
from bots.runtime.i18n import _, when
from bots.runtime.i18n_rooms import FOLLOW_KEY, render
from bots.runtime.ids import RoomID
from bots.runtime.message import Message
from bots.runtime.offline import OfflineHost
from bots.runtime.runtime_host import RuntimeHost
from storage.room_settings import RoomSettings
from tests.bot.fakes import close, fake_bot

SPANISH = "A partir de ahora respondo aquí en {language}."


def phase() -> Message:
    return Message.of(
        _("From now on I answer here in {language}.", language="X"),
        when(datetime(2026, 12, 1, 18, 30, tzinfo=UTC)),
    )


async def set_up_rooms(settings: RoomSettings) -> list[RoomID]:
    rooms = [RoomID(f"!r{i}:test.example") for i in range(7)]
    await settings.set_language(rooms[1], "es")
    await settings.set_zone(rooms[2], ZoneInfo("Europe/Warsaw"))
    await settings.set_language(rooms[3], "pl")
    await settings.put(rooms[3], FOLLOW_KEY, "de")  # a DM following its member's room
    await settings.set_language(rooms[4], "xx")  # not shipped: English
    await settings.put(rooms[5], FOLLOW_KEY, "")  # a DM that set its own language
    await settings.set_language(rooms[5], "es")
    # A zone the tz database no longer has reads as UTC.
    await settings._write(rooms[6], "zone", "Mars/Olympus_Mons")
    return rooms


async def test_rooms_are_rendered_as_post_renders_them(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [])
    try:
        settings = RoomSettings(bot.db)
        rooms = await set_up_rooms(settings)
        ways = await room_renderings(bot.db, rooms)
        assert ways[rooms[1]][0] == "es" and ways[rooms[3]][0] == "de" and ways[rooms[4]][0] == "en"
        assert ways[rooms[2]][1] == ZoneInfo("Europe/Warsaw") and str(ways[rooms[6]][1]) == "UTC"
        host = RuntimeHost(bot, "herald")
        message = phase()
        assert await host.post_many([Post(room, message, f"phase-{room}") for room in rooms]) == 7
        await bot.outbox.drain()
        sent = {s.room_id: s.content for s in bot.fake.sent}
        assert set(sent) == set(rooms)
        for room in rooms:
            plain, html = await render(settings, room, message)
            assert sent[room]["body"] == plain
            assert sent[room]["formatted_body"] == html
            assert sent[room]["m.mentions"] == {}
        assert SPANISH.format(language="X") in sent[rooms[1]]["body"]
        assert sent[rooms[2]]["body"] != sent[rooms[0]]["body"]  # 19:30 in Warsaw, 18:30 in UTC
    finally:
        await close(bot)


async def test_a_phase_queued_again_adds_nothing_and_raw_content_goes_as_it_is(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [])
    try:
        host = RuntimeHost(bot, "herald")
        rooms = [RoomID(f"!p{i}:test.example") for i in range(20)]
        posts = [Post(room, phase(), f"p-{room}") for room in rooms[:10]]
        raw = [
            RawPost(room, {"msgtype": "m.notice", "body": "copy", "org.example.mark": 1}, f"c-{room}")
            for room in rooms[10:]
        ]
        assert await host.post_many([*posts, *raw]) == 20
        assert await host.post_many([*posts, *raw]) == 0  # a job fired twice, a resumed phase
        await bot.outbox.drain()
        assert len(bot.fake.sent) == 20
        copies = [s.content for s in bot.fake.sent if s.room_id in rooms[10:]]
        assert all(c == {"msgtype": "m.notice", "body": "copy", "org.example.mark": 1} for c in copies)
        outcome = await host.delivery(f"c-{rooms[12]}")
        assert outcome is not None and outcome.state == "sent"
    finally:
        await close(bot)


async def test_a_bad_item_queues_nothing(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [])
    try:
        host = RuntimeHost(bot, "herald")
        good = Post(RoomID("!a:test.example"), phase(), "good-1")
        bad = RawPost(RoomID("!b:test.example"), {"body": object()}, "bad-1")  # not JSON
        with pytest.raises(TypeError):
            await host.post_many([good, bad])
        assert await bot.outbox.pending_count() == 0
        assert await host.delivery("good-1") is None
    finally:
        await close(bot)


async def test_offline_post_many_queues_for_the_next_start(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [])
    try:
        offline = OfflineHost(bot.app, bot.name, bot.db, "herald", lambda: datetime.now(UTC))
        rooms = [RoomID(f"!o{i}:test.example") for i in range(3)]
        assert await offline.post_many([Post(room, phase(), f"o-{room}") for room in rooms]) == 3
        assert await bot.outbox.pending_count() == 3
    finally:
        await close(bot)


async def test_a_post_marked_urgent_is_queued_urgent(tmp_path: Path) -> None:
    # A herald's due messages go out through post_many; its stand-downs keep their urgency.
    bot = await fake_bot(tmp_path, [])
    try:
        host = RuntimeHost(bot, "herald")
        posts = [
            Post(RoomID("!a:test.example"), phase(), "u-a", urgent=True),
            Post(RoomID("!b:test.example"), phase(), "u-b"),
            RawPost(RoomID("!c:test.example"), {"msgtype": "m.notice", "body": "x"}, "u-c", urgent=True),
        ]
        assert await host.post_many(posts) == 3
        rows = await bot.db.fetchall("SELECT txn_id, urgent FROM outbox ORDER BY txn_id")
        assert [(r["txn_id"], r["urgent"]) for r in rows] == [("u-a", 1), ("u-b", 0), ("u-c", 1)]
    finally:
        await close(bot)
