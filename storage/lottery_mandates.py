"""The mandates running now, their renewals, and the redraws owed when they end.

- :class:`MandateStore`: one mandate per (room, role), with any pending renewal proposal;
- :class:`Redraws`: draws owed after mandates ended in a room that draws again, written with
  the vacancy notice and deleted once the draw is opened, so a crash in between loses nothing;
- :class:`Shadows`: who shadows a role beside its holder, and goes first when it is drawn next.

Tables ``lottery_mandate``, ``lottery_renewal`` (migration 002) and ``lottery_redraw``, each
row its bot's (migration 011); ``lottery_shadow`` is the lottery's own feature migration
(``bots/lottery/migrations/001_shadows.sql``). Times are UTC unix seconds.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import aiosqlite

from protocols.mandates import (
    Mandate,
    RenewalProposal,
    confirm_renewal,
    propose_renewal,
    release,
    reminder_at,
)
from storage.db import Database
from storage.times import from_ts as _dt
from storage.times import to_ts as _ts


def _mandate(row: aiosqlite.Row) -> Mandate:
    renewal = None
    if row["proposed_by"] is not None:
        renewal = RenewalProposal(row["proposed_by"], _dt(row["proposed_at"]))
    return Mandate(
        room=row["room_id"],
        role=row["role"],
        holder=row["holder"],
        start=_dt(row["started"]),
        expires=_dt(row["expires"]),
        reminded=bool(row["reminded"]),
        renewals=int(row["renewals"]),
        renewal=renewal,
    )


_MANDATE_SELECT = (
    "SELECT m.room_id, m.role, m.holder, m.started, m.expires, m.reminded, m.renewals, "
    "r.proposed_by, r.proposed_at FROM lottery_mandate m "
    "LEFT JOIN lottery_renewal r ON r.bot = m.bot AND r.room_id = m.room_id AND r.role = m.role "
    "WHERE m.bot = ?"
)


class MandateStore:
    """The mandates running now, one per (room, role), with any pending renewal proposal."""

    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    async def current(self, room_id: str) -> dict[str, Mandate]:
        """role -> mandate for the room (including ones past expiry not yet swept)."""
        rows = await self._db.fetchall(
            _MANDATE_SELECT + " AND m.room_id = ? ORDER BY m.started, m.role", (self._bot, room_id)
        )
        return {row["role"]: _mandate(row) for row in rows}

    async def get(self, room_id: str, role: str) -> Mandate | None:
        row = await self._db.fetchone(
            _MANDATE_SELECT + " AND m.room_id = ? AND m.role = ?", (self._bot, room_id, role)
        )
        return None if row is None else _mandate(row)

    async def all(self) -> list[Mandate]:
        """Every mandate of this bot: the scheduler rebuilds its reminder/expiry jobs from it."""
        rows = await self._db.fetchall(_MANDATE_SELECT + " ORDER BY m.expires, m.room_id", (self._bot,))
        return [_mandate(row) for row in rows]

    async def held_counts(self, room_id: str, now: datetime) -> dict[str, int]:
        """How many running roles each member holds in the room (for the draw's load rule)."""
        current = await self.current(room_id)
        return dict(Counter(m.holder for m in current.values() if m.active(now)))

    async def put(self, mandate: Mandate, draw_id: str | None = None) -> None:
        """Store a mandate, replacing any mandate (and renewal proposal) for its role."""
        async with self._db.transaction():
            await self.remove(mandate.room, mandate.role)
            await self._insert(mandate, draw_id)

    async def _insert(self, mandate: Mandate, draw_id: str | None) -> None:
        await self._db.execute(
            "INSERT INTO lottery_mandate (bot, room_id, role, holder, started, expires, reminded, "
            "renewals, draw_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._bot,
                mandate.room,
                mandate.role,
                mandate.holder,
                _ts(mandate.start),
                _ts(mandate.expires),
                int(mandate.reminded),
                mandate.renewals,
                draw_id,
            ),
        )
        if mandate.renewal is not None:
            await self._db.execute(
                "INSERT INTO lottery_renewal (bot, room_id, role, proposed_by, proposed_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    self._bot,
                    mandate.room,
                    mandate.role,
                    mandate.renewal.proposed_by,
                    _ts(mandate.renewal.proposed_at),
                ),
            )

    async def remove(self, room_id: str, role: str) -> bool:
        changed = await self._db.execute(
            "DELETE FROM lottery_mandate WHERE bot = ? AND room_id = ? AND role = ?",
            (self._bot, room_id, role),
        )
        return changed > 0

    async def release(self, room_id: str, role: str, by: str, now: datetime) -> Mandate:
        """The holder ends their mandate early (MandateError otherwise); returns it."""
        async with self._db.transaction():
            ended = release(await self.get(room_id, role), role, by, now)
            await self.remove(room_id, role)
        return ended

    async def propose_renewal(self, room_id: str, role: str, by: str, now: datetime) -> Mandate:
        async with self._db.transaction():
            updated = propose_renewal(await self.get(room_id, role), role, by, now)
            assert updated.renewal is not None
            await self._db.execute(
                "INSERT INTO lottery_renewal (bot, room_id, role, proposed_by, proposed_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (self._bot, room_id, role, by, _ts(now)),
            )
        return updated

    async def confirm_renewal(
        self, room_id: str, role: str, by: str, now: datetime, term: timedelta
    ) -> Mandate:
        async with self._db.transaction():
            renewed = confirm_renewal(await self.get(room_id, role), role, by, now, term)
            await self._db.execute(
                "UPDATE lottery_mandate SET expires = ?, reminded = 0, renewals = ? "
                "WHERE bot = ? AND room_id = ? AND role = ?",
                (_ts(renewed.expires), renewed.renewals, self._bot, room_id, role),
            )
            await self._db.execute(
                "DELETE FROM lottery_renewal WHERE bot = ? AND room_id = ? AND role = ?",
                (self._bot, room_id, role),
            )
        return renewed

    async def expire(self, now: datetime) -> list[Mandate]:
        """Delete every mandate that has ended; returns them (their roles are now vacant)."""
        async with self._db.transaction():
            rows = await self._db.fetchall(
                _MANDATE_SELECT + " AND m.expires <= ? ORDER BY m.expires, m.room_id, m.role",
                (self._bot, _ts(now)),
            )
            await self._db.execute(
                "DELETE FROM lottery_mandate WHERE bot = ? AND expires <= ?", (self._bot, _ts(now))
            )
        return [_mandate(row) for row in rows]

    async def due_reminders(self, now: datetime) -> list[Mandate]:
        """Running mandates whose reminder time has come and that were not reminded yet."""
        rows = await self._db.fetchall(
            _MANDATE_SELECT + " AND m.reminded = 0 AND m.expires > ? ORDER BY m.expires",
            (self._bot, _ts(now)),
        )
        return [m for m in map(_mandate, rows) if reminder_at(m) <= now]

    async def mark_reminded(self, mandate: Mandate) -> bool:
        """Record the reminder for this term as sent, once.

        False if it was already marked, or the mandate changed meanwhile (released, redrawn or
        renewed: a renewed term earns its own reminder).
        """
        changed = await self._db.execute(
            "UPDATE lottery_mandate SET reminded = 1 WHERE bot = ? AND room_id = ? AND role = ? "
            "AND holder = ? AND renewals = ? AND reminded = 0 AND ABS(expires - ?) < 0.001",
            (self._bot, mandate.room, mandate.role, mandate.holder, mandate.renewals, _ts(mandate.expires)),
        )
        return changed > 0


class Redraws:
    """Draws owed after mandates ended in a room that draws again: written with the vacancy
    notice, deleted once the draw is opened, so a crash in between loses nothing."""

    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    async def owe(self, room_id: str, key: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO lottery_redraw (bot, room_id, key, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (bot, key) DO NOTHING",
            (self._bot, room_id, key, _ts(now)),
        )

    async def owed(self) -> list[tuple[str, str]]:
        """(room, key) of every redraw still owed, oldest first."""
        rows = await self._db.fetchall(
            "SELECT room_id, key FROM lottery_redraw WHERE bot = ? ORDER BY created_at, key",
            (self._bot,),
        )
        return [(r["room_id"], r["key"]) for r in rows]

    async def done(self, key: str) -> None:
        await self._db.execute("DELETE FROM lottery_redraw WHERE bot = ? AND key = ?", (self._bot, key))

    async def forget_older_than(self, cutoff: datetime) -> int:
        return await self._db.execute("DELETE FROM lottery_redraw WHERE created_at < ?", (_ts(cutoff),))


class Shadows:
    """Who shadows which role (table ``lottery_shadow``, the lottery's feature migration 001):
    beside the holder until ``expires``, then first in the pool when the role is drawn next."""

    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    async def of(self, room_id: str) -> dict[str, tuple[str, datetime]]:
        """role -> (member, until) for the room: current shadows and last ones alike."""
        rows = await self._db.fetchall(
            "SELECT role, member, expires FROM lottery_shadow WHERE bot = ? AND room_id = ? ORDER BY role",
            (self._bot, room_id),
        )
        return {r["role"]: (r["member"], _dt(r["expires"])) for r in rows}

    async def replace(
        self, room_id: str, role: str, member: str | None, draw_id: str, start: datetime, until: datetime
    ) -> None:
        """The role was drawn: its last shadow has had their turn first; ``member`` (if any)
        shadows the new mandate."""
        await self._db.execute(
            "DELETE FROM lottery_shadow WHERE bot = ? AND room_id = ? AND role = ?",
            (self._bot, room_id, role),
        )
        if member is not None:
            await self._db.execute(
                "INSERT INTO lottery_shadow (bot, room_id, role, member, draw_id, started, expires) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (self._bot, room_id, role, member, draw_id, _ts(start), _ts(until)),
            )

    async def renewed(self, room_id: str, role: str, now: datetime, until: datetime) -> int:
        """The holder's mandate was renewed until ``until``: its shadow, still beside them, stays
        beside them for the new term too."""
        return await self._db.execute(
            "UPDATE lottery_shadow SET expires = ? WHERE bot = ? AND room_id = ? AND role = ? AND expires > ?",
            (_ts(until), self._bot, room_id, role, _ts(now)),
        )

    async def forget_older_than(self, cutoff: datetime) -> int:
        return await self._db.execute("DELETE FROM lottery_shadow WHERE started < ?", (_ts(cutoff),))

    async def forget_room(self, room_id: str) -> int:
        return await self._db.execute(
            "DELETE FROM lottery_shadow WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )
