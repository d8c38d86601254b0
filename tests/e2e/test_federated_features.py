"""The lottery, the ghost chair and the blind mirror end to end, across two federating Synapses.

Every bot lives on server A; the rooms it serves are made by people on server B, with members
from both servers, as a coalition's groups are. Proven here, for each feature: commands from B
are answered on B, what the bot posts on its own reaches B (in encrypted and plain rooms), and
what people on B do (a reaction, a reflection in an encrypted DM) counts on A.

A gathering is set to the minute, so its reminder can be up to a minute away: the ghost chair's
room and gathering are set up by an autouse module fixture, before the other tests run, and the
minute falls while they do; the ghost-chair test (last) then polls for the reminder.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bots.devclient import UserClient, replies_to
from bots.runtime.errors import Forbidden
from bots.runtime.ids import RoomID
from protocols.lottery import PublishedDraw, verify
from tests.e2e.federation import Federation, federation  # noqa: F401 - the fixture
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import body, next_minute, react, texts_of

pytestmark = pytest.mark.e2e

Event = dict[str, Any]
CHAIR = "🪑"


def across(pair: Federation, **features: Any) -> dict[str, Any]:
    """Bot config for both servers' users, with the features' settings."""
    return {"access": {"allowed_servers": pair.server_names}, "features": features}


async def accept(user: UserClient, room: str, timeout: float = 30) -> None:
    """Join once the invite has reached the user's own server, as a person clicks it: a join
    over federation before that has no server to join through."""
    deadline = time.monotonic() + timeout
    while room not in user.invites:
        assert time.monotonic() < deadline, f"{user.user_id} was never invited"
        await user.wait_new(1)
    await user.join(room)


async def with_bot(owner: UserClient, bot: BotHarness, room: str) -> None:
    """Until the bot (on the other server) has joined the owner's room."""
    for _ in range(3):
        try:
            await owner.wait_joined(room, bot.user_id, timeout=10)
            return
        except TimeoutError:
            # The bot's join can reach the room's server before that server has stored the
            # invite it sent (a Synapse race; the join is refused). Invite again.
            path = f"/_matrix/client/v3/rooms/{room}"
            await owner.api("POST", f"{path}/kick", {"user_id": bot.user_id, "reason": "re-invite"})
            await owner.api("POST", f"{path}/invite", {"user_id": bot.user_id})
    raise TimeoutError("the bot never joined")


async def bot_sees(bot: BotHarness, room: str, users: list[UserClient], timeout: float = 30) -> None:
    """Until the bot's server counts everyone as joined (joins on B reach A a moment later)."""
    wanted = {u.user_id for u in users}
    deadline = time.monotonic() + timeout
    while True:
        try:
            if wanted <= set(await bot.runtime.matrix.joined_members(RoomID(room))):
                return
        except Forbidden:  # the bot's join is complete on B a moment before it is on A
            pass
        assert time.monotonic() < deadline, "the bot's server never saw everyone join"
        await asyncio.sleep(0.2)


async def group(
    owner: UserClient, bot: BotHarness, members: list[UserClient], name: str, encrypted: bool
) -> str:
    """A room made by ``owner`` (its creator, so its moderator) with ``members``, then the bot.

    People join one at a time, those on the owner's server first, and the bot is invited once
    they are in, as a group forms before it asks a bot in. (A join made on B at the very
    instant another server joins the room over federation is missing from that server's view
    until the room's next event: a homeserver race, which would leave people out of a pool.)
    """
    room = await owner.create_room(name, [m.user_id for m in members], encrypted=encrypted)
    home = owner.user_id.split(":", 1)[1]
    for member in sorted(members, key=lambda m: m.user_id.split(":", 1)[1] != home):
        await accept(member, room)
    await owner.api("POST", f"/_matrix/client/v3/rooms/{room}/invite", {"user_id": bot.user_id})
    await with_bot(owner, bot, room)
    await bot_sees(bot, room, [owner, *members])
    return room


async def ask(user: UserClient, room: str, text: str, timeout: float = 30) -> Event:
    """Send a line and wait for the bot's reply to it, readable (its key may come a sync late)."""
    event_id = await user.send_text(room, text)
    return await user.wait_readable(room, lambda e: replies_to(e) == event_id, timeout)


def from_bot(bot: BotHarness, text: str) -> Any:
    return lambda e: e.get("sender") == bot.user_id and text in body(e)


# -- the ghost chair's gathering, set first ---------------------------------------------------


@dataclass
class Chair:
    bot: BotHarness
    owner: UserClient  # on B, the room's creator
    member: UserClient  # on B
    room: str  # plain, on B
    at: datetime  # the gathering


@pytest.fixture(scope="module", autouse=True)
async def chair(
    federation: Federation,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Chair]:
    root = tmp_path_factory.mktemp("chair")
    bot = BotHarness(federation.a, root / "bot", ["ghostchair"], extra=across(federation))
    await bot.start()
    owner, member = await asyncio.gather(person(federation.b, root), person(federation.b, root))
    try:
        room = await group(owner, bot, [member], "Assembly", encrypted=False)
        # Ten seconds leave time for the command to cross to A and be taken before the minute.
        at, words = next_minute(at_least=10)
        reply = body(await ask(owner, room, f"!gathering at {words}"))
        assert reply.startswith("Gathering #1: once"), reply
        yield Chair(bot, owner, member, room, at)
    finally:
        await asyncio.gather(owner.close(), member.close())
        await bot.stop()


# -- lottery ----------------------------------------------------------------------------------


async def test_an_encrypted_room_on_b_draws_among_both_servers_and_verifies(
    federation: Federation,
    tmp_path: Path,
) -> None:
    a, b = federation.a, federation.b
    bot = BotHarness(
        a, tmp_path / "bot", ["lottery"], extra=across(federation, lottery={"commit_window": "8s"})
    )
    await bot.start()
    bea, bruno, ana = await asyncio.gather(person(b, tmp_path), person(b, tmp_path), person(a, tmp_path))
    people = [bea, bruno, ana]
    try:
        room = await group(bea, bot, [bruno, ana], "Marshals", encrypted=True)
        # Three roles among three: every member holds one, so both servers are among the holders.
        commit = await ask(bea, room, "!draw care facilitator timekeeper")
        match = re.search(r"Draw (\w+): care, facilitator, timekeeper, among 3 \(([^)]*)\)", body(commit))
        assert match, body(commit)
        draw_id, pool = match.group(1), match.group(2).split(", ")
        assert pool == sorted(p.user_id for p in people)  # the B users are in the pool
        posted = re.search(r"Commitment: ([0-9a-f]{64})", body(commit))
        assert posted

        # Chance from both servers: a reaction from B, a reply from A, once each has seen it.
        await bruno.wait_readable(room, lambda e: e.get("event_id") == commit["event_id"])
        reaction = await react(bruno, room, commit["event_id"])
        await ana.wait_readable(room, lambda e: e.get("event_id") == commit["event_id"])
        reply = await ana.send_text(
            room, "for luck", {"m.relates_to": {"m.in_reply_to": {"event_id": commit["event_id"]}}}
        )

        # The bot reveals on its own timer; the result reaches both servers.
        result = await bea.wait_readable(room, from_bot(bot, f"Draw {draw_id} result"), timeout=40)
        await ana.wait_readable(room, from_bot(bot, f"Draw {draw_id} result"))
        assert "2 contributions" in body(result), body(result)
        holders = dict(re.findall(r"(care|facilitator|timekeeper) → (@\S+) \(until", body(result)))
        assert set(holders) == {"care", "facilitator", "timekeeper"}
        assert set(holders.values()) == {p.user_id for p in people}

        # A member on B checks it.
        checked = body(await ask(bruno, room, f"!verify {draw_id}"))
        assert f"Draw {draw_id} checks out" in checked, checked
        published = PublishedDraw.from_json(json.loads(checked.splitlines()[-1]))
        assert verify(published) and published.commitment == posted.group(1)
        assert set(published.contributions) == {reaction, reply}
        assert published.seed.hex() in body(result)
        assert list(published.inputs.pool) == pool
    finally:
        await asyncio.gather(*(p.close() for p in people))
        await bot.stop()


# -- blind mirror -----------------------------------------------------------------------------


async def direct(user: UserClient, bot: BotHarness) -> str:
    """An encrypted DM the user opens with the bot (on the user's own server)."""
    room = await user.create_room("", [bot.user_id], encrypted=True, is_direct=True)
    await with_bot(user, bot, room)
    return room


async def reflect(user: UserClient, dm: str, code: str) -> list[Event]:
    """The conversation in the DM, one line at a time, each after the bot's reply to the last."""
    return [await ask(user, dm, line) for line in [f"reflect {code}", *texts_of(user), "submit"]]


async def test_reflections_from_both_servers_reach_a_room_on_b_in_one_anonymous_batch(
    federation: Federation,
    tmp_path: Path,
) -> None:
    a, b = federation.a, federation.b
    bot = BotHarness(
        a,
        tmp_path / "bot",
        ["mirror"],
        extra=across(federation, mirror={"release_delay_min": "1s", "release_delay_max": "2s"}),
    )
    await bot.start()
    bea, bruno, wanda, ana = await asyncio.gather(*(person(s, tmp_path) for s in (b, b, b, a)))
    reflectors = [bea, bruno, ana]  # two on B, one on A
    try:
        marshals = await group(bea, bot, [bruno, ana], "Marshals", encrypted=False)
        kitchen = await group(wanda, bot, [bea], "Kitchen crew", encrypted=True)  # bea asks
        dms = dict(
            zip(
                [u.user_id for u in reflectors],
                await asyncio.gather(*(direct(u, bot) for u in reflectors)),
                strict=True,
            )
        )

        # Asked in Marshals, accepted in the Kitchen crew's room by its moderator (wanda).
        await ask(bea, marshals, f"!mirror open {kitchen} closes 1h")
        request = body(await wanda.wait_readable(kitchen, from_bot(bot, "!mirror accept")))
        accept_code = re.search(r"!mirror accept ([a-z0-9]{6})", request).group(1)  # type: ignore[union-attr]
        await ask(wanda, kitchen, f"!mirror accept {accept_code}")
        opened = body(await bea.wait_readable(marshals, from_bot(bot, "is open: an anonymous reflection")))
        assert "Kitchen crew" in opened, opened
        code = re.search(r"reflect ([a-z0-9]{6})", opened).group(1)  # type: ignore[union-attr]
        conversations = await asyncio.gather(*(reflect(u, dms[u.user_id], code) for u in reflectors))
        for user, replies in zip(reflectors, conversations, strict=True):
            prompts, draft, thanks = body(replies[0]), body(replies[3]), body(replies[4])
            assert prompts.startswith(f"Blind mirror {code}: three short prompts"), prompts
            assert texts_of(user)[0] in draft  # the draft, shown before submit
            assert thanks.startswith("Thank you"), thanks

        # A round closes no sooner than 10 minutes after it opens: its close job is fired, as
        # the timer would; the release then runs on the bot's own timer (1-2 s).
        [close] = [j for j in bot.runtime.scheduler.job_ids() if j.startswith("mirror:close-")]
        await bot.runtime.scheduler.fire(close)
        batch = await wanda.wait_readable(kitchen, from_bot(bot, "anonymous reflections"))
        await bea.wait_readable(marshals, from_bot(bot, "were posted to Kitchen crew"))
        released = body(batch)
        assert f"Blind mirror {code}: 3 anonymous reflections from Marshals" in released, released
        for user in reflectors:
            for text in texts_of(user):
                assert released.count(text) == 1
            assert user.user_id not in released
            assert user.user_id not in batch["content"]["formatted_body"]
        # One message: the whole batch.
        batches = [e for e in wanda.notices(kitchen, bot.user_id) if "anonymous" in body(e)]
        assert len(batches) == 1
    finally:
        await asyncio.gather(*(p.close() for p in (bea, bruno, wanda, ana)))
        await bot.stop()


# -- ghost chair (its gathering was set by the fixture) ---------------------------------------


async def test_the_ghost_chair_and_a_gathering_reach_a_room_on_b(chair: Chair) -> None:
    bot, owner, member, room = chair.bot, chair.owner, chair.member, chair.room
    added = body(await ask(owner, room, "!ghost add the comrade across the border"))
    assert "is now also kept for the comrade across the border" in added, added
    assert "the comrade across the border" in body(await ask(member, room, "!ghost list"))
    assert body(await ask(member, room, "!ghost now")).startswith(CHAIR)

    # The gathering's reminder comes on the bot's own timer, on time, and not as a reply.
    reminder = await member.wait_readable(
        room,
        lambda e: e.get("sender") == bot.user_id and body(e).startswith(CHAIR) and replies_to(e) is None,
        timeout=(chair.at - datetime.now(UTC)).total_seconds() + 30,
    )
    assert int(reminder["origin_server_ts"]) >= chair.at.timestamp() * 1000
    assert "Posted late" not in body(reminder)
    # Held once, a one-off gathering is gone.
    assert body(await ask(member, room, "!gathering list")).startswith("No gatherings")
