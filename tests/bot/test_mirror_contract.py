"""Tier 2: what the blind mirror gained on the feature contract: times in the room's own zone,
and a release cut short by a crash resuming with exactly what it queued."""

from __future__ import annotations

import random
import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bots.mirror.render import render_release
from bots.runtime.ids import RoomID
from protocols.mirror import release_order
from storage.room_settings import RoomSettings
from tests.bot.fakes import ROOM, close
from tests.bot.mirror_helpers import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    KEEPER,
    MOD,
    OTHER,
    ask,
    count_rows,
    feature,
    mirror_bot,
    open_round,
    reflect,
)


async def test_times_are_shown_in_each_rooms_own_zone(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path, extra="features:\n  mirror:\n    display_timezone: Asia/Tokyo\n")
    try:
        await RoomSettings(bot.db).set_zone(RoomID(ROOM), ZoneInfo("Europe/Paris"))
        sent = await bot.say(ROOM, MOD, f"!mirror open {OTHER} closes 2d")
        [reply] = [s for s in sent if s.room_id == ROOM]
        [request] = [s for s in sent if s.room_id == OTHER]
        # Asked on 2026-11-22 12:00 UTC: the request lapses a day later.
        assert "2026-11-23 13:00 CET" in reply.body  # the room set its zone
        assert "2026-11-23 21:00 JST" in request.body  # a room without one: the configured zone
        code = re.search(r"!mirror accept ([a-z0-9]{6})", request.body).group(1)  # type: ignore[union-attr]
        sent = await bot.say(OTHER, KEEPER, f"!mirror accept {code}")
        [announced] = [s for s in sent if s.room_id == ROOM]
        [accepted] = [s for s in sent if s.room_id == OTHER]
        assert "until 2026-11-24 13:00 CET" in announced.body
        assert "until 2026-11-24 21:00 JST" in accepted.body
        [status] = await bot.say(ROOM, ALICE, "!mirror status")
        assert "open until 2026-11-24 13:00 CET" in status.body
    finally:
        await close(bot)


def long_answers(letter: str, last: int) -> tuple[str, ...]:
    return (letter * 1000 + " SEEN", letter * 1000 + " THANKS", letter * last + " NEXT")


async def test_a_release_cut_short_by_a_crash_resumes_with_what_it_queued(tmp_path: Path) -> None:
    # Four long reflections: how many messages the batch takes depends on the shuffle.
    bot = await mirror_bot(tmp_path, members=(ALICE, BOB, CAROL, DAVE))
    try:
        code = await open_round(bot)
        for user, letter, last in [(ALICE, "a", 489), (BOB, "b", 489), (CAROL, "c", 389), (DAVE, "d", 389)]:
            await reflect(bot, user, code, long_answers(letter, last))
        await bot.fire("mirror:close-1")
        mirror = feature(bot)
        round_ = await mirror.rounds.get(1)
        assert round_ is not None
        texts = await mirror.rounds.take_batch_for_release(1)

        def parts(seed: int) -> int:
            return len(
                render_release(round_, release_order(texts, random.Random(seed)), "x", timedelta(days=7))
            )

        first = next(seed for seed in range(100) if parts(seed) == 3)
        second = next(seed for seed in range(100) if parts(seed) == 2)
        mirror._rng = random.Random(first)
        queued = await mirror._queue_release(round_)
        assert len(queued) == 3
        # The process dies here: queued, never waited for, the round still "closed". It restarts
        # with another random source (one that would pack the batch into 2 messages), and the
        # release job fires again.
        mirror._rng = random.Random(second)
        released = await bot.fire("mirror:release-1")
        batch = [s for s in released if s.room_id == OTHER]
        assert [s.body for s in batch] == [m.plain for m in queued]
        assert len([s for s in bot.fake.sent if "anonymous reflections from" in s.body]) == 3
        # Every message of the batch is remembered, so every one is redacted when its time is up.
        assert await count_rows(bot, "mirror_message") == 3 and await count_rows(bot, "mirror_round_key") == 0
        assert await count_rows(bot, "mirror_release") == 0
    finally:
        await close(bot)


async def test_an_unanswered_request_lapses_and_the_asking_room_is_told(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await ask(bot)
        bot.now = bot.now.replace(day=bot.now.day + 2)
        before = len(bot.fake.sent)
        assert await feature(bot).forget_expired(bot.now) == 1
        await bot.flush()
        [told] = [s for s in bot.fake.sent[before:] if s.room_id == ROOM]
        assert f"Blind mirror request {code} lapsed" in told.body
        assert await count_rows(bot, "mirror_request") == 0
    finally:
        await close(bot)
