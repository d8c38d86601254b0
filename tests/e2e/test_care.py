"""Care rotas against a real Synapse, as a room meets them.

The bot's config allows short units (``short_units``, for tests and demos), so a rota turns
every 20 seconds instead of every week: the test sees turns, reminders, a swap and a restart
in about a minute. Everything is awaited by polling with a deadline.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bots.devclient import UserClient
from bots.devserver import Homeserver
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import ask, ask_event, body, react, until

pytestmark = pytest.mark.e2e

Event = dict[str, Any]
CARE = {
    "short_units": True,
    "remind_before": "15s",
    "flag_before": "5s",
    "turns_ahead": 3,
    "misfire_grace": "1h",
}
TURN = re.compile(r"dishes, turn (\d+): it is the turn of (\S+) now")


def turn_notices(client: UserClient, room: str, bot: BotHarness) -> list[tuple[int, str]]:
    found = []
    for event in client.notices(room, bot.user_id):
        match = TURN.search(body(event))
        if match:
            found.append((int(match.group(1)), match.group(2).rstrip(".")))
    return found


def dm_invites(client: UserClient, group: str) -> list[str]:
    return [r for r in client.invites if r != group]


async def sent_in(bot: BotHarness, room_id: str) -> bool:
    """Whether the bot's server holds a message of the bot's in the room."""
    data = await bot.runtime.matrix.api("GET", f"/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=10")
    return any(
        e.get("sender") == bot.user_id and e.get("type") in ("m.room.message", "m.room.encrypted")
        for e in data.get("chunk", [])
    )


async def accept_dm(client: UserClient, bot: BotHarness, group: str, timeout: float = 60) -> str:
    """Open the direct room the bot invited this person to once its reminder is in it, as a
    person would (joining at the instant the bot writes can hide that message from the
    person's server until the room's next event: a homeserver race, not the bot's)."""
    await until(lambda: bool(dm_invites(client, group)), f"{client.user_id} is invited to a DM", timeout)
    room = dm_invites(client, group)[0]
    await until(lambda: sent_in(bot, room), "the reminder is sent", timeout)
    await client.join(room)
    return room


async def test_a_rota_turns_reminds_swaps_by_reaction_skips_the_away_and_restarts_once(
    synapse: Homeserver, tmp_path: Path
) -> None:
    bot = BotHarness(synapse, tmp_path / "bot", features=["care"], extra={"features": {"care": CARE}})
    await bot.start()
    alice, bob, carol = await asyncio.gather(*(person(synapse, tmp_path) for _ in range(3)))
    started = time.monotonic()
    try:
        room = await alice.create_room("Kitchen", [bot.user_id, bob.user_id, carol.user_id])
        await asyncio.gather(bob.join(room), carol.join(room))
        await alice.wait_joined(room, bot.user_id)

        # Bad input: a clear error, nothing added.
        assert "not a recurrence I understand" in await ask(alice, room, "!rota add dishes whenever")
        assert "more than the pool can give" in await ask(
            alice, room, "!rota add dishes every 20 seconds size 9"
        )
        assert (await ask(alice, room, "!rota list")).startswith("No rotas here")

        reply = await ask(alice, room, "!rota add dishes every 20 seconds")
        assert reply.startswith("Rota dishes: every 20 seconds, 1 person a turn."), reply
        for member in (alice, bob, carol):
            assert "You are in the dishes rota" in await ask(member, room, "!rota join dishes")
        # Alice is away: skipped, and not held against her.
        assert (await ask(alice, room, "!rota away 1h")).startswith("You are away from dishes until")
        board = await ask(carol, room, "!rota show dishes")
        holders = [line.rsplit(": ", 1)[1] for line in board.splitlines() if line.startswith("• ")]
        assert len(holders) == 3 and alice.user_id not in holders, board
        assert {bob.user_id, carol.user_id} <= set(holders), board

        # Reminders by DM, before each turn, to the holder only.
        people = {bob.user_id: bob, carol.user_id: carol}
        first = people[holders[0]]
        dm = await accept_dm(first, bot, room)
        reminder = await first.wait_readable(dm, lambda e: "your dishes turn in" in body(e), timeout=60)
        assert reminder["sender"] == bot.user_id

        # A swap: the next holder asks, the other takes it with a reaction.
        await until(lambda: bool(turn_notices(bob, room, bot)), "a first turn is announced", 60)
        board = await ask(carol, room, "!rota show dishes")
        nxt = next(line.rsplit(": ", 1)[1] for line in board.splitlines() if line.startswith("• "))
        giver = people[nxt]
        taker = bob if giver is carol else carol
        today = datetime.now(UTC).date().isoformat()
        request = await ask_event(giver, room, f"!rota swap dishes {today}")
        assert body(request).startswith("Swap request #1:"), body(request)
        assert "is not yours" in await ask(alice, room, f"!rota swap dishes {today}")
        await react(taker, room, request["event_id"], "👍")
        taken = await bob.wait_for(
            lambda r, e: r == room and e.get("sender") == bot.user_id and " takes " in body(e), timeout=30
        )
        assert body(taken).startswith(f"{taker.user_id} takes {giver.user_id}'s dishes turn"), body(taken)

        # A restart across a turn: each turn is announced once, whatever the downtime.
        await until(lambda: len(turn_notices(bob, room, bot)) >= 2, "a second turn is announced", 60)
        await bot.stop()
        stopped = datetime.now(UTC)
        await until(
            lambda: datetime.now(UTC) > stopped + timedelta(seconds=21), "a turn passed while down", 60
        )
        count_before = len(turn_notices(bob, room, bot))
        await bot.start()
        await until(
            lambda: len(turn_notices(bob, room, bot)) > count_before, "the turn after the restart", 60
        )
        assert await ask(bob, room, "!ping") == "pong"
        numbers = [n for n, _ in turn_notices(bob, room, bot)]
        assert len(numbers) == len(set(numbers)), numbers
        # Alice was away from before the first turn began: no turn was hers.
        assert all(holder != alice.user_id for _, holder in turn_notices(bob, room, bot))
    finally:
        await asyncio.gather(alice.close(), bob.close(), carol.close())
        await bot.stop()
    print(f"care e2e: {time.monotonic() - started:.1f}s after setup")
