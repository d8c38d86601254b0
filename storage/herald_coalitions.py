"""Coalitions and their member rooms, and the one-time invitations that let a room join.

The room that creates a coalition coordinates it; other rooms join only with an invitation token
issued there, of which only the SHA-256 is stored."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from storage.herald_scope import _Scoped
from storage.times import from_ts as _dt_req
from storage.times import to_ts as _ts

# --- coalitions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Coalition:
    name: str
    coordination_room: str
    created_at: datetime


@dataclass(frozen=True)
class Member:
    coalition: str
    room_id: str
    homeserver: str
    liaison: str | None
    joined_at: datetime


@dataclass(frozen=True)
class JoinResult:
    coalition: Coalition
    created: bool  # the coalition did not exist: this room became its coordination room
    already_member: bool


@dataclass(frozen=True)
class InviteUse:
    """What became of an attempt to join with a token.

    ``outcome``: ``joined``; ``unknown`` (no such token: never issued, used, or expired);
    ``other_room`` (the token names another room; it stays valid for that room);
    ``full`` (the coalition has its maximum of member rooms; the token stays valid);
    ``already`` (the room is in that coalition already; the token stays valid).
    """

    outcome: str
    coalition: Coalition | None = None


def token_hash(token: str) -> str:
    """What is stored of an invitation token: its SHA-256 (a disk copy cannot join with it)."""
    return hashlib.sha256(token.strip().encode("utf-8", "surrogatepass")).hexdigest()


class Coalitions(_Scoped):
    """Coalitions and their member rooms. The room that creates a coalition coordinates it;
    other rooms join only with a one-time invitation issued there."""

    async def create(
        self, name: str, room_id: str, homeserver: str, liaison: str | None, now: datetime
    ) -> Coalition | None:
        """A new coalition coordinated from ``room_id`` (its first member); None if this bot
        already has a coalition of that name."""
        async with self._db.transaction():
            created = await self._db.execute(
                "INSERT OR IGNORE INTO herald_coalition (bot, name, coordination_room, created_at)"
                " VALUES (?, ?, ?, ?)",
                (self._bot, name, room_id, _ts(now)),
            )
            if created != 1:
                return None
            await self.add_member(name, room_id, homeserver, liaison, now)
        return await self.get(name)

    async def add_member(
        self, name: str, room_id: str, homeserver: str, liaison: str | None, now: datetime
    ) -> bool:
        """Add a room to an existing coalition; False if it already was a member."""
        added = await self._db.execute(
            "INSERT OR IGNORE INTO herald_member"
            " (bot, coalition, room_id, homeserver, liaison, joined_at) VALUES (?, ?, ?, ?, ?, ?)",
            (self._bot, name, room_id, homeserver, liaison, _ts(now)),
        )
        return added == 1

    async def join(
        self, name: str, room_id: str, homeserver: str, liaison: str | None, now: datetime
    ) -> JoinResult:
        """Add a room to a coalition, creating it (coordinated from here) if new.

        Storage-level set-up for tests and benchmarks: in chat a room joins only with an
        invitation (:meth:`use_invite`).
        """
        async with self._db.transaction():
            created = await self.create(name, room_id, homeserver, liaison, now) is not None
            added = created or await self.add_member(name, room_id, homeserver, liaison, now)
            coalition = await self.get(name)
        assert coalition is not None
        return JoinResult(coalition=coalition, created=created, already_member=not added)

    async def leave(self, name: str, room_id: str) -> bool:
        """Take a room out of a coalition; False if it was not a member."""
        changed = await self._db.execute(
            "DELETE FROM herald_member WHERE bot = ? AND coalition = ? AND room_id = ?",
            (self._bot, name, room_id),
        )
        return changed == 1

    async def get(self, name: str) -> Coalition | None:
        row = await self._db.fetchone(
            "SELECT name, coordination_room, created_at FROM herald_coalition WHERE bot = ? AND name = ?",
            (self._bot, name),
        )
        return None if row is None else Coalition(row[0], row[1], _dt_req(row[2]))

    async def coalitions_of(self, room_id: str) -> list[Coalition]:
        """The coalitions a room belongs to, by name."""
        rows = await self._db.fetchall(
            "SELECT c.name, c.coordination_room, c.created_at FROM herald_coalition c"
            " JOIN herald_member m ON m.bot = c.bot AND m.coalition = c.name"
            " WHERE c.bot = ? AND m.room_id = ? ORDER BY c.name",
            (self._bot, room_id),
        )
        return [Coalition(r[0], r[1], _dt_req(r[2])) for r in rows]

    async def coordinated_by(self, room_id: str) -> list[Coalition]:
        """The coalitions whose coordination room this is."""
        rows = await self._db.fetchall(
            "SELECT name, coordination_room, created_at FROM herald_coalition"
            " WHERE bot = ? AND coordination_room = ? ORDER BY name",
            (self._bot, room_id),
        )
        return [Coalition(r[0], r[1], _dt_req(r[2])) for r in rows]

    async def members(self, name: str) -> list[Member]:
        """Member rooms in the order they joined."""
        rows = await self._db.fetchall(
            "SELECT coalition, room_id, homeserver, liaison, joined_at FROM herald_member"
            " WHERE bot = ? AND coalition = ? ORDER BY joined_at, room_id",
            (self._bot, name),
        )
        return [Member(r[0], r[1], r[2], r[3], _dt_req(r[4])) for r in rows]

    async def count_members(self, name: str) -> int:
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM herald_member WHERE bot = ? AND coalition = ?", (self._bot, name)
        )
        return int(row[0]) if row is not None else 0

    async def rooms_of_liaison(self, user_id: str) -> list[Member]:
        """Every membership whose liaison is ``user_id`` (a liaison may answer from a DM)."""
        rows = await self._db.fetchall(
            "SELECT coalition, room_id, homeserver, liaison, joined_at FROM herald_member"
            " WHERE bot = ? AND liaison = ? ORDER BY joined_at, room_id",
            (self._bot, user_id),
        )
        return [Member(r[0], r[1], r[2], r[3], _dt_req(r[4])) for r in rows]

    async def set_liaison(self, name: str, room_id: str, liaison: str | None) -> bool:
        changed = await self._db.execute(
            "UPDATE herald_member SET liaison = ? WHERE bot = ? AND coalition = ? AND room_id = ?",
            (liaison, self._bot, name, room_id),
        )
        return changed == 1

    async def clear_liaison(self, room_id: str, liaison: str) -> int:
        """Drop ``liaison`` as a room's liaison (they left or were kicked); how many cleared."""
        return await self._db.execute(
            "UPDATE herald_member SET liaison = NULL WHERE bot = ? AND room_id = ? AND liaison = ?",
            (self._bot, room_id, liaison),
        )

    async def delete(self, name: str) -> bool:
        """Dissolve a coalition: its members, runs, events and invitations go with it."""
        return (
            await self._db.execute(
                "DELETE FROM herald_coalition WHERE bot = ? AND name = ?", (self._bot, name)
            )
            == 1
        )

    async def forget_room(self, room_id: str) -> int:
        """The room's memberships (with its liaison) and the invitations naming it."""
        async with self._db.transaction():
            await self._db.execute(
                "DELETE FROM herald_invite WHERE bot = ? AND room_id = ?", (self._bot, room_id)
            )
            return await self._db.execute(
                "DELETE FROM herald_member WHERE bot = ? AND room_id = ?", (self._bot, room_id)
            )

    async def forget_empty(self) -> int:
        """Coalitions with no member room left and no run kept (their coordination room
        removed the bot): nothing refers to them any more."""
        scope, params = self._only("c.")
        return await self._db.execute(
            "DELETE FROM herald_coalition AS c WHERE 1 = 1"
            + scope
            + " AND NOT EXISTS (SELECT 1 FROM herald_member m WHERE m.bot = c.bot"
            " AND m.coalition = c.name) AND NOT EXISTS (SELECT 1 FROM herald_run r"
            " WHERE r.bot = c.bot AND r.coalition = c.name)",
            params,
        )

    # -- invitations ---------------------------------------------------------------------

    async def add_invite(
        self,
        name: str,
        hashed: str,
        room_id: str | None,
        created_by: str,
        now: datetime,
        expires_at: datetime,
        max_open: int,
    ) -> bool:
        """Store an invitation (its token's hash). False, storing nothing, if the coalition
        already has ``max_open`` unexpired invitations."""
        async with self._db.transaction():
            row = await self._db.fetchone(
                "SELECT COUNT(*) FROM herald_invite WHERE bot = ? AND coalition = ? AND expires_at > ?",
                (self._bot, name, _ts(now)),
            )
            if row is not None and int(row[0]) >= max_open:
                return False
            await self._db.execute(
                "INSERT INTO herald_invite"
                " (token_hash, bot, coalition, room_id, created_by, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (hashed, self._bot, name, room_id, created_by, _ts(now), _ts(expires_at)),
            )
        return True

    async def open_invites(self, name: str, now: datetime) -> int:
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM herald_invite WHERE bot = ? AND coalition = ? AND expires_at > ?",
            (self._bot, name, _ts(now)),
        )
        return int(row[0]) if row is not None else 0

    async def use_invite(
        self,
        hashed: str,
        room_id: str,
        homeserver: str,
        liaison: str | None,
        now: datetime,
        max_members: int,
    ) -> InviteUse:
        """Join ``room_id`` with the invitation whose token hashes to ``hashed``, and delete
        the invitation, in one transaction: a token works once, before its expiry, for this
        bot only, and only in the room it names (if it names one)."""
        async with self._db.transaction():
            row = await self._db.fetchone(
                "SELECT coalition, room_id, expires_at FROM herald_invite WHERE token_hash = ? AND bot = ?",
                (hashed, self._bot),
            )
            if row is None:
                return InviteUse("unknown")
            if row[2] <= _ts(now):
                await self._db.execute("DELETE FROM herald_invite WHERE token_hash = ?", (hashed,))
                return InviteUse("unknown")
            coalition = await self.get(row[0])
            if coalition is None:
                return InviteUse("unknown")
            if row[1] is not None and row[1] != room_id:
                return InviteUse("other_room", coalition)
            member = await self._db.fetchone(
                "SELECT 1 FROM herald_member WHERE bot = ? AND coalition = ? AND room_id = ?",
                (self._bot, coalition.name, room_id),
            )
            if member is not None:
                return InviteUse("already", coalition)
            if await self.count_members(coalition.name) >= max_members:
                return InviteUse("full", coalition)
            await self._db.execute("DELETE FROM herald_invite WHERE token_hash = ?", (hashed,))
            await self.add_member(coalition.name, room_id, homeserver, liaison, now)
        return InviteUse("joined", coalition)

    async def drop_invites(self, name: str) -> int:
        """Every open invitation of a coalition (it lost its coordination room)."""
        return await self._db.execute(
            "DELETE FROM herald_invite WHERE bot = ? AND coalition = ?", (self._bot, name)
        )

    async def forget_expired_invites(self, now: datetime) -> int:
        """Delete invitations past their expiry (of this bot, or of every bot)."""
        scope, params = self._only()
        return await self._db.execute(
            "DELETE FROM herald_invite WHERE expires_at <= ?" + scope, (_ts(now), *params)
        )
