"""What the ledger of gains remembers (tables of ``bots/gains/migrations``). Times are UTC unix
seconds. Counts are read across bots for a coalition's tally (a member room may be served by
another bot of this process); everything else is this bot's."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.db import Database
from storage.times import to_ts as _ts


class Ledger:
    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    async def add(self, room_id: str, category: str, text: str, now: datetime) -> int:
        """The gain and its category's count, together."""
        async with self._db.transaction():
            gain_id = await self._db.insert(
                "INSERT INTO gains_entry (bot, room_id, category, text, created_at) VALUES (?, ?, ?, ?, ?)",
                (self._bot, room_id, category, text, _ts(now)),
            )
            await self._db.execute(
                "INSERT INTO gains_count (bot, room_id, category, n) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (bot, room_id, category) DO UPDATE SET n = n + 1",
                (self._bot, room_id, category),
            )
        return gain_id

    async def remove(self, room_id: str, gain_id: int) -> str | None:
        """Take back a gain recorded by mistake (its count too); its category, or None."""
        async with self._db.transaction():
            row = await self._db.fetchone(
                "SELECT category FROM gains_entry WHERE bot = ? AND room_id = ? AND id = ?",
                (self._bot, room_id, gain_id),
            )
            if row is None:
                return None
            await self._db.execute("DELETE FROM gains_entry WHERE id = ?", (gain_id,))
            await self._db.execute(
                "UPDATE gains_count SET n = n - 1 WHERE bot = ? AND room_id = ? AND category = ? AND n > 0",
                (self._bot, room_id, row[0]),
            )
        return str(row[0])

    async def texts(self, room_ids: Sequence[str], limit: int = 50) -> dict[str, list[tuple[int, str, str]]]:
        """room -> (id, category, text) still remembered, newest first (of any bot)."""
        out: dict[str, list[tuple[int, str, str]]] = {}
        for room_id in room_ids:
            rows = await self._db.fetchall(
                "SELECT id, category, text FROM gains_entry WHERE room_id = ? ORDER BY created_at DESC, id DESC "
                "LIMIT ?",
                (room_id, limit),
            )
            out[room_id] = [(int(r[0]), str(r[1]), str(r[2])) for r in rows]
        return out

    async def counts(self, room_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """room -> category -> count (of any bot serving the room: one count per bot's rows)."""
        out: dict[str, dict[str, int]] = {r: {} for r in room_ids}
        for room_id in room_ids:
            rows = await self._db.fetchall(
                "SELECT category, SUM(n) FROM gains_count WHERE room_id = ? GROUP BY category", (room_id,)
            )
            out[room_id] = {str(r[0]): int(r[1]) for r in rows if r[1]}
        return out

    async def known_rooms(self, room_ids: Sequence[str]) -> set[str]:
        """Which of the rooms a bot of this process keeps a ledger for (counted here)."""
        found: set[str] = set()
        for room_id in room_ids:
            row = await self._db.fetchone(
                "SELECT 1 FROM gains_count WHERE room_id = ? UNION SELECT 1 FROM gains_room WHERE room_id = ? "
                "UNION SELECT 1 FROM room_joined WHERE room_id = ? LIMIT 1",
                (room_id, room_id, room_id),
            )
            if row is not None:
                found.add(room_id)
        return found

    async def share_of(self, room_id: str) -> str:
        row = await self._db.fetchone(
            "SELECT share FROM gains_room WHERE room_id = ? ORDER BY updated_at DESC LIMIT 1", (room_id,)
        )
        return str(row[0]) if row else "counts"

    async def set_share(self, room_id: str, share: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO gains_room (bot, room_id, share, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (bot, room_id) DO UPDATE SET share = excluded.share, updated_at = excluded.updated_at",
            (self._bot, room_id, share, _ts(now)),
        )

    async def public_page(self, room_id: str) -> bool:
        """Whether the coalition that ``room_id`` coordinates shows its gains on its public page."""
        row = await self._db.fetchone(
            "SELECT public_page FROM gains_room WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )
        return bool(row and row[0])

    async def set_public_page(self, room_id: str, on: bool) -> None:
        """Set the public-page choice of a coordination room. Its way of sharing is kept: a new
        row says ``counts`` as of the epoch, so a choice another bot recorded still wins
        (:meth:`share_of` takes the latest)."""
        await self._db.execute(
            "INSERT INTO gains_room (bot, room_id, share, updated_at, public_page) VALUES (?, ?, 'counts', 0, ?) "
            "ON CONFLICT (bot, room_id) DO UPDATE SET public_page = excluded.public_page",
            (self._bot, room_id, int(on)),
        )

    async def forget_texts_older_than(self, cutoff: datetime) -> int:
        """Forget the texts of old gains (of every bot); their counts stay."""
        return await self._db.execute("DELETE FROM gains_entry WHERE created_at < ?", (_ts(cutoff),))

    async def forget_room(self, room_id: str) -> int:
        total = 0
        for table in ("gains_entry", "gains_count", "gains_room"):
            total += await self._db.execute(
                f"DELETE FROM {table} WHERE bot = ? AND room_id = ?", (self._bot, room_id)
            )
        return total
