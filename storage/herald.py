"""What the herald remembers: coalitions and their rooms, local details, runs, deliveries, events.

Four repositories, one per aggregate: :class:`Coalitions` (a coalition and its member rooms),
:class:`LocalDetails` (one room's ``!local`` values), :class:`HeraldRuns` (a run with every
planned message, its delivery, acknowledgement and escalation, and its amendments) and
:class:`HeraldEvents` (the coalition calendar). Times are stored as UTC unix seconds.
Runs and events are history: ``forget_older_than`` deletes them (deliveries and amendments go
with their run), and ``sent_messages_older_than`` names the Matrix events to redact first.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from protocols.herald.events import MAX_AHEAD as MAX_EVENT_AHEAD
from protocols.herald.plan import MAX_RUN_AHEAD, PlannedMessage, RunState
from storage.db import Database
from storage.times import from_ts as _dt_req
from storage.times import from_ts_opt as _dt
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
    ``full`` (the coalition has its maximum of member rooms; the token stays valid).
    """

    outcome: str
    coalition: Coalition | None = None


def token_hash(token: str) -> str:
    """What is stored of an invitation token: its SHA-256 (a disk copy cannot join with it)."""
    return hashlib.sha256(token.strip().encode("utf-8", "surrogatepass")).hexdigest()


class _Scoped:
    """A repository of one bot's rows (``bot`` is its user id). ``bot=None`` reads and forgets
    every bot's rows, which only ``affinity forget`` does; writes then go to the bot ''."""

    def __init__(self, db: Database, bot: str | None = None) -> None:
        self._db = db
        self._every = bot is None
        self._bot = bot or ""

    def _only(self, alias: str = "") -> tuple[str, tuple[Any, ...]]:
        """`` AND bot = ?`` and its parameter, or nothing for every bot."""
        if self._every:
            return "", ()
        return f" AND {alias}bot = ?", (self._bot,)


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
            "SELECT name, coordination_room, created_at FROM herald_coalition"
            " WHERE bot = ? AND name = ?",
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
            "DELETE FROM herald_coalition AS c WHERE 1 = 1" + scope
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
                "SELECT COUNT(*) FROM herald_invite WHERE bot = ? AND coalition = ?"
                " AND expires_at > ?",
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
                "SELECT coalition, room_id, expires_at FROM herald_invite"
                " WHERE token_hash = ? AND bot = ?",
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


# --- local details ------------------------------------------------------------------------


class LocalDetails(_Scoped):
    """A room's local details. Values are validated by ``protocols.herald.local`` first."""

    async def set(self, room_id: str, key: str, value: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO herald_local (bot, room_id, key, value, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (bot, room_id, key) DO UPDATE SET value = excluded.value,"
            " updated_at = excluded.updated_at",
            (self._bot, room_id, key, value, _ts(now)),
        )

    async def unset(self, room_id: str, key: str) -> bool:
        changed = await self._db.execute(
            "DELETE FROM herald_local WHERE bot = ? AND room_id = ? AND key = ?",
            (self._bot, room_id, key),
        )
        return changed == 1

    async def get_all(self, room_id: str) -> dict[str, str]:
        rows = await self._db.fetchall(
            "SELECT key, value FROM herald_local WHERE bot = ? AND room_id = ? ORDER BY key",
            (self._bot, room_id),
        )
        return {r[0]: r[1] for r in rows}

    async def forget_room(self, room_id: str) -> int:
        """Drop every detail of a room (it left, or the bot was removed)."""
        return await self._db.execute(
            "DELETE FROM herald_local WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )


# --- runs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    run_id: str
    coalition: str
    template: str
    action_at: datetime
    state: RunState
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Delivery:
    """One planned message and what became of it (fields match ``protocols.herald.board``)."""

    id: int
    run_id: str
    phase_key: str
    room_id: str
    txn_id: str
    due_at: datetime
    body: str
    html: str
    state: str  # pending | sent | failed | cancelled
    event_id: str | None
    error: str | None
    sent_at: datetime | None
    ack_by: datetime | None
    acked_at: datetime | None
    acked_by: str | None
    escalation_step: int


@dataclass(frozen=True)
class Amendment:
    run_id: str
    seq: int
    text: str
    created_at: datetime


_RUN_COLUMNS = "run_id, coalition, template, action_at, state, created_at, updated_at"
_DELIVERY_COLUMNS = (
    "id, run_id, phase, room_id, txn_id, due_at, body, html, state, event_id, error, sent_at,"
    " ack_by, acked_at, acked_by, escalation_step"
)


# When a run's rows start to age: its action, or its creation if that came later, and never
# later than MAX_RUN_AHEAD after its creation (so a run set before action times were bounded
# expires too).
_RUN_END = (
    f"MIN(MAX(created_at, action_at), created_at + {int(MAX_RUN_AHEAD.total_seconds())})"
)
# The same for a calendar event, with the calendar's own bound.
_EVENT_END = (
    f"MIN(MAX(created_at, starts_at), created_at + {int(MAX_EVENT_AHEAD.total_seconds())})"
)


def _run(row: Any) -> Run:
    return Run(row[0], row[1], row[2], _dt_req(row[3]), row[4], _dt_req(row[5]), _dt_req(row[6]))


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row[0],
        run_id=row[1],
        phase_key=row[2],
        room_id=row[3],
        txn_id=row[4],
        due_at=_dt_req(row[5]),
        body=row[6],
        html=row[7],
        state=row[8],
        event_id=row[9],
        error=row[10],
        sent_at=_dt(row[11]),
        ack_by=_dt(row[12]),
        acked_at=_dt(row[13]),
        acked_by=row[14],
        escalation_step=row[15],
    )


class HeraldRuns(_Scoped):
    """Protocol runs and their deliveries. State changes are compare-and-set: a second
    confirm, amend or cancel racing the first changes nothing and returns False."""

    async def create(
        self, run_id: str, coalition: str, template: str, action_at: datetime, now: datetime
    ) -> Run:
        await self._db.execute(
            f"INSERT INTO herald_run (bot, {_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, 'planned', ?, ?)",
            (self._bot, run_id, coalition, template, _ts(action_at), _ts(now), _ts(now)),
        )
        run = await self.get(run_id)
        assert run is not None
        return run

    async def get(self, run_id: str) -> Run | None:
        row = await self._db.fetchone(
            f"SELECT {_RUN_COLUMNS} FROM herald_run WHERE run_id = ? AND bot = ?",
            (run_id, self._bot),
        )
        return None if row is None else _run(row)

    async def list_for(self, coalition: str, states: Iterable[RunState] | None = None) -> list[Run]:
        """A coalition's runs by action time, optionally only in some states."""
        wanted = list(states) if states is not None else None
        sql = f"SELECT {_RUN_COLUMNS} FROM herald_run WHERE bot = ? AND coalition = ?"
        params: list[Any] = [self._bot, coalition]
        if wanted is not None:
            sql += f" AND state IN ({', '.join('?' for _ in wanted)})"
            params += wanted
        rows = await self._db.fetchall(sql + " ORDER BY action_at, run_id", params)
        return [_run(r) for r in rows]

    async def _insert_messages(self, messages: Sequence[PlannedMessage]) -> int:
        inserted = 0
        for m in messages:
            inserted += await self._db.execute(
                "INSERT OR IGNORE INTO herald_delivery"
                " (bot, run_id, phase, room_id, txn_id, due_at, body, html, ack_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self._bot,
                    m.run_id,
                    m.phase_key,
                    m.room_id,
                    m.txn_id,
                    _ts(m.due_at),
                    m.body,
                    m.html,
                    None if m.ack_by is None else _ts(m.ack_by),
                ),
            )
        return inserted

    async def confirm(self, run_id: str, messages: Sequence[PlannedMessage], now: datetime) -> bool:
        """planned -> confirmed, storing the whole plan in the same transaction."""
        async with self._db.transaction():
            changed = await self._db.execute(
                "UPDATE herald_run SET state = 'confirmed', updated_at = ?"
                " WHERE run_id = ? AND bot = ? AND state = 'planned'",
                (_ts(now), run_id, self._bot),
            )
            if changed != 1:
                return False
            await self._insert_messages(messages)
        return True

    async def add_messages(self, messages: Sequence[PlannedMessage]) -> int:
        """Store more planned messages; ones already stored (same txn id) are ignored."""
        async with self._db.transaction():
            return await self._insert_messages(messages)

    async def deliveries(self, run_id: str) -> list[Delivery]:
        rows = await self._db.fetchall(
            f"SELECT {_DELIVERY_COLUMNS} FROM herald_delivery WHERE run_id = ? AND bot = ?"
            " ORDER BY due_at, id",
            (run_id, self._bot),
        )
        return [_delivery(r) for r in rows]

    async def delivery(self, txn_id: str) -> Delivery | None:
        row = await self._db.fetchone(
            f"SELECT {_DELIVERY_COLUMNS} FROM herald_delivery WHERE txn_id = ? AND bot = ?",
            (txn_id, self._bot),
        )
        return None if row is None else _delivery(row)

    async def due(self, now: datetime, limit: int = 200) -> list[Delivery]:
        """Pending messages whose time has come, oldest first."""
        rows = await self._db.fetchall(
            f"SELECT {_DELIVERY_COLUMNS} FROM herald_delivery"
            " WHERE bot = ? AND state = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ?",
            (self._bot, _ts(now), limit),
        )
        return [_delivery(r) for r in rows]

    async def due_for_run(self, run_id: str, now: datetime) -> list[Delivery]:
        """One run's pending messages whose time has come, oldest first."""
        rows = await self._db.fetchall(
            f"SELECT {_DELIVERY_COLUMNS} FROM herald_delivery"
            " WHERE run_id = ? AND bot = ? AND state = 'pending' AND due_at <= ?"
            " ORDER BY due_at, id",
            (run_id, self._bot, _ts(now)),
        )
        return [_delivery(r) for r in rows]

    async def pending(self) -> list[Delivery]:
        """Every message still to be sent (to rebuild the schedule at start-up)."""
        rows = await self._db.fetchall(
            f"SELECT {_DELIVERY_COLUMNS} FROM herald_delivery WHERE bot = ? AND state = 'pending'"
            " ORDER BY due_at, id",
            (self._bot,),
        )
        return [_delivery(r) for r in rows]

    async def by_event(self, room_id: str, event_id: str) -> Delivery | None:
        """The planned message that became Matrix event ``event_id`` (a reaction's target)."""
        row = await self._db.fetchone(
            f"SELECT {_DELIVERY_COLUMNS} FROM herald_delivery"
            " WHERE bot = ? AND room_id = ? AND event_id = ?",
            (self._bot, room_id, event_id),
        )
        return None if row is None else _delivery(row)

    async def awaiting_ack(self, room_id: str, run_id: str | None = None) -> list[Delivery]:
        """A room's delivered messages that still wait for its acknowledgement."""
        sql = (
            f"SELECT {_DELIVERY_COLUMNS} FROM herald_delivery WHERE bot = ? AND room_id = ?"
            " AND state = 'sent' AND ack_by IS NOT NULL AND acked_at IS NULL"
        )
        params: list[Any] = [self._bot, room_id]
        if run_id is not None:
            sql += " AND run_id = ?"
            params.append(run_id)
        rows = await self._db.fetchall(sql + " ORDER BY due_at, id", params)
        return [_delivery(r) for r in rows]

    async def runs_awaiting_acks(self) -> list[str]:
        """Runs with a delivered message still unacknowledged (escalation may be owed)."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT run_id FROM herald_delivery WHERE bot = ? AND state = 'sent'"
            " AND ack_by IS NOT NULL AND acked_at IS NULL ORDER BY run_id",
            (self._bot,),
        )
        return [r[0] for r in rows]

    async def skip(self, txn_id: str) -> bool:
        """A pending message that must not go out after all (its room left the coalition,
        or it fell due too long ago): pending -> cancelled."""
        changed = await self._db.execute(
            "UPDATE herald_delivery SET state = 'cancelled'"
            " WHERE txn_id = ? AND bot = ? AND state = 'pending'",
            (txn_id, self._bot),
        )
        return changed == 1

    async def next_due_at(self) -> datetime | None:
        """When the next pending message falls due (to schedule one wake-up)."""
        row = await self._db.fetchone(
            "SELECT MIN(due_at) FROM herald_delivery WHERE bot = ? AND state = 'pending'",
            (self._bot,),
        )
        return None if row is None else _dt(row[0])

    async def mark_sent(self, txn_id: str, event_id: str, now: datetime) -> bool:
        changed = await self._db.execute(
            "UPDATE herald_delivery SET state = 'sent', event_id = ?, sent_at = ?, error = NULL"
            " WHERE txn_id = ? AND bot = ? AND state IN ('pending', 'failed')",
            (event_id, _ts(now), txn_id, self._bot),
        )
        return changed == 1

    async def mark_failed(self, txn_id: str, error: str) -> bool:
        changed = await self._db.execute(
            "UPDATE herald_delivery SET state = 'failed', error = ?"
            " WHERE txn_id = ? AND bot = ? AND state = 'pending'",
            (error[:500], txn_id, self._bot),
        )
        return changed == 1

    async def ack(
        self,
        run_id: str,
        room_id: str,
        user_id: str,
        now: datetime,
        phase_key: str | None = None,
    ) -> int:
        """Acknowledge, for a room, every delivered message of the run that awaits it
        (or only ``phase_key``). Returns how many were acknowledged; 0 means nothing awaited."""
        sql = (
            "UPDATE herald_delivery SET acked_at = ?, acked_by = ?"
            " WHERE run_id = ? AND bot = ? AND room_id = ? AND state = 'sent'"
            " AND ack_by IS NOT NULL AND acked_at IS NULL"
        )
        params: list[Any] = [_ts(now), user_id, run_id, self._bot, room_id]
        if phase_key is not None:
            sql += " AND phase = ?"
            params.append(phase_key)
        return await self._db.execute(sql, params)

    async def record_escalation(self, txn_id: str, step: int) -> bool:
        """Note that escalation ``step`` was taken; False if it (or a later one) already was."""
        changed = await self._db.execute(
            "UPDATE herald_delivery SET escalation_step = ?"
            " WHERE txn_id = ? AND bot = ? AND escalation_step < ?",
            (step, txn_id, self._bot, step),
        )
        return changed == 1

    async def next_amendment_seq(self, run_id: str) -> int:
        row = await self._db.fetchone(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM herald_amendment WHERE run_id = ?", (run_id,)
        )
        return int(row[0]) if row is not None else 1

    async def amend(
        self,
        run_id: str,
        seq: int,
        text: str,
        messages: Sequence[PlannedMessage],
        now: datetime,
    ) -> bool:
        """Record amendment ``seq`` and its messages at once. False if the run is not
        confirmed or that amendment number is taken (a concurrent amend won)."""
        try:
            async with self._db.transaction():
                run = await self.get(run_id)
                if run is None or run.state != "confirmed":
                    return False
                await self._db.execute(
                    "INSERT INTO herald_amendment (run_id, seq, text, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (run_id, seq, text, _ts(now)),
                )
                await self._insert_messages(messages)
                await self._db.execute(
                    "UPDATE herald_run SET updated_at = ? WHERE run_id = ? AND bot = ?",
                    (_ts(now), run_id, self._bot),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    async def amendments(self, run_id: str) -> list[Amendment]:
        rows = await self._db.fetchall(
            "SELECT run_id, seq, text, created_at FROM herald_amendment WHERE run_id = ?"
            " ORDER BY seq",
            (run_id,),
        )
        return [Amendment(r[0], r[1], r[2], _dt_req(r[3])) for r in rows]

    async def cancel(self, run_id: str, messages: Sequence[PlannedMessage], now: datetime) -> bool:
        """-> cancelled: every pending message is skipped and the stand-downs are stored,
        all in one transaction. False if the run was not planned or confirmed."""
        async with self._db.transaction():
            changed = await self._db.execute(
                "UPDATE herald_run SET state = 'cancelled', updated_at = ?"
                " WHERE run_id = ? AND bot = ? AND state IN ('planned', 'confirmed')",
                (_ts(now), run_id, self._bot),
            )
            if changed != 1:
                return False
            await self._db.execute(
                "UPDATE herald_delivery SET state = 'cancelled'"
                " WHERE run_id = ? AND state = 'pending'",
                (run_id,),
            )
            await self._insert_messages(messages)
        return True

    async def mark_done(self, run_id: str, now: datetime) -> bool:
        """confirmed -> done, only once nothing of the run is still pending."""
        changed = await self._db.execute(
            "UPDATE herald_run SET state = 'done', updated_at = ?"
            " WHERE run_id = ? AND bot = ? AND state = 'confirmed' AND NOT EXISTS"
            " (SELECT 1 FROM herald_delivery WHERE run_id = ? AND state = 'pending')",
            (_ts(now), run_id, self._bot, run_id),
        )
        return changed == 1

    def _expired_where(self, cutoff: datetime) -> tuple[str, tuple[Any, ...]]:
        # A run ends with its action, or with its creation if that came later; one only planned
        # and never confirmed goes once it is as old as the cutoff (abandoned previews do not
        # linger). The hard cap makes every row expire, even one set before action times were
        # bounded: nothing outlives its creation by more than the cutoff plus MAX_RUN_AHEAD.
        scope, params = self._only()
        return (
            f"({_RUN_END} < ? OR (state = 'planned' AND created_at < ?))" + scope,
            (_ts(cutoff), _ts(cutoff), *params),
        )

    async def sent_messages_older_than(self, cutoff: datetime) -> list[tuple[str, str]]:
        """``(room_id, event_id)`` of sent messages, not yet redacted, of runs
        :meth:`forget_older_than` would delete, so they can be redacted first."""
        where, params = self._expired_where(cutoff)
        rows = await self._db.fetchall(
            "SELECT d.room_id, d.event_id FROM herald_delivery d WHERE d.event_id IS NOT NULL"
            " AND d.run_id IN (SELECT run_id FROM herald_run WHERE " + where + ") ORDER BY d.id",
            params,
        )
        return [(r[0], r[1]) for r in rows]

    async def mark_redacted(self, room_id: str, event_id: str) -> bool:
        """The Matrix event of a delivery is redacted (or can never be): forget its id."""
        changed = await self._db.execute(
            "UPDATE herald_delivery SET event_id = NULL WHERE bot = ? AND room_id = ? AND event_id = ?",
            (self._bot, room_id, event_id),
        )
        return changed >= 1

    async def forget_older_than(
        self, cutoff: datetime, keep_unredacted_until: datetime | None = None
    ) -> int:
        """Delete runs (with deliveries and amendments) past ``cutoff``; returns runs deleted.

        With ``keep_unredacted_until``, a run with a sent message whose redaction has not
        succeeded yet is kept (the sweep tries again next time) unless it expired before that
        instant, so a homeserver that never answers cannot keep a run for ever.
        """
        where, params = self._expired_where(cutoff)
        if keep_unredacted_until is not None:
            where += (
                " AND (NOT EXISTS (SELECT 1 FROM herald_delivery d WHERE d.run_id ="
                " herald_run.run_id AND d.event_id IS NOT NULL) OR " + _RUN_END + " < ?)"
            )
            params = (*params, _ts(keep_unredacted_until))
        return await self._db.execute("DELETE FROM herald_run WHERE " + where, params)

    async def amendments_since(self, run_id: str, since: datetime) -> int:
        """How many amendments the run got after ``since`` (the amendment quota)."""
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM herald_amendment WHERE run_id = ? AND created_at > ?",
            (run_id, _ts(since)),
        )
        return int(row[0]) if row is not None else 0

    async def cancel_room(self, room_id: str, coalition: str | None = None) -> int:
        """Nothing more goes to a room that is out (of the coalition, or of the bot's rooms):
        its pending messages are cancelled. Returns how many."""
        sql = (
            "UPDATE herald_delivery SET state = 'cancelled'"
            " WHERE bot = ? AND room_id = ? AND state = 'pending'"
        )
        params: list[Any] = [self._bot, room_id]
        if coalition is not None:
            sql += " AND run_id IN (SELECT run_id FROM herald_run WHERE bot = ? AND coalition = ?)"
            params += [self._bot, coalition]
        return await self._db.execute(sql, params)

    async def forget_room(self, room_id: str) -> int:
        """Every message planned for or sent to a room the bot is out of (it cannot redact
        there any more, and the texts carry the room's local details)."""
        return await self._db.execute(
            "DELETE FROM herald_delivery WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )

    async def cancel_coalition(self, coalition: str, now: datetime) -> int:
        """The coalition lost its coordination room: every live run is cancelled and its
        pending messages are not sent. Returns runs cancelled."""
        async with self._db.transaction():
            await self._db.execute(
                "UPDATE herald_delivery SET state = 'cancelled' WHERE bot = ? AND state = 'pending'"
                " AND run_id IN (SELECT run_id FROM herald_run WHERE bot = ? AND coalition = ?)",
                (self._bot, self._bot, coalition),
            )
            return await self._db.execute(
                "UPDATE herald_run SET state = 'cancelled', updated_at = ?"
                " WHERE bot = ? AND coalition = ? AND state IN ('planned', 'confirmed')",
                (_ts(now), self._bot, coalition),
            )


# --- events -------------------------------------------------------------------------------


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
    """The coalition calendar."""

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

    async def add_within(
        self,
        coalition: str,
        room_id: str,
        title: str,
        starts_at: datetime,
        place: str | None,
        now: datetime,
        *,
        per_room: int,
        per_coalition: int,
    ) -> int | None:
        """:meth:`add`, unless the room already lists ``per_room`` upcoming events or the
        coalition ``per_coalition``: then None and nothing is stored."""
        async with self._db.transaction():
            row = await self._db.fetchone(
                "SELECT COUNT(*), COALESCE(SUM(room_id = ?), 0) FROM herald_event"
                " WHERE bot = ? AND coalition = ? AND starts_at >= ?",
                (room_id, self._bot, coalition, _ts(now)),
            )
            total, mine = (int(row[0]), int(row[1])) if row is not None else (0, 0)
            if mine >= per_room or total >= per_coalition:
                return None
            return await self.add(coalition, room_id, title, starts_at, place, now)

    async def list_for(self, coalition: str, since: datetime | None = None) -> list[StoredEvent]:
        """A coalition's events by start time, optionally only those starting at/after ``since``."""
        rows = await self._db.fetchall(
            "SELECT id, coalition, room_id, title, starts_at, place, created_at FROM herald_event"
            " WHERE bot = ? AND coalition = ? AND starts_at >= ? ORDER BY starts_at, id",
            (self._bot, coalition, _ts(since) if since is not None else float("-inf")),
        )
        return [
            StoredEvent(r[0], r[1], r[2], r[3], _dt_req(r[4]), r[5], _dt_req(r[6])) for r in rows
        ]

    async def remove(self, coalition: str, event_id: int) -> bool:
        changed = await self._db.execute(
            "DELETE FROM herald_event WHERE bot = ? AND coalition = ? AND id = ?",
            (self._bot, coalition, event_id),
        )
        return changed == 1

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
