"""One outbox for everything the bots send.

A message is first written to the ``outbox`` table with a stable transaction id, then a worker
sends it. Because the homeserver deduplicates by (device, transaction id), a retry after a crash
or a timeout never doubles a message, and because the row is written first, nothing accepted is
lost. ``M_LIMIT_EXCEEDED`` waits ``retry_after_ms``; transport errors back off and retry forever;
only permanent refusals (kicked, room gone) mark a row failed, recorded for the feature to report.

Each row has a kind (:data:`KINDS`): a message, an edit, a redaction or a file upload, which the
send function (``bots.runtime.delivery.KindedSender``) delivers each its way. Other homeserver
errors give a message up after :data:`MAX_ATTEMPTS_OTHER_ERRORS` tries, but an edit or a
redaction is tried until it lands or is refused for good: the redaction of an expired record must
happen, and a feature deletes its own rows as soon as the redaction is queued (the pending row is
the durable promise; :meth:`Outbox.forget_older_than` never drops a pending row).

Messages to one room go out in order, one at a time; different rooms go out concurrently, and
fairly: rooms take turns, one message per turn (round-robin), so one room's flood (a coalition
broadcast of thousands of messages) never holds a sending slot while another room waits. A room
with an urgent row waiting (``urgent=True`` on enqueue: a herald's stand-down) takes its next
turn first. The outbox reads no feature's transaction ids: the sender says what is urgent.

At a thousand rooms the outbox's own SQLite round trips (each a hop through aiosqlite's thread)
were most of what the bot added to a phase, so they are batched: the next message of up to
:data:`PREFETCH_TURNS` rounds of the sending slots is read in one statement (with how many each
room has left, so a turn needs no count afterwards), and the rows finished while a write is under way are
marked sent together, in one transaction (a group commit). A turn gives its sending slot to the
next room as soon as its send is answered, but its room's next turn waits until the row is
marked, so that it never reads the row again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bots.runtime import metrics
from bots.runtime.errors import PERMANENT, MatrixError, RateLimited, TransportError
from bots.runtime.ids import EventID, RoomID
from bots.runtime.ratelimit_check import FIX as RATE_LIMIT_FIX
from storage.db import Database

log = logging.getLogger(__name__)

# send(room_id, kind, event_type, content, txn_id) -> the event id (a redaction: the redacted one)
SendFn = Callable[[RoomID, str, str, dict[str, Any], str], Awaitable[EventID]]
PrepareFn = Callable[[RoomID], Awaitable[None]]

MAX_ATTEMPTS_OTHER_ERRORS = 8
# The first pause after a failed send; it doubles up to MAX_BACKOFF_S.
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0
KINDS = ("message", "edit", "redaction", "upload")
# Kinds retried on any non-permanent homeserver error until they land.
UNTIL_DONE = frozenset({"edit", "redaction"})
# One read fetches the next messages of the rooms whose turns come in this many rounds of the
# sending slots (16 rooms at the default concurrency of 8). Few rounds: a row read ahead is sent
# even if deleted meanwhile (a forgotten room's pending row), so the read stays close to the send.
PREFETCH_TURNS = 2
_HEAD_COLUMNS = "o.id, o.txn_id, o.room_id, o.kind, o.event_type, o.content, o.attempts, o.urgent"
_FINISH = (
    "UPDATE outbox SET state = ?, event_id = ?, error = ?, attempts = ?, sent_at = ?, content = '{}' "
    "WHERE id = ?"
)


@dataclass(frozen=True)
class _Head:
    """A room's oldest pending row, read ahead of its turn, and what the room had pending then."""

    row: Any
    pending: int  # rows pending in the room, this one included
    urgent_after: bool  # an urgent row other than this one waits in the room


@dataclass(frozen=True)
class Queued:
    """One message for :meth:`Outbox.enqueue_batch`."""

    room_id: RoomID
    content: dict[str, Any]
    txn_id: str
    event_type: str = "m.room.message"
    kind: str = "message"
    urgent: bool = False  # its room's next turn comes before every other room's (a stand-down)


@dataclass(frozen=True)
class Delivery:
    txn_id: str
    room_id: RoomID
    state: str
    event_id: EventID | None
    error: str | None
    sent_at: float | None = None  # when it was finished (sent or refused), by the outbox's clock


class _Slot:
    """A turn's sending slot, given back once: when its send is answered (``early``) or when the
    turn ends. A room with an urgent row waiting keeps it to the end of its turn: it takes the
    next turn itself, not the room behind it."""

    def __init__(self, outbox: Outbox, room: str) -> None:
        self._outbox: Outbox | None = outbox
        self.room = room
        self.urgent_next = False

    def release(self, early: bool = False) -> None:
        outbox = self._outbox
        if outbox is None:
            return
        if early and (self.urgent_next or outbox._enqueued_since.get(self.room)):
            return
        self._outbox = None
        outbox._sending -= 1
        outbox._wake.set()


class Outbox:
    def __init__(
        self,
        db: Database,
        bot: str,
        send: SendFn,
        prepare: PrepareFn | None = None,
        concurrency: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.bot = bot
        self._send = send
        self._prepare = prepare
        self._clock = clock
        self._wake = asyncio.Event()
        self._concurrency = max(1, concurrency)
        # Rooms with something to send, in turn order; a room is in at most one of
        # ``_ready`` (waiting for its turn) and ``_busy_rooms`` (being served now).
        self._ready: deque[str] = deque()
        self._busy_rooms: set[str] = set()
        self._sending = 0  # turns holding a sending slot (a busy room whose send was answered
        # waits for its row to be marked without one)
        self._rescan = True
        self._waiters: dict[str, list[asyncio.Future[Delivery]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._warned_rate_limit = False  # the first 429 of a process says how to lift the limit
        # Read ahead: rooms' next rows (popped by their turn), and rooms enqueued to since their
        # row was read (True: an urgent row among them).
        self._heads: dict[str, _Head] = {}
        self._enqueued_since: dict[str, bool] = {}
        self._prefetching = asyncio.Lock()
        # Group commit: finished rows waiting to be marked, and the task marking them.
        self._finishing: list[tuple[tuple[Any, ...], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    # -- enqueueing -------------------------------------------------------------------------

    async def enqueue(
        self,
        room_id: RoomID,
        content: dict[str, Any],
        txn_id: str,
        event_type: str = "m.room.message",
        *,
        kind: str = "message",
        urgent: bool = False,
    ) -> bool:
        """Accept a message (or an edit, redaction, upload: ``kind``) for sending. Returns False
        if this txn id was already accepted. ``urgent``: the room's next turn comes before every
        other room's (a stand-down must not wait behind a broadcast to a thousand rooms)."""
        if kind not in KINDS:
            raise ValueError(f"unknown outbox kind {kind!r}; one of {', '.join(KINDS)}")
        changed = await self.db.execute(
            "INSERT OR IGNORE INTO outbox "
            "(bot, txn_id, room_id, kind, event_type, content, created_at, urgent) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self.bot, txn_id, room_id, kind, event_type, json.dumps(content), self._clock(), int(urgent)),
        )
        self._note_enqueued(room_id, urgent)
        self._rescan = True
        self._wake.set()
        return changed > 0

    async def enqueue_batch(self, items: Sequence[Queued]) -> int:
        """Accept many messages in one transaction (a herald phase to every member room): all of
        them are accepted or, on an error, none; how many were new (a txn id already accepted
        is skipped). One commit instead of one per room, and no room starts before all are in."""
        for item in items:
            if item.kind not in KINDS:
                raise ValueError(f"unknown outbox kind {item.kind!r}; one of {', '.join(KINDS)}")
        now = self._clock()
        added = 0
        async with self.db.transaction() as conn:
            for item in items:
                cur = await conn.execute(
                    "INSERT OR IGNORE INTO outbox "
                    "(bot, txn_id, room_id, kind, event_type, content, created_at, urgent) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        self.bot,
                        item.txn_id,
                        item.room_id,
                        item.kind,
                        item.event_type,
                        json.dumps(item.content),
                        now,
                        int(item.urgent),
                    ),
                )
                added += max(cur.rowcount, 0)
        for item in items:
            self._note_enqueued(item.room_id, item.urgent)
        self._rescan = True
        self._wake.set()
        return added

    def _note_enqueued(self, room_id: str, urgent: bool) -> None:
        """A row was added to ``room_id`` after its next row may have been read: its turn must
        not conclude from that read that nothing is left."""
        self._enqueued_since[room_id] = self._enqueued_since.get(room_id, False) or urgent

    async def send(
        self,
        room_id: RoomID,
        content: dict[str, Any],
        txn_id: str,
        event_type: str = "m.room.message",
        timeout: float = 120,
        *,
        kind: str = "message",
        urgent: bool = False,
    ) -> Delivery:
        """Enqueue and wait until the message is sent (or refused for good)."""
        await self.enqueue(room_id, content, txn_id, event_type, kind=kind, urgent=urgent)
        return await self.wait(txn_id, timeout)

    async def wait(self, txn_id: str, timeout: float = 120) -> Delivery:
        done = await self.delivery(txn_id)
        if done is not None and done.state != "pending":
            return done
        fut: asyncio.Future[Delivery] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(txn_id, []).append(fut)
        # The row may have been finished between our read and registering the waiter.
        done = await self.delivery(txn_id)
        if done is not None and done.state != "pending":
            return done
        return await asyncio.wait_for(fut, timeout)

    async def delivery(self, txn_id: str) -> Delivery | None:
        row = await self.db.fetchone(
            "SELECT txn_id, room_id, state, event_id, error, sent_at FROM outbox "
            "WHERE bot = ? AND txn_id = ?",
            (self.bot, txn_id),
        )
        if row is None:
            return None
        return Delivery(
            row["txn_id"],
            RoomID(row["room_id"]),
            row["state"],
            row["event_id"],
            row["error"],
            row["sent_at"],
        )

    async def pending_count(self) -> int:
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM outbox WHERE bot = ? AND state = 'pending'", (self.bot,)
        )
        return int(row[0]) if row else 0

    def fanning_out(self) -> bool:
        """Every sending slot busy and rooms still waiting for a turn (a broadcast); no read."""
        return bool(self._ready) and self._sending >= self._concurrency

    async def forget_older_than(self, cutoff: float) -> int:
        """Finished rows are only needed for deduplication and reports; drop them in time."""
        return await self.db.execute(
            "DELETE FROM outbox WHERE bot = ? AND state != 'pending' AND created_at < ?",
            (self.bot, cutoff),
        )

    # -- the worker -------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"outbox:{self.bot}")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for task in list(self._inflight):
            task.cancel()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._flusher is not None:  # rows already sent are marked before the outbox stops
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def drain(self, timeout: float = 30) -> None:
        """Wait until nothing is pending (for a graceful stop and for tests)."""
        deadline = time.monotonic() + timeout
        # Polls the table: rows may be finished by another outbox on the same database.
        while await self.pending_count() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            if self._rescan:
                self._rescan = False
                await self._scan()
            while self._ready and self._sending < self._concurrency:
                room = self._ready.popleft()
                self._busy_rooms.add(room)
                self._sending += 1
                task = asyncio.create_task(self._turn(room))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            # Come back when a turn ends or something new is enqueued.
            await self._wake.wait()

    async def _scan(self) -> None:
        """Give every room with pending messages a place in the turn order (oldest first, rooms
        with an urgent row waiting before all others); rooms already queued keep their place,
        except that an urgent row moves its room to the front."""
        rows = await self.db.fetchall(
            "SELECT room_id, MIN(id) AS first, COUNT(*) AS n, MAX(urgent) AS urgent "
            "FROM outbox WHERE bot = ? AND state = 'pending' GROUP BY room_id "
            "ORDER BY urgent DESC, first",
            (self.bot,),
        )
        metrics.OUTBOX_PENDING.labels(self.bot).set(sum(int(r["n"]) for r in rows))
        queued = set(self._ready)
        urgent: list[str] = []
        for row in rows:
            room = row["room_id"]
            if row["urgent"] and room not in self._busy_rooms:
                urgent.append(room)
            elif room not in queued and room not in self._busy_rooms:
                self._ready.append(room)
        if urgent:
            rest = [room for room in self._ready if room not in set(urgent)]
            self._ready = deque([*urgent, *rest])

    async def _turn(self, room: str) -> None:
        """One turn of a room: send its oldest pending message, then queue it again (at the
        back, or at the front if an urgent row waits) while it has more."""
        again: bool | None = None
        slot = _Slot(self, room)
        try:
            if self._stopping:
                return
            head = self._heads.pop(room, None)
            if head is None:
                await self._prefetch(room)
                head = self._heads.pop(room, None)
            if head is None:
                return
            slot.urgent_next = head.urgent_after
            await self._deliver(head.row, slot)
            late = self._enqueued_since.pop(room, None)
            if head.pending > 1 or late is not None:
                again = head.urgent_after or bool(late)
        finally:
            slot.release()
            self._busy_rooms.discard(room)
            if again is not None and not self._stopping:
                if again:
                    self._ready.appendleft(room)
                else:
                    self._ready.append(room)
            self._wake.set()

    async def _prefetch(self, room: str) -> None:
        """Read the oldest pending row of ``room`` and of the next rooms waiting for a turn
        whose row is not read yet, :data:`PREFETCH_TURNS` rounds of the slots, in one statement."""
        async with self._prefetching:
            if room in self._heads:  # another turn's read took it
                return
            rooms = [room]
            for other in self._ready:
                if len(rooms) >= PREFETCH_TURNS * self._concurrency:
                    break
                if other not in self._heads:
                    rooms.append(other)
            for r in rooms:  # what is enqueued from now on is noticed at the turn's end
                self._enqueued_since.pop(r, None)
            marks = ", ".join("?" * len(rooms))
            rows = await self.db.fetchall(
                f"SELECT {_HEAD_COLUMNS}, h.n, h.urgent_rows FROM ("
                "SELECT MIN(id) AS id, COUNT(*) AS n, SUM(urgent) AS urgent_rows FROM outbox "
                f"WHERE bot = ? AND state = 'pending' AND room_id IN ({marks}) GROUP BY room_id"
                ") h JOIN outbox o ON o.id = h.id",
                (self.bot, *rooms),
            )
            for row in rows:
                urgent_after = int(row["urgent_rows"]) - int(row["urgent"]) > 0
                self._heads[str(row["room_id"])] = _Head(row, int(row["n"]), urgent_after)

    async def _deliver(self, row: Any, slot: _Slot | None = None) -> None:
        txn_id, room_id = row["txn_id"], RoomID(row["room_id"])
        content = json.loads(row["content"])
        attempts = int(row["attempts"])
        kind = str(row["kind"])
        backoff = FIRST_BACKOFF_S
        while not self._stopping:
            attempts += 1
            started = time.monotonic()
            try:
                if self._prepare is not None and kind != "redaction":
                    await self._prepare(room_id)  # room keys go to trusted devices first
                event_id = await self._send(room_id, kind, row["event_type"], content, txn_id)
            except RateLimited as exc:
                metrics.RATE_LIMIT_WAITS.labels(self.bot).inc()
                if not self._warned_rate_limit:
                    self._warned_rate_limit = True
                    log.warning("%s is rate-limited by its homeserver; %s", self.bot, RATE_LIMIT_FIX)
                log.info("rate limited; waiting %d ms as the homeserver asks", exc.retry_after_ms)
                await asyncio.sleep(exc.retry_after_ms / 1000)
                continue
            except PERMANENT as exc:
                await self._finish(
                    row["id"], txn_id, room_id, "failed", None, f"{exc.errcode}: {exc}", attempts, slot
                )
                log.warning("delivery %s refused for good: %s", txn_id, exc.errcode)
                return
            except TransportError as exc:
                metrics.SEND_RETRIES.labels(self.bot).inc()
                log.info("delivery %s: homeserver away (%s); retrying in %.1fs", txn_id, exc, backoff)
                await self._note_attempt(row["id"], attempts)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            except MatrixError as exc:
                metrics.SEND_RETRIES.labels(self.bot).inc()
                if attempts >= MAX_ATTEMPTS_OTHER_ERRORS and kind not in UNTIL_DONE:
                    await self._finish(
                        row["id"], txn_id, room_id, "failed", None, f"{exc.errcode}: {exc}", attempts, slot
                    )
                    return
                await self._note_attempt(row["id"], attempts)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            except Exception:  # a bug in one send must not stop the outbox
                log.exception("delivery %s: unexpected error", txn_id)
                metrics.SEND_RETRIES.labels(self.bot).inc()
                if attempts >= MAX_ATTEMPTS_OTHER_ERRORS:
                    await self._finish(
                        row["id"], txn_id, room_id, "failed", None, "internal error", attempts, slot
                    )
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            metrics.SEND_LATENCY.labels(self.bot).observe(time.monotonic() - started)
            await self._finish(row["id"], txn_id, room_id, "sent", event_id, None, attempts, slot)
            return

    async def _note_attempt(self, row_id: int, attempts: int) -> None:
        await self.db.execute("UPDATE outbox SET attempts = ? WHERE id = ?", (attempts, row_id))

    async def _finish(
        self,
        row_id: int,
        txn_id: str,
        room_id: RoomID,
        state: str,
        event_id: EventID | None,
        error: str | None,
        attempts: int,
        slot: _Slot | None = None,
    ) -> None:
        # Once finished, the content is not needed: blank it so no message body outlives its
        # sending in our database (a reflection, a plan). The row stays for dedup and reports.
        finished = self._clock()
        marked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._finishing.append(((state, event_id, error, attempts, finished, row_id), marked))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name=f"outbox-finish:{self.bot}")
        if slot is not None:  # the next room sends while this row is being marked
            slot.release(early=True)
        await asyncio.shield(marked)
        result = Delivery(txn_id, room_id, state, event_id, error, finished)
        for fut in self._waiters.pop(txn_id, []):
            if not fut.done():
                fut.set_result(result)

    async def _flush(self) -> None:
        """Mark every finished row in one transaction; rows finished meanwhile go in the next."""
        try:
            while self._finishing:
                batch, self._finishing = self._finishing, []
                try:
                    async with self.db.transaction() as conn:
                        await conn.executemany(_FINISH, [params for params, _ in batch])
                except Exception as exc:  # each waiting turn fails as its own write would have
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                else:
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_result(None)
        finally:
            self._flusher = None
