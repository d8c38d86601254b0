"""The herald's calendar rows from before the calendar was its own feature (``herald_event``).

Nothing adds to them any more (``!event`` is the calendar's, bots/calendar): the calendar copies
them once at start (bots/calendar/legacy.py), and the herald still forgets them on its
retention and for a room or a coalition it leaves, so none outlives its time in a database
where the calendar is not enabled. ``add`` and ``list_for`` serve the tests of that forgetting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.herald_scope import _Scoped
from storage.times import from_ts as _dt_req
from storage.times import to_ts as _ts

# How far ahead an event could be listed (the herald's old !event add refused more).
MAX_EVENT_AHEAD = timedelta(days=2 * 366)
# An event ends, for retention, when it started (or was listed, if later), within that bound.
_EVENT_END = f"MIN(MAX(created_at, starts_at), created_at + {int(MAX_EVENT_AHEAD.total_seconds())})"


@dataclass(frozen=True)
class StoredEvent:
    id: int
    coalition: str
    room_id: str
    title: str
    starts_at: datetime
    place: str | None
    created_at: datetime


class HeraldEvents(_Scoped):
    """The pre-split calendar rows of this bot: read, and forgotten."""

    async def add(
        self,
        coalition: str,
        room_id: str,
        title: str,
        starts_at: datetime,
        place: str | None,
        now: datetime,
    ) -> int:
        return await self._db.insert(
            "INSERT INTO herald_event (bot, coalition, room_id, title, starts_at, place, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self._bot, coalition, room_id, title, _ts(starts_at), place, _ts(now)),
        )

    async def list_for(self, coalition: str, since: datetime | None = None) -> list[StoredEvent]:
        """A coalition's events by start time, optionally only those starting at/after ``since``."""
        rows = await self._db.fetchall(
            "SELECT id, coalition, room_id, title, starts_at, place, created_at FROM herald_event"
            " WHERE bot = ? AND coalition = ? AND starts_at >= ? ORDER BY starts_at, id",
            (self._bot, coalition, _ts(since) if since is not None else float("-inf")),
        )
        return [StoredEvent(r[0], r[1], r[2], r[3], _dt_req(r[4]), r[5], _dt_req(r[6])) for r in rows]

    async def forget_coalition(self, coalition: str) -> int:
        """Every event of a coalition (it lost its coordination room)."""
        return await self._db.execute(
            "DELETE FROM herald_event WHERE bot = ? AND coalition = ?", (self._bot, coalition)
        )

    async def forget_room(self, room_id: str) -> int:
        """Every event a room listed (the bot is out of it)."""
        return await self._db.execute(
            "DELETE FROM herald_event WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )

    async def forget_older_than(self, cutoff: datetime) -> int:
        """Delete events that started (or were listed, if later) before ``cutoff``, and any
        listed more than the calendar's horizon before it; returns how many."""
        scope, params = self._only()
        return await self._db.execute(
            f"DELETE FROM herald_event WHERE {_EVENT_END} < ?" + scope, (_ts(cutoff), *params)
        )
