"""How many messages a blind-mirror release was queued as (table ``mirror_release``, created by
the feature's own migration, bots/mirror/migrations): written in the transaction that queues
them, so a release resumed after a crash waits for exactly those and never shuffles again."""

from __future__ import annotations

from storage.db import Database


class ReleaseParts:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, round_id: int, code: str) -> int | None:
        row = await self._db.fetchone(
            "SELECT parts FROM mirror_release WHERE round_id = ? AND code = ?", (round_id, code)
        )
        return None if row is None else int(row[0])

    async def put(self, round_id: int, code: str, parts: int) -> None:
        await self._db.execute(
            "INSERT OR REPLACE INTO mirror_release (round_id, code, parts) VALUES (?, ?, ?)",
            (round_id, code, parts),
        )

    async def forget(self, round_id: int) -> None:
        await self._db.execute("DELETE FROM mirror_release WHERE round_id = ?", (round_id,))
