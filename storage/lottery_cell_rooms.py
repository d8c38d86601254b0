"""The rooms made for affinity cells, each with its sunset.

The cells are written before their rooms are created, so a command handled again after a crash
invites the same people to the same cells instead of drawing new ones. Table
``lottery_cell_room`` (migration 006), each row its bot's (migration 011).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from storage.db import Database
from storage.times import from_ts as _dt
from storage.times import to_ts as _ts


@dataclass(frozen=True)
class CellRoom:
    id: int
    parent_room_id: str
    source: str
    cell_index: int
    members: tuple[str, ...]
    room_id: str | None
    sunset_at: datetime
    created_at: datetime
    closed: bool = False


def _cell(row: aiosqlite.Row) -> CellRoom:
    return CellRoom(
        id=int(row["id"]),
        parent_room_id=row["parent_room_id"],
        source=row["source"],
        cell_index=int(row["cell_index"]),
        members=tuple(json.loads(row["members"])),
        room_id=row["room_id"],
        sunset_at=_dt(row["sunset_at"]),
        created_at=_dt(row["created_at"]),
        closed=row["closed_at"] is not None,
    )


class CellRooms:
    """Cells that get a room of their own, from planning to sunset (this bot's only)."""

    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    async def plan(
        self,
        parent_room_id: str,
        source: str,
        cells: Sequence[Sequence[str]],
        sunset_at: datetime,
        now: datetime,
    ) -> list[CellRoom]:
        """Record the cells of one command (once: a second call returns the first plan)."""
        async with self._db.transaction():
            existing = await self.of_source(source)
            if existing:
                return existing
            for index, members in enumerate(cells):
                await self._db.execute(
                    "INSERT INTO lottery_cell_room (bot, parent_room_id, source, cell_index, "
                    "members, sunset_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        self._bot,
                        parent_room_id,
                        source,
                        index,
                        json.dumps(list(members)),
                        _ts(sunset_at),
                        _ts(now),
                    ),
                )
            return await self.of_source(source)

    async def of_source(self, source: str) -> list[CellRoom]:
        rows = await self._db.fetchall(
            "SELECT * FROM lottery_cell_room WHERE bot = ? AND source = ? ORDER BY cell_index",
            (self._bot, source),
        )
        return [_cell(r) for r in rows]

    async def made_since(self, parent_room_id: str, since: datetime) -> int:
        """How many cell rooms were planned for this room since ``since`` (for the daily cap)."""
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM lottery_cell_room WHERE bot = ? AND parent_room_id = ? AND created_at >= ?",
            (self._bot, parent_room_id, _ts(since)),
        )
        return int(row[0]) if row else 0

    async def set_room(self, cell_id: int, room_id: str) -> None:
        await self._db.execute(
            "UPDATE lottery_cell_room SET room_id = ? WHERE bot = ? AND id = ?",
            (room_id, self._bot, cell_id),
        )

    async def get(self, cell_id: int) -> CellRoom | None:
        row = await self._db.fetchone(
            "SELECT * FROM lottery_cell_room WHERE bot = ? AND id = ?", (self._bot, cell_id)
        )
        return None if row is None else _cell(row)

    async def open(self) -> list[CellRoom]:
        """Every cell room not yet closed (the scheduler rebuilds sunset jobs from it)."""
        rows = await self._db.fetchall(
            "SELECT * FROM lottery_cell_room WHERE bot = ? AND room_id IS NOT NULL "
            "AND closed_at IS NULL ORDER BY sunset_at, id",
            (self._bot,),
        )
        return [_cell(r) for r in rows]

    async def forget_unfinished(self, before: datetime) -> int:
        """Delete cells planned before ``before`` whose room was never created (a crash or a
        refusal mid-command: nobody was invited, so nothing has to be closed) or was closed."""
        return await self._db.execute(
            "DELETE FROM lottery_cell_room WHERE bot = ? "
            "AND (room_id IS NULL OR closed_at IS NOT NULL) AND created_at < ?",
            (self._bot, _ts(before)),
        )

    async def close(self, cell_id: int, now: datetime) -> bool:
        """The bot has left the cell room: forget who was in it. The row itself stays until a
        day after the room was made (:meth:`forget_unfinished`), for the daily cap."""
        changed = await self._db.execute(
            "UPDATE lottery_cell_room SET closed_at = ?, members = '[]' "
            "WHERE bot = ? AND id = ? AND closed_at IS NULL",
            (_ts(now), self._bot, cell_id),
        )
        return changed > 0
