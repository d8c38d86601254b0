"""Giving a rota's turns: holders for the turns ahead, filling places freed, moving places
along a chain of turns so levels never drift apart, the turns ahead as they will be given, and
the pool (joining, leaving, being away). See :mod:`protocols.rota` for the rules.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime

from protocols.recurrence import NextGathering, next_occurrences
from protocols.rota_state import (
    MAX_CHAINS,
    Preview,
    Rota,
    RotaError,
    StepBacks,
    Turn,
    _ahead,
    _choose,
    _find,
    _floored,
    _put,
    _require_aware,
    _swap_holder,
    _without,
    eligible,
)


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
            rota, filled = _fill(rota, turn, stepped_back, now)
            if filled != turn:
                changed[turn.number] = filled
    missing = ahead - len(_ahead(rota, now))
    if missing > 0:
        start = max(rota.given_through or now, now)
        for at in next_occurrences(rota.recurrence, start, missing, next_gathering):
            rota, holders = _choose(
                rota, at, rota.size, (), f"{rota.next_number}", stepped_back, now, newest=True
            )
            turn = Turn(rota.next_number, at, tuple(sorted(holders)))
            rota = replace(
                rota, turns=(*rota.turns, turn), next_number=rota.next_number + 1, given_through=at
            )
            changed[turn.number] = turn
    rota, moved = _rebalance(rota, now, stepped_back)
    changed.update(moved)
    return rota, tuple(sorted(changed.values(), key=lambda t: t.number))


def _fill(rota: Rota, turn: Turn, stepped_back: StepBacks, now: datetime) -> tuple[Rota, Turn]:
    need = rota.size - len(turn.holders)
    salt = f"{turn.number}:fill:{len(turn.holders)}:{','.join(turn.holders)}"
    rota, extra = _choose(rota, turn.at, need, turn.holders, salt, stepped_back, now)
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
    level = _floored(rota, present, now)
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
        raise RotaError("You are already in the {name} rota.", name=rota.name)
    return replace(rota, pool=rota.pool | {member})


def leave(rota: Rota, member: str, now: datetime, stepped_back: StepBacks) -> tuple[Rota, tuple[Turn, ...]]:
    """``member`` leaves the pool; their turns ahead go to others (returned, to announce)."""
    if member not in rota.pool:
        raise RotaError("You are not in the {name} rota: nothing to leave.", name=rota.name)
    left = replace(rota, pool=rota.pool - {member}, away=_without(rota.away, member))
    return release(left, member, now, None, stepped_back, credit=False)


def set_away(
    rota: Rota, member: str, until: datetime, now: datetime, stepped_back: StepBacks
) -> tuple[Rota, tuple[Turn, ...]]:
    """``member`` is away until ``until``: skipped, and their turns before then given to others."""
    _require_aware(until)
    _require_aware(now)
    if member not in rota.pool:
        raise RotaError(
            "You are not in the {name} rota, so there is nothing to be away from.", name=rota.name
        )
    if until <= now:
        raise RotaError("That date is in the past: say how long you will be away, like 2w.")
    marked = replace(rota, away={**rota.away, member: until})
    return release(marked, member, now, until, stepped_back)


def come_back(rota: Rota, member: str, now: datetime) -> Rota:
    """End an away early; the member takes turns again from the next turn given."""
    back = rota.away.get(member)
    if back is None or back <= now:
        raise RotaError("You are not away from the {name} rota.", name=rota.name)
    return replace(rota, away=_without(rota.away, member))


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
        rota, filled = _fill(rota, freed, stepped_back, now)
        changed[filled.number] = filled
    rota, moved = _rebalance(rota, now, stepped_back)
    changed.update(moved)
    return rota, tuple(sorted(changed.values(), key=lambda t: t.number))
