"""Scheduled reshuffles' tables: ``care_cells`` (a room's schedule, its generation and the memory
of meetings as counts per pair) and ``care_cell_room`` (each cell of a generation, and its room)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import aiosqlite

from protocols.groups import Group, Pair
from protocols.reshuffle import CellsSchedule, parse_cells_schedule
from storage.db import Database


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True)
class StoredCells:
    id: int
    room_id: str
    spec: str
    schedule: CellsSchedule
    generation: int
    boundary_at: datetime | None
    handled_through: datetime
    met: Counter[Pair]
    created_at: datetime


@dataclass(frozen=True)
class CellRoom:
    id: int
    schedule_id: int
    generation: int
    cell_index: int
    members: Group
    room_id: str | None
    closed: bool


class CellSchedules:
    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    def _of(self, row: aiosqlite.Row) -> StoredCells:
        zone = ZoneInfo(row["zone"])
        created = _dt(row["created_at"])
        handled = _dt(row["handled_through"])
        assert created is not None and handled is not None
        schedule = parse_cells_schedule(row["spec"], zone, created, short_units=True)
        start = date.fromisoformat(row["start_date"])
        schedule = replace(schedule, recurrence=replace(schedule.recurrence, start=start))
        met: Counter[Pair] = Counter({frozenset(pair): int(n) for *pair, n in json.loads(row["met"])})
        return StoredCells(
            int(row["id"]),
            row["room_id"],
            row["spec"],
            schedule,
            int(row["generation"]),
            _dt(row["boundary_at"]),
            handled,
            met,
            created,
        )

    async def add(self, room_id: str, spec: str, schedule: CellsSchedule, now: datetime) -> int:
        return await self._db.insert(
            "INSERT INTO care_cells (bot, room_id, spec, start_date, zone, handled_through, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self._bot,
                room_id,
                spec,
                schedule.recurrence.start.isoformat(),
                schedule.recurrence.zone.key,
                now.timestamp(),
                now.timestamp(),
            ),
        )

    async def get(self, schedule_id: int) -> StoredCells | None:
        row = await self._db.fetchone(
            "SELECT * FROM care_cells WHERE id = ? AND bot = ?", (schedule_id, self._bot)
        )
        return None if row is None else self._of(row)

    async def in_room(self, room_id: str) -> StoredCells | None:
        row = await self._db.fetchone(
            "SELECT * FROM care_cells WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )
        return None if row is None else self._of(row)

    async def all(self) -> list[StoredCells]:
        rows = await self._db.fetchall("SELECT * FROM care_cells WHERE bot = ? ORDER BY id", (self._bot,))
        return [self._of(r) for r in rows]

    async def advance(
        self,
        stored: StoredCells,
        through: datetime,
        boundary: datetime | None,
        cells: tuple[Group, ...],
        met: Counter[Pair],
    ) -> bool:
        """Record a boundary (compare-and-set on the last one handled) and its new cells."""
        async with self._db.transaction():
            changed = await self._db.execute(
                "UPDATE care_cells SET handled_through = ?, generation = ?, boundary_at = ?, met = ? "
                "WHERE id = ? AND handled_through = ?",
                (
                    through.timestamp(),
                    stored.generation + (1 if cells else 0),
                    boundary.timestamp() if boundary is not None else _ts_or_none(stored.boundary_at),
                    json.dumps(sorted([*sorted(pair), n] for pair, n in met.items())),
                    stored.id,
                    stored.handled_through.timestamp(),
                ),
            )
            if not changed:
                return False
            for index, members in enumerate(cells):
                await self._db.insert(
                    "INSERT INTO care_cell_room (schedule_id, generation, cell_index, members) VALUES (?, ?, ?, ?)",
                    (stored.id, stored.generation + 1, index, json.dumps(list(members))),
                )
        return True

    async def cells(self, schedule_id: int) -> list[CellRoom]:
        rows = await self._db.fetchall(
            "SELECT * FROM care_cell_room WHERE schedule_id = ? ORDER BY generation, cell_index",
            (schedule_id,),
        )
        return [
            CellRoom(
                int(r["id"]),
                int(r["schedule_id"]),
                int(r["generation"]),
                int(r["cell_index"]),
                tuple(json.loads(r["members"])),
                r["room_id"],
                bool(r["closed"]),
            )
            for r in rows
        ]

    async def set_room(self, cell_id: int, room_id: str) -> None:
        await self._db.execute("UPDATE care_cell_room SET room_id = ? WHERE id = ?", (room_id, cell_id))

    async def close(self, cell_id: int) -> None:
        await self._db.execute("DELETE FROM care_cell_room WHERE id = ?", (cell_id,))

    async def pause_of(self, room_id: str) -> tuple[datetime | None, StoredCells] | None:
        """For a cell room: when its generation began, and its schedule (None: not a cell room)."""
        row = await self._db.fetchone(
            "SELECT c.id FROM care_cell_room r JOIN care_cells c ON c.id = r.schedule_id "
            "WHERE c.bot = ? AND r.room_id = ? AND r.generation = c.generation",
            (self._bot, room_id),
        )
        if row is None:
            return None
        stored = await self.get(int(row["id"]))
        return None if stored is None else (stored.boundary_at, stored)

    async def remove(self, schedule_id: int) -> None:
        await self._db.execute("DELETE FROM care_cells WHERE id = ?", (schedule_id,))

    async def forget_room(self, room_id: str) -> list[int]:
        """The parent room's schedule goes; a cell room's row goes (its cell is forgotten)."""
        rows = await self._db.fetchall(
            "SELECT id FROM care_cells WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )
        await self._db.execute("DELETE FROM care_cells WHERE bot = ? AND room_id = ?", (self._bot, room_id))
        await self._db.execute(
            "DELETE FROM care_cell_room WHERE room_id = ? AND schedule_id IN (SELECT id FROM care_cells WHERE bot = ?)",
            (room_id, self._bot),
        )
        return [int(r["id"]) for r in rows]


def _ts_or_none(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()
