"""The day-of-action feature's tables: declines, local notes, liaisons and their backups,
escalations answered."""

from __future__ import annotations

from datetime import UTC, datetime

from protocols.dayofaction.liaisons import Liaison
from storage.db import Database


def _at(value: object) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), UTC)  # type: ignore[arg-type]


class AutonomyStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def decline(self, run_id: str, room_id: str, reason: str | None, forget_at: datetime) -> bool:
        """True when the room was not declined yet."""
        return (
            await self._db.execute(
                "INSERT OR IGNORE INTO dayofaction_decline (run_id, room_id, reason, forget_at) VALUES (?, ?, ?, ?)",
                (run_id, room_id, reason, forget_at.timestamp()),
            )
            > 0
        )

    async def rejoin(self, run_id: str, room_id: str) -> bool:
        return (
            await self._db.execute(
                "DELETE FROM dayofaction_decline WHERE run_id = ? AND room_id = ?", (run_id, room_id)
            )
            > 0
        )

    async def declined(self, run_id: str) -> dict[str, str | None]:
        rows = await self._db.fetchall(
            "SELECT room_id, reason FROM dayofaction_decline WHERE run_id = ?", (run_id,)
        )
        return {str(r[0]): (None if r[1] is None else str(r[1])) for r in rows}

    async def set_note(self, run_id: str, room_id: str, text: str, forget_at: datetime) -> None:
        await self._db.execute(
            "INSERT INTO dayofaction_note (run_id, room_id, text, forget_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (run_id, room_id) DO UPDATE SET text = excluded.text",
            (run_id, room_id, text, forget_at.timestamp()),
        )

    async def note(self, run_id: str, room_id: str) -> str | None:
        row = await self._db.fetchone(
            "SELECT text FROM dayofaction_note WHERE run_id = ? AND room_id = ?", (run_id, room_id)
        )
        return None if row is None else str(row[0])

    async def liaison(self, room_id: str) -> Liaison | None:
        row = await self._db.fetchone(
            "SELECT liaison, backup, term_end FROM dayofaction_liaison WHERE room_id = ?", (room_id,)
        )
        if row is None:
            return None
        return Liaison(room_id, row[0], row[1], _at(row[2]))

    async def liaison_rooms(self) -> list[str]:
        rows = await self._db.fetchall("SELECT room_id FROM dayofaction_liaison")
        return [str(r[0]) for r in rows]

    async def put_liaison(self, term: Liaison, forget_at: datetime) -> None:
        """Keep the room's liaison and backup until ``forget_at`` (renewed on every change)."""
        await self._db.execute(
            "INSERT INTO dayofaction_liaison (room_id, liaison, backup, term_end, forget_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (room_id) DO UPDATE SET liaison = excluded.liaison, backup = excluded.backup,"
            " term_end = excluded.term_end, forget_at = excluded.forget_at",
            (
                term.room,
                term.liaison,
                term.backup,
                None if term.term_end is None else term.term_end.timestamp(),
                forget_at.timestamp(),
            ),
        )

    async def answered(self, room_id: str, user_id: str, at: datetime) -> None:
        await self._db.execute(
            "INSERT INTO dayofaction_answer (room_id, user_id, at) VALUES (?, ?, ?)",
            (room_id, user_id, at.timestamp()),
        )

    async def answers(self, since: datetime) -> list[tuple[str, datetime]]:
        rows = await self._db.fetchall(
            "SELECT user_id, at FROM dayofaction_answer WHERE at >= ?", (since.timestamp(),)
        )
        return [(str(u), datetime.fromtimestamp(float(a), UTC)) for u, a in rows]

    async def forget(self, now: datetime, answers_before: datetime) -> int:
        async with self._db.transaction() as conn:
            gone = (
                await conn.execute("DELETE FROM dayofaction_decline WHERE forget_at <= ?", (now.timestamp(),))
            ).rowcount
            gone += (
                await conn.execute("DELETE FROM dayofaction_note WHERE forget_at <= ?", (now.timestamp(),))
            ).rowcount
            gone += (
                await conn.execute(
                    "DELETE FROM dayofaction_answer WHERE at < ?", (answers_before.timestamp(),)
                )
            ).rowcount
            gone += (
                await conn.execute("DELETE FROM dayofaction_liaison WHERE forget_at <= ?", (now.timestamp(),))
            ).rowcount
        return gone

    async def forget_room(self, room_id: str) -> None:
        async with self._db.transaction() as conn:
            for table in (
                "dayofaction_decline",
                "dayofaction_note",
                "dayofaction_liaison",
                "dayofaction_answer",
            ):
                await conn.execute(f"DELETE FROM {table} WHERE room_id = ?", (room_id,))

    async def forget_run(self, run_id: str) -> None:
        async with self._db.transaction() as conn:
            for table in ("dayofaction_decline", "dayofaction_note"):
                await conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
