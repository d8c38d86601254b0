"""What the blind mirror remembers, sealed, and how it forgets: the core of the anonymity promise.

:class:`MirrorRounds` keeps rounds (table ``mirror_round``), one random key per round
(``mirror_round_key``), the reflections (``mirror_submission``) and the events a release posted
(``mirror_message``, until redacted).

- A reflection is stored only sealed (AES-GCM) under its round's key. The author is stored only
  as an HMAC-SHA256 of their user id under the same key: enough to replace a person's earlier
  reflection, never their id. No submission time is stored, and the submission table has no
  rowid (see the migration), so nothing records the order reflections came in. (Where SQLite
  happens to place cells inside a page could still hint at it to someone holding the live file
  while the round is open; that goes with the rows when the round closes.)
- The key is destroyed, with the reflections, as soon as the round is released or withheld (or
  found stale): the key column is overwritten, the rows deleted (``secure_delete`` zeroes freed
  space), and the WAL is checkpointed and truncated so no old page image of them stays on disk.
- Optionally keys are wrapped under a master key held outside the database (see
  :mod:`storage.crypto`), so a copy of the file alone opens nothing even while a round is open.
  Without one, whoever holds the live database during an open round holds the keys too: the
  encryption then protects what is *after* the round, including earlier backups of the file.

:class:`DraftBook` keeps reflections being written, in memory only: nothing about an author,
not even that they started writing, touches the disk before they say ``submit``. The price is
that a restart discards half-written drafts; the member types ``reflect <code>`` again.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from protocols.mirror import (
    DEFAULT_RETENTION,
    Draft,
    MirrorRound,
    RoundRequest,
    check_can_reflect,
    check_reflection_text,
    decide_close,
    new_code,
)
from storage import crypto
from storage.db import Database
from storage.times import from_ts_opt as _dt
from storage.times import to_ts as _ts

log = logging.getLogger(__name__)

_OPEN_ATTEMPTS = 20


def _round(row: Any) -> MirrorRound:
    return MirrorRound(
        id=int(row["id"]),
        code=row["code"],
        reflecting_room=row["reflecting_room"],
        reflected_room=row["reflected_room"],
        k=int(row["k"]),
        closes_at=datetime.fromtimestamp(row["closes_at"], tz=timezone.utc),
        state=row["state"],
        release_at=_dt(row["release_at"]),
        redact_at=_dt(row["redact_at"]),
    )


def _key_aad(round_id: int) -> bytes:
    return b"mirror_round_key/%d" % round_id


def _submission_aad(round_id: int, author_hash: bytes) -> bytes:
    return b"mirror_submission/%d/" % round_id + author_hash


@dataclass(frozen=True)
class Redaction:
    """A published release message whose time is up: redact it, then call ``mark_redacted``."""

    round_id: int
    room_id: str
    event_id: str


class MirrorRounds:
    """Blind-mirror rounds and their sealed reflections (see the module docstring)."""

    def __init__(self, db: Database, master_key: bytes | None = None) -> None:
        self._db = db
        self._master = master_key

    # --- rounds ---------------------------------------------------------------------------

    async def open_round(
        self, request: RoundRequest, entropy: Callable[[int], bytes] = secrets.token_bytes
    ) -> MirrorRound:
        """Create a round with a fresh code (retrying on the rare collision) and a fresh key."""
        key = crypto.new_key()
        for _ in range(_OPEN_ATTEMPTS):
            code = new_code(entropy(16))
            async with self._db.transaction():
                if await self._db.fetchone("SELECT 1 FROM mirror_round WHERE code = ?", (code,)):
                    continue
                round_id = await self._db.insert(
                    "INSERT INTO mirror_round (code, reflecting_room, reflected_room, k,"
                    " closes_at) VALUES (?, ?, ?, ?, ?)",
                    (
                        code,
                        request.reflecting_room,
                        request.reflected_room,
                        request.k,
                        _ts(request.closes_at),
                    ),
                )
                if self._master is not None:
                    stored, wrapped = crypto.wrap_key(self._master, key, _key_aad(round_id)), 1
                else:
                    stored, wrapped = key, 0
                await self._db.execute(
                    "INSERT INTO mirror_round_key (round_id, wrapped, key) VALUES (?, ?, ?)",
                    (round_id, wrapped, stored),
                )
            found = await self.get(round_id)
            assert found is not None
            return found
        raise RuntimeError("could not find a free round code; is the entropy source broken?")

    async def get(self, round_id: int) -> MirrorRound | None:
        row = await self._db.fetchone("SELECT * FROM mirror_round WHERE id = ?", (round_id,))
        return _round(row) if row else None

    async def get_by_code(self, code: str) -> MirrorRound | None:
        """The round with this code (as typed: case and spaces do not matter), if any."""
        row = await self._db.fetchone(
            "SELECT * FROM mirror_round WHERE code = ?", (code.strip().lower(),)
        )
        return _round(row) if row else None

    async def rounds_for_room(self, room_id: str) -> list[MirrorRound]:
        """Rounds opened in, or about, a room (for ``!mirror status``), oldest close first."""
        rows = await self._db.fetchall(
            "SELECT * FROM mirror_round WHERE (reflecting_room = ? OR reflected_room = ?)"
            " AND state != 'expired' ORDER BY closes_at, id",
            (room_id, room_id),
        )
        return [_round(r) for r in rows]

    async def active(self) -> list[MirrorRound]:
        """Rounds still waiting to close or to be released (the scheduler rebuilds from these)."""
        rows = await self._db.fetchall(
            "SELECT * FROM mirror_round WHERE state IN ('open', 'closed') ORDER BY closes_at, id"
        )
        return [_round(r) for r in rows]

    async def awaiting_expiry(self) -> list[MirrorRound]:
        """Released or withheld rounds, each with the ``redact_at`` when it is to be forgotten
        (the scheduler rebuilds its expiry jobs from these)."""
        rows = await self._db.fetchall(
            "SELECT * FROM mirror_round WHERE state IN ('released', 'withheld')"
            " ORDER BY redact_at, id"
        )
        return [_round(r) for r in rows]

    # --- reflections ----------------------------------------------------------------------

    async def _key(self, round_id: int) -> bytes | None:
        row = await self._db.fetchone(
            "SELECT wrapped, key FROM mirror_round_key WHERE round_id = ?", (round_id,)
        )
        if row is None:
            return None
        stored = bytes(row["key"])
        if not row["wrapped"]:
            return stored
        if self._master is None:
            raise RuntimeError("round keys are wrapped but no master key is configured")
        return crypto.unwrap_key(self._master, stored, _key_aad(round_id))

    async def submit(self, code: str, user_id: str, text: str, now: datetime) -> bool:
        """Store a reflection for an open round; True if it replaced this person's earlier one.

        Raises :class:`protocols.mirror.MirrorError` for an unknown or closed round, or a text
        over the limit. The user id is used only to compute the keyed hash.
        """
        check_reflection_text(text)
        async with self._db.transaction():
            round_ = check_can_reflect(await self.get_by_code(code), code, now)
            key = await self._key(round_.id)
            if key is None:  # an open round always has its key; refuse rather than store plain
                raise RuntimeError("open round without a key")
            author = crypto.keyed_hash(key, user_id)
            nonce, sealed = crypto.seal(key, text, _submission_aad(round_.id, author))
            replaced = await self._db.fetchone(
                "SELECT 1 FROM mirror_submission WHERE round_id = ? AND author_hash = ?",
                (round_.id, author),
            )
            await self._db.execute(
                "INSERT INTO mirror_submission (round_id, author_hash, nonce, ciphertext)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (round_id, author_hash)"
                " DO UPDATE SET nonce = excluded.nonce, ciphertext = excluded.ciphertext",
                (round_.id, author, nonce, sealed),
            )
        return replaced is not None

    async def count(self, round_id: int) -> int:
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM mirror_submission WHERE round_id = ?", (round_id,)
        )
        return int(row[0]) if row else 0

    # --- close, release, publish ----------------------------------------------------------

    async def close(
        self,
        round_id: int,
        now: datetime,
        rng: random.Random,
        delay_low: timedelta,
        delay_high: timedelta,
        retention: timedelta = DEFAULT_RETENTION,
    ) -> MirrorRound | None:
        """Close an open round: with k or more reflections, schedule the release at a random
        delay; with fewer, withhold: destroy key and reflections now, and forget the round
        itself after ``retention``. A round that is not open is returned unchanged (so a
        restart may close twice); None if there is no such round.
        """
        withheld = False
        async with self._db.transaction():
            round_ = await self.get(round_id)
            if round_ is None or round_.state != "open":
                return round_
            decision = decide_close(
                await self.count(round_id), round_.k, now, rng, delay_low, delay_high
            )
            if decision.state == "withheld":
                withheld = True
                await self._shred(round_id)
                await self._db.execute(
                    "UPDATE mirror_round SET state = 'withheld', redact_at = ? WHERE id = ?",
                    (_ts(now + retention), round_id),
                )
            else:
                assert decision.release_at is not None
                await self._db.execute(
                    "UPDATE mirror_round SET state = 'closed', release_at = ? WHERE id = ?",
                    (_ts(decision.release_at), round_id),
                )
        if withheld:
            await self._scrub()
        return await self.get(round_id)

    async def take_batch_for_release(self, round_id: int) -> list[str]:
        """Decrypt every reflection of a closed round, in canonical (sorted) order.

        Read-only: the key and reflections stay until :meth:`mark_published`, so a crash before
        posting loses nothing. Shuffle with :func:`protocols.mirror.release_order` before posting.
        """
        round_ = await self.get(round_id)
        if round_ is None or round_.state != "closed":
            raise ValueError(f"round {round_id} is not closed and waiting for release")
        key = await self._key(round_id)
        if key is None:
            raise RuntimeError(f"round {round_id} has no key left to open its reflections")
        rows = await self._db.fetchall(
            "SELECT author_hash, nonce, ciphertext FROM mirror_submission WHERE round_id = ?",
            (round_id,),
        )
        texts = [
            crypto.unseal(
                key,
                bytes(r["nonce"]),
                bytes(r["ciphertext"]),
                _submission_aad(round_id, bytes(r["author_hash"])),
            )
            for r in rows
        ]
        return sorted(texts)

    async def mark_published(
        self, round_id: int, messages: Sequence[tuple[str, str]], redact_at: datetime
    ) -> None:
        """The release was posted as ``messages`` ((room_id, event_id) pairs): remember them for
        redaction at ``redact_at``, and destroy the key and the stored reflections now."""
        async with self._db.transaction():
            changed = await self._db.execute(
                "UPDATE mirror_round SET state = 'released', redact_at = ?"
                " WHERE id = ? AND state = 'closed'",
                (_ts(redact_at), round_id),
            )
            if not changed:
                raise ValueError(f"round {round_id} is not closed and waiting for release")
            for room_id, event_id in messages:
                await self._db.execute(
                    "INSERT OR IGNORE INTO mirror_message (round_id, room_id, event_id)"
                    " VALUES (?, ?, ?)",
                    (round_id, room_id, event_id),
                )
            await self._shred(round_id)
        await self._scrub()

    # --- forgetting -----------------------------------------------------------------------

    async def _shred(self, round_id: int) -> None:
        """Overwrite, then delete, the round's key and reflections (inside a transaction)."""
        # Overwriting first means the key bytes are gone from the live page before the delete,
        # whatever the build's secure_delete support; secure_delete then zeroes the freed cells.
        await self._db.execute(
            "UPDATE mirror_round_key SET key = zeroblob(length(key)) WHERE round_id = ?",
            (round_id,),
        )
        await self._db.execute("DELETE FROM mirror_round_key WHERE round_id = ?", (round_id,))
        await self._db.execute(
            "UPDATE mirror_submission SET ciphertext = zeroblob(length(ciphertext)),"
            " nonce = zeroblob(length(nonce)) WHERE round_id = ?",
            (round_id,),
        )
        await self._db.execute("DELETE FROM mirror_submission WHERE round_id = ?", (round_id,))

    async def _scrub(self) -> None:
        """Copy the WAL into the database and truncate it, so no page image of what was just
        destroyed stays in the -wal file."""
        row = await self._db.fetchone("PRAGMA wal_checkpoint(TRUNCATE)")
        if row is not None and row[0]:
            log.warning("WAL checkpoint was blocked by a reader; destroyed rows linger in the WAL")

    async def destroy_key(self, round_id: int) -> None:
        """Destroy a round's key and reflections now: what is left can no longer be read."""
        async with self._db.transaction():
            await self._shred(round_id)
        await self._scrub()

    async def forget_expired(
        self, now: datetime, stale_after: timedelta = DEFAULT_RETENTION
    ) -> list[Redaction]:
        """Forget what is due, and return the release messages to redact.

        Released rounds past ``redact_at`` become ``expired`` (their messages are returned until
        :meth:`mark_redacted` confirms them, so a crash in between redacts them on the next
        sweep); withheld rounds past ``redact_at`` are deleted; rounds that were never closed or
        released ``stale_after`` past their close (the bot was down) are shredded and deleted.
        """
        cutoff = _ts(now)
        async with self._db.transaction():
            stale = await self._db.fetchall(
                "SELECT id FROM mirror_round WHERE"
                " (state IN ('open', 'closed') AND closes_at <= ?)"
                " OR (state = 'withheld' AND redact_at <= ?)",
                (_ts(now - stale_after), cutoff),
            )
            for row in stale:
                await self._shred(int(row["id"]))
                await self._db.execute("DELETE FROM mirror_round WHERE id = ?", (row["id"],))
            expiring = await self._db.fetchall(
                "SELECT id FROM mirror_round WHERE state = 'released' AND redact_at <= ?",
                (cutoff,),
            )
            for row in expiring:
                await self._shred(int(row["id"]))  # normally already gone at publication
                await self._db.execute(
                    "UPDATE mirror_round SET state = 'expired' WHERE id = ?", (row["id"],)
                )
            # Expired rounds with nothing left to redact have nothing left to say.
            await self._db.execute(
                "DELETE FROM mirror_round WHERE state = 'expired' AND NOT EXISTS"
                " (SELECT 1 FROM mirror_message m WHERE m.round_id = mirror_round.id)"
            )
            rows = await self._db.fetchall(
                "SELECT m.round_id, m.room_id, m.event_id FROM mirror_message m"
                " JOIN mirror_round r ON r.id = m.round_id WHERE r.state = 'expired'"
                " ORDER BY m.round_id, m.event_id"
            )
        if stale or expiring:
            await self._scrub()
        return [Redaction(int(r["round_id"]), r["room_id"], r["event_id"]) for r in rows]

    async def mark_redacted(self, redactions: Iterable[Redaction]) -> None:
        """These messages are redacted: forget them, and their round once none is left."""
        async with self._db.transaction():
            for item in redactions:
                await self._db.execute(
                    "DELETE FROM mirror_message WHERE round_id = ? AND event_id = ?",
                    (item.round_id, item.event_id),
                )
            await self._db.execute(
                "DELETE FROM mirror_round WHERE state = 'expired' AND NOT EXISTS"
                " (SELECT 1 FROM mirror_message m WHERE m.round_id = mirror_round.id)"
            )


class DraftBook:
    """Reflections being written, by user id, in memory only (see the module docstring).

    Idle drafts are dropped by :meth:`forget_older_than`, so an abandoned draft does not even
    linger in memory.
    """

    def __init__(self) -> None:
        self._drafts: dict[str, tuple[Draft, datetime]] = {}

    def get(self, user_id: str) -> Draft | None:
        entry = self._drafts.get(user_id)
        return entry[0] if entry else None

    def put(self, user_id: str, draft: Draft, now: datetime) -> None:
        """Keep (or replace) a user's draft; finished drafts are dropped instead of kept."""
        if draft.stage in ("submitted", "cancelled"):
            self._drafts.pop(user_id, None)
        else:
            self._drafts[user_id] = (draft, now)

    def discard(self, user_id: str) -> bool:
        return self._drafts.pop(user_id, None) is not None

    def discard_round(self, round_id: int) -> int:
        """Drop every draft for a round (it closed); how many were dropped."""
        users = [u for u, (d, _) in self._drafts.items() if d.round_id == round_id]
        for user in users:
            del self._drafts[user]
        return len(users)

    def forget_older_than(self, cutoff: datetime) -> int:
        """Drop drafts untouched since ``cutoff``; how many were dropped."""
        users = [u for u, (_, touched) in self._drafts.items() if touched < cutoff]
        for user in users:
            del self._drafts[user]
        return len(users)

    def __len__(self) -> int:
        return len(self._drafts)
