"""Legible everywhere, against a real Synapse: a room switched to Polish gets Polish replies and
Polish help; a gathering's "who is coming" poll, pinned while open, is answered by two clients in
an encrypted room, and its result is used (said, and the poll ended and unpinned); a coalition's
space lists its member rooms."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from bots.devserver import Homeserver
from bots.runtime import spaces
from bots.runtime.errors import NotFound
from bots.runtime.ids import RoomID
from bots.runtime.runtime_host import RuntimeHost
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import ask, set_power, until

pytestmark = pytest.mark.e2e

Event = dict[str, Any]


async def test_a_room_switched_to_polish_answers_and_helps_in_polish(
    synapse: Homeserver, core_bot: BotHarness, tmp_path: Path
) -> None:
    alice, bob = await asyncio.gather(person(synapse, tmp_path), person(synapse, tmp_path))
    try:
        room = await alice.create_room("Warszawa", [core_bot.user_id, bob.user_id], encrypted=True)
        await bob.join(room)
        await alice.wait_joined(room, core_bot.user_id)
        refused = await ask(bob, room, "!language pl")  # bob has no power here
        assert "needs power level 50" in refused
        unknown = await ask(alice, room, "!language tlh")
        assert unknown.startswith("'tlh' is not a language I speak") and "Nothing was changed." in unknown
        assert await ask(alice, room, "!language pl") == "Od teraz odpowiadam tutaj w języku: polski."
        assert (await ask(bob, room, "!pnig")).startswith("Nieznane polecenie !pnig. Czy chodziło o !ping?")
        listing = await ask(bob, room, "!help")
        assert "Podstawy:" in listing and "!ping — Sprawdź, czy bot działa" in listing
        assert (await ask(bob, room, "!language")).startswith("Tutaj odpowiadam w języku: polski.")
    finally:
        await asyncio.gather(alice.close(), bob.close())


def _pinned(state: Event) -> list[str]:
    return list(state.get("pinned") or [])


async def test_a_poll_answered_by_two_clients_is_counted_pinned_and_ended(
    synapse: Homeserver, tmp_path: Path
) -> None:
    bot = BotHarness(synapse, tmp_path / "bot", features=["ghostchair"])
    await bot.start()
    alice, bob = await asyncio.gather(person(synapse, tmp_path), person(synapse, tmp_path))
    try:
        room = await alice.create_room("Assembly", [bot.user_id, bob.user_id], encrypted=True)
        await bob.join(room)
        await alice.wait_joined(room, bot.user_id)
        await set_power(alice, room, bot.user_id, 50)  # the bot may pin
        reply = await ask(alice, room, "!gathering every friday 18:00 UTC")
        assert reply.startswith("Gathering #1"), reply
        asked = await alice.send_text(room, "!gathering poll 1")
        poll = await bob.wait_readable(room, lambda e: e.get("type") == "m.poll.start", timeout=60)
        content = poll["content"]["m.poll"]
        assert content["kind"] == "m.disclosed"
        assert [a["m.id"] for a in content["answers"]] == ["coming", "maybe", "not"]
        question = content["question"]["m.text"][0]["body"]
        assert re.fullmatch(
            r"Who is coming on \d{4}-\d\d-\d\d 18:00 UTC\? \(Your answer is visible to the room\.\)", question
        )
        path = f"/_matrix/client/v3/rooms/{room}/state/m.room.pinned_events/"
        await until(lambda: _has_pin(alice, path, poll["event_id"]), "the poll is pinned", timeout=30)
        assert asked  # the command itself gets no reply: the poll is the answer

        relates = {"rel_type": "m.reference", "event_id": poll["event_id"]}
        await alice.send(room, "m.poll.response", {"m.relates_to": relates, "m.selections": ["maybe"]})
        await alice.send(room, "m.poll.response", {"m.relates_to": relates, "m.selections": ["coming"]})
        await bob.send(room, "m.poll.response", {"m.relates_to": relates, "m.selections": ["coming"]})
        said = await ask(bob, room, "!gathering poll end 1", timeout=60)
        assert (
            said == "Gathering #1: 2 people are coming, 0 maybe, 0 not this time."
        )  # alice changed her mind
        ended = await alice.wait_readable(room, lambda e: e.get("type") == "m.poll.end", timeout=60)
        assert ended["content"]["m.relates_to"]["event_id"] == poll["event_id"]
        assert ended["content"]["m.poll.results"] == {"coming": 2, "maybe": 0, "not": 0}
        await until(
            lambda: _has_pin(alice, path, poll["event_id"], False), "the poll is unpinned", timeout=30
        )
        again = await ask(bob, room, "!gathering poll end 1")
        assert again.startswith("Gathering #1 has no poll open")
    finally:
        await asyncio.gather(alice.close(), bob.close())
        await bot.stop()


async def _has_pin(client: Any, path: str, event_id: str, wanted: bool = True) -> bool:
    try:
        state = await client.api("GET", path)
    except NotFound:  # no pinned events yet: the room has no such state until the first pin
        state = {}
    return (event_id in _pinned(state)) is wanted


async def test_a_coalition_space_lists_its_member_rooms(
    synapse: Homeserver, core_bot: BotHarness, tmp_path: Path
) -> None:
    alice = await person(synapse, tmp_path)
    try:
        rooms = [await alice.create_room(f"Member {n}", [core_bot.user_id]) for n in (1, 2)]
        for room in rooms:
            await alice.wait_joined(room, core_bot.user_id)
        await set_power(alice, rooms[0], core_bot.user_id, 100)  # the bot may name a parent here only
        host = RuntimeHost(core_bot.runtime, "spaces")
        space = await spaces.create_space(host, "Coalition")
        linked = [await spaces.link(host, space, RoomID(r)) for r in rooms]
        assert linked == [spaces.Linked(True, True), spaces.Linked(True, False)]
        await host.invite(space, alice.user_id)  # type: ignore[arg-type]
        await alice.join(space, history=False)
        hierarchy = await alice.api("GET", f"/_matrix/client/v1/rooms/{space}/hierarchy")
        children = {
            c["state_key"] for r in hierarchy["rooms"] if r["room_id"] == space for c in r["children_state"]
        }
        assert children == set(rooms)
        parent = await alice.api("GET", f"/_matrix/client/v3/rooms/{rooms[0]}/state/m.space.parent/{space}")
        assert parent["canonical"] is True
    finally:
        await alice.close()
