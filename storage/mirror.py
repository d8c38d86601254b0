"""What the blind mirror remembers, sealed, and how it forgets: the core of the anonymity promise.

:class:`MirrorRounds` keeps one bot's rounds (table ``mirror_round``, scoped by a ``bot``
column: several bots may share the database), one random key per round (``mirror_round_key``),
one sealed *box* per round (``mirror_box``), the requests waiting for consent in the room to be
reflected upon (``mirror_request``) and the events a release posted (``mirror_message``, until
redacted).

- The box holds, sealed whole (AES-GCM) under the round key: the keyed hashes (HMAC-SHA256
  under the same key) of the members who may take part, taken when the round opened; and every
  reflection, as the keyed hash of its author and its text padded to the longest a reflection
  can be. Entries are sorted by hash. Each submission rewrites the whole box under a fresh
  nonce, so nothing on disk (no row, rowid, cell position in a page, length or time) says which
  reflection came in when, or how long it is. A copy taken while the round is open shows only
  how many reflections there are.
- The round key is wrapped under a master key derived from the operator's pickle key, which is
  not in the database: a copy of the file alone opens nothing, even while a round is open.
  Without a master key no round can be opened (never a constant in its place).
- At close, only reflections of members who were in the reflecting room when the round opened
  and are still in it count; the others are dropped from the box unread, without saying whose.
- The key is destroyed, with the box, as soon as the round is released or withheld (or found
  stale): the key column is overwritten, the rows deleted (``secure_delete`` zeroes freed
  space), and the WAL is checkpointed and truncated so no old page image of them stays on disk.

:class:`DraftBook` keeps reflections being written, in memory only: nothing about an author,
not even that they started writing, touches the disk before they say ``submit``. The price is
that a restart discards half-written drafts; the member types ``reflect <code>`` again.

The parts, one concern each: :mod:`storage.mirror_box` (rows, the box, sealing, shredding),
:mod:`storage.mirror_requests` (consent requests and quotas), :mod:`storage.mirror_legacy` (rounds
from before the box), :mod:`storage.mirror_forget` (forgetting for every bot, the backup scrub),
:mod:`storage.mirror_drafts` (the in-memory drafts); all are importable from here.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from protocols.mirror import (
    DEFAULT_RETENTION,
    ConsentRequest,
    MirrorError,
    MirrorRound,
    RoundRequest,
    check_can_reflect,
    decide_close,
    new_code,
)
from protocols.mirror_draft import check_reflection_text
from storage import crypto
from storage.db import Database
from storage.mirror_box import (
    HASH_BYTES,
    Box,
    Redaction,
    key_aad,
    read_box,
    read_key,
    round_from_row,
    scrub,
    shred,
    shred_legacy,
    write_box,
)
from storage.mirror_drafts import DraftBook
from storage.mirror_forget import BACKUP_SCRUB, ExpiredRounds, forget_expired_rounds, scrub_for_backup
from storage.mirror_legacy import claim_round, unclaimed_rounds
from storage.mirror_requests import _OPEN_ATTEMPTS, MirrorRequests
from storage.times import to_ts as _ts

log = logging.getLogger(__name__)


class MirrorRounds(MirrorRequests):
    """One bot's blind-mirror rounds and their sealed reflections (see the module docstring).

    ``bot`` scopes every query: a bot never closes, releases or redacts another bot's round.
    """

    def __init__(self, db: Database, master_key: bytes | None, bot: str) -> None:
        self._db = db
        self._master = master_key
        self.bot = bot

    @property
    def can_open(self) -> bool:
        """Rounds need the operator's master key: without one, no round key is ever stored."""
        return self._master is not None

    # --- rounds ---------------------------------------------------------------------------

    async def open_round(
        self,
        request: RoundRequest,
        opener: str,
        members: Iterable[str],
        entropy: Callable[[int], bytes] = secrets.token_bytes,
    ) -> MirrorRound:
        """Create a round with a fresh code, a fresh key wrapped under the master key, and a
        box holding the keyed hashes of ``members`` (who may take part) and no reflection."""
        if self._master is None:
            raise RuntimeError("no master key: a round key would be stored unwrapped")
        key = crypto.new_key()
        box = Box({crypto.keyed_hash(key, m) for m in members}, {})
        for _ in range(_OPEN_ATTEMPTS):
            code = new_code(entropy(16))
            async with self._db.transaction():
                if await self._db.fetchone("SELECT 1 FROM mirror_round WHERE code = ?", (code,)):
                    continue
                round_id = await self._db.insert(
                    "INSERT INTO mirror_round (bot, code, reflecting_room, reflected_room, k,"
                    " closes_at, opener) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        self.bot,
                        code,
                        request.reflecting_room,
                        request.reflected_room,
                        request.k,
                        _ts(request.closes_at),
                        opener,
                    ),
                )
                await self._db.execute(
                    "INSERT INTO mirror_round_key (round_id, wrapped, key) VALUES (?, 1, ?)",
                    (round_id, crypto.wrap_key(self._master, key, key_aad(round_id))),
                )
                await self._write_box(round_id, key, box)
            found = await self.get(round_id)
            assert found is not None
            return found
        raise RuntimeError("could not find a free round code; is the entropy source broken?")

    async def get(self, round_id: int) -> MirrorRound | None:
        row = await self._db.fetchone(
            "SELECT * FROM mirror_round WHERE bot = ? AND id = ?", (self.bot, round_id)
        )
        return round_from_row(row) if row else None

    async def get_by_code(self, code: str) -> MirrorRound | None:
        """The round with this code (as typed: case and spaces do not matter), if any."""
        row = await self._db.fetchone(
            "SELECT * FROM mirror_round WHERE bot = ? AND code = ?",
            (self.bot, code.strip().lower()),
        )
        return round_from_row(row) if row else None

    async def rounds_for_room(self, room_id: str) -> list[MirrorRound]:
        """Rounds opened in, or about, a room (for ``!mirror status``), oldest close first."""
        rows = await self._db.fetchall(
            "SELECT * FROM mirror_round WHERE bot = ? AND (reflecting_room = ? OR"
            " reflected_room = ?) AND state != 'expired' ORDER BY closes_at, id",
            (self.bot, room_id, room_id),
        )
        return [round_from_row(r) for r in rows]

    async def active(self) -> list[MirrorRound]:
        """Rounds still waiting to close or to be released (the scheduler rebuilds from these)."""
        rows = await self._db.fetchall(
            "SELECT * FROM mirror_round WHERE bot = ? AND state IN ('open', 'closed') ORDER BY closes_at, id",
            (self.bot,),
        )
        return [round_from_row(r) for r in rows]

    async def awaiting_expiry(self) -> list[MirrorRound]:
        """Released or withheld rounds, each with the ``redact_at`` when it is to be forgotten
        (the scheduler rebuilds its expiry jobs from these)."""
        rows = await self._db.fetchall(
            "SELECT * FROM mirror_round WHERE bot = ? AND state IN ('released', 'withheld')"
            " ORDER BY redact_at, id",
            (self.bot,),
        )
        return [round_from_row(r) for r in rows]

    # --- rows from before the box (storage.mirror_legacy) -------------------------------

    async def unclaimed(self) -> list[MirrorRound]:
        """Rounds stored before rounds belonged to a bot (``bot = ''``)."""
        return await unclaimed_rounds(self._db)

    async def claim(self, round_id: int, members: Iterable[str]) -> bool:
        """Make an unclaimed round this bot's (see :func:`storage.mirror_legacy.claim_round`)."""
        return await claim_round(self._db, self._master, self.bot, round_id, members)

    # --- reflections ----------------------------------------------------------------------

    async def _key(self, round_id: int) -> bytes | None:
        return await read_key(self._db, self._master, round_id)

    async def _read_box(self, round_id: int, key: bytes) -> Box:
        return await read_box(self._db, round_id, key)

    async def _write_box(self, round_id: int, key: bytes, box: Box) -> None:
        await write_box(self._db, round_id, key, box)

    async def is_eligible(self, round_id: int, user_id: str) -> bool:
        """Was this person in the reflecting room when the round opened? (Asked, not stored.)"""
        key = await self._key(round_id)
        if key is None:
            return False
        return crypto.keyed_hash(key, user_id) in (await self._read_box(round_id, key)).eligible

    async def submit(self, code: str, user_id: str, text: str, now: datetime) -> bool:
        """Store a reflection for an open round; True if it replaced this person's earlier one.

        Raises :class:`protocols.mirror.MirrorError` for an unknown or closed round, a text
        over the limit, or a person who was not in the room when the round opened. The user id
        is used only to compute the keyed hash.
        """
        check_reflection_text(text)
        async with self._db.transaction():
            round_ = check_can_reflect(await self.get_by_code(code), code, now)
            key = await self._key(round_.id)
            if key is None:  # an open round always has its key; refuse rather than store plain
                raise RuntimeError("open round without a key")
            box = await self._read_box(round_.id, key)
            author = crypto.keyed_hash(key, user_id)
            if author not in box.eligible:
                raise MirrorError(
                    f"Only members who were in the room when round {round_.code} opened can "
                    "take part. Nothing was kept."
                )
            replaced = author in box.entries
            box.entries[author] = text
            await self._write_box(round_.id, key, box)
        return replaced

    async def count(self, round_id: int) -> int:
        """How many reflections the box holds (for tests and the close, never shown live)."""
        key = await self._key(round_id)
        return len((await self._read_box(round_id, key)).entries) if key is not None else 0

    # --- close, release, publish ----------------------------------------------------------

    async def close(
        self,
        round_id: int,
        now: datetime,
        rng: random.Random,
        delay_low: timedelta,
        delay_high: timedelta,
        retention: timedelta = DEFAULT_RETENTION,
        members: Iterable[str] | None = None,
    ) -> MirrorRound | None:
        """Close an open round: with k or more reflections, schedule the release at a random
        delay; with fewer, withhold: destroy key and reflections now, and forget the round
        itself after ``retention``. A round that is not open is returned unchanged (so a
        restart may close twice); None if there is no such round.

        ``members``: the reflecting room's members now. Only reflections of people who were
        members when the round opened and still are count; the others are dropped unread, and
        how many could take part is stored (``eligible``). None: every eligible one counts.
        """
        async with self._db.transaction():
            round_ = await self.get(round_id)
            if round_ is None or round_.state != "open":
                return round_
            key = await self._key(round_id)
            box = await self._read_box(round_id, key) if key is not None else Box(set(), {})
            eligible = box.eligible
            if members is not None and key is not None:
                eligible = eligible & {crypto.keyed_hash(key, m) for m in members}
            counted = {a: t for a, t in box.entries.items() if a in eligible}
            decision = decide_close(len(counted), round_.k, now, rng, delay_low, delay_high)
            if decision.state == "withheld":
                await self._shred(round_id)
                await self._db.execute(
                    "UPDATE mirror_round SET state = 'withheld', redact_at = ?, eligible = ? WHERE id = ?",
                    (_ts(now + retention), len(eligible), round_id),
                )
            else:
                assert decision.release_at is not None and key is not None
                # Only what will be released stays: no one's eligibility, no dropped text, and
                # no author hash either (a text is never replaced after the close): random
                # labels in their place, so the box no longer says whose text is which.
                await self._write_box(
                    round_id, key, Box(set(), {secrets.token_bytes(HASH_BYTES): t for t in counted.values()})
                )
                await self._db.execute(
                    "UPDATE mirror_round SET state = 'closed', release_at = ?, eligible = ? WHERE id = ?",
                    (_ts(decision.release_at), len(eligible), round_id),
                )
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
        return sorted((await self._read_box(round_id, key)).entries.values())

    async def mark_published(
        self, round_id: int, messages: Sequence[tuple[str, str]], redact_at: datetime
    ) -> None:
        """The release was posted as ``messages`` ((room_id, event_id) pairs): remember them for
        redaction at ``redact_at``, and destroy the key and the stored reflections now."""
        async with self._db.transaction():
            changed = await self._db.execute(
                "UPDATE mirror_round SET state = 'released', redact_at = ?"
                " WHERE bot = ? AND id = ? AND state = 'closed'",
                (_ts(redact_at), self.bot, round_id),
            )
            if not changed:
                raise ValueError(f"round {round_id} is not closed and waiting for release")
            for room_id, event_id in messages:
                await self._db.execute(
                    "INSERT OR IGNORE INTO mirror_message (round_id, room_id, event_id) VALUES (?, ?, ?)",
                    (round_id, room_id, event_id),
                )
            await self._shred(round_id)
        await self._scrub()

    # --- forgetting -----------------------------------------------------------------------

    async def _shred(self, round_id: int) -> None:
        """Overwrite, then delete, the round's key and box (inside a transaction)."""
        await shred(self._db, round_id)

    async def _shred_legacy(self, round_id: int) -> None:
        await shred_legacy(self._db, round_id)

    async def _scrub(self) -> None:
        """Truncate the WAL, so no page image of what was just destroyed stays in it."""
        await scrub(self._db)

    async def destroy_key(self, round_id: int) -> None:
        """Destroy a round's key and reflections now: what is left can no longer be read."""
        async with self._db.transaction():
            await self._shred(round_id)
        await self._scrub()

    async def destroy(self, round_id: int) -> None:
        """Shred a round and delete it with everything it posted (the bot is out of a room)."""
        async with self._db.transaction():
            await self._shred(round_id)
            await self._db.execute("DELETE FROM mirror_round WHERE bot = ? AND id = ?", (self.bot, round_id))
        await self._scrub()

    async def forget_room(self, room_id: str) -> tuple[list[MirrorRound], list[ConsentRequest]]:
        """The bot is out of ``room_id``: destroy every round in or about it that has not
        been released (its reflections can go nowhere), and drop the requests in or about it.
        Released rounds whose messages are in the other room stay until redacted there; those
        whose messages were in this room are forgotten (nothing can be redacted from outside).
        Returns what was destroyed, to tell the other room."""
        rounds = [r for r in await self.rounds_for_room(room_id)]
        requests = await self.requests_for_room(room_id)
        destroyed = []
        async with self._db.transaction():
            for round_ in rounds:
                if round_.state in ("released", "expired") and round_.reflected_room != room_id:
                    continue
                await self._shred(round_.id)
                await self._db.execute("DELETE FROM mirror_round WHERE id = ?", (round_.id,))
                destroyed.append(round_)
            for request in requests:
                await self._db.execute("DELETE FROM mirror_request WHERE id = ?", (request.id,))
        await self._scrub()
        return destroyed, requests

    async def forget_expired(
        self, now: datetime, stale_after: timedelta = DEFAULT_RETENTION
    ) -> ExpiredRounds:
        """Forget what is due, and return the release messages to redact.

        Released rounds past ``redact_at`` become ``expired`` (their messages are returned until
        :meth:`mark_redacted` confirms them, so a crash in between redacts them on the next
        sweep); withheld rounds past ``redact_at`` are deleted; rounds that were never closed or
        released ``stale_after`` past their close (the bot was down) are shredded and deleted.
        """
        return await forget_expired_rounds(self._db, now, stale_after, self.bot)

    async def mark_redacted(self, redactions: Iterable[Redaction]) -> int:
        """These messages are redacted: forget them, and their round once none is left; how
        many rounds went."""
        async with self._db.transaction():
            for item in redactions:
                await self._db.execute(
                    "DELETE FROM mirror_message WHERE round_id = ? AND event_id = ?",
                    (item.round_id, item.event_id),
                )
            return await self._db.execute(
                "DELETE FROM mirror_round WHERE bot = ? AND state = 'expired' AND NOT EXISTS"
                " (SELECT 1 FROM mirror_message m WHERE m.round_id = mirror_round.id)",
                (self.bot,),
            )


# Kept importable from here: what ``affinity forget`` / ``backup`` and the feature use.
__all__ = [
    "BACKUP_SCRUB",
    "Box",
    "DraftBook",
    "ExpiredRounds",
    "MirrorRounds",
    "Redaction",
    "forget_expired_rounds",
    "scrub_for_backup",
]
