"""The herald's native affordances against a real Synapse, read as a client reads them.

A run's phase is pinned in each member room (``m.room.pinned_events``, where the room gave the
bot the power), beside a pin a person set, and comes down when the run is stood down, leaving the
person's pin. ``!coalition space`` makes the coalition a space: its ``/hierarchy`` lists the
member rooms, each names the space as its parent where the bot may, a member of a member room
joins it without an invitation, and a room that leaves the coalition leaves the space.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bots.devclient import UserClient
from bots.devserver import Homeserver
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import ask, set_power, until

pytestmark = pytest.mark.e2e


def _pins_path(room: str) -> str:
    return f"/_matrix/client/v3/rooms/{room}/state/m.room.pinned_events/"


async def pinned(client: UserClient, room: str) -> list[str]:
    try:
        state = await client.api("GET", _pins_path(room))
    except Exception:  # no pin was ever set: M_NOT_FOUND
        return []
    return list(state.get("pinned") or [])


async def children(client: UserClient, space: str) -> set[str]:
    """The rooms a space lists, as a client browsing it reads them."""
    found = await client.api("GET", f"/_matrix/client/v1/rooms/{space}/hierarchy?max_depth=1")
    return {
        c["state_key"]
        for r in found["rooms"]
        if r["room_id"] == space
        for c in r["children_state"]
        if c.get("content", {}).get("via")
    }


def herald_of(bot: BotHarness) -> Any:
    from bots.herald import HeraldFeature

    return next(f for f in bot.runtime.features if isinstance(f, HeraldFeature))


async def test_a_pinned_phase_comes_down_with_the_run_and_the_coalition_is_a_space(
    synapse: Homeserver, tmp_path: Path
) -> None:
    bot = BotHarness(synapse, tmp_path / "bot", features=["herald"])
    await bot.start()
    alice, bob = await asyncio.gather(person(synapse, tmp_path), person(synapse, tmp_path))
    try:
        coord = await alice.create_room("Coordination", [bot.user_id])
        member = await bob.create_room("Lyon group", [bot.user_id], encrypted=True)
        await asyncio.gather(alice.wait_joined(coord, bot.user_id), bob.wait_joined(member, bot.user_id))
        await asyncio.gather(set_power(alice, coord, bot.user_id), set_power(bob, member, bot.user_id))
        own = await bob.send_text(member, "Our banner design, pinned by us")
        await bob.api("PUT", _pins_path(member), {"pinned": [own]})

        name = f"spring{secrets.token_hex(3)}"
        assert "coordinates it" in await ask(alice, coord, f"!coalition create {name}")
        token = re.search(r"cj-[a-z2-7]{32}", await ask(alice, coord, "!coalition invite"))
        assert token, "no invitation token"
        assert "joined coalition" in await ask(bob, member, f"!coalition join {token.group(0)}")

        # A run whose first phase is due now: it is pinned in both rooms, beside bob's pin.
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        plan = await ask(alice, coord, f"!protocol start rapid-response at {now}")
        run = re.search(r"Plan (\w+):", plan)
        assert run, plan
        assert "confirmed" in await ask(alice, coord, f"!protocol confirm {run.group(1)}")
        herald = herald_of(bot)

        async def call_event(room: str) -> str | None:
            for d in await herald.runs.deliveries(run.group(1)):
                if d.room_id == room and d.phase_key == "call" and d.event_id:
                    return str(d.event_id)
            return None

        async def call_pinned() -> bool:
            ids = [await call_event(coord), await call_event(member)]
            return (
                None not in ids
                and await pinned(bob, member) == [ids[1], own]
                and await pinned(alice, coord) == [ids[0]]
            )

        await until(call_pinned, "the call-out is pinned in both rooms", timeout=45)
        sent = await bob.api("GET", f"/_matrix/client/v3/rooms/{member}/event/{await call_event(member)}")
        assert sent["sender"] == bot.user_id

        # Stood down: the run's pins come down, bob's stays.
        assert "cancelled" in await ask(alice, coord, f"!protocol cancel {run.group(1)} rain")

        async def unpinned() -> bool:
            return await pinned(bob, member) == [own] and await pinned(alice, coord) == []

        await until(unpinned, "the run's pins come down", timeout=45)

        # The coalition as a space: listed, linked, joinable by a member of a member room.
        made = await ask(alice, coord, "!coalition space")
        assert "listing its 2 rooms" in made and "could not be linked" not in made, made
        link = re.search(r"https://matrix\.to/#/(![^\s)]+)", made)
        assert link, made
        space = link.group(1)
        await alice.join(space, history=False)  # alice was invited
        assert await children(alice, space) == {coord, member}
        await bob.join(space, history=False)  # no invitation: bob is in a member room
        parent = await bob.api("GET", f"/_matrix/client/v3/rooms/{member}/state/m.space.parent/{space}")
        assert parent["canonical"] is True and parent["via"]

        # The space follows the coalition: the member room leaves, and the space lets it go.
        assert "left coalition" in await ask(bob, member, "!coalition leave")

        async def left() -> bool:
            return await children(bob, space) == {coord}

        await until(left, "the room that left is out of the space", timeout=30)
    finally:
        await asyncio.gather(alice.close(), bob.close())
        await bot.stop()
