"""Day-of-action protocols end to end, across two federating Synapse homeservers.

The bot lives on server A with the coordination room; member rooms live on server B, one plain
and one encrypted, with their liaisons on B. Proven here: each phase reaches both servers; a
liaison on B acknowledges; a missing acknowledgement escalates (a DM to the liaison, then a note
to the coordinators); amendments and stand-downs reach every room, as new notices and as edits;
and a bot killed in the middle of a broadcast, then restarted, leaves every room exactly one copy.
Rooms join only with a one-time invitation from the coordination room: never by name, never
from a direct chat, never twice with one token; a removed room is told and gets nothing further.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bots.devclient import UserClient
from tests.e2e.federation import Federation, federation  # noqa: F401 - the fixture
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import ask_event as command
from tests.e2e.helpers import body

pytestmark = pytest.mark.e2e

Event = dict[str, Any]


def is_edit(event: Event) -> bool:
    return ((event.get("content") or {}).get("m.relates_to") or {}).get("rel_type") == "m.replace"


def from_bot(bot: BotHarness, room: str, text: str, edit: bool = False) -> Callable[[str, Event], bool]:
    def match(r: str, e: Event) -> bool:
        return r == room and e.get("sender") == bot.user_id and text in body(e) and is_edit(e) == edit

    return match


def copies(client: UserClient, bot: BotHarness, room: str, text: str) -> int:
    return sum(
        1
        for r, e in client.events
        if r == room and e.get("sender") == bot.user_id and text in body(e) and not is_edit(e)
    )


def now_utc_words() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


async def invitation(coordinator: UserClient, coord: str, room: str = "") -> str:
    """A one-time token, issued in the coordination room."""
    reply = body(await command(coordinator, coord, f"!coalition invite {room}".strip()))
    match = re.search(r"cj-[a-z2-7]{32}", reply)
    assert match, reply
    return match.group(0)


def herald_of(bot: BotHarness) -> Any:
    from bots.herald import HeraldFeature

    return next(f for f in bot.runtime.features if isinstance(f, HeraldFeature))


async def member_room(owner: UserClient, bot: BotHarness, name: str, encrypted: bool) -> str:
    """A room its owner moderates, with the bot invited. Room version 10, where the owner's
    power is listed in m.room.power_levels (version 12 creators are covered in test_runtime)."""
    body: dict[str, Any] = {
        "name": name,
        "invite": [bot.user_id],
        "preset": "private_chat",
        "room_version": "10",
    }
    if encrypted:
        body["initial_state"] = [
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
        ]
    room = str((await owner.api("POST", "/_matrix/client/v3/createRoom", body))["room_id"])
    # Across servers the bot's first join can reach the room's server before that server has
    # stored the invite it sent, and be refused: the bot tries again by itself.
    await owner.wait_joined(room, bot.user_id, timeout=45)
    return room


async def wait_sent(bot: BotHarness, room_id: str, timeout: float = 30) -> None:
    """Until the bot's server holds a message of the bot's in the room."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = await bot.runtime.matrix.api(
            "GET", f"/_matrix/client/v3/rooms/{room_id}/messages?dir=b&limit=10"
        )
        if any(
            e.get("sender") == bot.user_id and e.get("type") in ("m.room.message", "m.room.encrypted")
            for e in data.get("chunk", [])
        ):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("the bot sent nothing to the room")


async def test_phases_acks_escalation_amend_and_cancel_across_servers(
    federation: Federation, tmp_path: Path
) -> None:
    a, b = federation.a, federation.b
    bot = BotHarness(
        a,
        tmp_path / "bot",
        features=["herald"],
        extra={"access": {"allowed_servers": federation.server_names}},
    )
    await bot.start()
    alice = await person(a, tmp_path)  # coordinator, on A
    bob = await person(b, tmp_path)  # liaison of a plain room on B
    carol = await person(b, tmp_path)  # liaison of an encrypted room on B
    try:
        coord = await member_room(alice, bot, "Coordination", encrypted=True)
        lyon = await member_room(bob, bot, "Lyon", encrypted=False)
        leeds = await member_room(carol, bot, "Leeds", encrypted=True)
        assert "coordinates it" in body(await command(alice, coord, "!coalition create e2e"))
        assert "joined coalition e2e" in body(
            await command(bob, lyon, f"!coalition join {await invitation(alice, coord)}")
        )
        assert "joined coalition e2e" in body(
            await command(carol, leeds, f"!coalition join {await invitation(alice, coord)}")
        )
        await command(bob, lyon, "!local set meeting_point Place Bellecour")
        rooms = await command(alice, coord, "!coalition rooms")
        assert f"Lyon — {b.server_name} — liaison {bob.user_id}" in body(rooms)

        plan = await command(alice, coord, f"!protocol start rapid-response at {now_utc_words()}")
        run = re.search(r"Plan (\w+):", body(plan)).group(1)  # type: ignore[union-attr]
        assert "3 rooms x 3 phases" in body(plan)
        confirmed = await command(alice, coord, f"!protocol confirm {run}")
        assert "Going out now: call" in body(confirmed)

        # The call-out reaches both servers, in the plain and in the encrypted room.
        call = await bob.wait_for(from_bot(bot, lyon, "RAPID RESPONSE"))
        assert "Place Bellecour" in body(call)
        await carol.wait_for(from_bot(bot, leeds, "RAPID RESPONSE"))
        await alice.wait_for(from_bot(bot, coord, "RAPID RESPONSE"))

        # The liaison on the second server acknowledges; the board shows it as a list (no table).
        assert "Acknowledged run" in body(await command(bob, lyon, f"!ack {run}"))
        alice_acks = await command(alice, coord, f"!ack {run}")
        assert "Acknowledged run" in body(alice_acks)
        board = await command(alice, coord, f"!protocol status {run}")
        assert "Lyon: call ✅" in body(board) and "Leeds: call ⏳" in body(board)
        assert (
            "<li>" in board["content"]["formatted_body"]
            and "<table" not in board["content"]["formatted_body"]
        )

        # Leeds stays silent. At its deadline its liaison gets a DM (a new encrypted room on A);
        # half a window later the coordination room gets a note. The clock is moved, not waited.
        herald = herald_of(bot)
        real_clock = bot.runtime.clock
        bot.runtime.clock = lambda: real_clock() + timedelta(minutes=16)
        await herald.escalate(run)
        deadline = time.monotonic() + 30
        while not carol.invites and time.monotonic() < deadline:
            await carol.wait_new(1)
        dm = carol.invites[-1]
        # Carol opens the invite once the alert is in it, as a person would. (Joining over
        # federation at the very instant the bot writes can leave that message out of her
        # server's view until the room's next event: a homeserver race, not the bot's.)
        await wait_sent(bot, dm)
        await carol.join(dm)
        dm_state = await carol.api("GET", f"/_matrix/client/v3/rooms/{dm}/state")
        assert any(e["type"] == "m.room.encryption" for e in dm_state["value"])
        # The alert may have been written while Carol was only invited: her server backfills it
        # when she reads the room, and its key may come a sync later. It must become readable.
        reminder = await carol.wait_readable(
            dm, lambda e: e.get("sender") == bot.user_id and e.get("type") == "m.room.message"
        )
        assert "has not acknowledged" in body(reminder) and f"!ack {run}" in body(reminder)
        bot.runtime.clock = lambda: real_clock() + timedelta(minutes=25)
        await herald.escalate(run)
        note = await alice.wait_for(from_bot(bot, coord, "No acknowledgement from Leeds"))
        assert b.server_name in body(note) and carol.user_id in body(note)
        bot.runtime.clock = real_clock

        # An amendment reaches every room on both servers: a new notice and an edit of the call.
        await command(alice, coord, f"!protocol amend {run} Gather at the north gate instead")
        for client, room in ((bob, lyon), (carol, leeds), (alice, coord)):
            amended = await client.wait_for(from_bot(bot, room, "AMENDED (#1)"))
            assert "north gate" in body(amended)
            edit = await client.wait_for(from_bot(bot, room, "AMENDED (#1)", edit=True))
            assert edit["content"]["m.new_content"]["body"].startswith("⚠️ AMENDED (#1)")
        board = await command(alice, coord, f"!protocol status {run}")
        assert "Lyon: call ✅" in body(board) and "amend-1 ⏳" in body(board)

        # So does the stand-down; the rest of the protocol never goes out.
        await command(alice, coord, f"!protocol cancel {run} The square is closed")
        for client, room in ((bob, lyon), (carol, leeds)):
            assert "The square is closed" in body(await client.wait_for(from_bot(bot, room, "STAND DOWN")))
            await client.wait_for(from_bot(bot, room, "CANCELLED", edit=True))
        assert not [j for j in bot.runtime.scheduler.job_ids() if j.startswith(f"herald:due-{run}-")]
    finally:
        for client in (alice, bob, carol):
            await client.close()
        await bot.stop()


async def test_a_bot_killed_mid_broadcast_sends_each_room_one_copy(
    federation: Federation, tmp_path: Path
) -> None:
    a, b = federation.a, federation.b
    # One message at a time, so the broadcast is surely in the middle when the bot dies.
    bot = BotHarness(
        a,
        tmp_path / "bot",
        features=["herald"],
        extra={"access": {"allowed_servers": federation.server_names}, "send_concurrency": 1},
    )
    await bot.start()
    alice = await person(a, tmp_path)
    bob = await person(b, tmp_path)
    try:
        coord = await member_room(alice, bot, "Coordination", encrypted=False)
        await command(alice, coord, "!coalition create crashers")
        rooms = []
        for index in range(5):
            room = await member_room(bob, bot, f"Group {index}", encrypted=index % 2 == 1)
            await command(bob, room, f"!coalition join {await invitation(alice, coord)}")
            rooms.append(room)
        plan = await command(alice, coord, f"!protocol start rapid-response at {now_utc_words()}")
        run = re.search(r"Plan (\w+):", body(plan)).group(1)  # type: ignore[union-attr]

        # The third message reaches the homeserver, and the bot dies before it hears back:
        # on restart the outbox sends it again with the same transaction id.
        outbox = bot.runtime.outbox
        real_send = outbox._send
        sends = 0
        died = asyncio.Event()

        async def send_then_die(*args: Any) -> Any:
            nonlocal sends
            result = await real_send(*args)
            if args[-1].startswith(f"aff-{run}-"):  # the transaction id
                sends += 1
            if sends == 3 and not died.is_set():
                died.set()
                await asyncio.Event().wait()  # cancelled by the crash
            return result

        outbox._send = send_then_die
        await alice.send_text(coord, f"!protocol confirm {run}")
        await asyncio.wait_for(died.wait(), 30)
        await bot.crash()
        assert sends == 3, "the bot must die in the middle of the broadcast (3 of 6 sent)"
        await bot.start()

        for room in rooms:
            await bob.wait_for(from_bot(bot, room, "RAPID RESPONSE"), timeout=60)
        await alice.wait_for(from_bot(bot, coord, "RAPID RESPONSE"), timeout=60)
        herald = herald_of(bot)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            states = {d.state for d in await herald.runs.deliveries(run) if d.phase_key == "call"}
            if states == {"sent"}:
                break
            await asyncio.sleep(0.2)
        assert states == {"sent"}
        await bob.wait_new(2)  # a doubled copy would have arrived by now
        assert [copies(bob, bot, room, "RAPID RESPONSE") for room in rooms] == [1] * len(rooms)
        assert copies(alice, bot, coord, "RAPID RESPONSE") == 1
        confirms = [e for r, e in alice.events if r == coord and "confirmed:" in body(e)]
        assert len(confirms) == 1
    finally:
        await alice.close()
        await bob.close()
        await bot.stop()


async def test_joining_takes_an_invitation_and_a_removed_room_gets_nothing_more(
    federation: Federation, tmp_path: Path
) -> None:
    a, b = federation.a, federation.b
    bot = BotHarness(
        a,
        tmp_path / "bot",
        features=["herald"],
        extra={"access": {"allowed_servers": federation.server_names}},
    )
    await bot.start()
    alice = await person(a, tmp_path)  # coordinator, on A
    bob = await person(b, tmp_path)  # moderator of a group on B
    eve = await person(b, tmp_path)  # moderator of a room of her own, and of her DM with the bot
    try:
        coord = await member_room(alice, bot, "Coordination", encrypted=False)
        lyon = await member_room(bob, bot, "Lyon", encrypted=True)
        mine = await member_room(eve, bot, "Eve's room", encrypted=False)
        dm = await eve.create_room("", [bot.user_id], encrypted=True, is_direct=True)
        await eve.wait_joined(dm, bot.user_id, timeout=45)

        refused = await command(eve, dm, "!coalition create squat")
        assert "works in a group room, not in a direct chat" in body(refused)
        assert "created" in body(await command(alice, coord, "!coalition create e2e-consent"))
        assert "already exists on this bot" in body(await command(eve, mine, "!coalition create e2e-consent"))
        by_name = await command(eve, mine, "!coalition join e2e-consent")
        assert "joined by invitation, not by name" in body(by_name)

        # An invitation for Lyon, named by its matrix.to link: refused from a DM and from another
        # room, then used once in Lyon; the reply says who coordinates.
        token = await invitation(alice, coord, f"https://matrix.to/#/{lyon}")
        assert "works in a group room" in body(await command(eve, dm, f"!coalition join {token}"))
        assert "issued for another room" in body(await command(eve, mine, f"!coalition join {token}"))
        joined = body(await command(bob, lyon, f"!coalition join {token}"))
        assert "joined coalition e2e-consent" in joined
        assert f"coordinated from “Coordination” ({coord}) by {alice.user_id}" in joined
        await alice.wait_for(from_bot(bot, coord, "joined coalition e2e-consent with an invitation"))
        await command(bob, lyon, "!coalition leave")
        reused = body(await command(bob, lyon, f"!coalition join {token}"))
        assert "not valid" in reused and "used already" in reused
        assert "joined coalition" in body(
            await command(bob, lyon, f"!coalition join {await invitation(alice, coord)}")
        )
        rooms = body(await command(alice, coord, "!coalition rooms"))
        assert "Lyon" in rooms and "Eve" not in rooms
        assert "not in a coalition" in body(await command(eve, mine, "!coalition rooms"))

        # Removed by the coordinators: Lyon is told, and the run that follows never reaches it.
        removed = body(await command(alice, coord, f"!coalition remove {lyon}"))
        assert "is out of coalition e2e-consent" in removed
        told = await bob.wait_for(from_bot(bot, lyon, "removed from coalition e2e-consent"))
        plan = await command(alice, coord, f"!protocol start rapid-response at {now_utc_words()}")
        run = re.search(r"Plan (\w+):", body(plan)).group(1)  # type: ignore[union-attr]
        assert "x 3 phases" in body(plan)
        await command(alice, coord, f"!protocol confirm {run}")
        await alice.wait_for(from_bot(bot, coord, "RAPID RESPONSE"))
        # A later answer in Lyon: the bot's messages to a room go out in order, so anything
        # sent to Lyon before it has arrived by now.
        assert "pong" in body(await command(bob, lyon, "!ping"))
        assert told in [e for r, e in bob.events if r == lyon]
        assert copies(bob, bot, lyon, "RAPID RESPONSE") == 0
        assert {d.room_id for d in await herald_of(bot).runs.deliveries(run)} == {coord}
    finally:
        for client in (alice, bob, eve):
            await client.close()
        await bot.stop()


async def test_a_kicked_liaison_cannot_acknowledge_from_a_dm(federation: Federation, tmp_path: Path) -> None:
    a, b = federation.a, federation.b
    bot = BotHarness(
        a,
        tmp_path / "bot",
        features=["herald"],
        extra={"access": {"allowed_servers": federation.server_names}},
    )
    await bot.start()
    alice = await person(a, tmp_path)  # coordinator, on A
    bob = await person(b, tmp_path)  # moderator of Lyon, on B
    carol = await person(b, tmp_path)  # Lyon's liaison, until Bob kicks her
    try:
        coord = await member_room(alice, bot, "Coordination", encrypted=False)
        lyon = await member_room(bob, bot, "Lyon", encrypted=False)
        await bob.api("POST", f"/_matrix/client/v3/rooms/{lyon}/invite", {"user_id": carol.user_id})
        await carol.join(lyon)
        await bob.wait_joined(lyon, carol.user_id)
        dm = await carol.create_room("", [bot.user_id], encrypted=True, is_direct=True)
        await carol.wait_joined(dm, bot.user_id, timeout=45)
        await command(alice, coord, "!coalition create e2e-kick")
        await command(bob, lyon, f"!coalition join {await invitation(alice, coord)}")
        named = body(await command(bob, lyon, f"!coalition liaison {carol.user_id}"))
        assert "is now this room's liaison" in named
        plan = await command(alice, coord, f"!protocol start rapid-response at {now_utc_words()}")
        run = re.search(r"Plan (\w+):", body(plan)).group(1)  # type: ignore[union-attr]
        await command(alice, coord, f"!protocol confirm {run}")
        await bob.wait_for(from_bot(bot, lyon, "RAPID RESPONSE"))

        await bob.api("POST", f"/_matrix/client/v3/rooms/{lyon}/kick", {"user_id": carol.user_id})
        deadline = time.monotonic() + 30  # until the bot's server has heard of the kick
        while carol.user_id in await bot.runtime.matrix.joined_members(lyon):
            assert time.monotonic() < deadline, "the kick never reached the bot's server"
            await asyncio.sleep(0.2)
        refused = body(await command(carol, dm, f"!ack {run}"))
        assert "only for rooms they are still in" in refused
        herald = herald_of(bot)
        [lyon_member] = [m for m in await herald.coalitions.members("e2e-kick") if m.room_id == lyon]
        assert lyon_member.liaison is None
        board = body(await command(alice, coord, f"!protocol status {run}"))
        assert "Lyon: call ⏳" in board
        # Lyon's moderator still acknowledges in the room.
        assert "Acknowledged run" in body(await command(bob, lyon, f"!ack {run}"))
    finally:
        for client in (alice, bob, carol):
            await client.close()
        await bot.stop()
