"""Care rotas: a duty that keeps turning among volunteers, fair by construction.

"Mutual aid funds, child care rotations, and decompression rituals after intense actions are not
luxuries." (seed) A rota has a name, a :class:`~protocols.recurrence.Recurrence`, a size (how many
people a turn needs) and a *pool*: the volunteers who joined it, not everyone in the room.

Fairness. Each member has a *level*: the turns they hold or did in this rota, plus a credit given
when they join, come back or are excused (below). A turn goes to the members of the lowest level
among those who can take it; ties are broken by chance. So nobody takes a second turn while
someone present in the pool has had none. Turns are given some way ahead (``commit(ahead=...)``),
so a place freed later in a near turn may only have someone already high to go to; then places
move along a chain of turns ahead (the highest gives one to someone who can take it, who gives
one of theirs on, to someone two levels lower), so that among members present throughout levels
never differ by more than one, as long as a turn needs fewer people than they are (when a turn
needs every one of them, each does every turn whatever happened before). Chance is
reproducible: a rota draws a seed once, from the ``random.Random`` passed to :func:`new_rota`,
and turn ``n`` breaks its ties with ``Random(f"{seed}:{n}:...")``. That is why :func:`upcoming`
shows the turns ahead exactly as they will be given, if nothing changes.

Absence is not debt. Someone away (``!rota away``) or stepped back (``!stepback``) is skipped;
each turn of theirs given to someone else keeps their level (a credit), and a member who joins or
comes back after turns were given without them starts at the lowest level of those who stayed.
So nobody owes the turns they missed, and nobody jumps the queue by leaving.

Swaps and takes. A holder offers a turn (:func:`offer`); anyone else in the pool who can be there
takes it (:func:`take`). The turn and its count move to the taker, unless that would put the taker
two levels ahead of someone: then, if the taker holds a later turn, the two swap turns (an
:class:`Exchanged`, counts unchanged), and otherwise the take is refused with a message saying
why. A turn still offered, or short of people, when it comes near is flagged to the room
(:func:`due_flags`), never silently dropped.

Forgetting. :func:`fold_history` turns the history older than the retention into counts per
member (:func:`counts_from_history`): how many turns each did, never which.

Pure: ``now``, the room's step-backs and (for ``after each gathering``) the gatherings are passed
in; every function returns a new :class:`Rota` and changes nothing when it raises.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from protocols.errors import RuleError
from protocols.recurrence import NextGathering, Recurrence, next_occurrences, parse_recurrence

MAX_SIZE = 20
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
    ``given_through``: the last occurrence that got holders.
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
            f"'{text}' is not a rota name: use a short word of letters, digits and dashes, "
            "like meals or child-care."
        )
    return name


def parse_size(text: str) -> int:
    # ASCII digits only, and few: "²" is a digit to isdigit() but not to int().
    if not (text.isascii() and text.isdigit() and len(text) <= 6) or not 1 <= int(text) <= MAX_SIZE:
        raise RotaError(f"'{text}' is not a size: a turn needs 1 to {MAX_SIZE} people.")
    return int(text)


def parse_rota_spec(text: str, zone: ZoneInfo, now: datetime) -> tuple[Recurrence, int]:
    """``"every tuesday at 18:00 size 2 until 2027-06-30"`` -> (recurrence, size).

    ``size <n>`` may come anywhere after the recurrence; the rest is
    :func:`protocols.recurrence.parse_recurrence`'s grammar. Without a size, one person a turn.
    """
    words = text.split()
    size = 1
    if "size" in (w.lower() for w in words):
        at = [w.lower() for w in words].index("size")
        if at + 1 >= len(words):
            raise RotaError("'size' needs a number, like size 2.")
        size = parse_size(words[at + 1])
        words = words[:at] + words[at + 2 :]
        if "size" in (w.lower() for w in words):
            raise RotaError("'size' is given twice: give one.")
    return parse_recurrence(" ".join(words), zone, now), size


def _check_size(size: int, room_pool: Collection[str]) -> None:
    if not 1 <= size <= MAX_SIZE:
        raise RotaError(f"A turn needs 1 to {MAX_SIZE} people, not {size}.")
    if size > len(room_pool):
        people = "1 person" if len(room_pool) == 1 else f"{len(room_pool)} people"
        raise RotaError(
            f"A turn of {size} is more than the pool can give: there {'is' if len(room_pool) == 1 else 'are'} "
            f"{people} who could volunteer here. Choose size {max(1, len(room_pool))} or less."
        )


def new_rota(
    name: str,
    recurrence: Recurrence,
    size: int,
    room_pool: Collection[str],
    rng: random.Random,
    now: datetime,
) -> Rota:
    """A rota with an empty pool; volunteers :func:`join` it.

    ``room_pool``: everyone who could volunteer (the room's members without bots); a size
    larger than that is refused. The seed for all later tie-breaks is drawn from ``rng`` here.
    """
    _require_aware(now)
    checked = parse_name(name)
    _check_size(size, room_pool)
    return Rota(checked, recurrence, size, rng.getrandbits(64), now, given_through=now)


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
    level = _floored(rota, can)
    credit = dict(rota.credit)
    for member in can:
        if level[member] > raw[member]:
            credit[member] = credit.get(member, 0) + level[member] - raw[member]
    random.Random(f"{rota.seed}:{salt}").shuffle(candidates)
    candidates.sort(key=lambda m: level[m])  # stable: the shuffle breaks the ties
    updated = replace(rota, credit=credit, seen=can if newest else rota.seen)
    return updated, tuple(candidates[:count])


# --- giving turns -------------------------------------------------------------------------


def commit(
    rota: Rota,
    now: datetime,
    ahead: int,
    stepped_back: StepBacks,
    next_gathering: NextGathering | None = None,
) -> tuple[Rota, tuple[Turn, ...]]:
    """Give holders to the next ``ahead`` turns after ``now`` (those not given yet), and fill
    turns ahead that are short of people where someone can now take them.

    Returns the rota and the turns that are new or changed (to announce and to remind).
    Occurrences that passed while nobody gave them holders are not given afterwards: they are
    the runtime's to note as missed (see :func:`protocols.recurrence.catch_up`).
    """
    _require_aware(now)
    # An away that has ended is no longer anyone's business: drop it.
    if any(until <= now for until in rota.away.values()):
        rota = replace(rota, away={m: u for m, u in rota.away.items() if u > now})
    changed: dict[int, Turn] = {}
    for turn in _ahead(rota, now):
        if len(turn.holders) < rota.size:
            rota, filled = _fill(rota, turn, stepped_back)
            if filled != turn:
                changed[turn.number] = filled
    missing = ahead - len(_ahead(rota, now))
    if missing > 0:
        start = max(rota.given_through or now, now)
        for at in next_occurrences(rota.recurrence, start, missing, next_gathering):
            rota, holders = _choose(rota, at, rota.size, (), f"{rota.next_number}", stepped_back, newest=True)
            turn = Turn(rota.next_number, at, tuple(sorted(holders)))
            rota = replace(
                rota, turns=(*rota.turns, turn), next_number=rota.next_number + 1, given_through=at
            )
            changed[turn.number] = turn
    rota, moved = _rebalance(rota, now, stepped_back)
    changed.update(moved)
    return rota, tuple(sorted(changed.values(), key=lambda t: t.number))


def _ahead(rota: Rota, now: datetime) -> list[Turn]:
    return [t for t in rota.turns if t.at > now]


def _fill(rota: Rota, turn: Turn, stepped_back: StepBacks) -> tuple[Rota, Turn]:
    need = rota.size - len(turn.holders)
    salt = f"{turn.number}:fill:{len(turn.holders)}:{','.join(turn.holders)}"
    rota, extra = _choose(rota, turn.at, need, turn.holders, salt, stepped_back)
    if not extra:
        return rota, turn
    filled = replace(turn, holders=tuple(sorted((*turn.holders, *extra))))
    return _put(rota, filled), filled


def _rebalance(rota: Rota, now: datetime, stepped_back: StepBacks) -> tuple[Rota, dict[int, Turn]]:
    """Hand places in turns ahead from someone two levels above another, along a chain.

    A place freed in a near turn sometimes has only people already high to go to (the others
    hold that turn too, or are away), while turns further ahead were given before that. Then
    places move along a chain of turns ahead: the highest gives a turn to someone who could
    take it, who gives one of theirs to the next, ... to someone two levels lower. Everyone in
    between keeps their number of turns; the two ends come one closer. Each chain narrows the
    levels, so this ends; chains through the latest turns (the furthest from anyone's plans)
    are tried first.
    """
    changed: dict[int, Turn] = {}
    # Each chain brings the highest and a lowest level one closer, so a handful of chains is
    # all a real rota needs; the bound only guarantees an end on any input.
    for _ in range(MAX_CHAINS):
        chain = _find_chain(rota, now, stepped_back)
        if chain is None:
            break
        for number, giver, taker in chain:
            moved = _swap_holder(_find(rota, number), giver, taker)
            rota = _put(rota, moved)
            changed[number] = moved
    return rota, changed


def _find_chain(rota: Rota, now: datetime, stepped_back: StepBacks) -> list[tuple[int, str, str]] | None:
    """A shortest chain of (turn, giver, taker) from a member to one two levels below, or None."""
    ahead = sorted(_ahead(rota, now), key=lambda t: t.at, reverse=True)
    if not ahead:
        return None
    can_at = {t.number: eligible(rota, t.at, stepped_back) for t in ahead}
    present = frozenset().union(*can_at.values())
    level = _floored(rota, present)
    order = sorted(present)
    random.Random(f"{rota.seed}:{rota.next_number}:rebalance").shuffle(order)
    # Highest first; the shuffle (from the rota's seed) breaks ties without favouring names.
    for start in sorted(order, key=lambda m: -level[m]):
        target = level[start] - 2
        if not any(level[m] <= target for m in present):
            return None  # the highest cannot be two above anyone: nothing to narrow
        previous: dict[str, tuple[str, int]] = {}
        frontier = [start]
        seen = {start}
        while frontier:
            following: list[str] = []
            for giver in frontier:
                for turn in ahead:
                    if giver not in turn.holders:
                        continue
                    for taker in order:
                        if taker in seen or taker in turn.holders or taker not in can_at[turn.number]:
                            continue
                        seen.add(taker)
                        previous[taker] = (giver, turn.number)
                        if level[taker] <= target:
                            chain: list[tuple[int, str, str]] = []
                            node = taker
                            while node != start:
                                source, number = previous[node]
                                chain.append((number, source, node))
                                node = source
                            return list(reversed(chain))
                        following.append(taker)
            frontier = following
    return None


def _put(rota: Rota, turn: Turn) -> Rota:
    return replace(rota, turns=tuple(turn if t.number == turn.number else t for t in rota.turns))


def upcoming(
    rota: Rota,
    now: datetime,
    count: int,
    stepped_back: StepBacks,
    next_gathering: NextGathering | None = None,
) -> list[Preview]:
    """The next ``count`` turns: those given, then the ones that would follow if nothing changes.

    The same rota, ``now`` and step-backs always show the same turns, and the projection is what
    :func:`commit` will give (the ties come from the rota's seed, not from the caller).
    """
    given = {t.number for t in _ahead(rota, now)}
    projected, _ = commit(rota, now, count, stepped_back, next_gathering)
    return [Preview(t, t.number in given) for t in _ahead(projected, now)[:count]]


# --- the pool -----------------------------------------------------------------------------


def join(rota: Rota, member: str) -> Rota:
    """``member`` volunteers; they take turns from the next turn given."""
    if member in rota.pool:
        raise RotaError(f"You are already in the {rota.name} rota.")
    return replace(rota, pool=rota.pool | {member})


def leave(rota: Rota, member: str, now: datetime, stepped_back: StepBacks) -> tuple[Rota, tuple[Turn, ...]]:
    """``member`` leaves the pool; their turns ahead go to others (returned, to announce)."""
    if member not in rota.pool:
        raise RotaError(f"You are not in the {rota.name} rota: nothing to leave.")
    left = replace(rota, pool=rota.pool - {member}, away=_without(rota.away, member))
    return release(left, member, now, None, stepped_back, credit=False)


def set_away(
    rota: Rota, member: str, until: datetime, now: datetime, stepped_back: StepBacks
) -> tuple[Rota, tuple[Turn, ...]]:
    """``member`` is away until ``until``: skipped, and their turns before then given to others."""
    _require_aware(until)
    _require_aware(now)
    if member not in rota.pool:
        raise RotaError(f"You are not in the {rota.name} rota, so there is nothing to be away from.")
    if until <= now:
        raise RotaError("That date is in the past: say how long you will be away, like 2w.")
    marked = replace(rota, away={**rota.away, member: until})
    return release(marked, member, now, until, stepped_back)


def come_back(rota: Rota, member: str, now: datetime) -> Rota:
    """End an away early; the member takes turns again from the next turn given."""
    back = rota.away.get(member)
    if back is None or back <= now:
        raise RotaError(f"You are not away from the {rota.name} rota.")
    return replace(rota, away=_without(rota.away, member))


def _without(mapping: Mapping[str, datetime], member: str) -> dict[str, datetime]:
    return {k: v for k, v in mapping.items() if k != member}


def release(
    rota: Rota,
    member: str,
    now: datetime,
    until: datetime | None,
    stepped_back: StepBacks,
    credit: bool = True,
) -> tuple[Rota, tuple[Turn, ...]]:
    """Take ``member`` off their turns ahead that fall before ``until`` (None: all of them) and
    give those places to others. For a step-back, the runtime calls this with its end.

    ``credit``: the member keeps their level for each turn freed (an away or a step-back is
    not debt: they will not be given those turns back on return); not when they leave.
    """
    changed: dict[int, Turn] = {}
    for turn in _ahead(rota, now):
        if member not in turn.holders or (until is not None and turn.at >= until):
            continue
        freed = replace(
            turn,
            holders=tuple(h for h in turn.holders if h != member),
            offered=tuple(h for h in turn.offered if h != member),
            reminded=tuple(h for h in turn.reminded if h != member),
        )
        rota = _put(rota, freed)
        if credit:
            rota = replace(rota, credit={**rota.credit, member: rota.credit.get(member, 0) + 1})
        rota, filled = _fill(rota, freed, stepped_back)
        changed[filled.number] = filled
    rota, moved = _rebalance(rota, now, stepped_back)
    changed.update(moved)
    return rota, tuple(sorted(changed.values(), key=lambda t: t.number))


# --- swaps and takes ----------------------------------------------------------------------


def turn_on(rota: Rota, day: date) -> list[Turn]:
    """The turns given on the local date ``day`` (in the rota's zone)."""
    zone = rota.recurrence.zone
    return [t for t in rota.turns if t.at.astimezone(zone).date() == day]


def offer(rota: Rota, member: str, day: date, now: datetime) -> tuple[Rota, Turn]:
    """``member`` asks someone to take their turn on ``day`` (a local date); they keep it until
    someone does."""
    zone = rota.recurrence.zone
    today = now.astimezone(zone).date()
    if day < today:
        raise RotaError(f"{day.isoformat()} is in the past: offer a turn that is still ahead.")
    turns = [t for t in turn_on(rota, day) if t.at > now]
    if not turns:
        raise RotaError(
            f"There is no {rota.name} turn ahead on {day.isoformat()}: !rota show {rota.name} "
            "lists the turns ahead."
        )
    mine = [t for t in turns if member in t.holders]
    if not mine:
        holders = ", ".join(h for t in turns for h in t.holders) or "nobody yet"
        raise RotaError(
            f"The {rota.name} turn on {day.isoformat()} is not yours (it is {holders}'s): only "
            "a holder can offer it. You can take it if they offer it."
        )
    turn = mine[0]
    if member in turn.offered:
        raise RotaError(f"You already offered your {rota.name} turn on {day.isoformat()}.")
    offered = replace(turn, offered=tuple(sorted((*turn.offered, member))))
    return _put(rota, offered), offered


def open_offers(rota: Rota, now: datetime) -> list[tuple[Turn, str]]:
    """(turn, giver) for every turn ahead that a holder offered and nobody took yet, soonest
    first: what ``!rota show`` lists and what ``!rota take`` or a reaction can answer."""
    return [(t, giver) for t in sorted(_ahead(rota, now), key=lambda t: t.at) for giver in t.offered]


def withdraw(rota: Rota, member: str, number: int) -> Rota:
    """The holder keeps the turn after all."""
    turn = _find(rota, number)
    if member not in turn.offered:
        raise RotaError("You have not offered that turn: nothing to withdraw.")
    return _put(rota, replace(turn, offered=tuple(h for h in turn.offered if h != member)))


def _find(rota: Rota, number: int) -> Turn:
    for turn in rota.turns:
        if turn.number == number:
            return turn
    raise RotaError(f"The {rota.name} rota has no turn {number}: !rota show {rota.name} lists them.")


def take(
    rota: Rota,
    number: int,
    giver: str,
    taker: str,
    now: datetime,
    stepped_back: StepBacks,
) -> tuple[Rota, TakeResult]:
    """``taker`` takes turn ``number``, which ``giver`` offered."""
    turn = _find(rota, number)
    if turn.at <= now:
        raise RotaError(f"That {rota.name} turn has passed: nothing to take.")
    if giver not in turn.offered:
        raise RotaError(f"{giver} has not offered that {rota.name} turn: nothing to take.")
    if taker == giver:
        raise RotaError("That is your own turn: withdraw the offer to keep it.")
    if taker not in rota.pool:
        raise RotaError(
            f"Join the {rota.name} rota first (!rota join {rota.name}): turns go to its volunteers."
        )
    if taker in turn.holders:
        raise RotaError(f"You already hold that {rota.name} turn.")
    if taker not in eligible(rota, turn.at, stepped_back):
        raise RotaError("You are away or stepped back at that time: you cannot take that turn.")

    present = eligible(rota, turn.at, stepped_back)
    level = _floored(rota, present)
    after = Counter(level)
    after[giver] -= 1
    after[taker] += 1
    if _spread(after, present) <= max(1, _spread(level, present)):
        moved = _swap_holder(turn, giver, taker)
        return _put(rota, moved), Taken(moved, giver, taker)

    # Taking it outright would put the taker two turns ahead: swap for one of their later turns.
    for other in sorted(_ahead(rota, now), key=lambda t: t.at):
        if (
            other.number != turn.number
            and taker in other.holders
            and giver not in other.holders
            and giver in eligible(rota, other.at, stepped_back)
        ):
            moved = _swap_holder(turn, giver, taker)
            back = _swap_holder(other, taker, giver)
            return _put(_put(rota, moved), back), Exchanged(moved, back, giver, taker)
    raise RotaError(
        f"Taking it would put you two turns ahead of others in the {rota.name} rota, and you "
        "hold no later turn to give in exchange: let someone with fewer turns take it."
    )


def _floored(rota: Rota, present: Collection[str]) -> Counter[str]:
    """Levels as the next turn given will see them: those back or new raised to the floor."""
    level = levels(rota)
    stayed = [m for m in present if m in rota.seen]
    if stayed:
        floor = min(level[m] for m in stayed)
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


# --- reminders, flags, forgetting ---------------------------------------------------------


def due_reminders(rota: Rota, now: datetime, lead: timedelta) -> list[tuple[Turn, str]]:
    """(turn, holder) pairs whose reminder is due (within ``lead`` of the turn) and not sent."""
    return [
        (turn, holder)
        for turn in _ahead(rota, now)
        if turn.at - lead <= now
        for holder in turn.holders
        if holder not in turn.reminded
    ]


def mark_reminded(rota: Rota, number: int, holder: str) -> Rota:
    turn = _find(rota, number)
    return _put(rota, replace(turn, reminded=tuple(sorted({*turn.reminded, holder}))))


def due_flags(rota: Rota, now: datetime, lead: timedelta) -> list[Flag]:
    """Turns within ``lead`` that still need people and were not flagged: offered and not taken,
    or short of people. The room hears about each once, ahead of time."""
    return [
        Flag(turn, turn.offered, rota.size - len(turn.holders))
        for turn in _ahead(rota, now)
        if turn.at - lead <= now and not turn.flagged and (turn.offered or len(turn.holders) < rota.size)
    ]


def mark_flagged(rota: Rota, number: int) -> Rota:
    return _put(rota, replace(_find(rota, number), flagged=True))


def fold_history(rota: Rota, before: datetime) -> Rota:
    """Retention: turns before ``before`` become counts per member; who did which is forgotten."""
    _require_aware(before)
    old = [t for t in rota.turns if t.at < before]
    if not old:
        return rota
    done = Counter(rota.done)
    done.update(counts_from_history(old))
    return replace(rota, turns=tuple(t for t in rota.turns if t.at >= before), done=dict(done))


def forget_member(
    rota: Rota, member: str, now: datetime, stepped_back: StepBacks
) -> tuple[Rota, tuple[Turn, ...]]:
    """Everything the rota knows about ``member`` goes (``affinity forget``, leaving the room):
    their place in the pool, counts and credit, their name on past turns, their turns ahead
    (given to others, returned to announce)."""
    rota, changed = release(
        replace(rota, pool=rota.pool - {member}), member, now, None, stepped_back, credit=False
    )
    turns = tuple(
        replace(
            t,
            holders=tuple(h for h in t.holders if h != member),
            offered=tuple(h for h in t.offered if h != member),
            reminded=tuple(h for h in t.reminded if h != member),
        )
        for t in rota.turns
    )
    return (
        replace(
            rota,
            turns=turns,
            away=_without(rota.away, member),
            done={k: v for k, v in rota.done.items() if k != member},
            credit={k: v for k, v in rota.credit.items() if k != member},
            seen=rota.seen - {member},
        ),
        changed,
    )
