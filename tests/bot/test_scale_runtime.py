"""What a thousand rooms need of the runtime, without a homeserver: a phase's messages enqueued
in one transaction, and room keys shared ahead of a due send, soonest first and at most once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bots.runtime.errors import TransportError
from bots.runtime.ids import RoomID
from bots.runtime.keys_ahead import MAX_TRIES, KeysAhead
from bots.runtime.outbox import Queued
from tests.bot.fakes import close, fake_bot


async def wait_for(predicate, what: str, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.01)


def notice(text: str) -> dict[str, str]:
    return {"msgtype": "m.notice", "body": text}


async def test_a_batch_is_enqueued_in_one_transaction_and_sent_once(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [])
    try:
        rooms = [RoomID(f"!r{i}:test.example") for i in range(30)]
        batch = [Queued(room, notice("phase one"), f"phase-1-{room}") for room in rooms]
        assert await bot.outbox.enqueue_batch(batch) == 30
        # The same phase again (a job fired twice): nothing new.
        assert await bot.outbox.enqueue_batch(batch) == 0
        await bot.outbox.drain()
        assert sorted(s.room_id for s in bot.fake.sent) == sorted(rooms)
    finally:
        await close(bot)


async def test_a_batch_with_a_bad_item_enqueues_nothing(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [])
    try:
        good = Queued(RoomID("!a:test.example"), notice("x"), "ok-1")
        bad = Queued(RoomID("!b:test.example"), notice("y"), "bad-1", kind="telegram")
        with pytest.raises(ValueError, match="unknown outbox kind"):
            await bot.outbox.enqueue_batch([good, bad])
        assert await bot.outbox.delivery("ok-1") is None
        assert await bot.outbox.pending_count() == 0
    finally:
        await close(bot)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_keys_are_shared_from_the_lead_on_soonest_first_and_once() -> None:
    clock = Clock()
    shared: list[str] = []

    async def share(room: RoomID) -> bool:
        shared.append(room)
        return True

    ahead = KeysAhead(share, clock, lead=timedelta(minutes=10), per_second=100)
    ahead.start()
    try:
        soon, later = clock.now + timedelta(minutes=5), clock.now + timedelta(hours=1)
        ahead.prepare([RoomID("!b:x"), RoomID("!a:x")], by=soon)
        ahead.prepare([RoomID("!late:x")], by=later)
        ahead.prepare([RoomID("!a:x")], by=later)  # a later deadline does not push it back
        await wait_for(lambda: len(shared) == 2, "the rooms due soon were shared")
        assert sorted(shared) == ["!a:x", "!b:x"] and ahead.pending() == 1
        # The other room's lead begins: it is shared too, and nothing twice.
        clock.now = later - timedelta(minutes=9)
        ahead.prepare([], by=later)  # wakes the worker, as any new request does
        await wait_for(lambda: len(shared) == 3, "the later room was shared")
        assert shared[2] == "!late:x" and ahead.shared == 3 and ahead.pending() == 0
    finally:
        await ahead.stop()


async def test_a_passed_deadline_is_dropped_and_failures_give_up() -> None:
    clock = Clock()
    calls: list[str] = []

    async def share(room: RoomID) -> bool:
        calls.append(room)
        raise TransportError("away")

    ahead = KeysAhead(share, clock, lead=timedelta(minutes=10), per_second=100)
    ahead.prepare([RoomID("!gone:x")], by=clock.now - timedelta(seconds=1))
    ahead.prepare([RoomID("!flaky:x")], by=clock.now + timedelta(minutes=1))
    ahead.start()
    try:
        await wait_for(lambda: ahead.pending() == 0, "every room was settled")
        assert calls == ["!flaky:x"] * MAX_TRIES and ahead.shared == 0
    finally:
        await ahead.stop()
