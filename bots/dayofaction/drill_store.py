"""A drill's tables: the drill, each phase in each room, and what the drill posted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from storage.db import Database


def _at(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


@dataclass(frozen=True)
class Drill:
    drill_id: str
    template: str
    coordination_room: str
    speed: int
    started_at: datetime
    ends_at: datetime
    reported: bool


@dataclass(frozen=True)
class DrillPhase:
    drill_id: str
    room_id: str
    phase: str
    seq: int
    due_at: datetime
    ack_within: timedelta | None
    event_id: str | None
    sent_at: datetime | None
    acked_at: datetime | None
    escalated: int


_PHASE = (
    "SELECT drill_id, room_id, phase, seq, due_at, ack_within, event_id, sent_at, acked_at, escalated"
    " FROM dayofaction_drill_phase"
)


def _phase(r: Any) -> DrillPhase:
    within = None if r[5] is None else timedelta(seconds=float(r[5]))
    due = datetime.fromtimestamp(float(r[4]), UTC)
    event = None if r[6] is None else str(r[6])
    return DrillPhase(
        str(r[0]), str(r[1]), str(r[2]), int(r[3]), due, within, event, _at(r[7]), _at(r[8]), int(r[9])
    )


class DrillStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, drill: Drill, phases: list[DrillPhase], forget_at: datetime) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO dayofaction_drill (drill_id, template, coordination_room, speed, started_at, ends_at,"
                " forget_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    drill.drill_id,
                    drill.template,
                    drill.coordination_room,
                    drill.speed,
                    drill.started_at.timestamp(),
                    drill.ends_at.timestamp(),
                    forget_at.timestamp(),
                ),
            )
            for p in phases:
                await conn.execute(
                    "INSERT INTO dayofaction_drill_phase (drill_id, room_id, phase, seq, due_at, ack_within)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        p.drill_id,
                        p.room_id,
                        p.phase,
                        p.seq,
                        p.due_at.timestamp(),
                        None if p.ack_within is None else p.ack_within.total_seconds(),
                    ),
                )

    async def get(self, drill_id: str) -> Drill | None:
        row = await self._db.fetchone(
            "SELECT drill_id, template, coordination_room, speed, started_at, ends_at, reported"
            " FROM dayofaction_drill WHERE drill_id = ?",
            (drill_id,),
        )
        if row is None:
            return None
        return Drill(
            str(row[0]),
            str(row[1]),
            str(row[2]),
            int(row[3]),
            _at(row[4]) or datetime.min,
            _at(row[5]) or datetime.min,
            bool(row[6]),
        )

    async def unreported(self) -> list[Drill]:
        rows = await self._db.fetchall("SELECT drill_id FROM dayofaction_drill WHERE reported = 0")
        found = [await self.get(str(r[0])) for r in rows]
        return [d for d in found if d is not None]

    async def phases(self, drill_id: str, seq: int | None = None) -> list[DrillPhase]:
        if seq is None:
            rows = await self._db.fetchall(_PHASE + " WHERE drill_id = ? ORDER BY seq, room_id", (drill_id,))
        else:
            rows = await self._db.fetchall(
                _PHASE + " WHERE drill_id = ? AND seq = ? ORDER BY room_id", (drill_id, seq)
            )
        return [_phase(r) for r in rows]

    async def by_event(self, room_id: str, event_id: str) -> DrillPhase | None:
        row = await self._db.fetchone(_PHASE + " WHERE room_id = ? AND event_id = ?", (room_id, event_id))
        return None if row is None else _phase(row)

    async def latest_unacked(self, room_id: str) -> DrillPhase | None:
        row = await self._db.fetchone(
            _PHASE
            + " WHERE room_id = ? AND sent_at IS NOT NULL AND acked_at IS NULL AND ack_within IS NOT NULL"
            " ORDER BY sent_at DESC LIMIT 1",
            (room_id,),
        )
        return None if row is None else _phase(row)

    async def sent(self, p: DrillPhase, event_id: str | None, at: datetime) -> None:
        await self._db.execute(
            "UPDATE dayofaction_drill_phase SET event_id = ?, sent_at = ? WHERE drill_id = ? AND room_id = ? AND phase = ?",
            (event_id, at.timestamp(), p.drill_id, p.room_id, p.phase),
        )

    async def acked(self, p: DrillPhase, at: datetime) -> bool:
        return (
            await self._db.execute(
                "UPDATE dayofaction_drill_phase SET acked_at = ? WHERE drill_id = ? AND room_id = ? AND phase = ?"
                " AND acked_at IS NULL",
                (at.timestamp(), p.drill_id, p.room_id, p.phase),
            )
            > 0
        )

    async def escalated(self, p: DrillPhase, step: int) -> bool:
        """Record step ``step`` (1-based) once; False if it was done already."""
        return (
            await self._db.execute(
                "UPDATE dayofaction_drill_phase SET escalated = ? WHERE drill_id = ? AND room_id = ? AND phase = ?"
                " AND escalated < ?",
                (step, p.drill_id, p.room_id, p.phase, step),
            )
            > 0
        )

    async def reported(self, drill_id: str) -> bool:
        return (
            await self._db.execute(
                "UPDATE dayofaction_drill SET reported = 1 WHERE drill_id = ? AND reported = 0", (drill_id,)
            )
            > 0
        )

    async def add_message(self, room_id: str, event_id: str, drill_id: str, forget_at: datetime) -> None:
        await self._db.execute(
            "INSERT OR IGNORE INTO dayofaction_message (room_id, event_id, drill_id, forget_at) VALUES (?, ?, ?, ?)",
            (room_id, event_id, drill_id, forget_at.timestamp()),
        )

    async def forget_at(self, drill_id: str) -> datetime | None:
        row = await self._db.fetchone(
            "SELECT forget_at FROM dayofaction_drill WHERE drill_id = ?", (drill_id,)
        )
        return None if row is None else _at(row[0])

    async def expired_messages(self, now: datetime) -> list[tuple[str, str]]:
        rows = await self._db.fetchall(
            "SELECT room_id, event_id FROM dayofaction_message WHERE forget_at <= ?", (now.timestamp(),)
        )
        return [(str(a), str(b)) for a, b in rows]

    async def forget(self, now: datetime) -> int:
        async with self._db.transaction() as conn:
            gone = (
                await conn.execute("DELETE FROM dayofaction_drill WHERE forget_at <= ?", (now.timestamp(),))
            ).rowcount
            await conn.execute("DELETE FROM dayofaction_message WHERE forget_at <= ?", (now.timestamp(),))
        return gone

    async def forget_room(self, room_id: str) -> None:
        async with self._db.transaction() as conn:
            await conn.execute("DELETE FROM dayofaction_drill_phase WHERE room_id = ?", (room_id,))
            await conn.execute("DELETE FROM dayofaction_message WHERE room_id = ?", (room_id,))
            await conn.execute("DELETE FROM dayofaction_drill WHERE coordination_room = ?", (room_id,))
