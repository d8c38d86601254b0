"""Handovers and scheduled reshuffles against a real Synapse, as people meet them.

A handover: the holder of a drawn role is asked by DM, answers there, releases the role; the
next holder drawn gets the note by DM, and nobody else sees it. A reshuffle every 30 seconds
(short units are allowed in this bot's config, for tests): the first boundary opens a room per
cell, the next one posts a closing note in those rooms, leaves them, and opens new ones, with
people who met kept apart.
"""

from __future__ import annotations

import asyncio
import time
from itertools import combinations
from pathlib import Path

import pytest

from bots.care import CareFeature
from bots.devclient import UserClient
from bots.devserver import Homeserver
from bots.lottery.feature import LotteryFeature
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import ask, body, react, until
from tests.e2e.test_care import accept_dm, dm_invites

pytestmark = pytest.mark.e2e

NOTE = "The keys are under the blue mat."


def care_of(bot: BotHarness) -> CareFeature:
    for f in bot.runtime.features:
        if isinstance(f, CareFeature):
            return f
    raise AssertionError("the bot runs no care feature")


async def holder_of(bot: BotHarness, room: str, role: str) -> str | None:
    lottery = care_of(bot).host.peer(LotteryFeature)
    assert lottery is not None
    mandate = await lottery.mandates.get(room, role)
    return None if mandate is None else mandate.holder


async def test_a_handover_note_reaches_only_the_next_holder(synapse: Homeserver, tmp_path: Path) -> None:
    extra = {
        "features": {
            "lottery": {"commit_window": "5s"},
            "care": {"handover_check": "1s", "handover_ask_before": "30d"},
        }
    }
    bot = BotHarness(synapse, tmp_path / "bot", features=["care", "lottery"], extra=extra)
    await bot.start()
    alice, bob, carol = await asyncio.gather(*(person(synapse, tmp_path) for _ in range(3)))
    people = {p.user_id: p for p in (alice, bob, carol)}
    started = time.monotonic()
    try:
        room = await alice.create_room("Assembly", [bot.user_id, bob.user_id, carol.user_id])
        await asyncio.gather(bob.join(room), carol.join(room))
        await alice.wait_joined(room, bot.user_id)
        assert "facilitator" in await ask(alice, room, "!roles set facilitator")
        assert "direct message" in await ask(alice, room, "!handover facilitator not here")
        await ask(alice, room, "!draw")
        await until(lambda: _other_holder(bot, room, ""), "the first draw", 60)
        first = people[str(await holder_of(bot, room, "facilitator"))]

        # Asked by DM; the answer, written there, is kept.
        dm = await accept_dm(first, bot, room)
        await first.wait_readable(dm, lambda e: "What does the next person need" in body(e), timeout=60)
        await first.send_text(dm, NOTE)
        await first.wait_readable(dm, lambda e: "Kept your facilitator handover note" in body(e), timeout=60)

        # The holder hands the role back and steps back; the next draw picks someone else.
        assert "You released facilitator" in await ask(first, room, "!release facilitator")
        await ask(first, room, "!stepback")
        await ask(alice if first is not alice else bob, room, "!draw")
        await until(
            lambda: _other_holder(bot, room, first.user_id), "the second draw gives the role to another", 60
        )
        second = people[str(await holder_of(bot, room, "facilitator"))]
        third = next(p for p in people.values() if p not in (first, second))
        dm2 = await accept_dm(second, bot, room)
        note = await second.wait_readable(dm2, lambda e: NOTE in body(e), timeout=60)
        assert note["sender"] == bot.user_id and "previous facilitator" in body(note)
        # Only there: not in the room, not to the third person.
        assert await ask(alice, room, "!ping") == "pong"
        assert not [
            e for r, e in alice.events if r == room and NOTE in body(e) and e.get("sender") == bot.user_id
        ]
        assert not [e for _r, e in third.events if NOTE in body(e)]
        assert not [r for r in await bot.runtime.db.fetchall("SELECT note FROM care_handover") if r[0]]

        # Read: the next holder reacts to the note, and the bot deletes (redacts) it at once.
        assert "React to this message once you have read it" in body(note)
        await react(second, dm2, note["event_id"], "👍")

        async def note_redacted() -> bool:
            event = await second.api("GET", f"/_matrix/client/v3/rooms/{dm2}/event/{note['event_id']}")
            return not event.get("content") and "redacted_because" in event.get("unsigned", {})

        await until(note_redacted, "the note read is redacted", 30)
    finally:
        await asyncio.gather(alice.close(), bob.close(), carol.close())
        await bot.stop()
    print(f"handover e2e: {time.monotonic() - started:.1f}s after setup")


async def _other_holder(bot: BotHarness, room: str, first: str) -> bool:
    holder = await holder_of(bot, room, "facilitator")
    return holder is not None and holder != first


async def generation_of(bot: BotHarness, room: str, generation: int) -> list[tuple[str, ...]]:
    """The members of each cell of that generation, as the bot recorded them."""
    cells = care_of(bot).cell_schedules
    stored = await cells.in_room(room)
    assert stored is not None
    return [c.members for c in await cells.cells(stored.id) if c.generation == generation]


def pairs(cells: list[tuple[str, ...]]) -> set[frozenset[str]]:
    return {frozenset(p) for cell in cells for p in combinations(cell, 2)}


def cell_invites(client: UserClient, group: str) -> list[str]:
    return dm_invites(client, group)


async def test_a_reshuffle_closes_old_cell_rooms_and_opens_new_ones(
    synapse: Homeserver, tmp_path: Path
) -> None:
    bot = BotHarness(
        synapse,
        tmp_path / "bot",
        features=["care", "lottery"],
        extra={"features": {"care": {"short_units": True}}},
    )
    await bot.start()
    alice, bob, carol, dave = await asyncio.gather(*(person(synapse, tmp_path) for _ in range(4)))
    started = time.monotonic()
    try:
        room = await alice.create_room("Network", [bot.user_id, bob.user_id, carol.user_id, dave.user_id])
        await asyncio.gather(bob.join(room), carol.join(room), dave.join(room))
        await alice.wait_joined(room, bot.user_id)
        assert "not a recurrence" in await ask(alice, room, "!cells every sometimes 2-2 rooms")
        assert (await ask(alice, room, "!cells schedule")).startswith("This room does not reshuffle")
        reply = await ask(alice, room, "!cells every 30 seconds 2-2 rooms")
        assert reply.startswith("Cells reshuffle every 30 seconds, cells of 2-2, each with its own room"), (
            reply
        )

        # The first boundary: a room per cell; Alice is invited to hers and joins it.
        await until(lambda: bool(cell_invites(alice, room)), "Alice is invited to her first cell", 60)
        first_cell = cell_invites(alice, room)[0]
        first_generation = await generation_of(bot, room, 1)
        assert sorted(len(c) for c in first_generation) == [2, 2], first_generation
        await alice.join(first_cell)
        # Something that serves the cell room: a rota, forgotten when the bot leaves the room.
        assert (await ask(alice, first_cell, "!rota add tea every 2 minutes")).startswith("Rota tea")

        # The next boundary: a closing note there, the bot leaves it, and a new cell room opens.
        closing = await alice.wait_readable(
            first_cell, lambda e: "closes: a new generation" in body(e), timeout=60
        )
        assert closing["sender"] == bot.user_id
        await until(lambda: len(cell_invites(alice, room)) >= 2, "Alice is invited to her next cell", 60)

        async def bot_left() -> bool:
            joined = await alice.api("GET", f"/_matrix/client/v3/rooms/{first_cell}/joined_members")
            return bot.user_id not in joined.get("joined", {})

        await until(bot_left, "the bot left the old cell room", 30)

        async def forgotten() -> bool:
            rows = await bot.runtime.db.fetchall("SELECT id FROM care_rota WHERE room_id = ?", (first_cell,))
            return not rows

        await until(forgotten, "the old cell room's rota is forgotten", 30)
        # The new cells keep apart the pairs who met in the first generation.
        second_generation = await generation_of(bot, room, 2)
        assert sorted(len(c) for c in second_generation) == [2, 2], second_generation
        assert not pairs(first_generation) & pairs(second_generation), (first_generation, second_generation)
        shown = await ask(alice, room, "!cells schedule")
        assert "Generation" in shown and "Next reshuffle" in shown
        assert (await ask(alice, room, "!cells stop")).startswith("Stopped reshuffling")
    finally:
        await asyncio.gather(alice.close(), bob.close(), carol.close(), dave.close())
        await bot.stop()
    print(f"reshuffle e2e: {time.monotonic() - started:.1f}s after setup")
