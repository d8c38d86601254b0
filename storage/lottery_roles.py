"""A room's lottery roles, in drawing order, and its mandate length (``!roles set``,
``!roles term``); a room that never changed them reads the operator's defaults.

Table ``lottery_room`` (migration 002), each row its bot's (migration 011). Times are UTC unix
seconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from protocols.lottery_room import DEFAULT_ROLES, DEFAULT_TERM
from protocols.mandates import (
    Mandate,
)
from storage.db import Database
from storage.lottery_mandates import MandateStore
from storage.times import to_ts as _ts


@dataclass(frozen=True)
class RoomSetup:
    """A room's roles (in drawing order) and mandate length."""

    roles: tuple[str, ...]
    term: timedelta


class RoomRoles:
    """Each room's roles and term; a room that never changed them reads the defaults."""

    def __init__(
        self,
        db: Database,
        bot: str,
        default_roles: Sequence[str] = DEFAULT_ROLES,
        default_term: timedelta = DEFAULT_TERM,
    ) -> None:
        self._db = db
        self._bot = bot
        self._default_roles = tuple(default_roles)
        self._default_term = default_term

    async def setup(self, room_id: str) -> RoomSetup:
        row = await self._db.fetchone(
            "SELECT roles, term_s FROM lottery_room WHERE bot = ? AND room_id = ?",
            (self._bot, room_id),
        )
        roles = self._default_roles
        term = self._default_term
        if row is not None and row["roles"] is not None:
            roles = tuple(json.loads(row["roles"]))
        if row is not None and row["term_s"] is not None:
            term = timedelta(seconds=int(row["term_s"]))
        return RoomSetup(roles, term)

    async def set_roles(self, room_id: str, roles: Sequence[str], now: datetime) -> list[Mandate]:
        """Define the room's roles (checked by ``protocols.lottery.parse_roles`` first).

        Mandates for roles no longer defined end now; they are returned so the caller can say so.
        """
        async with self._db.transaction():
            await self._upsert(room_id, now, roles=json.dumps(list(roles)))
            store = MandateStore(self._db, self._bot)
            ended = [m for m in (await store.current(room_id)).values() if m.role not in roles]
            for mandate in ended:
                await store.remove(room_id, mandate.role)
        return ended

    async def set_term(self, room_id: str, term: timedelta, now: datetime) -> None:
        """Set the mandate length for mandates granted from now on (running ones keep theirs)."""
        if term <= timedelta(0):
            raise ValueError("a term must be positive")
        await self._upsert(room_id, now, term_s=int(term.total_seconds()))

    async def _upsert(
        self, room_id: str, now: datetime, roles: str | None = None, term_s: int | None = None
    ) -> None:
        async with self._db.transaction():
            await self._db.execute(
                "INSERT INTO lottery_room (bot, room_id, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (bot, room_id) DO NOTHING",
                (self._bot, room_id, _ts(now)),
            )
            if roles is not None:
                await self._db.execute(
                    "UPDATE lottery_room SET roles = ?, updated_at = ? WHERE bot = ? AND room_id = ?",
                    (roles, _ts(now), self._bot, room_id),
                )
            if term_s is not None:
                await self._db.execute(
                    "UPDATE lottery_room SET term_s = ?, updated_at = ? WHERE bot = ? AND room_id = ?",
                    (term_s, _ts(now), self._bot, room_id),
                )
