"""Earlier triads and cells of a room, so the next ones mix people.

Table ``lottery_grouping`` (migration 002), each row its bot's (migration 011); only the last
:data:`KEEP_GROUPINGS` of each kind are kept per room.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from storage.db import Database
from storage.times import to_ts as _ts

GroupingKind = Literal["triads", "cells"]
# Groupings kept per room and kind (the next grouping reads only the latest one).
KEEP_GROUPINGS = 5


class Groupings:
    """Earlier triads and cells of a room, so the next grouping can mix people."""

    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    async def record(
        self,
        room_id: str,
        kind: GroupingKind,
        groups: Iterable[Iterable[str]],
        now: datetime,
    ) -> int:
        payload = json.dumps([sorted(g) for g in groups])
        async with self._db.transaction():
            new_id = await self._db.insert(
                "INSERT INTO lottery_grouping (bot, room_id, kind, groups, at) VALUES (?, ?, ?, ?, ?)",
                (self._bot, room_id, kind, payload, _ts(now)),
            )
            # Only the latest groupings are read (to mix people): a room that asks for triads
            # again and again does not grow the table.
            await self._db.execute(
                "DELETE FROM lottery_grouping WHERE bot = ? AND room_id = ? AND kind = ? "
                "AND id NOT IN (SELECT id FROM lottery_grouping WHERE bot = ? AND room_id = ? "
                "AND kind = ? ORDER BY at DESC, id DESC LIMIT ?)",
                (self._bot, room_id, kind, self._bot, room_id, kind, KEEP_GROUPINGS),
            )
        return new_id

    async def recent(self, room_id: str, kind: GroupingKind, limit: int = 1) -> list[list[tuple[str, ...]]]:
        """The last ``limit`` groupings of this kind, newest first."""
        rows = await self._db.fetchall(
            "SELECT groups FROM lottery_grouping WHERE bot = ? AND room_id = ? AND kind = ? "
            "ORDER BY at DESC, id DESC LIMIT ?",
            (self._bot, room_id, kind, limit),
        )
        return [[tuple(g) for g in json.loads(r["groups"])] for r in rows]

    async def forget_older_than(self, cutoff: datetime) -> int:
        return await self._db.execute("DELETE FROM lottery_grouping WHERE at < ?", (_ts(cutoff),))
