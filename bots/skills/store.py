"""What the skill-swap board remembers (tables of ``bots/skills/migrations``), one repository per
question. Every row is this bot's (``host.user_id``). Times are UTC unix seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from protocols.skills import Entry, Kind, Match
from storage.db import Database
from storage.times import from_ts as _dt
from storage.times import to_ts as _ts


def _entry(row: aiosqlite.Row) -> Entry:
    return Entry(
        int(row["id"]),
        row["kind"],
        row["skill"],
        row["user_id"],
        row["note"],
        _dt(row["created_at"]),
        _dt(row["expires_at"]),
    )


def _yes(value: object) -> bool | None:
    return None if value is None else bool(value)


def _match(row: aiosqlite.Row) -> Match:
    return Match(
        int(row["id"]),
        row["skill"],
        row["asker"],
        row["offerer"],
        _yes(row["asker_yes"]),
        _yes(row["offerer_yes"]),
    )


@dataclass(frozen=True)
class StoredMatch:
    """A match as stored: its room, its answers, and what it still owes (asking, telling)."""

    room_id: str
    match: Match
    ask_id: int
    offer_id: int
    asked: bool
    told: bool


def _stored(row: aiosqlite.Row) -> StoredMatch:
    return StoredMatch(
        row["room_id"],
        _match(row),
        int(row["ask_id"]),
        int(row["offer_id"]),
        bool(row["asked"]),
        bool(row["told"]),
    )


class Scoped:
    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot


class Entries(Scoped):
    """Asks and offers on a room's board."""

    async def add(
        self,
        room_id: str,
        kind: Kind,
        skill: str,
        user: str,
        note: str | None,
        now: datetime,
        until: datetime,
    ) -> Entry:
        entry_id = await self._db.insert(
            "INSERT INTO skills_entry (bot, room_id, kind, skill, user_id, note, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self._bot, room_id, kind, skill, user, note, _ts(now), _ts(until)),
        )
        return Entry(entry_id, kind, skill, user, note, now, until)

    async def open(self, room_id: str, now: datetime, skill: str | None = None) -> list[Entry]:
        sql = "SELECT * FROM skills_entry WHERE bot = ? AND room_id = ? AND expires_at > ?"
        params: tuple[object, ...] = (self._bot, room_id, _ts(now))
        if skill is not None:
            sql, params = sql + " AND skill = ?", (*params, skill)
        rows = await self._db.fetchall(sql + " ORDER BY created_at DESC, id DESC", params)
        return [_entry(r) for r in rows]

    async def count_of(self, room_id: str, user: str, now: datetime) -> int:
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM skills_entry WHERE bot = ? AND room_id = ? AND user_id = ? AND expires_at > ?",
            (self._bot, room_id, user, _ts(now)),
        )
        return int(row[0]) if row else 0

    async def get(self, entry_id: int) -> tuple[str, Entry] | None:
        row = await self._db.fetchone(
            "SELECT * FROM skills_entry WHERE bot = ? AND id = ?", (self._bot, entry_id)
        )
        return None if row is None else (row["room_id"], _entry(row))

    async def delete(self, entry_id: int) -> int:
        return await self._db.execute(
            "DELETE FROM skills_entry WHERE bot = ? AND id = ?", (self._bot, entry_id)
        )

    async def forget_expired(self, now: datetime) -> int:
        return await self._db.execute("DELETE FROM skills_entry WHERE expires_at <= ?", (_ts(now),))


class Matches(Scoped):
    """Asks that met offers, and each side's answer."""

    async def add(
        self, room_id: str, ask: Entry, offer: Entry, now: datetime, until: datetime
    ) -> StoredMatch | None:
        """The match of this ask and offer; None if it was made before (never asked twice)."""
        changed = await self._db.execute(
            "INSERT INTO skills_match (bot, room_id, skill, ask_id, offer_id, asker, offerer, created_at, "
            "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (self._bot, room_id, ask.skill, ask.id, offer.id, ask.user, offer.user, _ts(now), _ts(until)),
        )
        if not changed:
            return None
        row = await self._db.fetchone(
            "SELECT * FROM skills_match WHERE bot = ? AND ask_id = ? AND offer_id = ?",
            (self._bot, ask.id, offer.id),
        )
        return None if row is None else _stored(row)

    async def pairs(self, room_id: str) -> list[tuple[int, int]]:
        rows = await self._db.fetchall(
            "SELECT ask_id, offer_id FROM skills_match WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    async def get(self, match_id: int, now: datetime) -> StoredMatch | None:
        row = await self._db.fetchone(
            "SELECT * FROM skills_match WHERE bot = ? AND id = ? AND expires_at > ?",
            (self._bot, match_id, _ts(now)),
        )
        return None if row is None else _stored(row)

    async def owing(self, now: datetime) -> list[StoredMatch]:
        """Open matches that still owe a message (asking both, or telling the outcome)."""
        rows = await self._db.fetchall(
            "SELECT * FROM skills_match WHERE bot = ? AND expires_at > ? AND (asked = 0 OR (told = 0 AND "
            "(asker_yes = 0 OR offerer_yes = 0 OR (asker_yes = 1 AND offerer_yes = 1)))) ORDER BY id",
            (self._bot, _ts(now)),
        )
        return [_stored(r) for r in rows]

    async def mark(self, match_id: int, *, asked: bool = False, told: bool = False) -> None:
        if asked:
            await self._db.execute(
                "UPDATE skills_match SET asked = 1 WHERE bot = ? AND id = ?", (self._bot, match_id)
            )
        if told:
            await self._db.execute(
                "UPDATE skills_match SET told = 1 WHERE bot = ? AND id = ?", (self._bot, match_id)
            )

    async def save_answers(self, match: Match) -> None:
        def flag(v: bool | None) -> int | None:
            return None if v is None else int(v)

        await self._db.execute(
            "UPDATE skills_match SET asker_yes = ?, offerer_yes = ? WHERE bot = ? AND id = ?",
            (flag(match.asker_yes), flag(match.offerer_yes), self._bot, match.id),
        )

    async def forget_expired(self, now: datetime) -> int:
        return await self._db.execute("DELETE FROM skills_match WHERE expires_at <= ?", (_ts(now),))

    async def forget_entry(self, entry_id: int) -> int:
        """A withdrawn entry's undecided matches go with it (nobody is introduced for it)."""
        return await self._db.execute(
            "DELETE FROM skills_match WHERE bot = ? AND (ask_id = ? OR offer_id = ?) "
            "AND NOT (asker_yes = 1 AND offerer_yes = 1)",
            (self._bot, entry_id, entry_id),
        )


class Known(Scoped):
    """The room's known skills (for suggestions)."""

    async def touch(self, room_id: str, skill: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO skills_known (bot, room_id, skill, last_used) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (bot, room_id, skill) DO UPDATE SET last_used = excluded.last_used",
            (self._bot, room_id, skill, _ts(now)),
        )

    async def of(self, room_id: str) -> list[str]:
        rows = await self._db.fetchall(
            "SELECT skill FROM skills_known WHERE bot = ? AND room_id = ? ORDER BY skill",
            (self._bot, room_id),
        )
        return [r[0] for r in rows]

    async def forget_older_than(self, cutoff: datetime) -> int:
        return await self._db.execute("DELETE FROM skills_known WHERE last_used < ?", (_ts(cutoff),))


class Held(Scoped):
    """Who holds which skill in a room (!learned), and who confirmed it."""

    async def learn(self, room_id: str, user: str, skill: str, now: datetime) -> bool:
        """Record (or renew) that ``user`` holds ``skill``; True if it was new. A renewal keeps
        an earlier confirmation."""
        changed = await self._db.execute(
            "INSERT INTO skills_held (bot, room_id, user_id, skill, learned_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (bot, room_id, user_id, skill) DO NOTHING",
            (self._bot, room_id, user, skill, _ts(now)),
        )
        if not changed:
            await self._db.execute(
                "UPDATE skills_held SET learned_at = ? WHERE bot = ? AND room_id = ? AND user_id = ? AND skill = ?",
                (_ts(now), self._bot, room_id, user, skill),
            )
        return changed > 0

    async def confirm(self, room_id: str, user: str, skill: str, by: str) -> bool:
        changed = await self._db.execute(
            "UPDATE skills_held SET confirmed_by = ? WHERE bot = ? AND room_id = ? AND user_id = ? AND skill = ?",
            (by, self._bot, room_id, user, skill),
        )
        return changed > 0

    async def holders(self, room_id: str, skill: str, confirmed_only: bool) -> list[str]:
        sql = "SELECT user_id FROM skills_held WHERE bot = ? AND room_id = ? AND skill = ?"
        if confirmed_only:
            sql += " AND confirmed_by IS NOT NULL"
        rows = await self._db.fetchall(sql + " ORDER BY user_id", (self._bot, room_id, skill))
        return [r[0] for r in rows]

    async def counts(self, room_id: str, confirmed_only: bool) -> dict[str, int]:
        """skill -> how many hold it (counts before names)."""
        sql = "SELECT skill, COUNT(*) FROM skills_held WHERE bot = ? AND room_id = ?"
        if confirmed_only:
            sql += " AND confirmed_by IS NOT NULL"
        rows = await self._db.fetchall(sql + " GROUP BY skill ORDER BY skill", (self._bot, room_id))
        return {r[0]: int(r[1]) for r in rows}

    async def unconfirmed(self, room_id: str) -> list[tuple[str, str]]:
        rows = await self._db.fetchall(
            "SELECT user_id, skill FROM skills_held WHERE bot = ? AND room_id = ? AND confirmed_by IS NULL "
            "ORDER BY learned_at",
            (self._bot, room_id),
        )
        return [(r[0], r[1]) for r in rows]

    async def forget_older_than(self, cutoff: datetime) -> int:
        return await self._db.execute("DELETE FROM skills_held WHERE learned_at < ?", (_ts(cutoff),))


class Requirements(Scoped):
    """Roles drawable only among holders of a skill, and whether the room confirms skills."""

    async def set(self, room_id: str, role: str, skill: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO skills_requirement (bot, room_id, role, skill, set_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (bot, room_id, role) DO UPDATE SET skill = excluded.skill, set_at = excluded.set_at",
            (self._bot, room_id, role, skill, _ts(now)),
        )

    async def clear(self, room_id: str, role: str) -> bool:
        changed = await self._db.execute(
            "DELETE FROM skills_requirement WHERE bot = ? AND room_id = ? AND role = ?",
            (self._bot, room_id, role),
        )
        return changed > 0

    async def of(self, room_id: str) -> dict[str, str]:
        rows = await self._db.fetchall(
            "SELECT role, skill FROM skills_requirement WHERE bot = ? AND room_id = ? ORDER BY role",
            (self._bot, room_id),
        )
        return {r[0]: r[1] for r in rows}

    async def confirming(self, room_id: str) -> bool:
        row = await self._db.fetchone(
            "SELECT confirm FROM skills_room WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )
        return bool(row and row[0])

    async def set_confirming(self, room_id: str, on: bool, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO skills_room (bot, room_id, confirm, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (bot, room_id) DO UPDATE SET confirm = excluded.confirm, updated_at = excluded.updated_at",
            (self._bot, room_id, int(on), _ts(now)),
        )


TABLES: Iterable[str] = (
    "skills_entry",
    "skills_match",
    "skills_known",
    "skills_held",
    "skills_requirement",
    "skills_room",
)


async def forget_room(db: Database, bot: str, room_id: str) -> int:
    """Everything this bot's board kept about a room it left."""
    async with db.transaction():
        total = 0
        for table in TABLES:
            total += await db.execute(f"DELETE FROM {table} WHERE bot = ? AND room_id = ?", (bot, room_id))
        return total
