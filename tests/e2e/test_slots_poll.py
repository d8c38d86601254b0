"""A day of action's slot poll against a real Synapse, in an encrypted room: the bot offers the
room's open slots as a poll, two clients answer it (one changes her mind), and closing it claims
the slots they chose (the result is said, the poll ended with the counts, and ``!slot`` shows the
holders). The run comes from the tests' stand-in herald (tests/bot/dayofaction_stub.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bots.dayofaction.herald_port import RunSpec
from bots.devserver import Homeserver
from tests.bot.dayofaction_stub import StubHerald, run_info, stub_of
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import ask

pytestmark = pytest.mark.e2e


async def test_a_slot_poll_answered_by_two_clients_claims_their_slots(
    synapse: Homeserver, tmp_path: Path
) -> None:
    bot = BotHarness(synapse, tmp_path / "bot", ["tests.bot.dayofaction_stub", "slots"])
    await bot.start()
    alice, bob = await asyncio.gather(person(synapse, tmp_path), person(synapse, tmp_path))
    try:
        room = await alice.create_room("Harbour", [bot.user_id, bob.user_id], encrypted=True)
        await bob.join(room)
        await alice.wait_joined(room, bot.user_id)
        now = datetime.now(UTC)
        stub: StubHerald = stub_of(bot.runtime.features)
        stub.add_run(
            run_info("r1", now + timedelta(days=1), now + timedelta(days=2), [room], []),
            RunSpec(("Marshal: 1", "Medic: 1", "Cook: 1", "Water for everyone")),
        )
        assert "You hold a place as cook" in await ask(alice, room, "!slot claim cook", timeout=60)
        told = await ask(alice, room, "!slot poll", timeout=60)
        assert told.startswith("Answer in the poll"), told
        poll = await bob.wait_readable(room, lambda e: e.get("type") == "m.poll.start", timeout=60)
        content = poll["content"]["m.poll"]
        assert [a["m.id"] for a in content["answers"]] == ["marshal", "medic"]
        assert content["question"]["m.text"][0]["body"].startswith("Which slot do you take in run r1?")

        relates = {"rel_type": "m.reference", "event_id": poll["event_id"]}
        await alice.send(room, "m.poll.response", {"m.relates_to": relates, "m.selections": ["medic"]})
        await alice.send(room, "m.poll.response", {"m.relates_to": relates, "m.selections": ["marshal"]})
        await bob.send(room, "m.poll.response", {"m.relates_to": relates, "m.selections": ["medic"]})
        said = await ask(bob, room, "!slot poll end", timeout=60)
        assert said.startswith("The slot poll of run r1 is closed:"), said
        assert f"{alice.user_id}: holds a place as marshal" in said  # her latest answer counts
        assert f"{bob.user_id}: holds a place as medic" in said
        ended = await alice.wait_readable(room, lambda e: e.get("type") == "m.poll.end", timeout=60)
        assert ended["content"]["m.relates_to"]["event_id"] == poll["event_id"]
        assert ended["content"]["m.poll.results"] == {"marshal": 1, "medic": 1}
        listed = await ask(bob, room, "!slot")
        assert f"marshal: 1 of 1 ({alice.user_id})" in listed and f"medic: 1 of 1 ({bob.user_id})" in listed
        assert "has no slot poll open here" in await ask(bob, room, "!slot poll end")
    finally:
        await asyncio.gather(alice.close(), bob.close())
        await bot.stop()
