"""Hostile events through a real Synapse: events whose fields have the wrong type (stored and
served by the homeserver as sent) are skipped, the bot keeps answering, and its notices carry
intentional mentions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bots.devserver import Homeserver
from tests.e2e.harness import BotHarness, person

pytestmark = pytest.mark.e2e

HOSTILE_CONTENT: list[tuple[str, dict[str, Any]]] = [
    ("m.room.message", {"msgtype": "m.text", "body": "!ping", "m.relates_to": "m.replace"}),
    ("m.room.message", {"msgtype": "m.text", "body": "!ping", "m.relates_to": ["x", 1]}),
    ("m.room.message", {"msgtype": "m.text", "body": "!ping", "m.relates_to": True}),
    ("m.room.message", {"msgtype": "m.text", "body": "!ping", "m.relates_to": 7}),
    ("m.room.message", {"msgtype": "m.text", "body": "!ping", "m.relates_to": {"m.in_reply_to": "$x"}}),
    ("m.reaction", {"m.relates_to": "m.annotation"}),
    ("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": 5, "key": "👍"}}),
]


def reply_to(event: dict[str, Any]) -> Any:
    """The replied-to event id, for any shape of event (the hostile ones included)."""
    relates = (event.get("content") or {}).get("m.relates_to")
    reply = relates.get("m.in_reply_to") if isinstance(relates, dict) else None
    return reply.get("event_id") if isinstance(reply, dict) else None


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_the_bot_survives_hostile_events(
    synapse: Homeserver, core_bot: BotHarness, tmp_path: Path, encrypted: bool
) -> None:
    alice = await person(synapse, tmp_path)
    try:
        room = await alice.create_room("hostile", [core_bot.user_id], encrypted=encrypted)
        await alice.wait_joined(room, core_bot.user_id)
        # (Synapse refuses some shapes from its own users, a non-string body or reaction key;
        # these it stores and serves as sent.)
        for event_type, content in HOSTILE_CONTENT:
            await alice.send(room, event_type, content)
        ping = await alice.send_text(room, "!ping @room")
        reply = await alice.wait_for(lambda r, e: r == room and reply_to(e) == ping, timeout=60)
        assert reply["sender"] == core_bot.user_id
        assert "Usage: !ping" in reply["content"]["body"]
        assert reply["content"]["m.mentions"] == {}  # quoting @room pings nobody
        assert core_bot.task is not None and not core_bot.task.done(), "the sync loop is still running"
        # Not one hostile event got an answer: the only replies are to the ping.
        bot_events = [
            e
            for r, e in alice.events
            if r == room and e.get("sender") == core_bot.user_id and e.get("type") == "m.room.message"
        ]
        assert [reply_to(e) for e in bot_events] == [ping]
    finally:
        await alice.close()
