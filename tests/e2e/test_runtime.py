"""The runtime's promises against a real Synapse: restarts, DMs, access, cross-signing, trust."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bots.devserver import Homeserver
from bots.runtime.crosssign import trusted_devices
from tests.e2e.harness import BotHarness, person

pytestmark = pytest.mark.e2e


async def test_restart_answers_nothing_twice_and_loses_nothing(synapse: Homeserver, tmp_path: Path) -> None:
    bot = BotHarness(synapse, tmp_path / "bot", features=[])
    await bot.start()
    alice = await person(synapse, tmp_path)
    try:
        room = await alice.create_room("restart", [bot.user_id], encrypted=True)
        await alice.wait_joined(room, bot.user_id)
        before = await alice.send_text(room, "!ping")
        await alice.wait_reply(room, before)

        await bot.crash()
        # While the bot is down, people keep talking to it: more than one sync timeline holds,
        # so the bot must fill the gap from /messages.
        during = [await alice.send_text(room, "!ping") for _ in range(14)]
        await bot.start()
        for event_id in during:
            await alice.wait_reply(room, event_id, timeout=60)

        # A second restart soon after replays nothing (Synapse may serve a cached old sync).
        await bot.stop()
        await bot.start()
        after = await alice.send_text(room, "!ping")
        reply = await alice.wait_reply(room, after)
        assert reply["content"]["body"] == "pong"  # still decrypts after restarts
        await asyncio.sleep(1.5)
        for event_id in [before, *during, after]:
            assert len(alice.replies(room, event_id)) == 1, "a command was answered twice or never"
    finally:
        await alice.close()
        await bot.stop()


async def test_commands_before_the_bot_joined_are_not_answered(
    synapse: Homeserver, core_bot: BotHarness, tmp_path: Path
) -> None:
    alice = await person(synapse, tmp_path)
    try:
        room = await alice.create_room("history", [])
        old = await alice.send_text(room, "!ping")
        await alice.api("POST", f"/_matrix/client/v3/rooms/{room}/invite", {"user_id": core_bot.user_id})
        await alice.wait_joined(room, core_bot.user_id)
        new = await alice.send_text(room, "!ping")
        await alice.wait_reply(room, new)
        # A notice (even one that looks like a command) is never answered.
        notice = await alice.send(room, "m.room.message", {"msgtype": "m.notice", "body": "!ping"})
        marker = await alice.send_text(room, "!ping")
        await alice.wait_reply(room, marker)
        assert alice.replies(room, old) == []
        assert alice.replies(room, notice) == []
    finally:
        await alice.close()


async def test_encrypted_direct_message(synapse: Homeserver, core_bot: BotHarness, tmp_path: Path) -> None:
    alice = await person(synapse, tmp_path)
    try:
        dm = await alice.create_room("", [core_bot.user_id], encrypted=True, is_direct=True)
        await alice.wait_joined(dm, core_bot.user_id)
        ping = await alice.send_text(dm, "!ping")
        assert (await alice.wait_reply(dm, ping))["content"]["body"] == "pong"
        help_ = await alice.send_text(dm, "!help ping")
        assert "!ping" in (await alice.wait_reply(dm, help_))["content"]["body"]
    finally:
        await alice.close()


async def test_invite_from_a_server_not_allowed_is_declined(synapse: Homeserver, tmp_path: Path) -> None:
    bot = BotHarness(
        synapse, tmp_path / "bot", features=[], extra={"access": {"allowed_servers": ["elsewhere.example"]}}
    )
    await bot.start()
    alice = await person(synapse, tmp_path)
    try:
        room = await alice.create_room("closed", [bot.user_id])

        def left(_room: str, event: dict) -> bool:
            return (
                event.get("type") == "m.room.member"
                and event.get("state_key") == bot.user_id
                and event["content"].get("membership") == "leave"
            )

        await alice.wait_for(left, timeout=30)
        members = await alice.api("GET", f"/_matrix/client/v3/rooms/{room}/joined_members")
        assert bot.user_id not in members["joined"]
    finally:
        await alice.close()
        await bot.stop()


async def test_bot_device_is_cross_signed_as_others_see_it(
    synapse: Homeserver, core_bot: BotHarness, tmp_path: Path
) -> None:
    alice = await person(synapse, tmp_path)
    try:
        query = await alice.api(
            "POST", "/_matrix/client/v3/keys/query", {"device_keys": {core_bot.user_id: []}}
        )
        device_id = core_bot.runtime.client.device_id
        assert trusted_devices(query, core_bot.user_id) == {device_id: True}
        master = query["master_keys"][core_bot.user_id]["keys"]
        # Standard base64, unpadded: Element rejects the URL-safe alphabet.
        assert all("-" not in k and "_" not in k and not k.endswith("=") for k in master.values())
    finally:
        await alice.close()


async def test_room_keys_only_for_cross_signed_devices(
    synapse: Homeserver, core_bot: BotHarness, tmp_path: Path
) -> None:
    alice = await person(synapse, tmp_path, name=None)
    # A second device on Alice's account that she never signed (as a homeserver admin could add).
    from bots.devclient import UserClient

    intruder = UserClient(synapse.url, alice.user_id, alice.password, tmp_path / "intruder", cross_sign=False)
    await intruder.login()
    try:
        room = await alice.create_room("trust", [core_bot.user_id], encrypted=True)
        await alice.wait_joined(room, core_bot.user_id)
        await intruder.wait_new(2)
        ping = await alice.send_text(room, "!ping")
        await alice.wait_reply(room, ping)
        seen = await intruder.wait_for(
            lambda r, e: (
                r == room
                and e.get("sender") == core_bot.user_id
                and e.get("type") in ("undecryptable", "m.room.message")
            ),
            timeout=30,
        )
        assert seen["type"] == "undecryptable", "a device its owner never signed got the room key"
    finally:
        await alice.close()
        await intruder.close()


async def test_reconnects_when_the_homeserver_comes_back(tmp_path: Path) -> None:
    server = Homeserver(tmp_path / "own-synapse")
    server.start()
    bot = BotHarness(server, tmp_path / "bot", features=[])
    await bot.start()
    alice = await person(server, tmp_path)
    try:
        room = await alice.create_room("away", [bot.user_id])
        await alice.wait_joined(room, bot.user_id)
        server.stop()
        await asyncio.sleep(2)  # the bot's sync fails meanwhile and backs off
        server.start()
        ping = await alice.send_text(room, "!ping")
        assert (await alice.wait_reply(room, ping, timeout=90))["content"]["body"] == "pong"
    finally:
        await alice.close()
        await bot.stop()
        server.stop()


@pytest.mark.parametrize("version", ["10", "12"])
async def test_a_room_creator_moderates_in_every_room_version(
    synapse: Homeserver, tmp_path: Path, version: str
) -> None:
    """Room version 12 (Synapse's and Element's default) gives the creator an infinite power
    level that m.room.power_levels no longer lists; earlier versions list them at 100. Either
    way the person who made the room runs its moderator commands, and a plain member does not."""
    bot = BotHarness(synapse, tmp_path / "bot", features=["ghostchair"])
    await bot.start()
    owner = await person(synapse, tmp_path)
    member = await person(synapse, tmp_path)
    try:
        data = await owner.api(
            "POST",
            "/_matrix/client/v3/createRoom",
            {
                "name": f"v{version}",
                "preset": "private_chat",
                "room_version": version,
                "invite": [bot.user_id, member.user_id],
            },
        )
        room = str(data["room_id"])
        create = await owner.api("GET", f"/_matrix/client/v3/rooms/{room}/state/m.room.create/")
        assert create.get("room_version") == version
        await owner.wait_joined(room, bot.user_id)
        await member.join(room)
        await owner.wait_joined(room, member.user_id)

        refused = await member.wait_reply(
            room, await member.send_text(room, "!ghost add a comrade in prison")
        )
        assert "needs power level 50" in refused["content"]["body"]
        added = await owner.wait_reply(room, await owner.send_text(room, "!ghost add a comrade in prison"))
        assert "needs power level" not in added["content"]["body"]
        listed = await owner.wait_reply(room, await owner.send_text(room, "!ghost list"))
        assert listed["content"]["body"].count("a comrade in prison") == 1
    finally:
        await owner.close()
        await member.close()
        await bot.stop()


async def test_a_group_of_one_is_a_group_and_a_dm_is_a_dm(synapse: Homeserver, tmp_path: Path) -> None:
    """The first member of a new group can set it up before anyone else has joined; a DM started
    as Element starts one (is_direct) keeps group commands out."""
    bot = BotHarness(synapse, tmp_path / "bot", features=["ghostchair"])
    await bot.start()
    alice = await person(synapse, tmp_path)
    try:
        group = await alice.create_room("New group", [bot.user_id], encrypted=True)
        dm = await alice.create_room("", [bot.user_id], encrypted=True, is_direct=True)
        await alice.wait_joined(group, bot.user_id)
        await alice.wait_joined(dm, bot.user_id)
        listed = await alice.wait_reply(group, await alice.send_text(group, "!ghost list"))
        assert "works in a group room" not in listed["content"]["body"]
        refused = await alice.wait_reply(dm, await alice.send_text(dm, "!ghost list"))
        assert "works in a group room, not in a direct chat" in refused["content"]["body"]
        # And after a restart, from what the bot kept of the invites.
        await bot.stop()
        await bot.start()
        again = await alice.wait_reply(group, await alice.send_text(group, "!ghost list"))
        assert "works in a group room" not in again["content"]["body"]
        refused = await alice.wait_reply(dm, await alice.send_text(dm, "!ghost list"))
        assert "works in a group room, not in a direct chat" in refused["content"]["body"]
    finally:
        await alice.close()
        await bot.stop()
