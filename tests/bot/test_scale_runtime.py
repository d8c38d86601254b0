"""What a thousand rooms need of the runtime, without a homeserver: a phase's messages enqueued
in one transaction, and room keys shared ahead of a due send, soonest first and at most once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from nio import AsyncClient

from bots.runtime.errors import RateLimited, TransportError
from bots.runtime.ids import RoomID
from bots.runtime.keys_ahead import MAX_TRIES, KeysAhead
from bots.runtime.outbox import Outbox, Queued
from bots.runtime.ratelimit_check import verdict
from bots.runtime.room_state import RoomStates
from tests.bot.fakes import close, fake_bot


async def wait_for(predicate, what: str, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.01)


def notice(text: str) -> dict[str, str]:
    return {"msgtype": "m.notice", "body": text}


async def test_a_batch_is_enqueued_in_one_transaction_and_sent_once(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [])
    try:
        rooms = [RoomID(f"!r{i}:test.example") for i in range(30)]
        batch = [Queued(room, notice("phase one"), f"phase-1-{room}") for room in rooms]
        assert await bot.outbox.enqueue_batch(batch) == 30
        # The same phase again (a job fired twice): nothing new.
        assert await bot.outbox.enqueue_batch(batch) == 0
        await bot.outbox.drain()
        assert sorted(s.room_id for s in bot.fake.sent) == sorted(rooms)
    finally:
        await close(bot)


async def test_a_batch_with_a_bad_item_enqueues_nothing(tmp_path: Path) -> None:
    bot = await fake_bot(tmp_path, [])
    try:
        good = Queued(RoomID("!a:test.example"), notice("x"), "ok-1")
        bad = Queued(RoomID("!b:test.example"), notice("y"), "bad-1", kind="telegram")
        with pytest.raises(ValueError, match="unknown outbox kind"):
            await bot.outbox.enqueue_batch([good, bad])
        assert await bot.outbox.delivery("ok-1") is None
        assert await bot.outbox.pending_count() == 0
    finally:
        await close(bot)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_keys_are_shared_from_the_lead_on_soonest_first_and_once() -> None:
    clock = Clock()
    shared: list[str] = []

    async def share(room: RoomID) -> bool:
        shared.append(room)
        return True

    ahead = KeysAhead(share, clock, lead=timedelta(minutes=10), per_second=100)
    ahead.start()
    try:
        soon, later = clock.now + timedelta(minutes=5), clock.now + timedelta(hours=1)
        ahead.prepare([RoomID("!b:x"), RoomID("!a:x")], by=soon)
        ahead.prepare([RoomID("!late:x")], by=later)
        ahead.prepare([RoomID("!a:x")], by=later)  # a later deadline does not push it back
        await wait_for(lambda: len(shared) == 2, "the rooms due soon were shared")
        assert sorted(shared) == ["!a:x", "!b:x"] and ahead.pending() == 1
        # The other room's lead begins: it is shared too, and nothing twice.
        clock.now = later - timedelta(minutes=9)
        ahead.prepare([], by=later)  # wakes the worker, as any new request does
        await wait_for(lambda: len(shared) == 3, "the later room was shared")
        assert shared[2] == "!late:x" and ahead.shared == 3 and ahead.pending() == 0
    finally:
        await ahead.stop()


async def test_a_passed_deadline_is_dropped_and_failures_give_up() -> None:
    clock = Clock()
    calls: list[str] = []

    async def share(room: RoomID) -> bool:
        calls.append(room)
        raise TransportError("away")

    ahead = KeysAhead(share, clock, lead=timedelta(minutes=10), per_second=100)
    ahead.prepare([RoomID("!gone:x")], by=clock.now - timedelta(seconds=1))
    ahead.prepare([RoomID("!flaky:x")], by=clock.now + timedelta(minutes=1))
    ahead.start()
    try:
        await wait_for(lambda: ahead.pending() == 0, "every room was settled")
        assert calls == ["!flaky:x"] * MAX_TRIES and ahead.shared == 0
    finally:
        await ahead.stop()


def state_event(kind: str, key: str, content: dict[str, Any], sender: str = "@alice:x") -> dict[str, Any]:
    return {
        "type": kind,
        "state_key": key,
        "content": content,
        "sender": sender,
        "event_id": f"${kind}{key}",
        "origin_server_ts": 1,
    }


def room_state(encrypted: bool) -> list[dict[str, Any]]:
    events = [
        state_event("m.room.create", "", {"room_version": "12"}),
        state_event("m.room.member", "@alice:x", {"membership": "join"}),
        state_event("m.room.member", "@bot:x", {"membership": "join"}),
        state_event("m.room.member", "@bob:x", {"membership": "invite"}),
    ]
    if encrypted:
        events.append(state_event("m.room.encryption", "", {"algorithm": "m.megolm.v1.aes-sha2"}))
    return events


async def test_a_room_state_is_loaded_once_and_a_plain_room_only_probed() -> None:
    client = AsyncClient("http://localhost:1", "@bot:x")
    fetched: list[str] = []
    probed: list[str] = []

    async def fetch(room: str) -> list[dict[str, Any]]:
        fetched.append(room)
        await asyncio.sleep(0)  # let the other callers pile up
        return room_state(encrypted=room.startswith("!e"))

    async def probe(room: str) -> bool:
        probed.append(room)
        return room.startswith("!e")

    states = RoomStates(client, fetch)
    await asyncio.gather(*(states.ensure("!g:x") for _ in range(5)))
    room = client.rooms["!g:x"]
    assert fetched == ["!g:x"] and states.is_loaded("!g:x")
    # Joined and invited members count (a DM must not look like a group, nor the reverse).
    assert room.member_count == 3 and room.members_synced and not room.encrypted

    for _ in range(2):
        await states.ensure_sendable("!p:x", probe)
    assert probed == ["!p:x"] and fetched == ["!g:x"]  # one small read, no member list
    assert not client.rooms["!p:x"].encrypted and not states.is_loaded("!p:x")

    await states.ensure_sendable("!e:x", probe)
    assert fetched[-1] == "!e:x" and client.rooms["!e:x"].encrypted and "!e:x" in client.encrypted_rooms
    # A room once seen encrypted is never probed again, even after it is forgotten.
    states.forget("!e:x")
    await states.ensure_sendable("!e:x", probe)
    assert probed == ["!p:x", "!e:x"] and fetched.count("!e:x") == 2
    await client.close()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"messages_per_second": 0, "burst_count": 0}, "lifted"),
        ({}, "limited"),  # no override: the homeserver's defaults apply
        ({"messages_per_second": 5, "burst_count": 0}, "limited"),
    ],
)
def test_the_rate_limit_override_is_read_as_lifted_only_when_it_lifts(
    override: dict[str, int], expected: str
) -> None:
    assert verdict(override) == expected


async def test_the_first_refusal_for_rate_limits_says_how_to_lift_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await fake_bot(tmp_path, [])
    calls: list[str] = []

    async def limited(room: RoomID, kind: str, event_type: str, content: Any, txn_id: str) -> Any:
        calls.append(txn_id)
        if len(calls) <= 2:
            raise RateLimited(1, "slow down")
        return f"$ok{len(calls)}"

    await bot.outbox.stop()
    bot.outbox = Outbox(bot.db, bot.name, limited, clock=lambda: bot.now.timestamp())
    bot.outbox.start()
    try:
        await bot.outbox.enqueue(RoomID("!r:test.example"), notice("x"), "t-1")
        await bot.outbox.drain()
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert len([w for w in warnings if "override_ratelimit" in w]) == 1  # once, not per 429
    finally:
        await close(bot)


async def test_the_outbox_says_it_fans_out_only_while_rooms_wait_for_a_slot(tmp_path: Path) -> None:
    from storage.db import Database

    db = await Database.open(tmp_path / "fan.db")
    gate = asyncio.Event()
    sent: list[str] = []

    async def send(room: RoomID, kind: str, event_type: str, content: dict[str, Any], txn: str) -> Any:
        await gate.wait()
        sent.append(room)
        return f"$e{len(sent)}"

    outbox = Outbox(db, "@bot:test.example", send, concurrency=2)
    outbox.start()
    try:
        assert not outbox.fanning_out()
        await outbox.enqueue(RoomID("!one:x"), notice("a reply"), "reply-1")
        await wait_for(lambda: outbox._busy_rooms == {"!one:x"}, "the reply is being sent")
        assert not outbox.fanning_out()  # one reply: a slot to spare
        rooms = [RoomID(f"!r{i}:x") for i in range(6)]
        await outbox.enqueue_batch([Queued(r, notice("phase"), f"p-{r}") for r in rooms])
        await wait_for(outbox.fanning_out, "the phase waits for slots")
        gate.set()
        await outbox.drain()
        assert len(sent) == 7
        assert not outbox.fanning_out()
    finally:
        await outbox.stop()
        await db.close()


async def test_the_sync_loop_pauses_between_syncs_only_while_the_outbox_fans_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # While the outbox fans out: a pause between syncs, each sync without a long poll and
    # without the bot's own events; as soon as it ends, the joined rooms are listed again (a leave of
    # its own those syncs hid).
    from bots.runtime import sync as sync_module

    bot = await fake_bot(tmp_path, [])
    batches = [
        SimpleNamespace(rooms=SimpleNamespace(invite={}, join={}, leave={}), next_batch=f"s{i}")
        for i in range(4)
    ]
    calls: list[tuple[str | None, bool, bool]] = []
    pauses: list[float] = []
    rechecks: list[int] = []
    real_sleep = bot._sleep

    async def fake_sync(since: str | None, at_once: bool) -> Any:
        calls.append((since, at_once, bot.hiding_own_events))
        if batches:
            return batches.pop(0)
        await bot._stopping.wait()
        raise TransportError("stopping")

    async def no_housekeeping(resp: Any) -> None:
        return None

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        await real_sleep(0)

    async def recheck() -> None:
        rechecks.append(len(calls))

    bot.client = SimpleNamespace(rooms={})  # type: ignore[assignment]
    bot._sync = fake_sync  # type: ignore[method-assign]
    bot._housekeeping = no_housekeeping  # type: ignore[method-assign]
    bot._sleep = sleep  # type: ignore[method-assign]
    bot._recheck_joined = recheck  # type: ignore[method-assign]
    monkeypatch.setattr(bot.outbox, "fanning_out", lambda: len(batches) >= 2)
    task = asyncio.create_task(bot.run())
    try:
        await wait_for(lambda: len(calls) == 5, "four syncs were read")
        assert pauses == [sync_module.FAN_OUT_SYNC_PAUSE_S] * 2
        assert calls[:4] == [
            (None, True, False),
            ("s0", True, True),
            ("s1", True, True),
            ("s2", False, False),
        ]
        assert rechecks == [3]  # once, as the fan-out ends: before the next sync, a long poll
    finally:
        bot.stop()
        await asyncio.wait_for(task, 10)
        await close(bot)


def test_the_fan_out_filter_leaves_only_the_bots_own_events_out() -> None:
    from bots.runtime.sync import RUNNING_SYNC_FILTER, fan_out_sync_filter

    hidden = fan_out_sync_filter("@bot:x")
    assert hidden["room"]["timeline"] == {"not_senders": ["@bot:x"]}
    assert {k: v for k, v in hidden["room"].items() if k != "timeline"} == RUNNING_SYNC_FILTER["room"]
    assert hidden["presence"] == RUNNING_SYNC_FILTER["presence"]


def sync_body(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"next_batch": "s2", "rooms": {"join": {"!r:x": {"timeline": {"events": events}}}}}


async def test_the_bots_own_messages_are_dropped_before_nio_parses_a_sync() -> None:
    from bots.runtime.sync_lean import drop_own_echoes, spare_nio

    me = "@bot:x"
    own_message = {"type": "m.room.message", "sender": me, "event_id": "$1", "content": {"body": "x"}}
    own_join = {"type": "m.room.member", "sender": me, "state_key": me, "event_id": "$2", "content": {}}
    theirs = {"type": "m.room.message", "sender": "@alice:x", "event_id": "$3", "content": {}}
    body = sync_body([own_message, own_join, theirs])
    assert drop_own_echoes(body, me) == 1
    assert body["rooms"]["join"]["!r:x"]["timeline"]["events"] == [own_join, theirs]
    # Not a sync body (a /messages page): untouched.
    page = {"chunk": [own_message], "start": "t"}
    assert drop_own_echoes(page, me) == 0 and page["chunk"] == [own_message]

    client = AsyncClient("https://example.org", me)
    saved: list[Any] = []
    client.store = SimpleNamespace(save_encrypted_rooms=saved.append)  # type: ignore[assignment]

    class Response:
        async def json(self) -> Any:
            return sync_body([dict(own_message), dict(theirs)])

    spare_nio(client, me)
    spare_nio(client, me)  # once only
    parsed = await client.parse_body(Response())  # type: ignore[arg-type]
    assert [e["event_id"] for e in parsed["rooms"]["join"]["!r:x"]["timeline"]["events"]] == ["$3"]
    client.store.save_encrypted_rooms(set())
    client.store.save_encrypted_rooms({"!enc:x"})
    assert saved == [{"!enc:x"}]
    await client.close()
