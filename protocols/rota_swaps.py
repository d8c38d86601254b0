"""Swaps and takes, reminders, flags and forgetting for a care rota (see :mod:`protocols.rota`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta

from protocols.rota_state import (
    Exchanged,
    Flag,
    Rota,
    RotaError,
    StepBacks,
    Taken,
    TakeResult,
    Turn,
    _ahead,
    _find,
    _floored,
    _put,
    _require_aware,
    _spread,
    _swap_holder,
    _without,
    counts_from_history,
    eligible,
)
from protocols.rota_turns import release


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
        raise RotaError("{day} is in the past: offer a turn that is still ahead.", day=day.isoformat())
    turns = [t for t in turn_on(rota, day) if t.at > now]
    if not turns:
        raise RotaError(
            "There is no {name} turn ahead on {day}: !rota show {name} lists the turns ahead.",
            name=rota.name,
            day=day.isoformat(),
        )
    mine = [t for t in turns if member in t.holders]
    if not mine:
        holders = ", ".join(h for t in turns for h in t.holders)
        if not holders:
            raise RotaError(
                "The {name} turn on {day} is not yours (nobody holds it yet): only a holder can offer it.",
                name=rota.name,
                day=day.isoformat(),
            )
        raise RotaError(
            "The {name} turn on {day} is not yours (it is {holders}'s): only a holder can offer it. You "
            "can take it if they offer it.",
            name=rota.name,
            day=day.isoformat(),
            holders=holders,
        )
    turn = mine[0]
    if member in turn.offered:
        raise RotaError("You already offered your {name} turn on {day}.", name=rota.name, day=day.isoformat())
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
        raise RotaError("That {name} turn has passed: nothing to take.", name=rota.name)
    if giver not in turn.offered:
        raise RotaError(
            "{giver} has not offered that {name} turn: nothing to take.", giver=giver, name=rota.name
        )
    if taker == giver:
        raise RotaError("That is your own turn: withdraw the offer to keep it.")
    if taker not in rota.pool:
        raise RotaError(
            "Join the {name} rota first (!rota join {name}): turns go to its volunteers.", name=rota.name
        )
    if taker in turn.holders:
        raise RotaError("You already hold that {name} turn.", name=rota.name)
    if taker not in eligible(rota, turn.at, stepped_back):
        raise RotaError("You are away or stepped back at that time: you cannot take that turn.")

    present = eligible(rota, turn.at, stepped_back)
    level = _floored(rota, present, now)
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
        "Taking it would put you two turns ahead of others in the {name} rota, and you hold no later "
        "turn to give in exchange: let someone with fewer turns take it.",
        name=rota.name,
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
