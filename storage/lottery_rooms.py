"""What the role lottery remembers beyond migration 002: per-room options and cell rooms.

- :class:`RoomOptions`: a room's commitment window and whether a mandate that ends is drawn
  again (``!roles window``, ``!roles redraw``); a room that never set them reads the defaults;
- :class:`CellRooms`: the rooms made for affinity cells, each with its sunset. The cells are
  written before their rooms are created, so a command handled again after a crash invites the
  same people to the same cells instead of drawing new ones.

Tables of migration 006, each row its bot's (migration 011). Times are UTC unix seconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite

from storage.db import Database
from storage.times import from_ts as _dt
from storage.times import to_ts as _ts


@dataclass(frozen=True)
class Options:
    """A room's lottery options, defaults filled in."""

    commit_window: timedelta
    redraw: bool


class RoomOptions:
    def __init__(
        self, db: Database, bot: str, default_window: timedelta, default_redraw: bool
    ) -> None:
        self._db = db
        self._bot = bot
        self._default_window = default_window
        self._default_redraw = default_redraw

    async def get(self, room_id: str) -> Options:
        row = await self._db.fetchone(
            "SELECT commit_window_s, redraw FROM lottery_room_option WHERE bot = ? AND room_id = ?",
            (self._bot, room_id),
        )
        window, redraw = self._default_window, self._default_redraw
        if row is not None and row["commit_window_s"] is not None:
            window = timedelta(seconds=int(row["commit_window_s"]))
        if row is not None and row["redraw"] is not None:
            redraw = bool(row["redraw"])
        return Options(window, redraw)

    async def set_window(self, room_id: str, window: timedelta, now: datetime) -> None:
        if window <= timedelta(0):
            raise ValueError("a window must be positive")
        await self._upsert(room_id, "commit_window_s", int(window.total_seconds()), now)

    async def set_redraw(self, room_id: str, redraw: bool, now: datetime) -> None:
        await self._upsert(room_id, "redraw", int(redraw), now)

    async def forget_room(self, room_id: str) -> int:
        """Delete a room's options (the bot is out of it); rows deleted."""
        return await self._db.execute(
            "DELETE FROM lottery_room_option WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )

    async def rooms_redrawing(self) -> list[str]:
        rows = await self._db.fetchall(
            "SELECT room_id FROM lottery_room_option WHERE bot = ? AND redraw = 1", (self._bot,)
        )
        return [r["room_id"] for r in rows]

    async def _upsert(self, room_id: str, column: str, value: int, now: datetime) -> None:
        assert column in ("commit_window_s", "redraw")
        await self._db.execute(
            f"INSERT INTO lottery_room_option (bot, room_id, {column}, updated_at) "
            "VALUES (?, ?, ?, ?) "
            f"ON CONFLICT (bot, room_id) DO UPDATE SET {column} = excluded.{column}, "
            "updated_at = excluded.updated_at",
            (self._bot, room_id, value, _ts(now)),
        )


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
                        self._bot, parent_room_id, source, index, json.dumps(list(members)),
                        _ts(sunset_at), _ts(now),
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
            "SELECT COUNT(*) FROM lottery_cell_room "
            "WHERE bot = ? AND parent_room_id = ? AND created_at >= ?",
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
