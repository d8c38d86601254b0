"""The transactions the homeserver pushed, recorded durably once handled.

The homeserver sends a transaction until it gets a 200, and may send the same one again after a
crash of either side. A transaction is recorded only after every event in it was handled (each
event is also deduplicated by id, as in ``/sync`` mode), and acknowledged only after that, so a
crash mid-transaction loses nothing (the homeserver sends it again) and a replay is acknowledged
without being handled twice.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from storage.db import Database
from storage.feature_migrations import apply_feature_migrations, read_feature_migrations

MIGRATIONS = Path(__file__).parent / "migrations"
FEATURE = "appservice"


class TransactionLog:
    def __init__(self, db: Database, bot: str) -> None:
        self.db = db
        self.bot = bot

    async def migrate(self) -> None:
        await apply_feature_migrations(self.db, FEATURE, read_feature_migrations(MIGRATIONS), time.time())

    async def seen(self, txn_id: str) -> bool:
        row = await self.db.fetchone(
            "SELECT 1 FROM appservice_txn WHERE bot = ? AND txn_id = ?", (self.bot, txn_id)
        )
        return row is not None

    async def record(self, txn_id: str, events: int) -> None:
        await self.db.execute(
            "INSERT OR IGNORE INTO appservice_txn (bot, txn_id, events, handled_at) VALUES (?, ?, ?, ?)",
            (self.bot, txn_id, events, time.time()),
        )

    async def forget_older_than(self, cutoff: float) -> int:
        """Old transaction ids are not needed: the homeserver retries for minutes, not days."""
        return await self.db.execute(
            "DELETE FROM appservice_txn WHERE bot = ? AND handled_at < ?", (self.bot, cutoff)
        )


class MalformedTransaction(ValueError):
    """A transaction body the bot refuses whole (nothing in it is handled)."""


def transaction_events(body: Any) -> list[dict[str, Any]]:
    """The events of a transaction body; MalformedTransaction when it is not one.

    Each event must be a mapping with a string ``type`` and ``room_id``; anything else makes the
    whole transaction refused, so that nothing of a malformed body is half-handled. (The events'
    own fields are checked later, one by one, by the runtime's envelope parser.)
    """
    if not isinstance(body, dict):
        raise MalformedTransaction("the body is not a JSON object")
    events = body.get("events")
    if not isinstance(events, list):
        raise MalformedTransaction("'events' is missing or not a list")
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            raise MalformedTransaction(f"events[{i}] is not an object")
        for key in ("type", "room_id"):
            if not isinstance(event.get(key), str):
                raise MalformedTransaction(f"events[{i}].{key} is missing or not a string")
    return events
