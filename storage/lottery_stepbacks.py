"""Members who stepped out of a room's pool (care, not shame), until a time or ``!stepin``.

Table ``lottery_stepback`` (migration 002), each row its bot's (migration 011).
"""

from __future__ import annotations

from datetime import datetime

from storage.db import Database
from storage.times import from_ts as _dt
from storage.times import to_ts as _ts


class Stepbacks:
    """Members who stepped out of the pool (care, not shame), until a time or ``!stepin``."""

    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    async def step_back(
        self, room_id: str, user_id: str, now: datetime, until: datetime | None = None
    ) -> None:
        if until is not None and until <= now:
            raise ValueError("a step-back ends in the future")
        await self._db.execute(
            "INSERT INTO lottery_stepback (bot, room_id, user_id, since, until) "
            "VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (bot, room_id, user_id) DO UPDATE SET since = excluded.since, "
            "until = excluded.until",
            (self._bot, room_id, user_id, _ts(now), None if until is None else _ts(until)),
        )

    async def step_in(self, room_id: str, user_id: str) -> bool:
        """Back in the pool; False if the member had not stepped back."""
        changed = await self._db.execute(
            "DELETE FROM lottery_stepback WHERE bot = ? AND room_id = ? AND user_id = ?",
            (self._bot, room_id, user_id),
        )
        return changed > 0

    async def active(self, room_id: str, now: datetime) -> dict[str, datetime | None]:
        """user -> end of the step-back (None: open-ended), for ``protocols.lottery.pool``."""
        rows = await self._db.fetchall(
            "SELECT user_id, until FROM lottery_stepback "
            "WHERE bot = ? AND room_id = ? AND (until IS NULL OR until > ?) ORDER BY user_id",
            (self._bot, room_id, _ts(now)),
        )
        return {r["user_id"]: None if r["until"] is None else _dt(r["until"]) for r in rows}

    async def forget_expired(self, now: datetime) -> int:
        """Delete step-backs that have ended."""
        return await self._db.execute(
            "DELETE FROM lottery_stepback WHERE until IS NOT NULL AND until <= ?", (_ts(now),)
        )
