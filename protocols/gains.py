"""The ledger of gains: tangible self-rule, counted by category, never by head count.

"Measure sovereignty, not spectacle. Track tangible gains in self rule. New cooperatives,
autonomous media platforms, secure digital tools, or liberated spaces count more than viral
moments." (seed)

- A gain is a category and a short text. There is no field for how many people came: the
  ledger counts what a group built, not turnout.
- A room chooses how its gains reach a coalition's tally (:data:`SHARE_MODES`): counted only
  (``counts``, the default), with their texts under the room's name (``named``), or with their
  texts as "a member group" (``anonymous``).
- After retention a gain's text is forgotten; its category count stays (kept apart, so the
  tally outlives the texts).

Pure: the categories are passed in (the operator may add some); nothing here reads a clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from protocols.errors import RuleError

DEFAULT_CATEGORIES: tuple[str, ...] = (
    "kitchen",
    "cooperative",
    "media",
    "secure-comms",
    "space",
    "fund",
    "care",
    "skill",
    "other",
)
CATEGORY_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,23}$")
MAX_GAIN_LENGTH = 280
SHARE_MODES: tuple[str, ...] = ("counts", "named", "anonymous")
ANONYMOUS_NAME = "a member group"


class GainError(RuleError):
    """A ledger rule refused the input; the message says what to do."""


def categories(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """The shipped categories and the operator's, each once, shipped ones first."""
    out = list(DEFAULT_CATEGORIES)
    for name in extra:
        if not CATEGORY_PATTERN.match(name):
            raise ValueError(f"'{name}' is not a category name (a-z, digits and -, at most 24)")
        if name not in out:
            out.append(name)
    return tuple(out)


def check_category(typed: str, known: Sequence[str]) -> str:
    """A category as typed, lower-cased, that must be one of ``known``."""
    name = typed.strip().lower()
    if name not in known:
        raise GainError(
            "'{typed}' is not a category. Categories: {known}. Nothing was kept.",
            typed=typed,
            known=", ".join(known),
        )
    return name


def check_text(text: str) -> str:
    """A gain's text: one line, not empty, at most :data:`MAX_GAIN_LENGTH` characters."""
    cleaned = " ".join(text.split())
    if not cleaned:
        raise GainError("Say what was gained, like: !gain add kitchen a weekly free kitchen")
    if len(cleaned) > MAX_GAIN_LENGTH:
        raise GainError(
            "That gain has {length} characters; say it in at most {most}. Nothing was kept.",
            length=f"{len(cleaned):,}",
            most=str(MAX_GAIN_LENGTH),
        )
    return cleaned


def check_share(typed: str) -> str:
    mode = typed.strip().lower()
    if mode not in SHARE_MODES:
        raise GainError(
            "'{typed}' is not a way to share: use one of {modes}.", typed=typed, modes=", ".join(SHARE_MODES)
        )
    return mode


@dataclass(frozen=True)
class RoomGains:
    """What one member room brings to a coalition tally."""

    room: str
    name: str  # the room's name, or ANONYMOUS_NAME
    share: str  # one of SHARE_MODES
    counts: Mapping[str, int]
    texts: Sequence[tuple[str, str]]  # (category, text) still remembered


@dataclass(frozen=True)
class Tally:
    """A coalition's gains: counts by category over every member room, and the texts of
    rooms that share them (attributed by name or as a member group)."""

    counts: dict[str, int]
    shared: list[tuple[str, str, str]]  # (who, category, text)
    rooms: int
    rooms_with_gains: int


def tally(rooms: Iterable[RoomGains], order: Sequence[str]) -> Tally:
    """Sum the member rooms' counts per category (in ``order``, then any others by name) and
    gather the texts of the rooms that share them."""
    counts: dict[str, int] = {}
    shared: list[tuple[str, str, str]] = []
    n = with_gains = 0
    for room in rooms:
        n += 1
        if any(v > 0 for v in room.counts.values()):
            with_gains += 1
        for category, count in room.counts.items():
            if count > 0:
                counts[category] = counts.get(category, 0) + count
        if room.share == "named":
            shared += [(room.name, c, t) for c, t in room.texts]
        elif room.share == "anonymous":
            shared += [(ANONYMOUS_NAME, c, t) for c, t in room.texts]
    rank = {c: i for i, c in enumerate(order)}
    ordered = dict(sorted(counts.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))
    return Tally(ordered, shared, n, with_gains)
