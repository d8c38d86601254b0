"""A care rota's state and the rules every part shares: the types, setting a rota up, levels
(what fairness compares), who can take a turn, and choosing holders for a turn.

The rules as a whole are described in :mod:`protocols.rota`; giving turns is
:mod:`protocols.rota_turns`, offers, takes, reminders, flags and forgetting are
:mod:`protocols.rota_swaps`.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from protocols.errors import RuleError
from protocols.recurrence import Recurrence, parse_recurrence
from protocols.timespec import TimeSpecError, parse_duration

MAX_SIZE = 20
MAX_REMIND = timedelta(days=14)
MAX_CHAINS = 200
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
StepBacks = Mapping[str, "datetime | None"]


class RotaError(RuleError):
    """A rota rule refused the request; the message says what would work."""


# --- state --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Turn:
    """Turn ``number`` of a rota, at the instant ``at`` (UTC), held by ``holders``.

    ``offered``: holders who asked someone to take their place; ``reminded``: holders already
    reminded; ``flagged``: the room was told the turn needs people.
    """

    number: int
    at: datetime
    holders: tuple[str, ...]
    offered: tuple[str, ...] = ()
    reminded: tuple[str, ...] = ()
    flagged: bool = False


@dataclass(frozen=True)
class Rota:
    """A care rota and everything its fairness needs.

    ``turns``: the turns given (history until retention, and those ahead); ``done``: turns per
    member folded out of the history by retention; ``credit``: levels given on joining,
    coming back or being excused from a turn (never turns done); ``seen``: who could take the
    last new turn given (to tell who is back);
    ``given_through``: the last occurrence that got holders; ``remind``: how long before a turn
    its holders are reminded (None: the bot's default).
    """

    name: str
    recurrence: Recurrence
    size: int
    seed: int
    created: datetime
    pool: frozenset[str] = frozenset()
    away: Mapping[str, datetime] = field(default_factory=dict)
    turns: tuple[Turn, ...] = ()
    done: Mapping[str, int] = field(default_factory=dict)
    credit: Mapping[str, int] = field(default_factory=dict)
    seen: frozenset[str] = frozenset()
    next_number: int = 1
    given_through: datetime | None = None
    remind: timedelta | None = None


@dataclass(frozen=True)
class Taken:
    """``taker`` now holds the turn ``giver`` offered; the turn counts for the taker."""

    turn: Turn
    giver: str
    taker: str


@dataclass(frozen=True)
class Exchanged:
    """``taker`` took ``turn`` and gave ``giver`` their own later turn ``other`` in exchange,
    so both keep the number of turns they had."""

    turn: Turn
    other: Turn
    giver: str
    taker: str


TakeResult = Taken | Exchanged


@dataclass(frozen=True)
class Flag:
    """A turn coming near that still needs people: ``offered`` by holders nobody replaced yet,
    and ``short`` places nobody could be given."""

    turn: Turn
    offered: tuple[str, ...]
    short: int


@dataclass(frozen=True)
class Preview:
    """A turn ahead as :func:`upcoming` shows it; ``given`` is False for a projection."""

    turn: Turn
    given: bool


# --- set-up -------------------------------------------------------------------------------


def parse_name(text: str) -> str:
    name = text.strip().lower()
    if not NAME_PATTERN.match(name):
        raise RotaError(
            "'{text}' is not a rota name: use a short word of letters, digits and dashes, like meals "
            "or child-care.",
            text=text,
        )
    return name


def parse_size(text: str) -> int:
    # ASCII digits only, and few: "²" is a digit to isdigit() but not to int().
    if not (text.isascii() and text.isdigit() and len(text) <= 6) or not 1 <= int(text) <= MAX_SIZE:
        raise RotaError("'{text}' is not a size: a turn needs 1 to {most} people.", text=text, most=MAX_SIZE)
    return int(text)


class RotaSpec(NamedTuple):
    """What ``!rota add <name>`` says after the name."""

    recurrence: Recurrence
    size: int
    remind: timedelta | None  # the DM reminder's lead for this rota (None: the bot's default)


def _take_option(words: list[str], option: str) -> tuple[list[str], str | None, bool]:
    """``words`` without ``option <value>`` (anywhere), that value (None: not given, or no value
    after it), and whether the option is given again."""
    lowered = [w.lower() for w in words]
    if option not in lowered:
        return words, None, False
    at = lowered.index(option)
    if at + 1 >= len(words):
        return words, None, False
    rest = words[:at] + words[at + 2 :]
    return rest, words[at + 1], option in (w.lower() for w in rest)


def parse_remind(text: str) -> timedelta:
    """A reminder's lead: a duration up to :data:`MAX_REMIND`."""
    try:
        lead = parse_duration(text)
    except TimeSpecError as exc:
        raise RotaError(
            "'{text}' is not a duration: use a number and a unit, like remind 2h or remind 1d.", text=text
        ) from exc
    if lead > MAX_REMIND:
        raise RotaError("A reminder comes at most {most} before a turn.", most=MAX_REMIND)
    return lead


def parse_rota_spec(text: str, zone: ZoneInfo, now: datetime, short_units: bool = False) -> RotaSpec:
    """``"every tuesday at 18:00 size 2 remind 2h until 2027-06-30"`` -> a :class:`RotaSpec`.

    ``size <n>`` and ``remind <duration>`` may come anywhere after the recurrence; the rest is
    :func:`protocols.recurrence.parse_recurrence`'s grammar. Without a size, one person a turn;
    without ``remind``, the bot's default lead.
    """
    words, size_text, twice = _take_option(text.split(), "size")
    if "size" in (w.lower() for w in words) and size_text is None:
        raise RotaError("'size' needs a number, like size 2.")
    if twice:
        raise RotaError("'size' is given twice: give one.")
    words, remind_text, twice = _take_option(words, "remind")
    if "remind" in (w.lower() for w in words) and remind_text is None:
        raise RotaError("'remind' needs a duration, like remind 2h.")
    if twice:
        raise RotaError("'remind' is given twice: give one.")
    size = 1 if size_text is None else parse_size(size_text)
    remind = None if remind_text is None else parse_remind(remind_text)
    return RotaSpec(parse_recurrence(" ".join(words), zone, now, short_units), size, remind)


def _check_size(size: int, room_pool: Collection[str]) -> None:
    if not 1 <= size <= MAX_SIZE:
        raise RotaError("A turn needs 1 to {most} people, not {size}.", most=MAX_SIZE, size=size)
    if size > len(room_pool):
        if len(room_pool) == 1:
            raise RotaError(
                "A turn of {size} is more than the pool can give: there is 1 person who could "
                "volunteer here. Choose size 1 or less.",
                size=size,
            )
        raise RotaError(
            "A turn of {size} is more than the pool can give: there are {n} people who could "
            "volunteer here. Choose size {most} or less.",
            size=size,
            n=len(room_pool),
            most=max(1, len(room_pool)),
        )


def new_rota(
    name: str,
    recurrence: Recurrence,
    size: int,
    room_pool: Collection[str],
    rng: random.Random,
    now: datetime,
    remind: timedelta | None = None,
) -> Rota:
    """A rota with an empty pool; volunteers :func:`join` it.

    ``room_pool``: everyone who could volunteer (the room's members without bots); a size
    larger than that is refused. The seed for all later tie-breaks is drawn from ``rng`` here.
    """
    _require_aware(now)
    checked = parse_name(name)
    _check_size(size, room_pool)
    return Rota(checked, recurrence, size, rng.getrandbits(64), now, given_through=now, remind=remind)


def resize(rota: Rota, size: int, room_pool: Collection[str]) -> Rota:
    """Change how many people a turn needs, from the next turn given."""
    _check_size(size, room_pool)
    return replace(rota, size=size)


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None:
        raise ValueError("pass aware datetimes (UTC)")


# --- levels and who can take a turn -------------------------------------------------------


def counts_from_history(turns: Iterable[Turn]) -> Counter[str]:
    """How many turns each member holds or held in ``turns``: counts, never which turn."""
    counts: Counter[str] = Counter()
    for turn in turns:
        counts.update(turn.holders)
    return counts


def turn_counts(rota: Rota) -> Counter[str]:
    """Turns each member did or holds in this rota (retained history, folded counts, ahead)."""
    counts = counts_from_history(rota.turns)
    counts.update(rota.done)
    return counts


def levels(rota: Rota) -> Counter[str]:
    """What fairness compares: turns plus the credit from joining or coming back."""
    counts = turn_counts(rota)
    counts.update(rota.credit)
    return counts


def eligible(rota: Rota, at: datetime, stepped_back: StepBacks) -> frozenset[str]:
    """Pool members who can take a turn at ``at``: not away then, not stepped back then."""
    out: set[str] = set()
    for member in rota.pool:
        back = rota.away.get(member)
        if back is not None and back > at:
            continue
        if member in stepped_back:
            until = stepped_back[member]
            if until is None or until > at:
                continue
        out.add(member)
    return frozenset(out)


def _choose(
    rota: Rota,
    at: datetime,
    count: int,
    holding: Collection[str],
    salt: str,
    stepped_back: StepBacks,
    now: datetime,
    newest: bool = False,
) -> tuple[Rota, tuple[str, ...]]:
    """Up to ``count`` members for a turn at ``at`` (besides ``holding``), lowest level first.

    Members who could not take the previous turn given and can now (they joined or came back)
    are first raised to the lowest level of those who stayed: a credit, so absence is not debt.
    ``newest``: this is a new turn at the end of those given, so who could take it is who the
    next new turn compares with (refilling an earlier turn does not move that mark).
    """
    can = eligible(rota, at, stepped_back)
    candidates = sorted(can - set(holding))
    raw = levels(rota)
    level = _floored(rota, can, now)
    credit = dict(rota.credit)
    for member in can:
        if level[member] > raw[member]:
            credit[member] = credit.get(member, 0) + level[member] - raw[member]
    random.Random(f"{rota.seed}:{salt}").shuffle(candidates)
    candidates.sort(key=lambda m: level[m])  # stable: the shuffle breaks the ties
    updated = replace(rota, credit=credit, seen=can if newest else rota.seen)
    return updated, tuple(candidates[:count])


def _floored(rota: Rota, present: Collection[str], now: datetime) -> Counter[str]:
    """Levels as the next turn given will see them: those back or new raised to the floor.

    The floor is the lowest level among those who stayed *without* the turns they hold after
    ``now``: a turn given but not yet done is no debt of a newcomer's, so someone who joins
    after the first volunteer was given the next few turns shares them (the turns ahead move
    to them along a chain) instead of waiting until they are all done.
    """
    level = levels(rota)
    stayed = [m for m in present if m in rota.seen]
    if stayed:
        ahead = Counter(h for t in rota.turns if t.at > now for h in t.holders)
        floor = min(level[m] - ahead[m] for m in stayed)
        for member in present:
            if member not in rota.seen:
                level[member] = max(level[member], floor)
    return level


def _spread(level: Mapping[str, int], members: Collection[str]) -> int:
    values = [level.get(m, 0) for m in members]
    return max(values) - min(values) if values else 0


def _swap_holder(turn: Turn, out: str, into: str) -> Turn:
    return replace(
        turn,
        holders=tuple(sorted(into if h == out else h for h in turn.holders)),
        offered=tuple(h for h in turn.offered if h != out),
        reminded=tuple(h for h in turn.reminded if h != out),
    )


def _put(rota: Rota, turn: Turn) -> Rota:
    return replace(rota, turns=tuple(turn if t.number == turn.number else t for t in rota.turns))


def _find(rota: Rota, number: int) -> Turn:
    for turn in rota.turns:
        if turn.number == number:
            return turn
    raise RotaError(
        "The {name} rota has no turn {number}: !rota show {name} lists them.", name=rota.name, number=number
    )


def _ahead(rota: Rota, now: datetime) -> list[Turn]:
    return [t for t in rota.turns if t.at > now]


def _without(mapping: Mapping[str, datetime], member: str) -> dict[str, datetime]:
    return {k: v for k, v in mapping.items() if k != member}
