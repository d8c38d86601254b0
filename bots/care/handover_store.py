"""Handover notes (table ``care_handover``): one row per mandate holder asked or writing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import aiosqlite

from storage.db import Database


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True)
class Handover:
    id: int
    room_id: str
    role: str
    holder: str
    expires: datetime
    asked_at: datetime | None
    dm_room: str | None
    note: str | None


class Handovers:
    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    @staticmethod
    def _of(row: aiosqlite.Row) -> Handover:
        expires = _dt(row["expires"])
        assert expires is not None
        return Handover(
            int(row["id"]),
            row["room_id"],
            row["role"],
            row["holder"],
            expires,
            _dt(row["asked_at"]),
            row["dm_room"],
            row["note"],
        )

    async def get(self, room_id: str, role: str, holder: str) -> Handover | None:
        row = await self._db.fetchone(
            "SELECT * FROM care_handover WHERE bot = ? AND room_id = ? AND role = ? AND holder = ?",
            (self._bot, room_id, role, holder),
        )
        return None if row is None else self._of(row)

    async def _ensure(self, room_id: str, role: str, holder: str, expires: datetime, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO care_handover (bot, room_id, role, holder, expires, created_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (bot, room_id, role, holder) DO UPDATE SET expires = excluded.expires",
            (self._bot, room_id, role, holder, expires.timestamp(), now.timestamp()),
        )

    async def asked(
        self, room_id: str, role: str, holder: str, expires: datetime, dm: str, now: datetime
    ) -> None:
        await self._ensure(room_id, role, holder, expires, now)
        await self._db.execute(
            "UPDATE care_handover SET asked_at = ?, dm_room = ? WHERE bot = ? AND room_id = ? AND role = ? AND holder = ?",
            (now.timestamp(), dm, self._bot, room_id, role, holder),
        )

    async def write(
        self, room_id: str, role: str, holder: str, expires: datetime, note: str, now: datetime
    ) -> None:
        await self._ensure(room_id, role, holder, expires, now)
        await self._db.execute(
            "UPDATE care_handover SET note = ? WHERE bot = ? AND room_id = ? AND role = ? AND holder = ?",
            (note, self._bot, room_id, role, holder),
        )

    async def waiting_in(self, dm_room: str, holder: str) -> list[Handover]:
        """The asks this person answers by writing in this direct room."""
        rows = await self._db.fetchall(
            "SELECT * FROM care_handover WHERE bot = ? AND dm_room = ? AND holder = ? ORDER BY expires",
            (self._bot, dm_room, holder),
        )
        return [self._of(r) for r in rows]

    async def with_notes(self) -> list[Handover]:
        rows = await self._db.fetchall(
            "SELECT * FROM care_handover WHERE bot = ? AND note IS NOT NULL ORDER BY id", (self._bot,)
        )
        return [self._of(r) for r in rows]

    async def delete(self, handover_id: int) -> bool:
        return await self._db.execute("DELETE FROM care_handover WHERE id = ?", (handover_id,)) > 0

    async def older_than(self, cutoff: datetime) -> int:
        """Notes never delivered, and asks never answered, after the retention."""
        return await self._db.execute(
            "DELETE FROM care_handover WHERE bot = ? AND created_at < ? AND expires < ?",
            (self._bot, cutoff.timestamp(), cutoff.timestamp()),
        )

    async def forget_room(self, room_id: str) -> int:
        return await self._db.execute(
            "DELETE FROM care_handover WHERE bot = ? AND (room_id = ? OR dm_room = ?)",
            (self._bot, room_id, room_id),
        )
