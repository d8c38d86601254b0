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

The parts, one concern each: this module opens rounds and takes reflections;
:mod:`storage.mirror_ending` closes, releases, destroys and forgets them; :mod:`storage.mirror_box`
(rows, the box, sealing, shredding), :mod:`storage.mirror_requests` (consent requests and
quotas), :mod:`storage.mirror_legacy` (rounds from before the box), :mod:`storage.mirror_forget`
(what is due to be forgotten, the backup scrub), :mod:`storage.mirror_drafts` (the in-memory
drafts); what callers use is importable from here.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime

from protocols.mirror import (
    MirrorError,
    MirrorRound,
    RoundRequest,
    check_can_reflect,
    new_code,
)
from protocols.mirror_draft import check_reflection_text
from storage import crypto
from storage.db import Database
from storage.mirror_box import (
    Box,
    Redaction,
    key_aad,
    round_from_row,
)
from storage.mirror_drafts import DraftBook
from storage.mirror_ending import RoundEnding
from storage.mirror_forget import BACKUP_SCRUB, ExpiredRounds, forget_expired_rounds, scrub_for_backup
from storage.mirror_legacy import claim_round, unclaimed_rounds
from storage.mirror_requests import _OPEN_ATTEMPTS
from storage.times import to_ts as _ts

log = logging.getLogger(__name__)


class MirrorRounds(RoundEnding):
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
