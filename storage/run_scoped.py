"""Rows that live and die with a day-of-action run (slots, intake, rides): one rule for which of
them a forgetting touches, and one read of the messages the bot must redact first.

Every such table has ``run_id``, ``room_id`` and ``forget_at`` (the run's forget time), so a
sweep, the end of a run and a room that removed the bot select rows the same way everywhere.
"""

from __future__ import annotations

from datetime import datetime

from storage.db import Database


def run_scope(
    *, now: datetime | None = None, run_id: str | None = None, room_id: str | None = None
) -> tuple[str, tuple[object, ...]]:
    """The WHERE clause and its parameters: what expired by ``now``, else a run's, else a room's."""
    if now is not None:
        return "forget_at <= ?", (now.timestamp(),)
    if run_id is not None:
        return "run_id = ?", (run_id,)
    if room_id is not None:
        return "room_id = ?", (room_id,)
    raise ValueError("a forgetting needs a time, a run or a room")


async def scoped_messages(
    db: Database, table: str, *, now: datetime | None = None, run_id: str | None = None
) -> list[tuple[str, str]]:
    """``(room_id, event_id)`` of the messages in ``table`` that expired by ``now`` or belong to
    ``run_id``: the bot redacts them before their rows go."""
    where, params = run_scope(now=now, run_id=run_id)
    rows = await db.fetchall(f"SELECT room_id, event_id FROM {table} WHERE {where}", params)
    return [(str(a), str(b)) for a, b in rows]
