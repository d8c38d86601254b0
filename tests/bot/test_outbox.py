"""The outbox, once for every feature: stable ids, rate limits, retries, refusals, order."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from bots.runtime.errors import Forbidden, MatrixError, RateLimited, TransportError
from bots.runtime.ids import EventID, RoomID
from bots.runtime.outbox import PREFETCH_TURNS, Outbox, Queued
from storage.db import Database, shipped_migrations


class FlakyHomeserver:
    def __init__(self) -> None:
        self.delivered: list[tuple[str, str]] = []
        self.by_txn: dict[str, str] = {}
        self.script: list[Exception] = []
        self.calls = 0

    async def send(
        self, room: RoomID, kind: str, event_type: str, content: dict[str, Any], txn: str
    ) -> EventID:
        self.calls += 1
        if self.script:
            raise self.script.pop(0)
        if txn not in self.by_txn:  # the homeserver deduplicates by transaction id
            self.by_txn[txn] = f"$e{len(self.by_txn)}"
            self.delivered.append((room, content["body"]))
        return EventID(self.by_txn[txn])


async def _outbox(tmp_path: Path, hs: FlakyHomeserver) -> tuple[Outbox, Database]:
    db = await Database.open(tmp_path / "a.db")
    box = Outbox(db, "@bot:x", hs.send, concurrency=4)
    box.start()
    return box, db


async def test_rate_limit_and_transport_errors_are_retried_nothing_doubled(tmp_path: Path) -> None:
    hs = FlakyHomeserver()
    hs.script = [RateLimited(50), TransportError("down"), TransportError("down")]
    box, db = await _outbox(tmp_path, hs)
    try:
        delivery = await box.send(RoomID("!a:x"), {"body": "one"}, "t1", timeout=10)
        assert delivery.state == "sent" and delivery.event_id == "$e0"
        # The same transaction id again: accepted once, delivered once.
        assert await box.enqueue(RoomID("!a:x"), {"body": "one"}, "t1") is False
        await box.drain(5)
        assert hs.delivered == [("!a:x", "one")]
        # Nothing of the message outlives its sending in our database.
        row = await db.fetchone("SELECT content FROM outbox WHERE txn_id = 't1'")
        assert row is not None and row["content"] == "{}"
        assert hs.calls == 4
    finally:
        await box.stop()
        await db.close()


async def test_permanent_refusal_is_recorded_and_others_go_on(tmp_path: Path) -> None:
    hs = FlakyHomeserver()
    hs.script = [Forbidden("kicked", "M_FORBIDDEN", 403)]
    box, db = await _outbox(tmp_path, hs)
    try:
        failed = await box.send(RoomID("!gone:x"), {"body": "x"}, "t-gone", timeout=10)
        assert failed.state == "failed" and "M_FORBIDDEN" in (failed.error or "")
        ok = await box.send(RoomID("!b:x"), {"body": "y"}, "t-ok", timeout=10)
        assert ok.state == "sent"
    finally:
        await box.stop()
        await db.close()


async def test_order_within_a_room_and_concurrency_across_rooms(tmp_path: Path) -> None:
    hs = FlakyHomeserver()
    box, db = await _outbox(tmp_path, hs)
    try:
        for i in range(20):
            for room in ("!a:x", "!b:x", "!c:x"):
                await box.enqueue(RoomID(room), {"body": str(i)}, f"{room}-{i}")
        await box.drain(10)
        for room in ("!a:x", "!b:x", "!c:x"):
            assert [b for r, b in hs.delivered if r == room] == [str(i) for i in range(20)]
    finally:
        await box.stop()
        await db.close()


async def test_pending_messages_survive_a_restart(tmp_path: Path) -> None:
    hs = FlakyHomeserver()
    db = await Database.open(tmp_path / "a.db")
    stopped = Outbox(db, "@bot:x", hs.send)  # never started: as if the process died
    await stopped.enqueue(RoomID("!a:x"), {"body": "kept"}, "t-kept")
    await db.close()
    db = await Database.open(tmp_path / "a.db")
    box = Outbox(db, "@bot:x", hs.send)
    box.start()
    try:
        await asyncio.wait_for(box.wait("t-kept"), 10)
        assert hs.delivered == [("!a:x", "kept")]
    finally:
        await box.stop()
        await db.close()


async def _fair_outbox(tmp_path: Path, hs: FlakyHomeserver, concurrency: int) -> tuple[Outbox, Database]:
    db = await Database.open(tmp_path / "fair.db")
    return Outbox(db, "@bot:x", hs.send, concurrency=concurrency), db


async def test_one_rooms_flood_does_not_delay_another_room(tmp_path: Path) -> None:
    # One coalition floods room A (500 messages, more than one fetch of the old worker); room B's
    # single message, enqueued after all of them, goes out among the first few: rooms take turns.
    hs = FlakyHomeserver()
    box, db = await _fair_outbox(tmp_path, hs, concurrency=1)
    try:
        for i in range(500):
            await box.enqueue(RoomID("!a:x"), {"body": f"a{i}"}, f"a-{i}")
        await box.enqueue(RoomID("!b:x"), {"body": "stand down"}, "b-0")
        box.start()
        await box.drain(60)
        order = [body for _, body in hs.delivered]
        assert order.index("stand down") < 3, order[:5]
        # Exactly once each, and room A's messages still in their order.
        assert len(order) == 501 and len(set(order)) == 501
        assert [b for r, b in hs.delivered if r == "!a:x"] == [f"a{i}" for i in range(500)]
    finally:
        await box.stop()
        await db.close()


async def test_a_room_enqueued_during_a_flood_gets_the_next_turn(tmp_path: Path) -> None:
    hs = FlakyHomeserver()
    box, db = await _fair_outbox(tmp_path, hs, concurrency=1)
    box.start()
    try:
        for i in range(300):
            await box.enqueue(RoomID("!a:x"), {"body": f"a{i}"}, f"a-{i}")
        sent_before = len(hs.delivered)
        delivery = await box.send(RoomID("!b:x"), {"body": "b"}, "b-0", timeout=30)
        assert delivery.state == "sent"
        assert hs.delivered.index(("!b:x", "b")) <= sent_before + 2
        await box.drain(60)
        assert len(hs.delivered) == 301
    finally:
        await box.stop()
        await db.close()


async def test_many_flooded_rooms_share_the_slots_round_robin(tmp_path: Path) -> None:
    # 20 rooms with 50 messages each fill every slot; a 21st room's message still gets a turn
    # within the first round instead of after the flooded rooms drain.
    hs = FlakyHomeserver()
    box, db = await _fair_outbox(tmp_path, hs, concurrency=4)
    try:
        for i in range(50):
            for r in range(20):
                await box.enqueue(RoomID(f"!r{r}:x"), {"body": f"r{r}-{i}"}, f"r{r}-{i}")
        await box.enqueue(RoomID("!late:x"), {"body": "late"}, "late-0")
        box.start()
        await box.drain(60)
        order = [body for _, body in hs.delivered]
        assert order.index("late") < 21 + 4, order[:30]
        assert len(order) == 1001 and len(set(order)) == 1001
        for r in range(20):
            assert [b for room, b in hs.delivered if room == f"!r{r}:x"] == [f"r{r}-{i}" for i in range(50)]
    finally:
        await box.stop()
        await db.close()


async def test_a_stand_down_takes_the_next_turn_before_other_rooms(tmp_path: Path) -> None:
    hs = FlakyHomeserver()
    box, db = await _fair_outbox(tmp_path, hs, concurrency=2)
    try:
        for i in range(10):
            for r in range(30):
                await box.enqueue(RoomID(f"!r{r}:x"), {"body": f"r{r}-{i}"}, f"r{r}-{i}")
        # A stand-down for one more room, marked urgent by its sender (its key says nothing).
        await box.enqueue(RoomID("!s:x"), {"body": "cancel"}, "plain-key-1", urgent=True)
        box.start()
        await box.drain(60)
        order = [body for _, body in hs.delivered]
        assert order.index("cancel") < 3, order[:5]
        assert len(order) == 301
    finally:
        await box.stop()
        await db.close()


async def test_a_key_shaped_like_a_stand_down_is_not_urgent_unless_marked(tmp_path: Path) -> None:
    hs = FlakyHomeserver()
    box, db = await _fair_outbox(tmp_path, hs, concurrency=2)
    try:
        for i in range(10):
            for r in range(30):
                await box.enqueue(RoomID(f"!r{r}:x"), {"body": f"r{r}-{i}"}, f"r{r}-{i}")
        # The herald's old stand-down key format, without the flag: the outbox reads no key.
        await box.enqueue(RoomID("!s:x"), {"body": "cancel"}, "aff-run1-cancel-0123456789ab")
        box.start()
        await box.drain(60)
        order = [body for _, body in hs.delivered]
        assert order.index("cancel") >= 20, order[:35]
        assert len(order) == 301
    finally:
        await box.stop()
        await db.close()


async def test_an_urgent_row_in_a_room_already_waiting_moves_it_to_the_front(tmp_path: Path) -> None:
    hs = FlakyHomeserver()
    box, db = await _fair_outbox(tmp_path, hs, concurrency=1)
    try:
        for i in range(5):
            for r in range(20):
                await box.enqueue(RoomID(f"!r{r}:x"), {"body": f"r{r}-{i}"}, f"r{r}-{i}")
        # Room 19 is last in the turn order; its urgent row is behind its own four others.
        await box.enqueue_batch([Queued(RoomID("!r19:x"), {"body": "stop"}, "stop-19", urgent=True)])
        box.start()
        await box.drain(60)
        order = [body for _, body in hs.delivered]
        mine = [b for room, b in hs.delivered if room == "!r19:x"]
        # The room's turns come first until its urgent row is out; its own order is kept.
        assert order.index("stop") < 8, order[:10]
        assert mine == ["r19-0", "r19-1", "r19-2", "r19-3", "r19-4", "stop"]
    finally:
        await box.stop()
        await db.close()


class KindedHomeserver:
    """A homeserver seen through ``KindedSender``: it records redactions and edits, and answers
    each call from a script first (an exception to raise)."""

    def __init__(self) -> None:
        self.script: list[Exception] = []
        self.redacted: list[tuple[str, str]] = []
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.calls = 0

    async def send_event(
        self, room_id: RoomID, event_type: str, content: dict[str, Any], txn_id: str
    ) -> EventID:
        self.calls += 1
        if self.script:
            raise self.script.pop(0)
        self.messages.append((room_id, content))
        return EventID(f"$m{len(self.messages)}")

    async def redact(
        self, room_id: RoomID, event_id: EventID, txn_id: str, reason: str | None = None
    ) -> None:
        self.calls += 1
        if self.script:
            raise self.script.pop(0)
        self.redacted.append((room_id, event_id))

    async def upload(self, data: bytes, content_type: str, filename: str) -> str:
        return "mxc://x/1"

    async def is_encrypted(self, room_id: RoomID) -> bool:
        return False


async def _kinded_outbox(tmp_path: Path, hs: KindedHomeserver) -> tuple[Outbox, Database]:
    from bots.runtime.delivery import KindedSender

    db = await Database.open(tmp_path / "k.db")
    box = Outbox(db, "@bot:x", KindedSender(hs).send)
    box.start()
    return box, db


async def test_a_redaction_that_fails_transiently_is_retried_until_it_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bots.runtime import outbox as outbox_module

    # Fewer tries than a message gets: a redaction must not be given up on all the same.
    monkeypatch.setattr(outbox_module, "MAX_ATTEMPTS_OTHER_ERRORS", 2)
    monkeypatch.setattr(outbox_module, "FIRST_BACKOFF_S", 0.001)
    hs = KindedHomeserver()
    hs.script = [
        MatrixError("busy", "M_UNKNOWN", 500),
        MatrixError("busy", "M_UNKNOWN", 502),
        MatrixError("busy", "M_UNKNOWN", 500),
    ]
    box, db = await _kinded_outbox(tmp_path, hs)
    try:
        done = await box.send(
            RoomID("!a:x"), {"redacts": "$old"}, "r1", "m.room.redaction", timeout=10, kind="redaction"
        )
        assert done.state == "sent" and hs.redacted == [("!a:x", "$old")]
        assert hs.calls == 4 and hs.messages == []  # sent as a redaction, never as an event
        row = await db.fetchone("SELECT kind, attempts FROM outbox WHERE txn_id = 'r1'")
        assert row is not None and row["kind"] == "redaction" and row["attempts"] == 4
        # An edit is kept trying too; a plain message gives up after its tries.
        hs.script = [MatrixError("busy", "M_UNKNOWN", 500)] * 3
        edit = await box.send(RoomID("!a:x"), {"body": "* new"}, "e1", timeout=10, kind="edit")
        assert edit.state == "sent"
        hs.script = [MatrixError("busy", "M_UNKNOWN", 500)] * 3
        message = await box.send(RoomID("!a:x"), {"body": "hello"}, "m1", timeout=10)
        assert message.state == "failed" and "M_UNKNOWN" in (message.error or "")
    finally:
        await box.stop()
        await db.close()


async def test_a_redaction_refused_for_good_ends_and_the_room_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bots.runtime import outbox as outbox_module

    monkeypatch.setattr(outbox_module, "FIRST_BACKOFF_S", 0.001)
    hs = KindedHomeserver()
    hs.script = [TransportError("away"), Forbidden("not in room", "M_FORBIDDEN", 403)]
    box, db = await _kinded_outbox(tmp_path, hs)
    try:
        done = await box.send(
            RoomID("!a:x"), {"redacts": "$old"}, "r1", "m.room.redaction", timeout=10, kind="redaction"
        )
        assert done.state == "failed" and "M_FORBIDDEN" in (done.error or "")
        assert hs.redacted == [] and await box.pending_count() == 0
        after = await box.send(RoomID("!a:x"), {"body": "next"}, "m1", timeout=10)
        assert after.state == "sent" and hs.messages == [("!a:x", {"body": "next"})]
    finally:
        await box.stop()
        await db.close()


async def test_pending_redactions_outlive_forgetting_and_unknown_kinds_are_refused(tmp_path: Path) -> None:
    hs = KindedHomeserver()
    db = await Database.open(tmp_path / "k.db")
    box = Outbox(db, "@bot:x", hs.send_event, clock=lambda: 1000.0)  # type: ignore[arg-type]  # never started
    try:
        await box.enqueue(RoomID("!a:x"), {"redacts": "$old"}, "r1", "m.room.redaction", kind="redaction")
        assert await box.forget_older_than(5000.0) == 0  # the pending row is the durable promise
        with pytest.raises(ValueError, match="unknown outbox kind"):
            await box.enqueue(RoomID("!a:x"), {}, "x1", kind="reaction")
        assert await box.delivery("x1") is None
    finally:
        await db.close()


async def test_a_stand_down_pending_before_the_upgrade_stays_urgent(tmp_path: Path) -> None:
    # A database from before migration 012 with a herald stand-down and another message pending:
    # the upgrade marks the stand-down urgent (the one place the old key format is still read).
    upto = [m for m in shipped_migrations() if m.version < 12]
    db = await Database.open(tmp_path / "old.db", upto)
    for txn in ("aff-run1-cancel-0123456789ab", "aff-run1-call-0123456789ab"):
        await db.execute(
            "INSERT INTO outbox (bot, txn_id, room_id, event_type, content, created_at) "
            "VALUES ('@bot:x', ?, '!r:x', 'm.room.message', '{}', 0)",
            (txn,),
        )
    await db.migrate(shipped_migrations())
    rows = await db.fetchall("SELECT txn_id, urgent FROM outbox ORDER BY id")
    await db.close()
    assert [(r["txn_id"], r["urgent"]) for r in rows] == [
        ("aff-run1-cancel-0123456789ab", 1),
        ("aff-run1-call-0123456789ab", 0),
    ]


class GatedHomeserver(FlakyHomeserver):
    """Holds every send until ``gate`` is set (a message in flight while others are queued)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.in_flight = asyncio.Event()

    async def send(
        self, room: RoomID, kind: str, event_type: str, content: dict[str, Any], txn: str
    ) -> EventID:
        self.in_flight.set()
        await self.gate.wait()
        return await super().send(room, kind, event_type, content, txn)


async def test_a_phase_reads_the_rooms_next_rows_in_batches_and_marks_them_together(tmp_path: Path) -> None:
    # A phase to 200 rooms: the outbox reads the next rows of many waiting rooms at once (not one
    # read per message, nor a count after each) and marks rows finished together.
    hs = FlakyHomeserver()
    db = await Database.open(tmp_path / "a.db")
    box = Outbox(db, "@bot:x", hs.send, concurrency=8)
    statements: list[str] = []
    await db._conn.set_trace_callback(statements.append)  # every statement SQLite runs
    try:
        await box.enqueue_batch([Queued(RoomID(f"!r{r}:x"), {"body": f"r{r}"}, f"t{r}") for r in range(200)])
        statements.clear()
        box.start()
        await box.drain(60)
        reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "JOIN outbox" in s]
        marks = [s for s in statements if s.lstrip().upper().startswith("UPDATE OUTBOX SET STATE")]
        commits = [s for s in statements if s.strip().upper() == "COMMIT"]
        assert len(hs.delivered) == 200 and len(set(hs.delivered)) == 200
        assert 1 <= len(reads) <= 200 // (PREFETCH_TURNS * 8) + 8 + 1, len(reads)
        assert len(marks) == 200  # every row marked (executemany: one statement each)
        assert len(commits) < 200, len(commits)
        row = await db.fetchone("SELECT COUNT(*) FROM outbox WHERE state = 'sent' AND content = '{}'")
        assert row is not None and row[0] == 200
    finally:
        await box.stop()
        await db.close()


async def test_a_row_queued_while_its_room_is_sending_is_not_left_behind(tmp_path: Path) -> None:
    # The room's next row was read ahead with nothing after it; a row queued for the room while
    # its message is in flight still goes out (its room is queued again when the turn ends),
    # and an urgent one takes the next turn before a room that was already waiting.
    hs = GatedHomeserver()
    db = await Database.open(tmp_path / "a.db")
    box = Outbox(db, "@bot:x", hs.send, concurrency=1)
    try:
        await box.enqueue(RoomID("!a:x"), {"body": "a0"}, "a0")
        box.start()
        await asyncio.wait_for(hs.in_flight.wait(), 5)
        await box.enqueue(RoomID("!b:x"), {"body": "b0"}, "b0")
        await box.enqueue(RoomID("!a:x"), {"body": "a1"}, "a1", urgent=True)
        await asyncio.sleep(0.3)  # the worker looks at the table again while "!a:x" is sending
        hs.gate.set()
        await box.drain(10)
        assert await box.pending_count() == 0
        assert [body for _, body in hs.delivered] == ["a0", "a1", "b0"]
    finally:
        await box.stop()
        await db.close()


async def test_a_stop_marks_what_was_already_sent(tmp_path: Path) -> None:
    hs = FlakyHomeserver()
    db = await Database.open(tmp_path / "a.db")
    box = Outbox(db, "@bot:x", hs.send, concurrency=4)
    try:
        box.start()
        delivery = await box.send(RoomID("!a:x"), {"body": "one"}, "t1", timeout=10)
        assert delivery.state == "sent"
        await box.stop()
        row = await db.fetchone("SELECT state, event_id FROM outbox WHERE txn_id = 't1'")
        assert row is not None and (row["state"], row["event_id"]) == ("sent", "$e0")
    finally:
        await db.close()


async def test_the_next_room_sends_while_the_last_row_is_being_marked(tmp_path: Path) -> None:
    # One sending slot: it goes to the next room as soon as a send is answered, not after the
    # database write that marks the row (a loaded machine makes that write wait).
    hs = FlakyHomeserver()
    db = await Database.open(tmp_path / "a.db")
    box = Outbox(db, "@bot:x", hs.send, concurrency=1)
    held = asyncio.Event()
    flush = box._flush

    async def slow_flush() -> None:
        await held.wait()
        await flush()

    box._flush = slow_flush  # type: ignore[method-assign]
    try:
        await box.enqueue_batch([Queued(RoomID(f"!r{r}:x"), {"body": f"r{r}"}, f"t{r}") for r in range(3)])
        box.start()
        await asyncio.wait_for(_until(lambda: len(hs.delivered) == 3), 5)
        assert await box.pending_count() == 3  # all sent, none marked yet
        held.set()
        await box.drain(5)
        assert await box.pending_count() == 0 and len(hs.delivered) == 3
    finally:
        held.set()
        await box.stop()
        await db.close()


async def _until(check: Any) -> None:
    while not check():  # noqa: ASYNC110 (a fake homeserver's list, polled)
        await asyncio.sleep(0.01)
