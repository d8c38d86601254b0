"""What the sync loop keeps in the database: its checkpoint, the events it handled, when it
joined each room, and whether it was invited to a room as a direct chat.

The token is saved only after every event of a batch was handled, and each handled event id is
recorded, so a restart (even one that gets an old cached sync from Synapse) answers nothing
twice and loses nothing. Events older than the bot's join of their room are never answered.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from storage.db import Database


class SyncStore:
    """One bot's rows of ``sync_checkpoint``, ``handled_event``, ``room_joined`` and ``room_kind``."""

    def __init__(self, db: Database, bot: str) -> None:
        self.db = db
        self.bot = bot

    async def load_checkpoint(self) -> str | None:
        row = await self.db.fetchone("SELECT next_batch FROM sync_checkpoint WHERE bot = ?", (self.bot,))
        return row["next_batch"] if row else None

    async def save_checkpoint(self, token: str) -> None:
        await self.db.execute(
            "INSERT INTO sync_checkpoint (bot, next_batch, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (bot) DO UPDATE SET next_batch = excluded.next_batch, "
            "updated_at = excluded.updated_at",
            (self.bot, token, time.time()),
        )

    async def already_handled(self, event_id: str) -> bool:
        row = await self.db.fetchone(
            "SELECT 1 FROM handled_event WHERE bot = ? AND event_id = ?", (self.bot, event_id)
        )
        return row is not None

    async def mark_handled(self, event_id: str) -> None:
        await self.db.execute(
            "INSERT OR IGNORE INTO handled_event (bot, event_id, handled_at) VALUES (?, ?, ?)",
            (self.bot, event_id, time.time()),
        )

    async def joined_ts(self, room_id: str) -> int | None:
        row = await self.db.fetchone(
            "SELECT joined_ts FROM room_joined WHERE bot = ? AND room_id = ?", (self.bot, room_id)
        )
        return int(row["joined_ts"]) if row else None

    async def set_joined_ts(self, room_id: str, ts: int, overwrite: bool) -> None:
        verb = "REPLACE" if overwrite else "IGNORE"
        await self.db.execute(
            f"INSERT OR {verb} INTO room_joined (bot, room_id, joined_ts) VALUES (?, ?, ?)",
            (self.bot, room_id, ts),
        )

    async def set_joined_ts_many(self, room_ids: Sequence[str], ts: int) -> None:
        """A join time for each room that has none yet, in one transaction (a first start in a
        thousand rooms must not commit a thousand times)."""
        async with self.db.transaction() as conn:
            await conn.executemany(
                "INSERT OR IGNORE INTO room_joined (bot, room_id, joined_ts) VALUES (?, ?, ?)",
                [(self.bot, room_id, ts) for room_id in room_ids],
            )

    async def rooms_with_join_time(self) -> set[str]:
        rows = await self.db.fetchall("SELECT room_id FROM room_joined WHERE bot = ?", (self.bot,))
        return {row["room_id"] for row in rows}

    async def forget_joined(self, room_id: str) -> None:
        await self.db.execute("DELETE FROM room_joined WHERE bot = ? AND room_id = ?", (self.bot, room_id))

    async def other_bot_joined(self, room_id: str) -> bool:
        """Whether another bot of this database is (as far as it knows) still in the room."""
        row = await self.db.fetchone(
            "SELECT 1 FROM room_joined WHERE room_id = ? AND bot != ?", (room_id, self.bot)
        )
        return row is not None

    async def room_kinds(self) -> dict[str, bool]:
        """Room id -> whether the invite said it is a direct chat."""
        rows = await self.db.fetchall("SELECT room_id, is_direct FROM room_kind WHERE bot = ?", (self.bot,))
        return {row["room_id"]: bool(row["is_direct"]) for row in rows}

    async def remember_kind(self, room_id: str, is_direct: bool) -> None:
        await self.db.execute(
            "INSERT OR REPLACE INTO room_kind (bot, room_id, is_direct) VALUES (?, ?, ?)",
            (self.bot, room_id, int(is_direct)),
        )

    async def forget_kind(self, room_id: str) -> None:
        await self.db.execute("DELETE FROM room_kind WHERE bot = ? AND room_id = ?", (self.bot, room_id))
