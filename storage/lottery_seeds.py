"""A draw's seed at rest: sealed under a key derived from the operator's pickle key.

While a draw is open its seed is the one secret that keeps anyone from aiming a contribution:
whoever knows it can compute what each extra reaction would do and add the one that gives the
result they want. So the seed is never stored in the clear. It is sealed (AES-256-GCM, bound to
the draw id and commitment) under a key derived from the operator's pickle key, which is never
in the database: a copy of the database or of a backup, taken during the window, holds only
ciphertext. After the reveal the seed is public anyway (it is in the published record).
"""

from __future__ import annotations

from collections.abc import Callable

from protocols.lottery import (
    LotteryError,
)
from storage import crypto


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


def no_seed_key() -> bytes:
    """For code that never stores or opens a seed (forgetting)."""
    raise RuntimeError("this Draws cannot store or open seeds")
