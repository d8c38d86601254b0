"""What the role lottery remembers, and when it forgets.

One repository per aggregate, all on the tables of migration 002:

- :class:`LotteryRooms`: a room's roles and mandate length (``!roles set``, ``!roles term``);
- :class:`MandateStore`: the mandates running now and renewals proposed for them;
- :class:`Draws`: draws from commit to reveal, their contributions, and the published result;
  :meth:`Draws.complete` reveals a draw, grants its mandates and writes its history in one
  transaction, at most once, even if the reveal job fires twice across a restart;
- :class:`DrawHistory`: who won which role when, read for the fairness weights;
- :class:`Stepbacks`: members out of the pool, until a time or until ``!stepin``;
- :class:`Groupings`: earlier triads and cells, so the next ones mix people.

Every row belongs to a bot (the ``bot`` column, migration 011): several bots share one
database, and each repository is made for one bot and reads and writes only its rows, so a
reveal, a reminder or an expiry runs on the bot that is in the room, once.

Draws, history and groupings are kept for a window (``retention.draw_history``) and deleted by
:func:`forget_lottery`. Times are UTC unix seconds. The rules live in ``protocols``; these
classes apply them inside transactions so a refused request changes nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import aiosqlite

from protocols.lottery import (
    DEFAULT_ROLES,
    DEFAULT_TERM,
    MAX_CONTRIBUTION_LENGTH,
    MAX_CONTRIBUTIONS,
    RECENT_DRAWS,
    DrawInputs,
    LotteryError,
    PastWin,
    PublishedDraw,
    canonical_json,
    commitment,
    recent_wins,
    reveal,
)
from protocols.mandates import (
    Mandate,
    RenewalProposal,
    confirm_renewal,
    grant,
    propose_renewal,
    release,
    reminder_at,
)
from storage import crypto
from storage.db import Database
from storage.times import from_ts as _dt
from storage.times import to_ts as _ts

GroupingKind = Literal["triads", "cells"]
# Groupings kept per room and kind (the next grouping reads only the latest one).
KEEP_GROUPINGS = 5
DrawState = Literal["committed", "revealed"]


# --- room setup ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RoomSetup:
    """A room's roles (in drawing order) and mandate length."""

    roles: tuple[str, ...]
    term: timedelta


class LotteryRooms:
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
                    "UPDATE lottery_room SET roles = ?, updated_at = ? "
                    "WHERE bot = ? AND room_id = ?",
                    (roles, _ts(now), self._bot, room_id),
                )
            if term_s is not None:
                await self._db.execute(
                    "UPDATE lottery_room SET term_s = ?, updated_at = ? "
                    "WHERE bot = ? AND room_id = ?",
                    (term_s, _ts(now), self._bot, room_id),
                )


# --- mandates ------------------------------------------------------------------------------


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
        rows = await self._db.fetchall(
            _MANDATE_SELECT + " ORDER BY m.expires, m.room_id", (self._bot,)
        )
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


# --- draws ---------------------------------------------------------------------------------


# --- the seed at rest -------------------------------------------------------------------------
#
# While a draw is open its seed is the one secret that keeps anyone from aiming a contribution:
# whoever knows it can compute what each extra reaction would do and add the one that gives the
# result they want. So the seed is never stored in the clear. It is sealed (AES-256-GCM, bound to
# the draw id and commitment) under a key derived from the operator's pickle key, which is never
# in the database: a copy of the database or of a backup, taken during the window, holds only
# ciphertext. After the reveal the seed is public anyway (it is in the published record).


class SeedUnavailable(LotteryError):
    """A committed draw's seed does not open (the pickle key changed since it was sealed)."""


def seed_key_from_secret(secret: str) -> bytes:
    """The key that seals draw seeds, derived from the operator's pickle key; never stored."""
    return crypto.keyed_hash(crypto.master_key_from_secret(secret), "lottery draw seeds")


def _seed_aad(draw_id: str, digest: str) -> bytes:
    return f"lottery_draw\x1f{draw_id}\x1f{digest}".encode()


def seal_seed(key: bytes, draw_id: str, digest: str, seed: bytes) -> bytes:
    """The seed as stored: nonce and ciphertext, bound to the draw and its commitment."""
    return crypto.wrap_key(key, seed, _seed_aad(draw_id, digest))


def open_seed(key: bytes, draw_id: str, digest: str, sealed: bytes) -> bytes:
    """The inverse of :func:`seal_seed`; :class:`SeedUnavailable` if it does not open."""
    try:
        return crypto.unwrap_key(key, sealed, _seed_aad(draw_id, digest))
    except crypto.DecryptionError as exc:
        raise SeedUnavailable(
            f"Draw {draw_id} cannot be revealed: its sealed seed does not open with this bot's "
            "key (the operator changed the pickle key)."
        ) from exc


SeedKey = Callable[[], bytes]


def _no_seed_key() -> bytes:
    """For code that never stores or opens a seed (forgetting)."""
    raise RuntimeError("this Draws cannot store or open seeds")


@dataclass(frozen=True)
class StoredDraw:
    """A draw as stored. ``stored_seed`` is the seed sealed (``seed_sealed``) or, for draws
    committed before seeds were sealed, in the clear; :meth:`Draws.seed` opens it. The seed is
    secret while ``state`` is 'committed': never show it."""

    draw_id: str
    room: str
    state: DrawState
    commitment: str
    inputs: DrawInputs
    stored_seed: bytes
    seed_sealed: bool
    commit_event_id: str | None
    reveal_at: datetime
    created_at: datetime
    contributions: tuple[str, ...]
    published: PublishedDraw | None
    window: timedelta  # how long members have to add chance, from the commitment's delivery


@dataclass(frozen=True)
class Completion:
    """A revealed draw and the mandates it granted (roles filled meanwhile are skipped)."""

    published: PublishedDraw
    granted: tuple[Mandate, ...]
    skipped: tuple[str, ...]


class Draws:
    """Draws from commitment to reveal; revealed ones stay for ``!verify`` until forgotten.

    ``seed_key`` gives the key seeds are sealed under (:func:`seed_key_from_secret`); it is
    asked for only when a seed is stored or opened.
    """

    def __init__(self, db: Database, bot: str, seed_key: SeedKey) -> None:
        self._db = db
        self._bot = bot
        self._seed_key = seed_key

    async def create(
        self, inputs: DrawInputs, seed: bytes, reveal_at: datetime, now: datetime
    ) -> str:
        """Store a committed draw, its seed sealed; returns its commitment (to publish)."""
        digest = commitment(inputs, seed)
        await self._db.execute(
            "INSERT INTO lottery_draw (bot, draw_id, room_id, commitment, inputs, seed, "
            "seed_sealed, reveal_at, created_at, window_s) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
            (
                self._bot,
                inputs.draw_id,
                inputs.room,
                digest,
                canonical_json(inputs.to_json()).decode(),
                seal_seed(self._seed_key(), inputs.draw_id, digest, seed),
                _ts(reveal_at),
                _ts(now),
                (reveal_at - now).total_seconds(),
            ),
        )
        return digest

    async def set_reveal_at(self, draw_id: str, when: datetime) -> None:
        """Move an open draw's reveal (later: its commitment was delivered late)."""
        await self._db.execute(
            "UPDATE lottery_draw SET reveal_at = ? "
            "WHERE bot = ? AND draw_id = ? AND state = 'committed'",
            (_ts(when), self._bot, draw_id),
        )

    def seed(self, draw: StoredDraw) -> bytes:
        """The draw's seed, opened (:class:`SeedUnavailable` if the key changed)."""
        if not draw.seed_sealed:
            return draw.stored_seed  # committed before seeds were sealed (migration 011)
        return open_seed(self._seed_key(), draw.draw_id, draw.commitment, draw.stored_seed)

    async def seal_clear_seeds(self) -> int:
        """Seal the seeds of open draws stored in the clear by an older version; rows changed."""
        rows = await self._db.fetchall(
            "SELECT draw_id, commitment, seed FROM lottery_draw "
            "WHERE bot = ? AND state = 'committed' AND seed_sealed = 0",
            (self._bot,),
        )
        changed = 0
        for row in rows:
            sealed = seal_seed(self._seed_key(), row["draw_id"], row["commitment"], row["seed"])
            changed += await self._db.execute(
                "UPDATE lottery_draw SET seed = ?, seed_sealed = 1 "
                "WHERE draw_id = ? AND seed_sealed = 0",
                (sealed, row["draw_id"]),
            )
        return changed

    async def void(self, draw_id: str) -> bool:
        """Delete a committed draw that can never be revealed (its seed does not open)."""
        changed = await self._db.execute(
            "DELETE FROM lottery_draw WHERE bot = ? AND draw_id = ? AND state = 'committed'",
            (self._bot, draw_id),
        )
        return changed > 0

    async def set_commit_event(self, draw_id: str, event_id: str) -> None:
        """Remember the commitment message, whose reactions and replies are contributions."""
        await self._db.execute(
            "UPDATE lottery_draw SET commit_event_id = ? WHERE bot = ? AND draw_id = ?",
            (event_id, self._bot, draw_id),
        )

    async def add_contribution(self, draw_id: str, value: str, now: datetime) -> bool:
        """Add a contribution to a committed draw; False if revealed, unknown, full or a repeat."""
        if not 0 < len(value) <= MAX_CONTRIBUTION_LENGTH:
            raise LotteryError(f"A contribution is 1 to {MAX_CONTRIBUTION_LENGTH} characters.")
        async with self._db.transaction():
            row = await self._db.fetchone(
                "SELECT state, (SELECT COUNT(*) FROM lottery_contribution c "
                "WHERE c.draw_id = d.draw_id) AS n FROM lottery_draw d WHERE bot = ? AND draw_id = ?",
                (self._bot, draw_id),
            )
            if row is None or row["state"] != "committed" or row["n"] >= MAX_CONTRIBUTIONS:
                return False
            changed = await self._db.execute(
                "INSERT INTO lottery_contribution (draw_id, value, added_at) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (draw_id, value, _ts(now)),
            )
        return changed > 0

    async def get(self, draw_id: str) -> StoredDraw | None:
        row = await self._db.fetchone(
            "SELECT * FROM lottery_draw WHERE bot = ? AND draw_id = ?", (self._bot, draw_id)
        )
        return None if row is None else await self._load(row)

    async def by_commit_event(self, event_id: str) -> StoredDraw | None:
        row = await self._db.fetchone(
            "SELECT * FROM lottery_draw WHERE bot = ? AND commit_event_id = ?",
            (self._bot, event_id),
        )
        return None if row is None else await self._load(row)

    async def pending(self, room_id: str | None = None) -> list[StoredDraw]:
        """Committed, unrevealed draws of this bot (of one room, or all: rebuild reveal jobs at
        start-up)."""
        where: str = ""
        params: tuple[str, ...] = (self._bot,)
        if room_id is not None:
            where, params = " AND room_id = ?", (self._bot, room_id)
        rows = await self._db.fetchall(
            "SELECT * FROM lottery_draw WHERE bot = ? AND state = 'committed'" + where
            + " ORDER BY reveal_at",
            params,
        )
        return [await self._load(row) for row in rows]

    async def due(self, now: datetime) -> list[StoredDraw]:
        return [d for d in await self.pending() if d.reveal_at <= now]

    async def complete(self, draw_id: str, now: datetime, term: timedelta) -> Completion | None:
        """Reveal the draw: result, mandates for the roles still vacant, history; all at once.

        None if the draw is unknown or already revealed (a second reveal job does nothing).
        """
        async with self._db.transaction():
            draw = await self.get(draw_id)
            if draw is None or draw.state != "committed":
                return None
            published = reveal(draw.inputs, self.seed(draw), draw.contributions)
            mandates = MandateStore(self._db, self._bot)
            current = await mandates.current(draw.room)
            granted: list[Mandate] = []
            skipped: list[str] = []
            for role, holder in published.assignment.picks:
                running = current.get(role)
                if running is not None and running.active(now):
                    skipped.append(role)  # filled by another draw meanwhile: it stays filled
                    continue
                mandate = grant(draw.room, role, holder, now, term)
                await mandates.put(mandate, draw_id)
                granted.append(mandate)
                await self._db.execute(
                    "INSERT INTO lottery_history (bot, room_id, draw_id, role, holder, at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (self._bot, draw.room, draw_id, role, holder, _ts(now)),
                )
            await self._db.execute(
                "UPDATE lottery_draw SET state = 'revealed', result = ?, revealed_at = ? "
                "WHERE bot = ? AND draw_id = ? AND state = 'committed'",
                (canonical_json(published.to_json()).decode(), _ts(now), self._bot, draw_id),
            )
        return Completion(published, tuple(granted), tuple(skipped))

    async def published(self, draw_id: str) -> PublishedDraw | None:
        """The published record of a revealed draw (``!verify``); None before the reveal."""
        draw = await self.get(draw_id)
        return None if draw is None else draw.published

    async def forget_older_than(self, cutoff: datetime) -> int:
        """Delete draws created before ``cutoff`` (their contributions go with them), of every
        bot: age is the same rule for all."""
        return await self._db.execute(
            "DELETE FROM lottery_draw WHERE created_at < ?", (_ts(cutoff),)
        )

    async def _load(self, row: aiosqlite.Row) -> StoredDraw:
        values = await self._db.fetchall(
            "SELECT value FROM lottery_contribution WHERE draw_id = ? ORDER BY value",
            (row["draw_id"],),
        )
        result = row["result"]
        return StoredDraw(
            draw_id=row["draw_id"],
            room=row["room_id"],
            state=row["state"],
            commitment=row["commitment"],
            inputs=DrawInputs.from_json(json.loads(row["inputs"])),
            stored_seed=bytes(row["seed"]),
            seed_sealed=bool(row["seed_sealed"]),
            commit_event_id=row["commit_event_id"],
            reveal_at=_dt(row["reveal_at"]),
            created_at=_dt(row["created_at"]),
            contributions=tuple(v["value"] for v in values),
            published=None if result is None else PublishedDraw.from_json(json.loads(result)),
            window=(
                timedelta(seconds=float(row["window_s"]))
                if row["window_s"] is not None
                else _dt(row["reveal_at"]) - _dt(row["created_at"])
            ),
        )


# --- history -------------------------------------------------------------------------------


class DrawHistory:
    """Who won which role, and when: the memory behind "recent holders are less likely"."""

    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    async def wins(self, room_id: str) -> list[PastWin]:
        rows = await self._db.fetchall(
            "SELECT role, holder, at FROM lottery_history WHERE bot = ? AND room_id = ? "
            "ORDER BY at, role",
            (self._bot, room_id),
        )
        return [PastWin(r["role"], r["holder"], _dt(r["at"])) for r in rows]

    async def recent(self, room_id: str, window: int = RECENT_DRAWS) -> dict[str, dict[str, int]]:
        """role -> member -> wins among the role's last ``window`` draws (for ``prepare``)."""
        return recent_wins(await self.wins(room_id), window)

    async def forget_older_than(self, cutoff: datetime) -> int:
        return await self._db.execute("DELETE FROM lottery_history WHERE at < ?", (_ts(cutoff),))


# --- step-backs ----------------------------------------------------------------------------


class Stepbacks:
    """Members who stepped out of the pool (care, not shame), until a time or ``!stepin``."""

    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    async def step_back(
        self, room_id: str, user_id: str, now: datetime, until: datetime | None = None
    ) -> None:
        if until is not None and until <= now:
            raise ValueError("a step-back ends in the future")
        await self._db.execute(
            "INSERT INTO lottery_stepback (bot, room_id, user_id, since, until) "
            "VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (bot, room_id, user_id) DO UPDATE SET since = excluded.since, "
            "until = excluded.until",
            (self._bot, room_id, user_id, _ts(now), None if until is None else _ts(until)),
        )

    async def step_in(self, room_id: str, user_id: str) -> bool:
        """Back in the pool; False if the member had not stepped back."""
        changed = await self._db.execute(
            "DELETE FROM lottery_stepback WHERE bot = ? AND room_id = ? AND user_id = ?",
            (self._bot, room_id, user_id),
        )
        return changed > 0

    async def active(self, room_id: str, now: datetime) -> dict[str, datetime | None]:
        """user -> end of the step-back (None: open-ended), for ``protocols.lottery.pool``."""
        rows = await self._db.fetchall(
            "SELECT user_id, until FROM lottery_stepback "
            "WHERE bot = ? AND room_id = ? AND (until IS NULL OR until > ?) ORDER BY user_id",
            (self._bot, room_id, _ts(now)),
        )
        return {r["user_id"]: None if r["until"] is None else _dt(r["until"]) for r in rows}

    async def forget_expired(self, now: datetime) -> int:
        """Delete step-backs that have ended."""
        return await self._db.execute(
            "DELETE FROM lottery_stepback WHERE until IS NOT NULL AND until <= ?", (_ts(now),)
        )


# --- groupings -----------------------------------------------------------------------------


class Groupings:
    """Earlier triads and cells of a room, so the next grouping can mix people."""

    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    async def record(
        self,
        room_id: str,
        kind: GroupingKind,
        groups: Iterable[Iterable[str]],
        now: datetime,
    ) -> int:
        payload = json.dumps([sorted(g) for g in groups])
        async with self._db.transaction():
            new_id = await self._db.insert(
                "INSERT INTO lottery_grouping (bot, room_id, kind, groups, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (self._bot, room_id, kind, payload, _ts(now)),
            )
            # Only the latest groupings are read (to mix people): a room that asks for triads
            # again and again does not grow the table.
            await self._db.execute(
                "DELETE FROM lottery_grouping WHERE bot = ? AND room_id = ? AND kind = ? "
                "AND id NOT IN (SELECT id FROM lottery_grouping WHERE bot = ? AND room_id = ? "
                "AND kind = ? ORDER BY at DESC, id DESC LIMIT ?)",
                (self._bot, room_id, kind, self._bot, room_id, kind, KEEP_GROUPINGS),
            )
        return new_id

    async def recent(
        self, room_id: str, kind: GroupingKind, limit: int = 1
    ) -> list[list[tuple[str, ...]]]:
        """The last ``limit`` groupings of this kind, newest first."""
        rows = await self._db.fetchall(
            "SELECT groups FROM lottery_grouping WHERE bot = ? AND room_id = ? AND kind = ? "
            "ORDER BY at DESC, id DESC LIMIT ?",
            (self._bot, room_id, kind, limit),
        )
        return [[tuple(g) for g in json.loads(r["groups"])] for r in rows]

    async def forget_older_than(self, cutoff: datetime) -> int:
        return await self._db.execute("DELETE FROM lottery_grouping WHERE at < ?", (_ts(cutoff),))


# --- redraws owed ------------------------------------------------------------------------


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
        await self._db.execute(
            "DELETE FROM lottery_redraw WHERE bot = ? AND key = ?", (self._bot, key)
        )

    async def forget_older_than(self, cutoff: datetime) -> int:
        return await self._db.execute(
            "DELETE FROM lottery_redraw WHERE created_at < ?", (_ts(cutoff),)
        )


# --- forgetting ----------------------------------------------------------------------------


async def forget_lottery(db: Database, cutoff: datetime, now: datetime) -> int:
    """Delete draws, history and groupings older than ``cutoff`` and ended step-backs, of every
    bot (``affinity forget`` runs without bots; age is the same rule for all).

    Running mandates are not history: they end on their own (``MandateStore.expire``).
    """
    async with db.transaction():
        return (
            await Draws(db, "", _no_seed_key).forget_older_than(cutoff)
            + await DrawHistory(db, "").forget_older_than(cutoff)
            + await Groupings(db, "").forget_older_than(cutoff)
            + await Stepbacks(db, "").forget_expired(now)
            + await Redraws(db, "").forget_older_than(cutoff)
        )


async def forget_room(db: Database, bot: str, room_id: str) -> int:
    """Delete everything this bot's lottery keeps about a room (it left it); rows deleted.

    Another bot still in the room keeps its own."""
    async with db.transaction():
        total = 0
        for table in (
            "lottery_room",
            "lottery_mandate",
            "lottery_draw",
            "lottery_history",
            "lottery_stepback",
            "lottery_grouping",
            "lottery_redraw",
        ):
            total += await db.execute(
                f"DELETE FROM {table} WHERE bot = ? AND room_id = ?", (bot, room_id)
            )
        return total
