"""The role lottery's hashing and random stream (see :mod:`protocols.lottery` and
``docs/lottery-algorithm.md``, which must stay in step): canonical JSON, the seed's hash, the
contributions as the algorithm uses them, and SHA-256 in counter mode. Pure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from protocols.errors import RuleError

MIN_SEED_BYTES = 16
MAX_CONTRIBUTIONS = 200
MAX_CONTRIBUTION_LENGTH = 255


class LotteryError(RuleError):
    """A lottery rule refused the input; the message says what to do."""


def canonical_json(value: Any) -> bytes:
    """The one byte string a JSON value hashes as: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def seed_hash(seed: bytes) -> str:
    """What the commitment reveals of the seed: its SHA-256, in hex."""
    return sha256_hex(seed)


def clean_contributions(contributions: Iterable[str]) -> tuple[str, ...]:
    """Contributions as the algorithm uses them: distinct, sorted (by code point)."""
    out = tuple(sorted(set(contributions)))
    if len(out) > MAX_CONTRIBUTIONS:
        raise LotteryError("At most {most} contributions to one draw.", most=MAX_CONTRIBUTIONS)
    if any(not c or len(c) > MAX_CONTRIBUTION_LENGTH for c in out):
        raise LotteryError("A contribution is 1 to {most} characters.", most=MAX_CONTRIBUTION_LENGTH)
    return out


class Stream:
    """SHA-256 counter-mode integers: block i is ``sha256(key || i as 8 bytes big-endian)``,
    and its first 8 bytes (big-endian) are the i-th 64-bit integer."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._counter = 0

    def next_u64(self) -> int:
        block = hashlib.sha256(self._key + self._counter.to_bytes(8, "big")).digest()
        self._counter += 1
        return int.from_bytes(block[:8], "big")

    def below(self, n: int) -> int:
        """A uniform integer in [0, n): values past the last whole multiple of n are redrawn."""
        if not 0 < n <= 2**64:
            raise ValueError("n must be in 1..2**64")
        limit = (2**64 // n) * n
        while True:
            x = self.next_u64()
            if x < limit:
                return x % n


def check_seed(seed: bytes) -> None:
    if len(seed) < MIN_SEED_BYTES:
        raise ValueError(f"a seed has at least {MIN_SEED_BYTES} bytes")
