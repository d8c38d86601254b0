"""The ghost chair and scheduled gatherings against a real Synapse, as a room meets them.

Gatherings are set to the minute (``YYYY-MM-DD HH:MM``), so a "few seconds ahead" gathering is
the next whole minute at least 15 s away: the test polls the clock (with a deadline) until it
passes, while the bot's own timer fires the job. Two bots run side by side, each in its own
room: one stays up and posts on time, then draws the opening roles and a speaking order through
the lottery feature (and a second gathering, cancelled, stays silent); the
other is stopped before the time and started after it, in an encrypted room, and posts exactly
once, marked late. A reminder counts as late only past a two-minute on-time window, so that bot
is started with its clock two minutes ahead of the real one rather than the test waiting longer.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bots.app import App
from bots.devclient import UserClient
from bots.devserver import Homeserver
from bots.ghostchair import GhostChairFeature
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import ask as command
from tests.e2e.helpers import body, next_minute, set_power

pytestmark = pytest.mark.e2e

Event = dict[str, Any]
CHAIR = "🪑"


async def until_past(instant: datetime, timeout: float = 120) -> None:
    """Poll the clock until ``instant`` has passed (a deadline, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while datetime.now(UTC) <= instant:
        assert time.monotonic() < deadline, "the clock did not reach the time"
        await asyncio.sleep(0.2)


def chairs(client: UserClient, room: str, bot: BotHarness) -> list[Event]:
    return [e for e in client.notices(room, bot.user_id) if body(e).startswith(CHAIR)]


def ghost_jobs(bot: BotHarness) -> list[str]:
    return [j for j in bot.runtime.scheduler.job_ids() if j.startswith("ghostchair:gathering-")]


def the_ghost_chair(bot: BotHarness) -> GhostChairFeature:
    """The bot's ghost-chair feature (built from the config through the feature registry)."""
    for f in bot.runtime.features:
        if isinstance(f, GhostChairFeature):
            return f
    raise AssertionError("the bot runs no ghost chair")


async def start_ahead(bot: BotHarness, ahead: timedelta) -> None:
    """Start the bot as BotHarness.start does, with its clock ``ahead`` of the real one."""
    bot.app = App(bot.config)
    await bot.app.start()
    real = bot.runtime.clock
    bot.runtime.clock = lambda: real() + ahead
    bot.task = asyncio.create_task(bot.app.run())
    await asyncio.wait_for(bot.runtime.ready.wait(), 60)


async def group(
    owner: UserClient,
    moderator: UserClient,
    bot: BotHarness,
    encrypted: bool,
    members: tuple[UserClient, ...] = (),
) -> str:
    """A room (version 12, the default) with the bot, its owner (a creator: implicit power),
    a moderator given power 50, and plain members."""
    room = await owner.create_room(
        "Assembly",
        [bot.user_id, moderator.user_id, *(m.user_id for m in members)],
        encrypted=encrypted,
    )
    for member in (moderator, *members):
        await member.join(room)
    await set_power(owner, room, moderator.user_id, 50)
    await owner.wait_joined(room, bot.user_id)
    return room


async def test_gatherings_fire_on_time_and_once_late_across_a_restart(
    synapse: Homeserver, tmp_path: Path
) -> None:
    steady = BotHarness(synapse, tmp_path / "steady", features=["ghostchair", "lottery"])
    restarted = BotHarness(synapse, tmp_path / "restarted", features=["ghostchair"])
    await asyncio.gather(steady.start(), restarted.start())
    alice, bob = await asyncio.gather(person(synapse, tmp_path), person(synapse, tmp_path))
    started = time.monotonic()
    try:
        plain = await group(alice, bob, steady, encrypted=False)
        secret = await group(alice, bob, restarted, encrypted=True)
        assert "facilitator" in await command(bob, plain, "!roles set facilitator")
        at, words = next_minute(at_least=20)
        reply = await command(bob, secret, f"!gathering at {words}")
        assert reply.startswith("Gathering #1: once"), reply
        # The restarted bot is down when the gathering begins.
        await restarted.stop()
        assert datetime.now(UTC) < at - timedelta(seconds=5), "too slow: the bot must be down first"
        reply = await command(bob, plain, f"!gathering at {words} draw")
        assert reply.startswith("Gathering #1: once") and "; draw." in reply, reply
        assert "speaking order" in reply
        reply = await command(bob, plain, f"!gathering at {words}")
        assert reply.startswith("Gathering #2"), reply
        assert (await command(bob, plain, "!gathering cancel 2")).startswith("Cancelled gathering #2")
        assert ghost_jobs(steady) == ["ghostchair:gathering-1"]

        # On time: the steady bot's own timer posts the reminder, at (not before) the minute.
        on_time = await bob.wait_for(
            lambda r, e: r == plain and e.get("sender") == steady.user_id and body(e).startswith(CHAIR),
            timeout=(at - datetime.now(UTC)).total_seconds() + 30,
        )
        assert int(on_time["origin_server_ts"]) >= at.timestamp() * 1000
        assert "Posted late" not in body(on_time)
        # Then, through the lottery feature: the draw's commitment and a speaking order.
        commitment = await bob.wait_for(
            lambda r, e: r == plain and e.get("sender") == steady.user_id and "Commitment:" in body(e)
        )
        assert "facilitator, among 2" in body(commitment)
        order = await bob.wait_for(
            lambda r, e: r == plain and e.get("sender") == steady.user_id and "Speaking order" in body(e)
        )
        assert alice.user_id in body(order) and bob.user_id in body(order)
        sequence = [e["event_id"] for r, e in bob.events if r == plain]
        assert (
            sequence.index(on_time["event_id"])
            < sequence.index(commitment["event_id"])
            < sequence.index(order["event_id"])
        )

        # Across a restart: the time has passed while the bot was away; it posts once, late.
        await until_past(at + timedelta(seconds=1))
        await start_ahead(restarted, timedelta(minutes=2))
        late = await bob.wait_readable(
            secret,
            lambda e: e.get("sender") == restarted.user_id and body(e).startswith(CHAIR),
            timeout=60,
        )
        assert "Posted late: the bot was away when the gathering began." in body(late)

        # Everything either bot would still send is before its answer to a ping (one outbox
        # per room, in order): then there is exactly one reminder in each room.
        for client_room, bot in ((plain, steady), (secret, restarted)):
            assert await command(bob, client_room, "!ping") == "pong"
            assert len(chairs(bob, client_room, bot)) == 1
            # A one-off gathering is deleted once held: nothing is listed, no job is left.
            assert (await command(bob, client_room, "!gathering list")).startswith("No gatherings")
            assert ghost_jobs(bot) == []
    finally:
        await asyncio.gather(alice.close(), bob.close())
        await asyncio.gather(steady.stop(), restarted.stop())
    print(f"ghost chair e2e: {time.monotonic() - started:.1f}s after setup")


async def test_bad_input_changes_nothing_and_cancel_removes_the_job(
    synapse: Homeserver, tmp_path: Path
) -> None:
    bot = BotHarness(synapse, tmp_path / "bot", features=["ghostchair"])
    await bot.start()
    alice, bob, carol = await asyncio.gather(
        person(synapse, tmp_path), person(synapse, tmp_path), person(synapse, tmp_path)
    )
    try:
        room = await group(alice, bob, bot, encrypted=True, members=(carol,))
        cases = {
            "!gathering every funday 25:00": "'funday' is not a weekday",
            "!gathering every tue 25:00": "'25:00' is not a time of day",
            "!gathering every tue 19:00 Mars/Phobos": "'Mars/Phobos' is not a time zone",
            "!gathering at 2020-01-01 10:00": "has already passed",
            "!gathering every tue 19:00 draw": "lottery feature, which is not enabled",
            "!gathering zone Nowhere/Land": "'Nowhere/Land' is not a time zone",
        }
        for text, expected in cases.items():
            assert expected in await command(bob, room, text), text
        assert (await command(bob, room, "!gathering list")).startswith("No gatherings")
        ghost = the_ghost_chair(bot)
        assert await ghost.gatherings.all() == [] and ghost_jobs(bot) == []
        assert "This room's zone is UTC" in await command(alice, room, "!gathering zone")

        reply = await command(bob, room, "!gathering every tue 19:00 Europe/Paris care 1h")
        assert reply.startswith("Gathering #1: every tuesday 19:00 Europe/Paris; care 1h"), reply
        assert "This room's zone is now Europe/Paris" in reply
        assert ghost_jobs(bot) == ["ghostchair:gathering-1"]
        assert "power level 50" in await command(carol, room, "!gathering cancel 1")
        assert ghost_jobs(bot) == ["ghostchair:gathering-1"]
        listing = await command(alice, room, "!gathering list")
        assert "#1: every tuesday 19:00 Europe/Paris; care 1h; next " in listing and " CE" in listing
        assert "Cancelled gathering #1" in await command(bob, room, "!gathering cancel 1")
        assert ghost_jobs(bot) == [] and await ghost.gatherings.all() == []
        assert (await command(alice, room, "!gathering list")).startswith("No gatherings")
        assert "no gathering #1" in await command(bob, room, "!gathering cancel 1")
        # The absent voices, in the same encrypted room.
        assert "is now also kept for the night-shift nurse" in await command(
            bob, room, "!ghost add the night-shift nurse"
        )
        assert (await command(carol, room, "!ghost now")).startswith(CHAIR)
        # The room's creator moderates by the power room version 12 gives creators.
        assert (await command(alice, room, "!ghost remove 1")).startswith("Removed ")
    finally:
        await asyncio.gather(alice.close(), bob.close(), carol.close())
        await bot.stop()


async def test_a_bot_kicked_out_forgets_the_room(synapse: Homeserver, tmp_path: Path) -> None:
    """Practice disappearance: once the room has shown the bot out, its gatherings stop and
    its absent voices are gone from the bot's database."""
    bot = BotHarness(synapse, tmp_path / "bot", features=["ghostchair"])
    await bot.start()
    alice, bob = await asyncio.gather(person(synapse, tmp_path), person(synapse, tmp_path))
    try:
        room = await group(alice, bob, bot, encrypted=False)
        assert (await command(alice, room, "!gathering every tue 19:00")).startswith("Gathering #")
        await command(alice, room, "!ghost add the night-shift nurse")
        ghost = the_ghost_chair(bot)
        assert len(await ghost.gatherings.in_room(room)) == 1 and ghost_jobs(bot)

        await alice.api(
            "POST", f"/_matrix/client/v3/rooms/{room}/kick", {"user_id": bot.user_id, "reason": "we are done"}
        )
        deadline = time.monotonic() + 30
        while await ghost.gatherings.in_room(room) or ghost_jobs(bot):
            assert time.monotonic() < deadline, "the bot still keeps the room's gatherings"
            await asyncio.sleep(0.2)
        row = await bot.runtime.db.fetchone("SELECT COUNT(*) FROM ghost_voice WHERE room_id = ?", (room,))
        assert row is not None and row[0] == 0
    finally:
        await asyncio.gather(alice.close(), bob.close())
        await bot.stop()
