"""The calendar's repositories: its events, its public addresses, the feeds it follows and the
rooms that keep their name off it. Every row is scoped to one bot (``bot`` is its user id)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from storage.db import Database
from storage.times import from_ts, to_ts

_EVENT = (
    "id, coalition, room_id, uid, title, starts_at, ends_at, zone, place, private, sequence,"
    " created_at, modified_at, cancelled_at, cancel_reason"
)


@dataclass(frozen=True)
class StoredEvent:
    id: int
    coalition: str
    room_id: str
    uid: str
    title: str
    starts_at: datetime
    ends_at: datetime | None
    zone: str
    place: str | None
    private: bool
    sequence: int
    created_at: datetime
    modified_at: datetime
    cancelled_at: datetime | None
    reason: str | None


def _event(r: Any) -> StoredEvent:
    return StoredEvent(
        int(r[0]),
        r[1],
        r[2],
        r[3],
        r[4],
        from_ts(r[5]),
        from_ts(r[6]) if r[6] is not None else None,
        r[7],
        r[8],
        bool(r[9]),
        int(r[10]),
        from_ts(r[11]),
        from_ts(r[12]),
        from_ts(r[13]) if r[13] is not None else None,
        r[14],
    )


class _Scoped:
    def __init__(self, db: Database, bot: str | None) -> None:
        # bot None: every bot's rows (only ``affinity forget`` reads that way).
        self._db = db
        self._bot = bot

    def _only(self) -> tuple[str, tuple[Any, ...]]:
        return ("", ()) if self._bot is None else (" AND bot = ?", (self._bot,))


class CalendarEvents(_Scoped):
    async def add_within(
        self,
        coalition: str,
        room_id: str,
        uid: str,
        fields: dict[str, Any],
        now: datetime,
        *,
        per_room: int,
        per_coalition: int,
    ) -> int | None:
        """Store an event unless the room or the coalition already lists as many upcoming
        events as it may (then None, nothing stored)."""
        async with self._db.transaction():
            row = await self._db.fetchone(
                "SELECT COUNT(*), COALESCE(SUM(room_id = ?), 0) FROM calendar_event"
                " WHERE bot = ? AND coalition = ? AND starts_at >= ? AND cancelled_at IS NULL",
                (room_id, self._bot, coalition, to_ts(now)),
            )
            total, mine = (int(row[0]), int(row[1])) if row is not None else (0, 0)
            if mine >= per_room or total >= per_coalition:
                return None
            return await self._db.insert(
                "INSERT INTO calendar_event (bot, coalition, room_id, uid, title, starts_at, ends_at, zone,"
                " place, private, created_at, modified_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self._bot,
                    coalition,
                    room_id,
                    uid,
                    fields["title"],
                    to_ts(fields["starts_at"]),
                    to_ts(fields["ends_at"]) if fields["ends_at"] is not None else None,
                    fields["zone"],
                    fields["place"],
                    int(fields["private"]),
                    to_ts(now),
                    to_ts(now),
                ),
            )

    async def get(self, coalition: str, event_id: int) -> StoredEvent | None:
        row = await self._db.fetchone(
            f"SELECT {_EVENT} FROM calendar_event WHERE bot = ? AND coalition = ? AND id = ?",
            (self._bot, coalition, event_id),
        )
        return _event(row) if row is not None else None

    async def list_for(self, coalition: str) -> list[StoredEvent]:
        rows = await self._db.fetchall(
            f"SELECT {_EVENT} FROM calendar_event WHERE bot = ? AND coalition = ? ORDER BY starts_at, id",
            (self._bot, coalition),
        )
        return [_event(r) for r in rows]

    async def update(self, event: StoredEvent, changes: dict[str, Any], now: datetime) -> None:
        """Change fields of an event; its SEQUENCE grows by one and LAST-MODIFIED is ``now``, at
        least a second after the last change (the feed writes whole seconds, and calendar apps
        compare them: two edits within a second still give two growing stamps)."""
        columns: dict[str, Callable[[Any], Any]] = {
            "title": lambda v: v,
            "starts_at": to_ts,
            "ends_at": lambda v: to_ts(v) if v is not None else None,
            "place": lambda v: v,
            "private": int,
            "cancelled_at": to_ts,
            "cancel_reason": lambda v: v,
        }
        sets = ", ".join(f"{name} = ?" for name in changes)
        values = tuple(columns[name](value) for name, value in changes.items())
        await self._db.execute(
            f"UPDATE calendar_event SET {sets}, sequence = sequence + 1, modified_at = ?"
            " WHERE bot = ? AND id = ?",
            (*values, to_ts(max(now, event.modified_at + timedelta(seconds=1))), self._bot, event.id),
        )

    async def forget_room(self, room_id: str) -> int:
        scope, params = self._only()
        return await self._db.execute(
            f"DELETE FROM calendar_event WHERE room_id = ?{scope}", (room_id, *params)
        )

    async def forget_coalition(self, coalition: str) -> int:
        return await self._db.execute(
            "DELETE FROM calendar_event WHERE bot = ? AND coalition = ?", (self._bot, coalition)
        )

    async def forget_older_than(self, cutoff: datetime) -> int:
        """Events over (their end, else their start) before ``cutoff``."""
        scope, params = self._only()
        return await self._db.execute(
            f"DELETE FROM calendar_event WHERE COALESCE(ends_at, starts_at) < ?{scope}",
            (to_ts(cutoff), *params),
        )


@dataclass(frozen=True)
class Published:
    coalition: str
    room_id: str
    token: str
    created_at: datetime


class CalendarPublishing(_Scoped):
    async def get(self, coalition: str) -> Published | None:
        row = await self._db.fetchone(
            "SELECT coalition, room_id, token, created_at FROM calendar_publish WHERE bot = ? AND coalition = ?",
            (self._bot, coalition),
        )
        return Published(row[0], row[1], row[2], from_ts(row[3])) if row else None

    async def by_token(self, token: str) -> Published | None:
        row = await self._db.fetchone(
            "SELECT coalition, room_id, token, created_at FROM calendar_publish WHERE bot = ? AND token = ?",
            (self._bot, token),
        )
        return Published(row[0], row[1], row[2], from_ts(row[3])) if row else None

    async def all(self) -> list[Published]:
        rows = await self._db.fetchall(
            "SELECT coalition, room_id, token, created_at FROM calendar_publish WHERE bot = ?", (self._bot,)
        )
        return [Published(r[0], r[1], r[2], from_ts(r[3])) for r in rows]

    async def put(self, coalition: str, room_id: str, token: str, now: datetime) -> None:
        """Publish under ``token``, replacing the coalition's old token (its addresses stop working)."""
        await self._db.execute(
            "INSERT INTO calendar_publish (bot, coalition, room_id, token, created_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (bot, coalition) DO UPDATE SET room_id = excluded.room_id, token = excluded.token,"
            " created_at = excluded.created_at",
            (self._bot, coalition, room_id, token, to_ts(now)),
        )

    async def remove(self, coalition: str) -> bool:
        return (
            await self._db.execute(
                "DELETE FROM calendar_publish WHERE bot = ? AND coalition = ?", (self._bot, coalition)
            )
            == 1
        )

    async def forget_room(self, room_id: str) -> int:
        scope, params = self._only()
        return await self._db.execute(
            f"DELETE FROM calendar_publish WHERE room_id = ?{scope}", (room_id, *params)
        )


@dataclass(frozen=True)
class Followed:
    id: int
    coalition: str
    url: str
    label: str
    body: bytes
    fetched_at: datetime
    failures: int


class CalendarFollows(_Scoped):
    _COLS = "id, coalition, url, label, body, fetched_at, failures"

    @staticmethod
    def _row(r: Any) -> Followed:
        return Followed(int(r[0]), r[1], r[2], r[3], bytes(r[4]), from_ts(r[5]), int(r[6]))

    async def list_for(self, coalition: str) -> list[Followed]:
        rows = await self._db.fetchall(
            f"SELECT {self._COLS} FROM calendar_follow WHERE bot = ? AND coalition = ? ORDER BY id",
            (self._bot, coalition),
        )
        return [self._row(r) for r in rows]

    async def all(self) -> list[Followed]:
        rows = await self._db.fetchall(
            f"SELECT {self._COLS} FROM calendar_follow WHERE bot = ?", (self._bot,)
        )
        return [self._row(r) for r in rows]

    async def add(
        self, coalition: str, room_id: str, url: str, label: str, body: bytes, now: datetime, limit: int
    ) -> bool:
        """Follow ``url`` (or refresh its copy); False when the coalition already follows ``limit``."""
        async with self._db.transaction():
            row = await self._db.fetchone(
                "SELECT COUNT(*), COALESCE(SUM(url = ?), 0) FROM calendar_follow WHERE bot = ? AND coalition = ?",
                (url, self._bot, coalition),
            )
            count, same = (int(row[0]), int(row[1])) if row else (0, 0)
            if not same and count >= limit:
                return False
            await self._db.execute(
                "INSERT INTO calendar_follow (bot, coalition, room_id, url, label, body, added_at, fetched_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bot, coalition, url) DO UPDATE SET"
                " label = excluded.label, body = excluded.body, fetched_at = excluded.fetched_at, failures = 0",
                (self._bot, coalition, room_id, url, label, body, to_ts(now), to_ts(now)),
            )
            return True

    async def refreshed(self, follow_id: int, body: bytes, now: datetime) -> None:
        await self._db.execute(
            "UPDATE calendar_follow SET body = ?, fetched_at = ?, failures = 0 WHERE bot = ? AND id = ?",
            (body, to_ts(now), self._bot, follow_id),
        )

    async def failed(self, follow_id: int) -> None:
        await self._db.execute(
            "UPDATE calendar_follow SET failures = failures + 1 WHERE bot = ? AND id = ?",
            (self._bot, follow_id),
        )

    async def remove(self, coalition: str, url: str | None) -> int:
        if url is None:
            return await self._db.execute(
                "DELETE FROM calendar_follow WHERE bot = ? AND coalition = ?", (self._bot, coalition)
            )
        return await self._db.execute(
            "DELETE FROM calendar_follow WHERE bot = ? AND coalition = ? AND url = ?",
            (self._bot, coalition, url),
        )

    async def forget_room(self, room_id: str) -> int:
        scope, params = self._only()
        return await self._db.execute(
            f"DELETE FROM calendar_follow WHERE room_id = ?{scope}", (room_id, *params)
        )


class CalendarRooms(_Scoped):
    """Rooms that keep their public name off the calendar (``!local set public_name off``)."""

    async def shows_name(self, room_id: str) -> bool:
        row = await self._db.fetchone(
            "SELECT public_name FROM calendar_room WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )
        return True if row is None else bool(row[0])

    async def set_shows_name(self, room_id: str, shown: bool) -> None:
        """Keep a room's opt-out; opting back in deletes it (the default needs no record)."""
        if shown:
            await self._db.execute(
                "DELETE FROM calendar_room WHERE bot = ? AND room_id = ?", (self._bot, room_id)
            )
            return
        await self._db.execute(
            "INSERT INTO calendar_room (bot, room_id, public_name) VALUES (?, ?, 0)"
            " ON CONFLICT (bot, room_id) DO UPDATE SET public_name = excluded.public_name",
            (self._bot, room_id),
        )

    async def forget_room(self, room_id: str) -> int:
        scope, params = self._only()
        return await self._db.execute(
            f"DELETE FROM calendar_room WHERE room_id = ?{scope}", (room_id, *params)
        )
