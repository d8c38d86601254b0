"""Tier 2: a blind-mirror round's close, release and forgetting, with a fake homeserver."""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from pathlib import Path

import pytest

from tests.bot.fakes import ROOM, close
from tests.bot.mirror_helpers import (
    ALICE,
    ANSWERS,
    BOB,
    CAROL,
    DAVE,
    DMS,
    OTHER,
    count_rows,
    dm,
    feature,
    mirror_bot,
    on_disk,
    open_round,
    reflect,
)

# -- closing and releasing -------------------------------------------------------------------


async def test_threshold_met_releases_one_anonymous_batch_then_redacts(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        for user in (ALICE, BOB, CAROL):
            await reflect(bot, user, code)
        await dm(bot, DAVE, f"reflect {code}")  # Dave is not in the group: refused anyway
        [closed] = await bot.fire("mirror:close-1")
        assert closed.room_id == ROOM and "closed with enough reflections" in closed.body
        assert bot.scheduler.job_ids() == ["mirror:release-1"]
        [late] = await dm(bot, ALICE, f"reflect {code}")
        assert "has closed" in late.body
        released = await bot.fire("mirror:release-1")
        batch = [s for s in released if s.room_id == OTHER]
        assert len(batch) == 1, "the batch goes out in one message"
        body = batch[0].body
        assert "3 anonymous reflections from Marshals" in body
        for user, answers in ANSWERS.items():
            assert answers[0] in body and user not in body and user not in batch[0].html
            assert DMS[user] not in body
        assert [s.room_id for s in released if s.room_id != OTHER] == [ROOM]
        assert await count_rows(bot, "mirror_submission") == 0
        assert await count_rows(bot, "mirror_round_key") == 0
        assert bot.scheduler.job_ids() == ["mirror:expire-1"]
        # A second firing (a restart) posts nothing again.
        await feature(bot)._release(1)
        assert [s for s in bot.fake.sent if "anonymous reflections from" in s.body] == batch
        # After the retention period the batch is redacted and the round forgotten.
        bot.now += timedelta(days=7, seconds=1)
        await bot.fire("mirror:expire-1")
        assert (OTHER, batch[0].event_id) in bot.fake.redacted
        assert await count_rows(bot, "mirror_round") == 0 and await count_rows(bot, "mirror_message") == 0
    finally:
        await close(bot)


async def test_threshold_not_met_releases_nothing(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        await reflect(bot, ALICE, code)
        await reflect(bot, BOB, code)
        await dm(bot, CAROL, f"reflect {code}")
        await dm(bot, CAROL, "half written")
        sent = await bot.fire("mirror:close-1")
        assert not [s for s in sent if s.room_id == OTHER]
        [withheld] = [s for s in sent if s.room_id == ROOM]
        assert "fewer than 3 reflections, so none is shown" in withheld.body
        [cut] = [s for s in sent if s.room_id == DMS[CAROL]]  # her unfinished draft
        assert "closed before you submitted" in cut.body
        assert feature(bot).conversations.drafts.get(CAROL) is None
        assert await count_rows(bot, "mirror_submission") == 0
        assert await count_rows(bot, "mirror_round_key") == 0
        [status] = await bot.say(ROOM, ALICE, "!mirror status")
        assert "withheld" in status.body
        bot.now += timedelta(days=8)
        await bot.fire("mirror:expire-1")
        assert await count_rows(bot, "mirror_round") == 0
    finally:
        await close(bot)


async def test_a_refused_release_is_reported_and_destroyed(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        for user in (ALICE, BOB, CAROL):
            await reflect(bot, user, code)
        await bot.fire("mirror:close-1")
        bot.fake.refuse.add(OTHER)  # the bot was removed from the room reflected upon
        released = await bot.fire("mirror:release-1")
        assert [s.room_id for s in released] == [ROOM]
        assert "could not post all the reflections to Kitchen crew" in released[0].body
        assert await count_rows(bot, "mirror_submission") == 0
        assert await count_rows(bot, "mirror_round_key") == 0
    finally:
        await close(bot)


async def test_release_order_does_not_follow_submission_order(tmp_path: Path) -> None:
    bodies = []
    for n, order in enumerate([(ALICE, BOB, CAROL), (CAROL, BOB, ALICE)]):
        bot = await mirror_bot(tmp_path / str(n))
        try:
            feature(bot)._rng = random.Random(42)  # type: ignore[assignment]
            code = await open_round(bot)
            for user in order:
                await reflect(bot, user, code)
            await bot.fire("mirror:close-1")
            released = await bot.fire("mirror:release-1")
            text = next(s.body for s in released if s.room_id == OTHER)
            bodies.append(text.replace(code, "CODE"))
        finally:
            await close(bot)
    assert bodies[0] == bodies[1]


async def test_start_catches_up_and_rebuilds_jobs(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        mirror = feature(bot)
        first = await open_round(bot, "closes 1d")
        second = await open_round(bot, "closes 3d")
        for user in (ALICE, BOB, CAROL):
            await reflect(bot, user, second)
        for job in bot.scheduler.job_ids():
            bot.scheduler.cancel(job)
        bot.now += timedelta(days=3, hours=1)  # the bot was down past both closes
        before = len(bot.fake.sent)
        await mirror.start()
        await bot.flush()
        notes = [s.body for s in bot.fake.sent[before:]]
        assert any(first in n and "fewer than 3" in n for n in notes)
        assert any(second in n and "closed with enough" in n for n in notes)
        assert sorted(bot.scheduler.job_ids()) == ["mirror:expire-1", "mirror:release-2"]
        # Down for longer than the retention past the close: destroyed unread, and said so.
        for job in bot.scheduler.job_ids():
            bot.scheduler.cancel(job)
        bot.now += timedelta(days=8)
        before = len(bot.fake.sent)
        await mirror.start()
        await bot.flush()
        assert any(second in s.body and "destroyed unread" in s.body for s in bot.fake.sent[before:])
        assert await count_rows(bot, "mirror_round") == 0
        assert bot.scheduler.job_ids() == []
    finally:
        await close(bot)


async def test_idle_drafts_are_forgotten_by_the_sweep(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        await dm(bot, ALICE, f"reflect {code}")
        await dm(bot, ALICE, "an answer")
        bot.now += timedelta(hours=3)
        await feature(bot).forget_expired(bot.now)
        assert feature(bot).conversations.drafts.get(ALICE) is None
        assert await dm(bot, ALICE, "another answer") == []  # no draft: not ours any more
    finally:
        await close(bot)


async def test_round_keys_are_wrapped_under_the_pickle_key(tmp_path: Path) -> None:
    bot = await mirror_bot(tmp_path)
    try:
        bot.pickle_key = "operator-secret"  # type: ignore[attr-defined]
        feature(bot)._rounds = None
        code = await open_round(bot)
        row = await bot.db.fetchone("SELECT wrapped FROM mirror_round_key")
        assert row is not None and row["wrapped"] == 1
        for user in (ALICE, BOB, CAROL):
            await reflect(bot, user, code)
        await bot.fire("mirror:close-1")
        released = await bot.fire("mirror:release-1")
        assert any(ANSWERS[ALICE][0] in s.body for s in released if s.room_id == OTHER)
    finally:
        await close(bot)


async def test_nothing_links_an_author_to_a_text_on_disk_or_in_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Everything the suite logs, at every level; third-party libraries at the default INFO
    # (aiosqlite's DEBUG lines quote SQL parameters: see bots.logs).
    caplog.set_level(logging.INFO)
    for ours in ("bots", "storage", "protocols"):
        caplog.set_level(logging.DEBUG, logger=ours)
    bot = await mirror_bot(tmp_path)
    try:
        code = await open_round(bot)
        for body in (f"reflect {code}", *ANSWERS[ALICE]):
            await dm(bot, ALICE, body)
        # The draft is shown to its author, and is on no disk: not in the outbox, nor the WAL.
        data = on_disk(tmp_path)
        assert ANSWERS[ALICE][0].encode() not in data
        await dm(bot, ALICE, "submit")
        for user in (BOB, CAROL):
            await reflect(bot, user, code)
        await bot.fire("mirror:close-1")
        await bot.fire("mirror:release-1")
        bot.now += timedelta(days=7, seconds=1)
        await bot.fire("mirror:expire-1")
        data = on_disk(tmp_path)
        for user, answers in ANSWERS.items():
            for text in answers:
                assert text.encode() not in data, "a reflection outlived its retention on disk"
                assert text not in caplog.text
            assert user not in caplog.text and DMS[user] not in caplog.text
        assert "blind-mirror round 1 released" in caplog.text  # the logs were captured
    finally:
        await close(bot)
