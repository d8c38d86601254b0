"""The skill-swap board against a real Synapse, as members meet it.

An ask meets an offer; both people are asked in encrypted direct chats the bot opens; only when
both say yes does each learn the other's name, and a refusal by either side (the offerer after
the asker said yes, or the asker first) reveals nothing to anyone. A role that requires a skill
is drawn only among its holders (with a shadow drawn beside the holder).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest

from bots.devclient import UserClient
from bots.devserver import Homeserver
from protocols.lottery import PublishedDraw, verify
from tests.e2e.harness import BotHarness
from tests.e2e.helpers import ask, body
from tests.e2e.test_lottery import from_bot, group

pytestmark = pytest.mark.e2e

Event = dict[str, object]


async def dm_with_bot(person: UserClient, bot: BotHarness, group_room: str, timeout: float = 30) -> str:
    """The direct chat the bot opened with ``person`` (joined once the bot has written in it)."""
    deadline = time.monotonic() + timeout

    def opened() -> list[str]:
        return [r for r in person.invites if r != group_room]

    while not opened() and time.monotonic() < deadline:
        await person.wait_new(1)
    assert opened(), "the bot opened no direct chat"
    room = opened()[-1]
    while time.monotonic() < deadline:
        data = await bot.runtime.matrix.api("GET", f"/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=10")
        if any(e.get("sender") == bot.user_id and e.get("type") == "m.room.encrypted" for e in data["chunk"]):
            break
        await asyncio.sleep(0.2)
    await person.join(room)
    return room


async def readable(person: UserClient, bot: BotHarness, room: str, needle: str) -> str:
    event = await person.wait_readable(room, lambda e: e.get("sender") == bot.user_id and needle in body(e))
    return body(event)


def texts_in(person: UserClient, room: str) -> str:
    return "\n".join(body(e) + str(e.get("content", {})) for r, e in person.events if r == room)


async def test_an_ask_meets_an_offer_and_names_travel_only_after_two_yeses(
    synapse: Homeserver, tmp_path: Path
) -> None:
    bot = BotHarness(synapse, tmp_path / "bot", ["lottery", "skills"])
    await bot.start()
    room, people = await group(synapse, tmp_path, bot, 3, encrypted=False)
    ana, ben, chi = people
    try:
        assert "Name a skill" in await ask(ben, room, "!offer ---")
        assert "a note is at most 280" in await ask(ben, room, "!offer first-aid " + "x" * 3_000)
        assert "limited to 4,000 characters" in await ask(ben, room, "!offer first-aid " + "x" * 5_000)
        assert "Nothing on the board yet" in await ask(chi, room, "!skills")
        assert "your offer of first-aid" in await ask(ben, room, "!offer first-aid weekends")
        asked = await ask(chi, room, "!ask first aid")
        assert "your ask of first-aid" in asked and "meets 1 offer" in asked

        ben_dm, chi_dm = await asyncio.gather(dm_with_bot(ben, bot, room), dm_with_bot(chi, bot, room))
        to_ben = await readable(ben, bot, ben_dm, "asks for first-aid")
        to_chi = await readable(chi, bot, chi_dm, "offers first-aid")
        assert "weekends" in to_chi
        assert chi.user_id not in to_ben and ben.user_id not in to_chi  # no name yet
        found = re.search(r"match (\d+)", to_ben)
        assert found
        match = found.group(1)

        await chi.send_text(chi_dm, f"!swap yes {match}")
        assert ben.user_id not in await readable(chi, bot, chi_dm, "When the other side says yes too")
        await ben.send_text(ben_dm, f"!swap yes {match}")
        intro_ben = await readable(ben, bot, ben_dm, "you both said yes")
        intro_chi = await readable(chi, bot, chi_dm, "you both said yes")
        assert chi.user_id in intro_ben and ben.user_id in intro_chi

        # A refusal: Ana asks, Chi offers; Ana says yes, Chi says no. Nobody learns a name.
        await ask(ana, room, "!ask bookkeeping")
        await ask(chi, room, "!offer bookkeeping")
        ana_dm = await dm_with_bot(ana, bot, room)
        to_ana = await readable(ana, bot, ana_dm, "offers bookkeeping")
        second = re.search(r"match (\d+)", to_ana)
        assert second
        await readable(chi, bot, chi_dm, f"match {second.group(1)}")
        await ana.send_text(ana_dm, f"!swap yes {second.group(1)}")
        await readable(ana, bot, ana_dm, "When the other side says yes too")
        await chi.send_text(chi_dm, f"!swap no {second.group(1)}")
        await readable(chi, bot, chi_dm, "Nobody learns your name")
        await readable(ana, bot, ana_dm, "did not go ahead")
        assert chi.user_id not in texts_in(ana, ana_dm)
        chi_after = texts_in(chi, chi_dm).split(f"match {second.group(1)}", 1)[1]
        assert ana.user_id not in chi_after

        # A refusal by the asker, before the other side answered: Ben asks, Ana offers, Ben says
        # no. Ana hears only that it did not go ahead; neither learns who the other was.
        await ask(ben, room, "!ask translation")
        await ask(ana, room, "!offer translations")
        to_ben_3 = await readable(ben, bot, ben_dm, "offers translation")
        third = re.search(r"match (\d+)", to_ben_3)
        assert third
        await readable(ana, bot, ana_dm, f"match {third.group(1)}")
        await ben.send_text(ben_dm, f"!swap no {third.group(1)}")
        assert ana.user_id not in await readable(ben, bot, ben_dm, "Nobody learns your name")
        await readable(ana, bot, ana_dm, "this match about translation did not go ahead")
        assert ben.user_id not in texts_in(ana, ana_dm)
        assert ana.user_id not in texts_in(ben, ben_dm)
    finally:
        for p in people:
            await p.close()
        await bot.stop()


async def test_a_role_that_requires_a_skill_draws_only_its_holders(
    synapse: Homeserver, tmp_path: Path
) -> None:
    extra = {"features": {"lottery": {"commit_window": "6s"}}}
    bot = BotHarness(synapse, tmp_path / "bot", ["lottery", "skills"], extra=extra)
    await bot.start()
    room, people = await group(synapse, tmp_path, bot, 4, encrypted=True)
    ana, ben, chi, dev = people
    try:
        assert "care, liaison" in await ask(ben, room, "!roles set care liaison")
        await ask(dev, room, "!offer first-aid")
        required = await ask(ben, room, "!roles require care first aid")
        assert (
            "Nobody here holds first-aid yet" in required and f"Who could teach it: {dev.user_id}" in required
        )
        empty = await ask(chi, room, "!draw care")
        assert (
            "Nobody in the pool holds first-aid" in empty
            and dev.user_id in empty
            and "Nothing was drawn" in empty
        )
        assert "Recorded: you hold first-aid" in await ask(chi, room, "!learned first-aid")
        assert "Recorded" in await ask(ana, room, "!learned First Aid")

        commit = await ask(ben, room, "!draw care shadow")
        found = re.search(r"Draw (\w+): care", commit)
        assert found, commit
        draw_id = found.group(1)
        assert "care only among the 2 who hold its skill" in commit and "with a shadow for care" in commit
        result = body(await ben.wait_for(from_bot(bot, room, f"Draw {draw_id} result"), timeout=45))
        holder = re.search(r"care → (@\S+) \(until", result)
        shadow = re.search(r"shadow: (@\S+) \(beside", result)
        assert holder and shadow, result
        assert holder.group(1) in (ana.user_id, chi.user_id)  # only the holders of first-aid
        assert shadow.group(1) != holder.group(1)
        checked = await ask(dev, room, f"!verify {draw_id}")
        assert f"Draw {draw_id} checks out" in checked
        published = PublishedDraw.from_json(json.loads(checked.splitlines()[-1]))
        assert verify(published) and published.inputs.eligible["care"] == tuple(
            sorted([ana.user_id, chi.user_id])
        )
        assert published.assignment.shadow("care") == shadow.group(1)
        roles = await ask(dev, room, "!roles")
        assert (
            f"care (needs first-aid): {holder.group(1)} until" in roles
            and f"shadowed by {shadow.group(1)}" in roles
        )
    finally:
        for p in people:
            await p.close()
        await bot.stop()
