"""Role lotteries against a real Synapse, as members meet them.

The commitment window, the mandate term and the cell rooms' sunset are configured down to
seconds, so the reveal, the reminder, the expiry and the sunset all run on the bot's own
scheduler; the tests poll for the expected events with deadlines.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bots.devclient import UserClient
from bots.devserver import Homeserver
from protocols.lottery import PublishedDraw, verify
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import ask, body, react, set_power

pytestmark = pytest.mark.e2e


def fast(**lottery: str) -> dict[str, Any]:
    return {"features": {"lottery": {"commit_window": "6s", **lottery}}}


def from_bot(bot: BotHarness, room: str, needle: str) -> Any:
    return lambda r, e: r == room and e.get("sender") == bot.user_id and needle in body(e)


async def group(
    synapse: Homeserver, tmp_path: Path, bot: BotHarness, size: int, encrypted: bool
) -> tuple[str, list[UserClient]]:
    """A room made by the first person, with the bot and everyone joined; the second person
    is a moderator (50). Not the creator: in room version 12 a creator's power is implicit."""
    people = list(await asyncio.gather(*(person(synapse, tmp_path) for _ in range(size))))
    room = await people[0].create_room(
        "Marshals", [bot.user_id, *(p.user_id for p in people[1:])], encrypted=encrypted
    )
    await asyncio.gather(*(p.join(room) for p in people[1:]))
    await set_power(people[0], room, people[1].user_id, 50)
    await people[0].wait_joined(room, bot.user_id)
    for p in people:
        await p.wait_joined(room, p.user_id)
    return room, people


async def test_an_encrypted_room_draws_verifies_and_a_mandate_expires(
    synapse: Homeserver, tmp_path: Path
) -> None:
    bot = BotHarness(synapse, tmp_path / "bot", ["lottery"], extra=fast(default_term="10s"))
    await bot.start()
    room, people = await group(synapse, tmp_path, bot, 3, encrypted=True)
    ana, ben, chi = people
    try:
        # Bad input: a clear error, and nothing changes.
        assert "power level 50" in await ask(chi, room, "!roles set care")
        assert "not a duration" in await ask(ben, room, "!roles term -1d")
        assert "'dancing' is not a role here" in await ask(chi, room, "!draw dancing")
        assert "write the smaller first" in await ask(chi, room, "!cells 9-3")
        assert "facilitator: vacant" in await ask(chi, room, "!roles")

        assert "care, facilitator" in await ask(ben, room, "!roles set care facilitator")
        draw = await chi.send_text(room, "!draw")
        commit = await chi.wait_reply(room, draw)
        match = re.search(r"Draw (\w+): care, facilitator, among 3", body(commit))
        assert match, body(commit)
        draw_id = match.group(1)
        assert bot.user_id not in body(commit)
        posted = re.search(r"Commitment: ([0-9a-f]{64})", body(commit))
        assert posted
        # Chance from members: a reaction and a reply to the commitment.
        reaction = await react(ana, room, commit["event_id"])
        reply = await ben.send_text(
            room, "for luck", {"m.relates_to": {"m.in_reply_to": {"event_id": commit["event_id"]}}}
        )

        result = await ana.wait_for(from_bot(bot, room, f"Draw {draw_id} result"), timeout=30)
        assert "2 contributions" in body(result), body(result)
        holders = dict(re.findall(r"(care|facilitator) → (@\S+) \(until", body(result)))
        assert set(holders) == {"care", "facilitator"} and len(set(holders.values())) == 2
        assert set(holders.values()) <= {p.user_id for p in people}

        checked = await ask(chi, room, f"!verify {draw_id}")
        assert f"Draw {draw_id} checks out" in checked
        published = PublishedDraw.from_json(json.loads(checked.splitlines()[-1]))
        assert verify(published) and published.commitment == posted.group(1)
        assert set(published.contributions) == {reaction, reply}
        assert published.seed.hex() in body(result)
        assert list(published.inputs.pool) == sorted(p.user_id for p in people)

        # The term is 10 s: the holders are reminded, then the roles fall vacant by themselves.
        await ana.wait_for(from_bot(bot, room, "your mandate as care ends"), timeout=30)
        vacancy = await ana.wait_for(from_bot(bot, room, "vacant now"), timeout=30)
        assert "care" in body(vacancy) and "facilitator" in body(vacancy)
        assert "care: vacant" in await ask(chi, room, "!roles")
    finally:
        for p in people:
            await p.close()
        await bot.stop()


async def test_a_restart_between_commitment_and_reveal_still_reveals_it(
    synapse: Homeserver, tmp_path: Path
) -> None:
    bot = BotHarness(synapse, tmp_path / "bot", ["lottery"], extra=fast(commit_window="15s"))
    await bot.start()
    room, people = await group(synapse, tmp_path, bot, 3, encrypted=False)
    ana, ben, chi = people
    try:
        draw = await chi.send_text(room, "!draw care")
        commit = await chi.wait_reply(room, draw)
        draw_id = re.search(r"Draw (\w+)", body(commit)).group(1)  # type: ignore[union-attr]
        posted = re.search(r"Commitment: ([0-9a-f]{64})", body(commit)).group(1)  # type: ignore[union-attr]
        reaction = await react(ana, room, commit["event_id"])
        db = bot.runtime.db
        for _ in range(100):  # the bot has taken the contribution in
            row = await db.fetchone("SELECT COUNT(*) FROM lottery_contribution")
            if row[0]:
                break
            await asyncio.sleep(0.1)
        assert row[0] == 1
        database = Path(db.path)
        await bot.crash()  # before the window closes: the reveal job dies with the process
        # A copy of the database taken now, in the window (the file, its WAL, its index).
        copy = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*") if p.is_file())

        await bot.start()  # the job is rebuilt from the table and reveals what was committed
        result = await ben.wait_for(from_bot(bot, room, f"Draw {draw_id} result"), timeout=45)
        assert (
            "1 contribution " in body(result)
            and result["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == commit["event_id"]
        )
        checked = await ask(chi, room, f"!verify {draw_id}")
        published = PublishedDraw.from_json(json.loads(checked.splitlines()[-1]))
        assert verify(published) and published.commitment == posted and published.contributions == (reaction,)
        assert published.seed.hex() in body(result)
        # The seed was sealed: the copy taken in the window could not have aimed a reaction.
        assert published.seed not in copy and published.seed.hex().encode() not in copy
        # Revealed once: a second restart posts nothing more.
        await bot.stop()
        await bot.start()
        await ask(chi, room, "!roles")
        assert len([e for e in chi.notices(room, bot.user_id) if f"Draw {draw_id} result" in body(e)]) == 1
    finally:
        for p in people:
            await p.close()
        await bot.stop()


async def test_cells_with_rooms_invite_and_sunset(synapse: Homeserver, tmp_path: Path) -> None:
    bot = BotHarness(synapse, tmp_path / "bot", ["lottery"], extra=fast(cell_room_sunset="12s"))
    await bot.start()
    room, people = await group(synapse, tmp_path, bot, 4, encrypted=False)
    moderator = people[1]
    try:
        assert "power level 50" in await ask(people[2], room, "!cells 2-2 rooms")
        reply = await ask(moderator, room, "!cells 2-2 rooms", timeout=60)
        assert "Each cell has its own room now" in reply, reply
        cells = [line for line in reply.splitlines() if line.strip().startswith("Cell ")]
        assert len(cells) == 2 and all(line.count("@") == 2 for line in cells)
        # Every member is invited to exactly one new room, and joins it.
        deadline = asyncio.get_running_loop().time() + 30
        while any(not [r for r in p.invites if r != room] for p in people):
            assert asyncio.get_running_loop().time() < deadline, "invitations did not arrive"
            await asyncio.sleep(0.2)
        invited = {p.user_id: [r for r in p.invites if r != room] for p in people}
        assert all(len(rooms) == 1 for rooms in invited.values())
        cell_rooms = {rooms[0] for rooms in invited.values()}
        assert len(cell_rooms) == 2
        for p in people:
            await p.join(invited[p.user_id][0])
        for p in people:
            cell = invited[p.user_id][0]
            await p.wait_for(from_bot(bot, cell, "Welcome to cell"), timeout=30)
        # At the sunset: a closing note, then the bot leaves.
        for p in people:
            cell = invited[p.user_id][0]
            await p.wait_for(from_bot(bot, cell, "reached its sunset"), timeout=45)
            await p.wait_for(
                lambda r, e, c=cell: (
                    r == c
                    and e.get("type") == "m.room.member"
                    and e.get("state_key") == bot.user_id
                    and e.get("content", {}).get("membership") == "leave"
                ),
                timeout=30,
            )
        # Who was in them is forgotten; the rows stay a day, without members, for the daily cap.
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            row = await bot.runtime.db.fetchone(
                "SELECT COUNT(*) FROM lottery_cell_room WHERE closed_at IS NULL OR members != '[]'"
            )
            if row[0] == 0:
                break
            assert asyncio.get_running_loop().time() < deadline, "the closed cells were not forgotten"
            await asyncio.sleep(0.2)
    finally:
        for p in people:
            await p.close()
        await bot.stop()
