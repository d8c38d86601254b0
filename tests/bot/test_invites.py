"""Tier 2: invites. Allowed ones are joined, even when the first join is refused."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bots.runtime import membership as bot_module
from bots.runtime.ids import RoomID
from tests.bot.fakes import BOT, FakeBot, close, fake_bot

ALICE = "@alice:test.example"
MALLORY = "@mallory:elsewhere.example"
ROOM_B = RoomID("!remote:test.example")


def invite_from(sender: str) -> Any:
    member = {
        "type": "m.room.member",
        "state_key": str(BOT),
        "sender": sender,
        "content": {"membership": "invite"},
    }
    return SimpleNamespace(invite_state=[SimpleNamespace(source=member)])


async def until(condition: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        await asyncio.sleep(0.02)


async def joined_ts(bot: FakeBot, room_id: str) -> int | None:
    return await bot._joined_ts(room_id)


async def test_an_allowed_invite_is_joined_at_once(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [])
    try:
        await bot._on_invite(ROOM_B, invite_from(ALICE))
        assert bot.fake.joined == [ROOM_B] and await joined_ts(bot, ROOM_B) is not None
    finally:
        await close(bot)


async def test_a_refused_join_is_tried_again_without_holding_up_the_sync(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [])
    try:
        # Over federation the invite can reach the bot before the inviting server stored it.
        bot.fake.join_refusals[ROOM_B] = 2
        started = time.monotonic()
        await bot._on_invite(ROOM_B, invite_from(ALICE))
        assert time.monotonic() - started < 0.5, "the sync loop waited for the retries"
        assert bot.fake.joined == []
        # The same invite seen again in a later sync does not start a second round of retries.
        await bot._on_invite(ROOM_B, invite_from(ALICE))
        await until(lambda: bot.fake.joined == [ROOM_B])
        assert bot.fake.join_attempts == [ROOM_B, ROOM_B, ROOM_B]
        assert await joined_ts(bot, ROOM_B) is not None
    finally:
        await close(bot)


async def test_retries_end_after_the_last_attempt(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(bot_module, "JOIN_ATTEMPTS", 3)
    bot = await fake_bot(tmp_path, [])
    try:
        bot.fake.join_refusals[ROOM_B] = 99
        await bot._on_invite(ROOM_B, invite_from(ALICE))
        await until(lambda: not bot._joining)
        assert bot.fake.join_attempts == [ROOM_B] * 3 and bot.fake.joined == []
        assert await joined_ts(bot, ROOM_B) is None
    finally:
        await close(bot)


async def test_an_invite_from_elsewhere_is_declined_and_never_joined(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [])
    try:
        await bot._on_invite(ROOM_B, invite_from(MALLORY))
        assert bot.fake.join_attempts == [] and bot.fake.left == [ROOM_B]
    finally:
        await close(bot)
