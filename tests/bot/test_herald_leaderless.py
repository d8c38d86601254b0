"""The herald's leaderless glue, without a homeserver: the copy a herald sends is one the others
recognise (same key, same digest as the plan), and in a room several heralds share a command is
run by the one that answers, applied silently by the others only when it records a room's facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from bots.herald.gate import answered_once
from bots.herald.leaderless import copy_content, digest_of
from bots.runtime.commands import CommandContext, command
from bots.runtime.errors import UserError
from protocols.coalition.delivery import DeliveryKey, parse_copy
from storage.herald import Delivery

ROOM = "!group:b.example"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def delivery(html: str) -> Delivery:
    return Delivery(
        id=1,
        run_id="r42",
        phase_key="call",
        room_id=ROOM,
        txn_id="aff-r42-call-x",
        due_at=NOW,
        body="RAPID RESPONSE — gather now",
        html=html,
        state="pending",
        event_id=None,
        error=None,
        sent_at=None,
        ack_by=None,
        acked_at=None,
        acked_by=None,
        escalation_step=0,
    )


def test_a_sent_copy_reads_back_as_its_key_with_the_plans_digest() -> None:
    for html in ("<p>RAPID RESPONSE — gather now</p>", ""):
        d = delivery(html)
        event = {
            "type": "m.room.message",
            "sender": "@herald:a.example",
            "event_id": "$copy",
            "origin_server_ts": 1,
            "content": copy_content(d, rev=2),
        }
        copy = parse_copy(event, ROOM)
        assert copy is not None
        assert copy.key == DeliveryKey("r42", "call", ROOM)
        assert copy.digest == digest_of(d)


@dataclass
class FakeHost:
    posted: list[str]

    async def post(self, room_id: str, message: Any, key: str, **_: Any) -> None:
        self.posted.append(key)


class Feature:
    def __init__(self, first: bool) -> None:
        self.first = first
        self.calls: list[str] = []

    async def answers(self, room_id: str, event_id: str) -> bool:
        return self.first

    @command("local set", help="record")
    async def local_set(self, ctx: CommandContext, value: str) -> None:
        self.calls.append(value)
        await ctx.host.post(ctx.room_id, None, "reply")  # type: ignore[arg-type]

    @command("protocol start", help="plan")
    async def protocol_start(self, ctx: CommandContext) -> None:
        self.calls.append("start")
        raise UserError("only said once")


answered_once(Feature)


def context(host: FakeHost) -> CommandContext:
    return CommandContext(host, ROOM, "@ann:b.example", "$cmd", NOW, False, False)  # type: ignore[arg-type]


async def test_only_the_answering_herald_runs_a_command_the_others_apply_room_facts_silently() -> None:
    first, other = Feature(first=True), Feature(first=False)
    first_host, other_host = FakeHost([]), FakeHost([])
    await first.local_set(context(first_host), "north gate")
    await other.local_set(context(other_host), "north gate")
    assert first.calls == other.calls == ["north gate"]
    assert first_host.posted == ["reply"] and other_host.posted == []
    await other.protocol_start(context(other_host))  # not run at all: no second plan, no error
    assert other.calls == ["north gate"]
    with pytest.raises(UserError):  # the answering herald runs it, and says why it refused
        await first.protocol_start(context(first_host))
    assert first.calls[-1] == "start"
