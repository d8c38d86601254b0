"""Protocol runs: each planned message with its delivery, acknowledgement and escalation, and
the run's amendments. Deliveries and amendments go with their run."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from protocols.herald.plan import PlannedMessage, RunState
from storage.herald_run_retention import RunRetention
from storage.times import from_ts as _dt_req
from storage.times import from_ts_opt as _dt
from storage.times import to_ts as _ts

# --- runs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    run_id: str
    coalition: str
    template: str
    action_at: datetime
    state: RunState
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Delivery:
    """One planned message and what became of it (fields match ``protocols.herald.board``)."""

    id: int
    run_id: str
    phase_key: str
    room_id: str
    txn_id: str
    due_at: datetime
    body: str
    html: str
    state: str  # pending | sent | failed | cancelled
    event_id: str | None
    error: str | None
    sent_at: datetime | None
    ack_by: datetime | None
    acked_at: datetime | None
    acked_by: str | None
    escalation_step: int


@dataclass(frozen=True)
class Amendment:
    run_id: str
    seq: int
    text: str
    created_at: datetime


_RUN_COLUMNS = "run_id, coalition, template, action_at, state, created_at, updated_at"
_DELIVERY_COLUMNS = (
    "id, run_id, phase, room_id, txn_id, due_at, body, html, state, event_id, error, sent_at,"
    " ack_by, acked_at, acked_by, escalation_step"
)


def _run(row: Any) -> Run:
    return Run(row[0], row[1], row[2], _dt_req(row[3]), row[4], _dt_req(row[5]), _dt_req(row[6]))


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row[0],
        run_id=row[1],
        phase_key=row[2],
        room_id=row[3],
        txn_id=row[4],
        due_at=_dt_req(row[5]),
        body=row[6],
        html=row[7],
        state=row[8],
        event_id=row[9],
        error=row[10],
        sent_at=_dt(row[11]),
        ack_by=_dt(row[12]),
        acked_at=_dt(row[13]),
        acked_by=row[14],
        escalation_step=row[15],
    )


class HeraldRuns(RunRetention):
    """Protocol runs and their deliveries. State changes are compare-and-set: a second
    confirm, amend or cancel racing the first changes nothing and returns False."""

    async def create(
        self, run_id: str, coalition: str, template: str, action_at: datetime, now: datetime
    ) -> Run:
        await self._db.execute(
            f"INSERT INTO herald_run (bot, {_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, 'planned', ?, ?)",
            (self._bot, run_id, coalition, template, _ts(action_at), _ts(now), _ts(now)),
        )
        run = await self.get(run_id)
        assert run is not None
        return run

    async def get(self, run_id: str) -> Run | None:
        row = await self._db.fetchone(
            f"SELECT {_RUN_COLUMNS} FROM herald_run WHERE run_id = ? AND bot = ?",
            (run_id, self._bot),
        )
        return None if row is None else _run(row)

    async def list_for(self, coalition: str, states: Iterable[RunState] | None = None) -> list[Run]:
        """A coalition's runs by action time, optionally only in some states."""
        wanted = list(states) if states is not None else None
        sql = f"SELECT {_RUN_COLUMNS} FROM herald_run WHERE bot = ? AND coalition = ?"
        params: list[Any] = [self._bot, coalition]
        if wanted is not None:
            sql += f" AND state IN ({', '.join('?' for _ in wanted)})"
            params += wanted
        rows = await self._db.fetchall(sql + " ORDER BY action_at, run_id", params)
        return [_run(r) for r in rows]

    async def _insert_messages(self, messages: Sequence[PlannedMessage]) -> int:
        inserted = 0
        for m in messages:
            inserted += await self._db.execute(
                "INSERT OR IGNORE INTO herald_delivery"
                " (bot, run_id, phase, room_id, txn_id, due_at, body, html, ack_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self._bot,
                    m.run_id,
                    m.phase_key,
                    m.room_id,
                    m.txn_id,
                    _ts(m.due_at),
                    m.body,
                    m.html,
                    None if m.ack_by is None else _ts(m.ack_by),
                ),
            )
        return inserted

    async def confirm(self, run_id: str, messages: Sequence[PlannedMessage], now: datetime) -> bool:
        """planned -> confirmed, storing the whole plan in the same transaction."""
        async with self._db.transaction():
            changed = await self._db.execute(
                "UPDATE herald_run SET state = 'confirmed', updated_at = ?"
                " WHERE run_id = ? AND bot = ? AND state = 'planned'",
                (_ts(now), run_id, self._bot),
            )
            if changed != 1:
                return False
            await self._insert_messages(messages)
        return True

    async def add_messages(self, messages: Sequence[PlannedMessage]) -> int:
        """Store more planned messages; ones already stored (same txn id) are ignored."""
        async with self._db.transaction():
            return await self._insert_messages(messages)

    async def deliveries(self, run_id: str) -> list[Delivery]:
        rows = await self._db.fetchall(
            f"SELECT {_DELIVERY_COLUMNS} FROM herald_delivery WHERE run_id = ? AND bot = ?"
            " ORDER BY due_at, id",
            (run_id, self._bot),
        )
        return [_delivery(r) for r in rows]

    async def delivery(self, txn_id: str) -> Delivery | None:
        row = await self._db.fetchone(
            f"SELECT {_DELIVERY_COLUMNS} FROM herald_delivery WHERE txn_id = ? AND bot = ?",
            (txn_id, self._bot),
        )
        return None if row is None else _delivery(row)

    async def due(self, now: datetime, limit: int = 200) -> list[Delivery]:
        """Pending messages whose time has come, oldest first."""
        rows = await self._db.fetchall(
            f"SELECT {_DELIVERY_COLUMNS} FROM herald_delivery"
            " WHERE bot = ? AND state = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?",
            (self._bot, _ts(now), limit),
        )
        return [_delivery(r) for r in rows]

    async def due_for_run(self, run_id: str, now: datetime) -> list[Delivery]:
        """One run's pending messages whose time has come, oldest first."""
        rows = await self._db.fetchall(
            f"SELECT {_DELIVERY_COLUMNS} FROM herald_delivery"
            " WHERE run_id = ? AND bot = ? AND state = 'pending' AND due_at <= ?"
            " ORDER BY due_at, id",
            (run_id, self._bot, _ts(now)),
        )
        return [_delivery(r) for r in rows]

    async def pending(self) -> list[Delivery]:
        """Every message still to be sent (to rebuild the schedule at start-up)."""
        rows = await self._db.fetchall(
            f"SELECT {_DELIVERY_COLUMNS} FROM herald_delivery WHERE bot = ? AND state = 'pending'"
            " ORDER BY due_at, id",
            (self._bot,),
        )
        return [_delivery(r) for r in rows]

    async def by_event(self, room_id: str, event_id: str) -> Delivery | None:
        """The planned message that became Matrix event ``event_id`` (a reaction's target)."""
        row = await self._db.fetchone(
            f"SELECT {_DELIVERY_COLUMNS} FROM herald_delivery WHERE bot = ? AND room_id = ? AND event_id = ?",
            (self._bot, room_id, event_id),
        )
        return None if row is None else _delivery(row)

    async def awaiting_ack(self, room_id: str, run_id: str | None = None) -> list[Delivery]:
        """A room's delivered messages that still wait for its acknowledgement."""
        sql = (
            f"SELECT {_DELIVERY_COLUMNS} FROM herald_delivery WHERE bot = ? AND room_id = ?"
            " AND state = 'sent' AND ack_by IS NOT NULL AND acked_at IS NULL"
        )
        params: list[Any] = [self._bot, room_id]
        if run_id is not None:
            sql += " AND run_id = ?"
            params.append(run_id)
        rows = await self._db.fetchall(sql + " ORDER BY due_at, id", params)
        return [_delivery(r) for r in rows]

    async def runs_awaiting_acks(self) -> list[str]:
        """Runs with a delivered message still unacknowledged (escalation may be owed)."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT run_id FROM herald_delivery WHERE bot = ? AND state = 'sent'"
            " AND ack_by IS NOT NULL AND acked_at IS NULL ORDER BY run_id",
            (self._bot,),
        )
        return [r[0] for r in rows]

    async def skip(self, txn_id: str) -> bool:
        """A pending message that must not go out after all (its room left the coalition,
        or it fell due too long ago): pending -> cancelled."""
        changed = await self._db.execute(
            "UPDATE herald_delivery SET state = 'cancelled'"
            " WHERE txn_id = ? AND bot = ? AND state = 'pending'",
            (txn_id, self._bot),
        )
        return changed == 1

    async def next_due_at(self) -> datetime | None:
        """When the next pending message falls due (to schedule one wake-up)."""
        row = await self._db.fetchone(
            "SELECT MIN(due_at) FROM herald_delivery WHERE bot = ? AND state = 'pending'",
            (self._bot,),
        )
        return None if row is None else _dt(row[0])

    async def mark_sent(self, txn_id: str, event_id: str, now: datetime) -> bool:
        changed = await self._db.execute(
            "UPDATE herald_delivery SET state = 'sent', event_id = ?, sent_at = ?, error = NULL"
            " WHERE txn_id = ? AND bot = ? AND state IN ('pending', 'failed')",
            (event_id, _ts(now), txn_id, self._bot),
        )
        return changed == 1

    async def mark_failed(self, txn_id: str, error: str) -> bool:
        changed = await self._db.execute(
            "UPDATE herald_delivery SET state = 'failed', error = ?"
            " WHERE txn_id = ? AND bot = ? AND state = 'pending'",
            (error[:500], txn_id, self._bot),
        )
        return changed == 1

    async def ack(
        self,
        run_id: str,
        room_id: str,
        user_id: str,
        now: datetime,
        phase_key: str | None = None,
    ) -> int:
        """Acknowledge, for a room, every delivered message of the run that awaits it
        (or only ``phase_key``). Returns how many were acknowledged; 0 means nothing awaited."""
        sql = (
            "UPDATE herald_delivery SET acked_at = ?, acked_by = ?"
            " WHERE run_id = ? AND bot = ? AND room_id = ? AND state = 'sent'"
            " AND ack_by IS NOT NULL AND acked_at IS NULL"
        )
        params: list[Any] = [_ts(now), user_id, run_id, self._bot, room_id]
        if phase_key is not None:
            sql += " AND phase = ?"
            params.append(phase_key)
        return await self._db.execute(sql, params)

    async def record_escalation(self, txn_id: str, step: int) -> bool:
        """Note that escalation ``step`` was taken; False if it (or a later one) already was."""
        changed = await self._db.execute(
            "UPDATE herald_delivery SET escalation_step = ?"
            " WHERE txn_id = ? AND bot = ? AND escalation_step < ?",
            (step, txn_id, self._bot, step),
        )
        return changed == 1

    async def next_amendment_seq(self, run_id: str) -> int:
        row = await self._db.fetchone(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM herald_amendment WHERE run_id = ?", (run_id,)
        )
        return int(row[0]) if row is not None else 1

    async def amend(
        self,
        run_id: str,
        seq: int,
        text: str,
        messages: Sequence[PlannedMessage],
        now: datetime,
    ) -> bool:
        """Record amendment ``seq`` and its messages at once. False if the run is not
        confirmed or that amendment number is taken (a concurrent amend won)."""
        try:
            async with self._db.transaction():
                run = await self.get(run_id)
                if run is None or run.state != "confirmed":
                    return False
                await self._db.execute(
                    "INSERT INTO herald_amendment (run_id, seq, text, created_at) VALUES (?, ?, ?, ?)",
                    (run_id, seq, text, _ts(now)),
                )
                await self._insert_messages(messages)
                await self._db.execute(
                    "UPDATE herald_run SET updated_at = ? WHERE run_id = ? AND bot = ?",
                    (_ts(now), run_id, self._bot),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    async def amendments(self, run_id: str) -> list[Amendment]:
        rows = await self._db.fetchall(
            "SELECT run_id, seq, text, created_at FROM herald_amendment WHERE run_id = ? ORDER BY seq",
            (run_id,),
        )
        return [Amendment(r[0], r[1], r[2], _dt_req(r[3])) for r in rows]

    async def cancel(self, run_id: str, messages: Sequence[PlannedMessage], now: datetime) -> bool:
        """-> cancelled: every pending message is skipped and the stand-downs are stored,
        all in one transaction. False if the run was not planned or confirmed."""
        async with self._db.transaction():
            changed = await self._db.execute(
                "UPDATE herald_run SET state = 'cancelled', updated_at = ?"
                " WHERE run_id = ? AND bot = ? AND state IN ('planned', 'confirmed')",
                (_ts(now), run_id, self._bot),
            )
            if changed != 1:
                return False
            await self._db.execute(
                "UPDATE herald_delivery SET state = 'cancelled' WHERE run_id = ? AND state = 'pending'",
                (run_id,),
            )
            await self._insert_messages(messages)
        return True

    async def mark_done(self, run_id: str, now: datetime) -> bool:
        """confirmed -> done, only once nothing of the run is still pending."""
        changed = await self._db.execute(
            "UPDATE herald_run SET state = 'done', updated_at = ?"
            " WHERE run_id = ? AND bot = ? AND state = 'confirmed' AND NOT EXISTS"
            " (SELECT 1 FROM herald_delivery WHERE run_id = ? AND state = 'pending')",
            (_ts(now), run_id, self._bot, run_id),
        )
        return changed == 1

    async def amendments_since(self, run_id: str, since: datetime) -> int:
        """How many amendments the run got after ``since`` (the amendment quota)."""
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM herald_amendment WHERE run_id = ? AND created_at > ?",
            (run_id, _ts(since)),
        )
        return int(row[0]) if row is not None else 0
