"""Blind-mirror rounds stored before rounds belonged to a bot (``bot = ''``) and before the
sealed box: the bot in a round's reflecting room claims it at start-up, and an open one gets its
box (the room's members now may take part; its reflections move out of the old
per-reflection rows, which are shredded)."""

from __future__ import annotations

from collections.abc import Iterable

from protocols.mirror import MirrorRound
from storage import crypto
from storage.db import Database
from storage.mirror_box import (
    Box,
    key_aad,
    read_key,
    round_from_row,
    scrub,
    shred_legacy,
    submission_aad,
    write_box,
)

# States in which a round still holds reflections or waits to (as in storage.mirror_requests).
_ACTIVE = ("open", "closed")


async def unclaimed_rounds(db: Database) -> list[MirrorRound]:
    rows = await db.fetchall("SELECT * FROM mirror_round WHERE bot = '' ORDER BY id")
    return [round_from_row(r) for r in rows]


async def claim_round(
    db: Database, master: bytes | None, bot: str, round_id: int, members: Iterable[str]
) -> bool:
    """Make an unclaimed round ``bot``'s; an open one gets its box: ``members`` (the reflecting
    room's, now) may take part, and its reflections move out of the old per-reflection rows.
    False if another bot claimed it first.

    Raises :class:`storage.crypto.DecryptionError` if its key does not open under this master
    key (it was wrapped under another one): then destroy it.
    """
    async with db.transaction():
        changed = await db.execute(
            "UPDATE mirror_round SET bot = ? WHERE id = ? AND bot = ''", (bot, round_id)
        )
        if not changed:
            return False
        row = await db.fetchone("SELECT * FROM mirror_round WHERE id = ?", (round_id,))
        assert row is not None
        round_ = round_from_row(row)
        key = await read_key(db, master, round_id)
        if key is not None and round_.state in _ACTIVE:
            rows = await db.fetchall(
                "SELECT author_hash, nonce, ciphertext FROM mirror_submission WHERE round_id = ?", (round_id,)
            )
            entries = {
                bytes(r["author_hash"]): crypto.unseal(
                    key,
                    bytes(r["nonce"]),
                    bytes(r["ciphertext"]),
                    submission_aad(round_id, bytes(r["author_hash"])),
                )
                for r in rows
            }
            eligible = {crypto.keyed_hash(key, m) for m in members} | set(entries)
            await write_box(db, round_id, key, Box(eligible, entries))
            if master is not None:
                await db.execute(
                    "UPDATE mirror_round_key SET wrapped = 1, key = ? WHERE round_id = ?",
                    (crypto.wrap_key(master, key, key_aad(round_id)), round_id),
                )
        await shred_legacy(db, round_id)
    await scrub(db)
    return True
