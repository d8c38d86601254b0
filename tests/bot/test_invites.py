"""Tier 2: invites. Allowed ones are joined, even when the first join is refused."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bots.runtime import membership as bot_module
from bots.runtime.errors import Forbidden
from bots.runtime.ids import RoomID
from tests.bot.fakes import BOT, ROOM, FakeBot, close, fake_bot, recorded
from tests.bot.test_core_commands import Echo

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


async def test_an_invite_to_a_room_the_bot_is_in_joins_it_again_with_a_reason_once(tmp_path: Path) -> None:
    # A second herald's invite that reached the homeserver after the bot joined: Synapse then
    # counts the bot as invited. A plain join would change nothing there; one with a reason does.
    bot = await fake_bot(tmp_path, [])
    try:
        await bot._on_invite(ROOM_B, invite_from(ALICE))
        first = await joined_ts(bot, ROOM_B)
        await bot._on_invite(ROOM_B, invite_from(ALICE))
        assert bot.fake.join_reasons == {ROOM_B: bot_module.REJOIN_REASON}
        assert await joined_ts(bot, ROOM_B) == first  # the same stay in the room, not a new one
        # Not twice in a process: a later invite gets the plain join of any invite.
        await bot._on_invite(ROOM_B, invite_from(ALICE))
        assert bot.fake.join_attempts == [ROOM_B] * 3 and len(bot.fake.join_reasons) == 1
    finally:
        await close(bot)


async def test_an_event_in_a_room_the_homeserver_refuses_to_show_is_handled_after_a_rejoin(
    tmp_path: Path,
) -> None:
    # The sync delivers the room's events while every read of the room is refused (the bot is
    # counted out of it): the bot joins again and then handles the event.
    bot = await fake_bot(tmp_path, [Echo], members=[ALICE])
    refused = [ROOM]
    real_load = bot._load_room

    async def load(room_id: RoomID) -> None:
        if room_id in refused:
            refused.remove(room_id)
            raise Forbidden("You aren't a member of the room", "M_FORBIDDEN", 403)
        await real_load(room_id)

    bot._load_room = load  # type: ignore[method-assign]
    try:
        # A room the bot does not believe it is in (removed from it) is never joined this way.
        gone = recorded("text", sender=ALICE, event_id="$gone")
        assert await bot.deliver(ROOM, gone) == [] and bot.fake.join_reasons == {}
        refused.append(ROOM)
        bot.joined_rooms.add(ROOM)
        [pong] = await bot.deliver(ROOM, recorded("text", sender=ALICE))
        assert pong.body == "pong" and bot.fake.join_reasons == {ROOM: bot_module.REJOIN_REASON}
    finally:
        await close(bot)
