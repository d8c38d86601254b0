"""The foundation as a person meets it: ping and help, plain and encrypted, across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bots.devserver import Homeserver
from tests.e2e.harness import BotHarness, person

pytestmark = pytest.mark.e2e


def _is_notice_reply(event: dict, to: str) -> bool:
    content = event.get("content", {})
    return content.get("msgtype") == "m.notice" and content["m.relates_to"]["m.in_reply_to"]["event_id"] == to


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_ping_and_help_in_a_room(
    synapse: Homeserver, core_bot: BotHarness, tmp_path: Path, encrypted: bool
) -> None:
    alice = await person(synapse, tmp_path)
    try:
        room = await alice.create_room("group", [core_bot.user_id], encrypted=encrypted)
        await alice.wait_joined(room, core_bot.user_id)
        ping = await alice.send_text(room, "!ping")
        reply = await alice.wait_reply(room, ping)
        assert _is_notice_reply(reply, ping)
        assert reply["content"]["body"] == "pong"
        assert reply["sender"] == core_bot.user_id
        help_ = await alice.send_text(room, "!help")
        reply = await alice.wait_reply(room, help_)
        assert (
            "!ping" in reply["content"]["body"]
            and "<code>!help [&lt;command&gt;]</code>" in reply["content"]["formatted_body"]
        )
        unknown = await alice.send_text(room, "!pnig")
        reply = await alice.wait_reply(room, unknown)
        assert "Unknown command !pnig" in reply["content"]["body"] and "!ping" in reply["content"]["body"]
    finally:
        await alice.close()


async def test_a_command_in_a_thread_is_answered_in_it(
    synapse: Homeserver, core_bot: BotHarness, tmp_path: Path
) -> None:
    alice = await person(synapse, tmp_path)
    try:
        room = await alice.create_room("threads", [core_bot.user_id], encrypted=True)
        await alice.wait_joined(room, core_bot.user_id)
        root = await alice.send_text(room, "Planning the picnic")
        ping = await alice.send_text(
            room,
            "!ping",
            {
                "m.relates_to": {
                    "rel_type": "m.thread",
                    "event_id": root,
                    "is_falling_back": True,
                    "m.in_reply_to": {"event_id": root},
                }
            },
        )
        reply = await alice.wait_reply(room, ping)
        assert reply["content"]["body"] == "pong"
        assert reply["content"]["m.relates_to"]["rel_type"] == "m.thread"
        assert reply["content"]["m.relates_to"]["event_id"] == root
        # The homeserver counts it in the thread, as Element will show it.
        thread = await alice.api("GET", f"/_matrix/client/v1/rooms/{room}/relations/{root}/m.thread")
        assert reply["event_id"] in {e["event_id"] for e in thread["chunk"]}
    finally:
        await alice.close()
