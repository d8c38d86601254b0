"""The role lottery: who takes which role, drawn by chance that anyone can check afterwards.

"A liaison role chosen by lottery, not charisma." (seed: Rotating Roles and Random Allocation)

A draw is a commit-reveal ritual, so that neither the bot nor any member can steer it:

1. **Commit.** The caller fixes the inputs (:class:`DrawInputs`: the pool, the roles to draw, the
   roles members already hold, the integer weights) and a secret random *seed* (32 bytes from
   the operating system). It publishes :func:`commitment`, a SHA-256 over the inputs and the
   seed's hash. From then on the seed cannot change without the hash showing it.
2. **Contribute.** Members add *contributions*: strings nobody could know at commit time (the
   event ids of their reactions or replies to the commitment message). They make the result
   unpredictable to the bot, which already knows the seed.
3. **Reveal.** The seed and the contributions are published; :func:`recompute` turns (seed,
   sorted contributions, inputs) into an :class:`Assignment` deterministically, and anyone can
   run :func:`verify` on the published record (or the stdlib-only snippet in
   ``docs/lottery-algorithm.md``) to recompute it.

Fairness, applied while drawing roles one by one in the order given:

- *Load first*: a role goes to one of the pool members who hold the fewest roles so far (roles
  held already in the room count, and so do roles won earlier in this draw). So nobody holds two
  roles while someone in the pool holds none.
- *Recent holders less likely*: among those, a member's chance is proportional to
  ``WEIGHT_SCALE // (1 + k)``, where k is how many of the role's last ``RECENT_DRAWS`` draws this
  member won (see :func:`weight`). Integers, so the arithmetic is exact in every language.

Skills and shadows (algorithm version 2, used only when a draw has either; a draw without them
is version 1, byte for byte as before):

- *Eligible*: a role that requires a skill is drawn only among ``eligible[role]`` (the pool
  members who hold it); the load rule then applies among them.
- *First*: ``first[role]`` are the members who last shadowed the role: among the eligible with
  the fewest roles, they go first (the holder is drawn among them alone).
- *Shadows*: for each role in ``shadows``, right after its holder is drawn, a shadow is drawn
  uniformly from ``shadows[role]`` (pool members who never held the role), leaving out the
  holder and, while anyone else is left, whoever this draw already made a holder or a shadow.

Randomness: SHA-256 in counter mode (``sha256(key || counter)``), 64-bit integers, uniform
integers by rejection sampling (no modulo bias). The exact steps are in
``docs/lottery-algorithm.md`` and must stay in step with this module (a test runs the snippet).

Pure: the seed, the draw id and the history are passed in; no clock, no randomness of its own.
The weights are :mod:`protocols.lottery_weights`, the hashing and the random stream
:mod:`protocols.lottery_stream`; their names are importable from here too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from protocols.lottery_stream import (
    MAX_CONTRIBUTION_LENGTH,
    MAX_CONTRIBUTIONS,
    MIN_SEED_BYTES,
    LotteryError,
    Stream,
    canonical_json,
    check_seed,
    clean_contributions,
    seed_hash,
    sha256_hex,
)
from protocols.lottery_weights import RECENT_DRAWS, WEIGHT_SCALE, PastWin, recent_wins, weight

ALGORITHM_VERSION = 1
# A draw with skill pools, first-in-pool members or shadows.
SHADOW_VERSION = 2
VERSIONS = (ALGORITHM_VERSION, SHADOW_VERSION)

# --- the committed inputs ------------------------------------------------------------------


@dataclass(frozen=True)
class DrawInputs:
    """Everything a draw depends on except the seed and the contributions; published at commit.

    ``held``: how many roles each pool member already holds in the room (zeros omitted).
    ``weights``: role -> member -> positive integer weight, for every role and pool member.
    Version 2 only: ``eligible`` (role -> who may hold it, for roles that require a skill),
    ``first`` (role -> who goes first: its last shadows), ``shadows`` (role -> who may shadow
    it: pool members who never held it; a role is shadowed when it is a key here).
    """

    room: str
    draw_id: str
    pool: tuple[str, ...]
    roles: tuple[str, ...]
    held: dict[str, int] = field(default_factory=dict)
    weights: dict[str, dict[str, int]] = field(default_factory=dict)
    version: int = ALGORITHM_VERSION
    eligible: dict[str, tuple[str, ...]] = field(default_factory=dict)
    first: dict[str, tuple[str, ...]] = field(default_factory=dict)
    shadows: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "v": self.version,
            "room": self.room,
            "draw_id": self.draw_id,
            "pool": list(self.pool),
            "roles": list(self.roles),
            "held": dict(sorted(self.held.items())),
            "weights": {r: dict(sorted(w.items())) for r, w in sorted(self.weights.items())},
        }
        if self.version >= SHADOW_VERSION:
            for name in ("eligible", "first", "shadows"):
                out[name] = {r: list(ms) for r, ms in sorted(getattr(self, name).items())}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DrawInputs:
        def lists(name: str) -> dict[str, tuple[str, ...]]:
            return {str(r): tuple(str(m) for m in ms) for r, ms in (data.get(name) or {}).items()}

        inputs = cls(
            room=str(data["room"]),
            draw_id=str(data["draw_id"]),
            pool=tuple(str(m) for m in data["pool"]),
            roles=tuple(str(r) for r in data["roles"]),
            held={str(k): int(v) for k, v in data["held"].items()},
            weights={str(r): {str(m): int(w) for m, w in ws.items()} for r, ws in data["weights"].items()},
            version=int(data["v"]),
            eligible=lists("eligible"),
            first=lists("first"),
            shadows=lists("shadows"),
        )
        _check_inputs(inputs)
        return inputs


def prepare(
    room: str,
    draw_id: str,
    members: Iterable[str],
    roles: Sequence[str],
    held: Mapping[str, int],
    recent: Mapping[str, Mapping[str, int]],
    *,
    eligible: Mapping[str, Iterable[str]] | None = None,
    first: Mapping[str, Iterable[str]] | None = None,
    shadow: Iterable[str] = (),
    ever_held: Mapping[str, Iterable[str]] | None = None,
) -> DrawInputs:
    """Build checked, canonical inputs for a draw of ``roles`` among ``members``.

    ``held``: roles each member already holds in the room; ``recent``: :func:`recent_wins`.
    ``eligible``: role -> who may hold it (roles that require a skill); ``first``: role -> its
    last shadows; ``shadow``: the roles that get a shadow, drawn among the pool members not in
    ``ever_held[role]``. Each is kept only for the roles drawn and the members in the pool.
    """
    the_pool = tuple(sorted(set(members)))
    if not the_pool:
        raise LotteryError(
            "Nobody is in the pool: everyone has stepped back. Someone can rejoin with !stepin."
        )
    if not roles:
        raise LotteryError("No role to draw.")
    inputs = DrawInputs(
        room=room,
        draw_id=draw_id,
        pool=the_pool,
        roles=tuple(roles),
        held={m: int(held[m]) for m in the_pool if held.get(m, 0)},
        weights={role: {m: weight(recent.get(role, {}).get(m, 0)) for m in the_pool} for role in roles},
    )
    in_pool = set(the_pool)

    def per_role(given: Mapping[str, Iterable[str]] | None) -> dict[str, tuple[str, ...]]:
        kept = {r: tuple(sorted(set(given[r]) & in_pool)) for r in roles if given and r in given}
        return {r: ms for r, ms in kept.items() if ms}

    pools = per_role(eligible)
    for role in roles:
        if eligible and role in eligible and role not in pools:
            raise LotteryError("Nobody in the pool may hold '{role}': nothing was drawn.", role=role)
    shadowed = [r for r in roles if r in set(shadow)]
    shadows = {r: tuple(m for m in the_pool if m not in set((ever_held or {}).get(r, ()))) for r in shadowed}
    firsts = per_role(first)
    if pools or firsts or shadowed:
        inputs = replace(inputs, version=SHADOW_VERSION, eligible=pools, first=firsts, shadows=shadows)
    _check_inputs(inputs)
    return inputs


def _check_inputs(inputs: DrawInputs) -> None:
    """Refuse inputs the algorithm cannot draw from (bad versions, gaps, zero weights)."""
    if inputs.version not in VERSIONS:
        raise LotteryError(
            "This draw uses algorithm version {version}; I know only 1 and 2.", version=str(inputs.version)
        )
    if not inputs.pool or list(inputs.pool) != sorted(set(inputs.pool)):
        raise LotteryError("The pool must be non-empty, sorted and without duplicates.")
    if not inputs.roles or len(set(inputs.roles)) != len(inputs.roles):
        raise LotteryError("The roles must be non-empty and without duplicates.")
    if set(inputs.weights) != set(inputs.roles):
        raise LotteryError("Every role drawn needs weights, and only those roles.")
    for role, weights in inputs.weights.items():
        if set(weights) != set(inputs.pool) or any(w <= 0 for w in weights.values()):
            raise LotteryError("Role '{role}' needs a positive weight for every pool member.", role=role)
    if not set(inputs.held) <= set(inputs.pool) or any(n < 0 for n in inputs.held.values()):
        raise LotteryError("Held counts must be for pool members and not negative.")
    extras = (inputs.eligible, inputs.first, inputs.shadows)
    if inputs.version == ALGORITHM_VERSION and any(extras):
        raise LotteryError("Skill pools, first members and shadows need algorithm version 2.")
    for name, per_role in zip(("eligible", "first", "shadows"), extras, strict=True):
        for role, members in per_role.items():
            if role not in inputs.roles or not set(members) <= set(inputs.pool):
                raise LotteryError("'{name}' names roles drawn and pool members only.", name=name)
            if list(members) != sorted(set(members)) or (name == "eligible" and not members):
                raise LotteryError(
                    "'{name}' lists are sorted, without duplicates (and not empty).", name=name
                )


def commitment(inputs: DrawInputs, seed: bytes) -> str:
    """The commitment published before contributions: binds the inputs and the seed."""
    check_seed(seed)
    return sha256_hex(canonical_json({"inputs": inputs.to_json(), "seed_hash": seed_hash(seed)}))


def draw_key(inputs: DrawInputs, seed: bytes, contributions: Iterable[str]) -> bytes:
    """The stream key: binds the commitment, the seed and the sorted contributions."""
    return hashlib.sha256(
        canonical_json(
            {
                "commitment": commitment(inputs, seed),
                "contributions": list(clean_contributions(contributions)),
                "seed": seed.hex(),
                "v": inputs.version,
            }
        )
    ).digest()


# --- drawing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """The result of a draw: (role, holder) pairs in drawing order, and (role, shadow) pairs
    for the roles that were shadowed and had someone to shadow them."""

    draw_id: str
    picks: tuple[tuple[str, str], ...]
    shadows: tuple[tuple[str, str], ...] = ()

    def holder(self, role: str) -> str | None:
        return next((h for r, h in self.picks if r == role), None)

    def shadow(self, role: str) -> str | None:
        return next((s for r, s in self.shadows if r == role), None)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"draw_id": self.draw_id, "picks": [list(p) for p in self.picks]}
        if self.shadows:
            out["shadows"] = [list(p) for p in self.shadows]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Assignment:
        return cls(
            str(data["draw_id"]),
            tuple((str(r), str(h)) for r, h in data["picks"]),
            tuple((str(r), str(s)) for r, s in data.get("shadows") or ()),
        )


def recompute(inputs: DrawInputs, seed: bytes, contributions: Iterable[str]) -> Assignment:
    """The assignment that (inputs, seed, contributions) determine; the same everywhere."""
    _check_inputs(inputs)
    stream = Stream(draw_key(inputs, seed, contributions))
    load = {member: inputs.held.get(member, 0) for member in inputs.pool}
    picks: list[tuple[str, str]] = []
    shadows: list[tuple[str, str]] = []
    for role in inputs.roles:
        candidates = inputs.eligible.get(role, inputs.pool)  # both sorted
        fewest = min(load[m] for m in candidates)
        eligible = [m for m in candidates if load[m] == fewest]
        firsts = [m for m in eligible if m in inputs.first.get(role, ())]
        eligible = firsts or eligible
        weights = [inputs.weights[role][m] for m in eligible]
        r = stream.below(sum(weights))
        for candidate, w in zip(eligible, weights, strict=True):
            member = candidate
            if r < w:
                break
            r -= w
        load[member] += 1
        picks.append((role, member))
        if role in inputs.shadows:
            taken = {m for _, m in picks} | {m for _, m in shadows}
            options = [m for m in inputs.shadows[role] if m != member]
            fresh = [m for m in options if m not in taken]
            if fresh or options:
                shadows.append((role, (fresh or options)[stream.below(len(fresh or options))]))
    return Assignment(inputs.draw_id, tuple(picks), tuple(shadows))


@dataclass(frozen=True)
class PublishedDraw:
    """What the bot publishes at reveal, and what ``!verify`` checks."""

    inputs: DrawInputs
    commitment: str
    seed: bytes
    contributions: tuple[str, ...]
    assignment: Assignment

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs.to_json(),
            "commitment": self.commitment,
            "seed": self.seed.hex(),
            "contributions": list(self.contributions),
            "assignment": self.assignment.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PublishedDraw:
        return cls(
            inputs=DrawInputs.from_json(data["inputs"]),
            commitment=str(data["commitment"]),
            seed=bytes.fromhex(str(data["seed"])),
            contributions=tuple(str(c) for c in data["contributions"]),
            assignment=Assignment.from_json(data["assignment"]),
        )


def reveal(inputs: DrawInputs, seed: bytes, contributions: Iterable[str]) -> PublishedDraw:
    """Draw, and package everything needed to check the draw."""
    cleaned = clean_contributions(contributions)
    return PublishedDraw(
        inputs=inputs,
        commitment=commitment(inputs, seed),
        seed=seed,
        contributions=cleaned,
        assignment=recompute(inputs, seed, cleaned),
    )


def problems(published: PublishedDraw) -> list[str]:
    """Why a published draw does not check out (empty if it does), in words for ``!verify``."""
    try:
        expected_commitment = commitment(published.inputs, published.seed)
        expected = recompute(published.inputs, published.seed, published.contributions)
    except (ValueError, KeyError) as exc:
        return [f"the published inputs cannot be drawn from: {exc}"]
    found: list[str] = []
    if expected_commitment != published.commitment:
        found.append("the seed or inputs differ from what was committed before the draw")
    if expected != published.assignment:
        found.append("the published result differs from the recomputed one")
    return found


def verify(published: PublishedDraw) -> bool:
    """True when the commitment matches the seed and inputs and the result recomputes."""
    return not problems(published)


__all__ = [
    "ALGORITHM_VERSION",
    "MAX_CONTRIBUTIONS",
    "MAX_CONTRIBUTION_LENGTH",
    "MIN_SEED_BYTES",
    "RECENT_DRAWS",
    "SHADOW_VERSION",
    "VERSIONS",
    "WEIGHT_SCALE",
    "Assignment",
    "DrawInputs",
    "LotteryError",
    "PastWin",
    "PublishedDraw",
    "Stream",
    "canonical_json",
    "clean_contributions",
    "commitment",
    "draw_key",
    "prepare",
    "problems",
    "recent_wins",
    "recompute",
    "reveal",
    "seed_hash",
    "verify",
    "weight",
]
