"""The blind mirror's rows and sealed box: how a round and a request are read from their
rows, what a round's box holds and how it is packed (every entry padded to the same size), and
how a round's key and box are shredded. Used by :mod:`storage.mirror` (see its docstring for the
promises) and :mod:`storage.mirror_forget`.
"""

from __future__ import annotations

import base64
import logging
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from protocols.mirror import ConsentRequest, MirrorRound
from protocols.mirror_draft import MAX_REFLECTION
from storage import crypto
from storage.db import Database
from storage.times import from_ts_opt as _dt

log = logging.getLogger(__name__)

HASH_BYTES = 32
# Every reflection takes this many bytes in the box, whatever its length: the most its text can
# take in UTF-8 (4 bytes a character).
ENTRY_TEXT_BYTES = MAX_REFLECTION * 4
_BOX_VERSION = 1
_COUNT = struct.Struct(">I")


def round_from_row(row: Any) -> MirrorRound:
    keys = row.keys()
    return MirrorRound(
        id=int(row["id"]),
        code=row["code"],
        reflecting_room=row["reflecting_room"],
        reflected_room=row["reflected_room"],
        k=int(row["k"]),
        closes_at=datetime.fromtimestamp(row["closes_at"], tz=UTC),
        state=row["state"],
        release_at=_dt(row["release_at"]),
        redact_at=_dt(row["redact_at"]),
        opener=row["opener"] if "opener" in keys else "",
        eligible=row["eligible"] if "eligible" in keys else None,
    )


def request_from_row(row: Any) -> ConsentRequest:
    return ConsentRequest(
        id=int(row["id"]),
        code=row["code"],
        reflecting_room=row["reflecting_room"],
        reflected_room=row["reflected_room"],
        opener=row["opener"],
        k=int(row["k"]),
        close_after=timedelta(seconds=float(row["close_after"])),
        expires_at=datetime.fromtimestamp(row["expires_at"], tz=UTC),
    )


def key_aad(round_id: int) -> bytes:
    return b"mirror_round_key/%d" % round_id


def box_aad(round_id: int) -> bytes:
    return b"mirror_box/%d" % round_id


def submission_aad(round_id: int, author_hash: bytes) -> bytes:
    # Rows of mirror_submission, written before the box existed (read once, at adoption).
    return b"mirror_submission/%d/" % round_id + author_hash


@dataclass
class Box:
    """What a round's sealed box holds: who may take part, and the reflections by author hash."""

    eligible: set[bytes]
    entries: dict[bytes, str]

    def pack(self) -> bytes:
        out = [bytes([_BOX_VERSION]), _COUNT.pack(len(self.eligible)), *sorted(self.eligible)]
        out.append(_COUNT.pack(len(self.entries)))
        for author in sorted(self.entries):
            text = self.entries[author].encode("utf-8")
            if len(text) > ENTRY_TEXT_BYTES:
                raise ValueError("a reflection is longer than a box entry")
            out += [author, _COUNT.pack(len(text)), text, bytes(ENTRY_TEXT_BYTES - len(text))]
        return b"".join(out)

    @classmethod
    def unpack(cls, data: bytes) -> Box:
        if not data or data[0] != _BOX_VERSION:
            raise crypto.DecryptionError("the box has an unknown format")
        at = 1
        (count,) = _COUNT.unpack_from(data, at)
        at += _COUNT.size
        eligible = {data[at + i * HASH_BYTES : at + (i + 1) * HASH_BYTES] for i in range(count)}
        at += count * HASH_BYTES
        (count,) = _COUNT.unpack_from(data, at)
        at += _COUNT.size
        entries = {}
        for _ in range(count):
            author = data[at : at + HASH_BYTES]
            (length,) = _COUNT.unpack_from(data, at + HASH_BYTES)
            start = at + HASH_BYTES + _COUNT.size
            entries[author] = data[start : start + length].decode("utf-8")
            at = start + ENTRY_TEXT_BYTES
        return cls(eligible, entries)


@dataclass(frozen=True)
class Redaction:
    """A published release message whose time is up: redact it, then call ``mark_redacted``."""

    round_id: int
    room_id: str
    event_id: str


async def shred(db: Database, round_id: int) -> None:
    """Overwrite, then delete, the round's key and box (inside a transaction)."""
    # Overwriting first means the key bytes are gone from the live page before the delete,
    # whatever the build's secure_delete support; secure_delete then zeroes the freed cells.
    await db.execute(
        "UPDATE mirror_round_key SET key = zeroblob(length(key)) WHERE round_id = ?",
        (round_id,),
    )
    await db.execute("DELETE FROM mirror_round_key WHERE round_id = ?", (round_id,))
    await db.execute(
        "UPDATE mirror_box SET sealed = zeroblob(length(sealed)),"
        " nonce = zeroblob(length(nonce)) WHERE round_id = ?",
        (round_id,),
    )
    await db.execute("DELETE FROM mirror_box WHERE round_id = ?", (round_id,))
    await shred_legacy(db, round_id)


async def shred_legacy(db: Database, round_id: int) -> None:
    await db.execute(
        "UPDATE mirror_submission SET ciphertext = zeroblob(length(ciphertext)),"
        " nonce = zeroblob(length(nonce)) WHERE round_id = ?",
        (round_id,),
    )
    await db.execute("DELETE FROM mirror_submission WHERE round_id = ?", (round_id,))


async def scrub(db: Database) -> None:
    """Copy the WAL into the database and truncate it, so no page image of what was just
    destroyed stays in the -wal file."""
    row = await db.fetchone("PRAGMA wal_checkpoint(TRUNCATE)")
    if row is not None and row[0]:
        log.warning("WAL checkpoint was blocked by a reader; destroyed rows linger in the WAL")


async def read_key(db: Database, master: bytes | None, round_id: int) -> bytes | None:
    """A round's key, unwrapped under the master key; None once destroyed."""
    row = await db.fetchone("SELECT wrapped, key FROM mirror_round_key WHERE round_id = ?", (round_id,))
    if row is None:
        return None
    stored = bytes(row["key"])
    if not row["wrapped"]:
        return stored  # only rows from before the master key was required
    if master is None:
        raise RuntimeError("round keys are wrapped but no master key is configured")
    return crypto.unwrap_key(master, stored, key_aad(round_id))


async def read_box(db: Database, round_id: int, key: bytes) -> Box:
    row = await db.fetchone("SELECT nonce, sealed FROM mirror_box WHERE round_id = ?", (round_id,))
    if row is None:
        return Box(set(), {})
    packed = crypto.unseal(key, bytes(row["nonce"]), bytes(row["sealed"]), box_aad(round_id))
    return Box.unpack(base64.b64decode(packed))


async def write_box(db: Database, round_id: int, key: bytes, box: Box) -> None:
    """Seal the whole box under a fresh nonce and write it over the old one."""
    nonce, sealed = crypto.seal(key, base64.b64encode(box.pack()).decode("ascii"), box_aad(round_id))
    await db.execute(
        "INSERT INTO mirror_box (round_id, nonce, sealed) VALUES (?, ?, ?)"
        " ON CONFLICT (round_id) DO UPDATE SET nonce = excluded.nonce, sealed = excluded.sealed",
        (round_id, nonce, sealed),
    )
