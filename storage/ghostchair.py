"""What the ghost chair remembers: each room's absent voices and rotation, and its gatherings.

Two repositories: :class:`AbsentVoices` (a room's ordered voices and its reminder counter) and
:class:`Gatherings` (scheduled gatherings). A room's zone is in the shared room settings
(:class:`storage.room_settings.RoomSettings`, key ``zone``). Times are UTC unix seconds.
Voices and gatherings belong to a bot (the ``bot`` column, migration 011): several bots share
one database, and each repository reads and writes only its own bot's rows. The zone is the
room's, for every bot.

Gathering rows are the source of truth: the scheduler rebuilds its jobs from :meth:`Gatherings.all`
and a job carries only the gathering id. Each gathering records the newest occurrence it has
handled (started, reminded before, cared after), set with a compare-and-set so an occurrence is
never handled twice, even across a restart. Gatherings past their sunset are deleted by
:meth:`Gatherings.delete_expired` once their last occurrence has been handled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import aiosqlite

from protocols.gathering import GatheringOptions, GatheringSpec, check_room_capacity
from protocols.ghostchair import DEFAULT_ABSENT_VOICES, add_voice, remove_voice
from protocols.schedule import (
    Once,
    Recurring,
    Schedule,
    Weekly,
    ends_at,
    final_occurrence,
    format_hhmm,
    parse_hhmm,
)
from storage.db import Database
from storage.times import from_ts as _dt_req
from storage.times import from_ts_opt as _dt
from storage.times import to_ts as _ts

# --- absent voices ------------------------------------------------------------------------


class AbsentVoices:
    """A room's absent voices, in order, and how many reminders it has had.

    A room that never changed its list reads as ``defaults`` (from config); its first change
    copies the defaults in, so later changes to the config do not rewrite a room's list.
    """

    def __init__(self, db: Database, bot: str, defaults: Sequence[str] = DEFAULT_ABSENT_VOICES) -> None:
        self._db = db
        self._bot = bot
        self._defaults = tuple(defaults)

    async def voices(self, room_id: str) -> tuple[str, ...]:
        if await self._room_exists(room_id):
            return await self._stored(room_id)
        return self._defaults

    async def add(self, room_id: str, text: str, now: datetime) -> tuple[str, ...]:
        """Append a voice (validated by the ritual's rules); returns the new list.

        A refused voice (GhostChairError) changes nothing.
        """
        async with self._db.transaction():
            current = await self.voices(room_id)
            updated = add_voice(current, text)
            await self._replace(room_id, updated, now)
        return updated

    async def remove(self, room_id: str, number: str | int, now: datetime) -> str:
        """Remove the voice at 1-based ``number`` (as typed); returns the removed text."""
        async with self._db.transaction():
            current = await self.voices(room_id)
            updated, removed = remove_voice(current, number)
            await self._replace(room_id, updated, now)
        return removed

    async def rotation(self, room_id: str) -> int:
        row = await self._db.fetchone(
            "SELECT rotation FROM ghost_room WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )
        return 0 if row is None else int(row[0])

    async def take_turn(self, room_id: str, now: datetime) -> tuple[tuple[str, ...], int]:
        """The voices and this reminder's turn number; the counter moves on atomically, so two
        reminders never repeat the same turn."""
        async with self._db.transaction():
            voices = await self.voices(room_id)
            await self._ensure_room(room_id, voices, now)
            turn = await self.rotation(room_id)
            await self._db.execute(
                "UPDATE ghost_room SET rotation = rotation + 1, updated_at = ? WHERE bot = ? AND room_id = ?",
                (_ts(now), self._bot, room_id),
            )
        return voices, turn

    async def forget_room(self, room_id: str) -> int:
        """Delete everything kept for a room (the bot left it); rows deleted."""
        async with self._db.transaction():
            voices = await self._db.execute(
                "DELETE FROM ghost_voice WHERE bot = ? AND room_id = ?", (self._bot, room_id)
            )
            rooms = await self._db.execute(
                "DELETE FROM ghost_room WHERE bot = ? AND room_id = ?", (self._bot, room_id)
            )
        return voices + rooms

    async def _room_exists(self, room_id: str) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM ghost_room WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )
        return row is not None

    async def _stored(self, room_id: str) -> tuple[str, ...]:
        rows = await self._db.fetchall(
            "SELECT text FROM ghost_voice WHERE bot = ? AND room_id = ? ORDER BY position",
            (self._bot, room_id),
        )
        return tuple(str(r[0]) for r in rows)

    async def _ensure_room(self, room_id: str, voices: Sequence[str], now: datetime) -> None:
        if not await self._room_exists(room_id):
            await self._replace(room_id, voices, now)

    async def _replace(self, room_id: str, voices: Sequence[str], now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO ghost_room (bot, room_id, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (bot, room_id) DO UPDATE SET updated_at = excluded.updated_at",
            (self._bot, room_id, _ts(now)),
        )
        await self._db.execute("DELETE FROM ghost_voice WHERE bot = ? AND room_id = ?", (self._bot, room_id))
        for position, text in enumerate(voices):
            await self._db.execute(
                "INSERT INTO ghost_voice (bot, room_id, position, text) VALUES (?, ?, ?, ?)",
                (self._bot, room_id, position, text),
            )


# --- gatherings ---------------------------------------------------------------------------

Step = Literal["start", "remind", "care"]
_STEP_COLUMN: dict[str, str] = {
    "start": "last_fired_occurrence_utc",
    "remind": "last_reminded_occurrence_utc",
    "care": "last_cared_occurrence_utc",
}
_COLUMNS = (
    "id, room_id, kind, weekday, hhmm, zone, at_utc, draw, remind_before_s, care_after_s,"
    " end_date, last_fired_occurrence_utc, last_reminded_occurrence_utc,"
    " last_cared_occurrence_utc, created_by, created_at, rituals_owed_utc"
)


@dataclass(frozen=True)
class Gathering:
    """One stored gathering. ``last_*`` are the newest occurrences handled for each step."""

    id: int
    room_id: str
    schedule: Schedule
    options: GatheringOptions
    created_by: str
    created_at: datetime
    last_fired: datetime | None
    last_reminded: datetime | None
    last_cared: datetime | None
    # The occurrence whose opening draw and speaking order are still owed (the start was posted,
    # the draw not yet opened): a crash in between must not lose them.
    rituals_owed: datetime | None = None

    @property
    def last_handled(self) -> datetime:
        """Where catching up starts: the last occurrence started, or the creation time."""
        return self.last_fired if self.last_fired is not None else self.created_at


def _seconds(delta: timedelta | None) -> int | None:
    return None if delta is None else int(delta.total_seconds())


def _row_to_gathering(row: aiosqlite.Row) -> Gathering:
    zone = ZoneInfo(row["zone"])
    schedule: Schedule
    if row["kind"] == "weekly":
        end = row["end_date"]
        schedule = Weekly(
            int(row["weekday"]),
            parse_hhmm(row["hhmm"]),
            zone,
            date.fromisoformat(end) if end is not None else None,
        )
    else:
        schedule = Once(_dt_req(row["at_utc"]), zone)
    remind, care = row["remind_before_s"], row["care_after_s"]
    options = GatheringOptions(
        draw=bool(row["draw"]),
        remind_before=timedelta(seconds=remind) if remind is not None else None,
        care_after=timedelta(seconds=care) if care is not None else None,
    )
    return Gathering(
        id=int(row["id"]),
        room_id=row["room_id"],
        schedule=schedule,
        options=options,
        created_by=row["created_by"],
        created_at=_dt_req(row["created_at"]),
        last_fired=_dt(row["last_fired_occurrence_utc"]),
        last_reminded=_dt(row["last_reminded_occurrence_utc"]),
        last_cared=_dt(row["last_cared_occurrence_utc"]),
        rituals_owed=_dt(row["rituals_owed_utc"]),
    )


class Gatherings:
    """This bot's scheduled gatherings, per room. Ids are global and shown to users as ``#id``."""

    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    async def add(self, room_id: str, spec: GatheringSpec, created_by: str, now: datetime) -> Gathering:
        """Store a parsed gathering; refused (GhostChairError) when the room has too many."""
        schedule, options = spec.schedule, spec.options
        if isinstance(schedule, Recurring):  # stored by bots.ghostchair.recurrences (its own table)
            raise TypeError("a recurring gathering is stored as a weekly row plus its recurrence")
        if isinstance(schedule, Weekly):
            kind, weekday, hhmm, at_utc = "weekly", schedule.weekday, format_hhmm(schedule.at), None
            end_date = schedule.end_date.isoformat() if schedule.end_date is not None else None
        else:
            kind, weekday, hhmm, at_utc, end_date = "once", None, None, _ts(schedule.at), None
        end, final = ends_at(schedule), final_occurrence(schedule)
        async with self._db.transaction():
            row = await self._db.fetchone(
                "SELECT COUNT(*) FROM ghost_gathering WHERE bot = ? AND room_id = ?",
                (self._bot, room_id),
            )
            check_room_capacity(int(row[0]) if row else 0)
            new_id = await self._db.insert(
                "INSERT INTO ghost_gathering (bot, room_id, kind, weekday, hhmm, zone, at_utc, draw,"
                " remind_before_s, care_after_s, end_date, ends_utc, final_utc, created_by,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self._bot,
                    room_id,
                    kind,
                    weekday,
                    hhmm,
                    schedule.zone.key,
                    at_utc,
                    int(options.draw),
                    _seconds(options.remind_before),
                    _seconds(options.care_after),
                    end_date,
                    None if end is None else _ts(end),
                    None if final is None else _ts(final),
                    created_by,
                    _ts(now),
                ),
            )
            gathering = await self.get(new_id)
        assert gathering is not None
        return gathering

    async def get(self, gathering_id: int) -> Gathering | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM ghost_gathering WHERE bot = ? AND id = ?",
            (self._bot, gathering_id),
        )
        return None if row is None else _row_to_gathering(row)

    async def in_room(self, room_id: str) -> list[Gathering]:
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM ghost_gathering WHERE bot = ? AND room_id = ? ORDER BY id",
            (self._bot, room_id),
        )
        return [_row_to_gathering(r) for r in rows]

    async def all(self) -> list[Gathering]:
        """Every gathering of this bot: what the scheduler rebuilds its jobs from at start-up."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM ghost_gathering WHERE bot = ? ORDER BY id", (self._bot,)
        )
        return [_row_to_gathering(r) for r in rows]

    async def cancel(self, room_id: str, gathering_id: int) -> bool:
        """Delete a gathering of this room; False if there is none with that id here."""
        changed = await self._db.execute(
            "DELETE FROM ghost_gathering WHERE bot = ? AND id = ? AND room_id = ?",
            (self._bot, gathering_id, room_id),
        )
        return changed == 1

    async def mark(self, gathering_id: int, step: Step, occurrence: datetime) -> bool:
        """Record ``occurrence`` as handled for ``step``; False if it (or a later one) already
        was, or the gathering is gone. Call it in the same transaction as queueing the message,
        and only send when it returns True: that is what makes "never twice" hold."""
        column = _STEP_COLUMN[step]
        value = _ts(occurrence)
        changed = await self._db.execute(
            f"UPDATE ghost_gathering SET {column} = ?"
            f" WHERE bot = ? AND id = ? AND ({column} IS NULL OR {column} < ?)",
            (value, self._bot, gathering_id, value),
        )
        return changed == 1

    async def owe_rituals(self, gathering_id: int, occurrence: datetime) -> None:
        """Record that the opening draw and speaking order of ``occurrence`` are owed; call it in
        the transaction that records the start."""
        await self._db.execute(
            "UPDATE ghost_gathering SET rituals_owed_utc = ? WHERE bot = ? AND id = ?",
            (_ts(occurrence), self._bot, gathering_id),
        )

    async def rituals_done(self, gathering_id: int, occurrence: datetime) -> None:
        """The opening rituals of ``occurrence`` were opened (or given up): owed no more."""
        await self._db.execute(
            "UPDATE ghost_gathering SET rituals_owed_utc = NULL"
            " WHERE bot = ? AND id = ? AND ABS(rituals_owed_utc - ?) < 0.001",
            (self._bot, gathering_id, _ts(occurrence)),
        )

    async def expired(self, now: datetime) -> list[Gathering]:
        """Gatherings past their sunset whose every step is handled: safe to delete now."""
        rows = await self._db.fetchall(
            f"SELECT {_COLUMNS} FROM ghost_gathering WHERE bot = ? AND {_EXPIRED} ORDER BY id",
            (self._bot, _ts(now)),
        )
        return [_row_to_gathering(r) for r in rows]

    async def delete_expired(self, now: datetime) -> list[int]:
        """Delete gatherings past their sunset (and past the care reminder after their last
        occurrence) whose last occurrence was handled; returns their ids, so their jobs can be
        cancelled. One still waiting to be posted late or noted as missed stays."""
        async with self._db.transaction():
            rows = await self._db.fetchall(
                f"SELECT id FROM ghost_gathering WHERE bot = ? AND {_EXPIRED} ORDER BY id",
                (self._bot, _ts(now)),
            )
            ids = [int(r[0]) for r in rows]
            for gathering_id in ids:
                await self._db.execute(
                    "DELETE FROM ghost_gathering WHERE bot = ? AND id = ?", (self._bot, gathering_id)
                )
        return ids

    async def forget_room(self, room_id: str) -> int:
        """Delete every gathering of a room (the bot left it); rows deleted."""
        return await self._db.execute(
            "DELETE FROM ghost_gathering WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )


# Past the sunset, and past the care reminder that may follow the final occurrence, and the
# final occurrence (if any fell after creation) has been started or noted as missed.
_EXPIRED = (
    "ends_utc IS NOT NULL"
    " AND MAX(ends_utc, COALESCE(final_utc, ends_utc) + COALESCE(care_after_s, 0)) <= ?"
    " AND (final_utc IS NULL OR final_utc <= created_at"
    "      OR (last_fired_occurrence_utc IS NOT NULL AND last_fired_occurrence_utc >= final_utc))"
)
