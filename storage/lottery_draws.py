"""Draws from commitment to reveal, and the history of who won what.

- :class:`Draws`: draws, their contributions, and the published result;
  :meth:`Draws.complete` reveals a draw, grants its mandates and writes its history in one
  transaction, at most once, even if the reveal job fires twice across a restart;
- :class:`DrawHistory`: who won which role when, read for the fairness weights.

Tables ``lottery_draw`` and ``lottery_history`` (migration 002), each row its bot's
(migration 011). Seeds are sealed (:mod:`storage.lottery_seeds`). Times are UTC unix seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import aiosqlite

from protocols.lottery import (
    MAX_CONTRIBUTION_LENGTH,
    MAX_CONTRIBUTIONS,
    RECENT_DRAWS,
    SHADOW_VERSION,
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
    grant,
)
from storage.db import Database
from storage.lottery_mandates import MandateStore, Shadows
from storage.lottery_seeds import SeedKey, open_seed, seal_seed
from storage.times import from_ts as _dt
from storage.times import to_ts as _ts

DrawState = Literal["committed", "revealed"]


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
    """A revealed draw and the mandates it granted (roles filled meanwhile are skipped); a
    granted role's shadow is ``published.assignment.shadow(role)``."""

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

    async def create(self, inputs: DrawInputs, seed: bytes, reveal_at: datetime, now: datetime) -> str:
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
            "UPDATE lottery_draw SET reveal_at = ? WHERE bot = ? AND draw_id = ? AND state = 'committed'",
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
                "UPDATE lottery_draw SET seed = ?, seed_sealed = 1 WHERE draw_id = ? AND seed_sealed = 0",
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
            "SELECT * FROM lottery_draw WHERE bot = ? AND state = 'committed'"
            + where
            + " ORDER BY reveal_at",
            params,
        )
        return [await self._load(row) for row in rows]

    async def due(self, now: datetime) -> list[StoredDraw]:
        return [d for d in await self.pending() if d.reveal_at <= now]

    async def complete(self, draw_id: str, now: datetime, term: timedelta) -> Completion | None:
        """Reveal the draw: result, mandates for the roles still vacant (with their shadows),
        history; all at once.

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
                if draw.inputs.version >= SHADOW_VERSION:  # its last shadow had their turn first
                    shadow = published.assignment.shadow(role)
                    await Shadows(self._db, self._bot).replace(
                        draw.room, role, shadow, draw_id, now, mandate.expires
                    )
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
        return await self._db.execute("DELETE FROM lottery_draw WHERE created_at < ?", (_ts(cutoff),))

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


class DrawHistory:
    """Who won which role, and when: the memory behind "recent holders are less likely"."""

    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    async def wins(self, room_id: str) -> list[PastWin]:
        rows = await self._db.fetchall(
            "SELECT role, holder, at FROM lottery_history WHERE bot = ? AND room_id = ? ORDER BY at, role",
            (self._bot, room_id),
        )
        return [PastWin(r["role"], r["holder"], _dt(r["at"])) for r in rows]

    async def ever_held(self, room_id: str) -> dict[str, set[str]]:
        """role -> everyone who held it in the room, as far as the history remembers (whom a
        shadow draw leaves out)."""
        held: dict[str, set[str]] = {}
        for win in await self.wins(room_id):
            held.setdefault(win.role, set()).add(win.holder)
        return held

    async def recent(self, room_id: str, window: int = RECENT_DRAWS) -> dict[str, dict[str, int]]:
        """role -> member -> wins among the role's last ``window`` draws (for ``prepare``)."""
        return recent_wins(await self.wins(room_id), window)

    async def forget_older_than(self, cutoff: datetime) -> int:
        return await self._db.execute("DELETE FROM lottery_history WHERE at < ?", (_ts(cutoff),))
