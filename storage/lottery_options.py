"""A room's lottery options: the window for chance and whether a role is drawn again when its
mandate ends (``!roles window``, ``!roles redraw``); a room that never set them reads the
defaults.

Table ``lottery_room_option`` (migration 006), each row its bot's (migration 011).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.db import Database
from storage.times import to_ts as _ts


@dataclass(frozen=True)
class Options:
    """A room's lottery options, defaults filled in."""

    commit_window: timedelta
    redraw: bool


class RoomOptions:
    def __init__(self, db: Database, bot: str, default_window: timedelta, default_redraw: bool) -> None:
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
