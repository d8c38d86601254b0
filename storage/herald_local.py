"""A room's local details (``!local set``), except its zone and language (room settings)."""

from __future__ import annotations

from datetime import datetime

from storage.herald_scope import _Scoped
from storage.times import to_ts as _ts


class LocalDetails(_Scoped):
    """A room's local details. Values are validated by ``protocols.herald.local`` first."""

    async def set(self, room_id: str, key: str, value: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO herald_local (bot, room_id, key, value, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (bot, room_id, key) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at",
            (self._bot, room_id, key, value, _ts(now)),
        )

    async def unset(self, room_id: str, key: str) -> bool:
        changed = await self._db.execute(
            "DELETE FROM herald_local WHERE bot = ? AND room_id = ? AND key = ?",
            (self._bot, room_id, key),
        )
        return changed == 1

    async def get_all(self, room_id: str) -> dict[str, str]:
        rows = await self._db.fetchall(
            "SELECT key, value FROM herald_local WHERE bot = ? AND room_id = ? ORDER BY key",
            (self._bot, room_id),
        )
        return {r[0]: r[1] for r in rows}

    async def forget_room(self, room_id: str) -> int:
        """Drop every detail of a room (it left, or the bot was removed)."""
        return await self._db.execute(
            "DELETE FROM herald_local WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )
