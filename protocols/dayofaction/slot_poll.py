"""A room's open slots offered as a poll, and the poll's answers turned into claims.

A poll offers the slots that still have a free place, in name order, at most :data:`MAX_OFFERED`
(a Matrix poll's limit of answers); the others are claimed by typing. It needs two answers at
least: with one open slot there is nothing to choose, so the room is told to claim it.

When the poll ends, each person's latest answer is a claim, taken in the order the answers came
(first come, where first come is the slot's rule), by the same rule as a typed ``!slot claim``
(:func:`protocols.dayofaction.slots.claim`): someone who already holds or waits for the slot is
refused, and before the deadline an over-subscribed slot is drawn by lottery. One thing differs:
a poll offered a place, so an answer never puts anyone on a waitlist: when the slot's places went
first come (after its deadline, or without one) and none is left, the answer is refused, and the
refusal says how to wait for one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from protocols.dayofaction.slots import Claimed, Slot, SlotError, claim, find

MAX_OFFERED = 20  # the answers of a Matrix poll (m.poll.start), at most


@dataclass(frozen=True)
class Offer:
    """What a poll offers: the open slots it lists, and the open slots left out of it."""

    offered: tuple[Slot, ...]
    left_out: tuple[Slot, ...]


@dataclass(frozen=True)
class Choice:
    """One person's latest answer: the slot, when (ms) and the answer's event id (the claim's
    public contribution to a draw, as a typed claim's event id is)."""

    user: str
    slot: str
    at: int
    event_id: str


def is_open(slot: Slot) -> bool:
    return len(slot.holders) < slot.capacity


def offer(slots: Iterable[Slot]) -> Offer:
    """The open slots in name order, split at :data:`MAX_OFFERED`; refused below two."""
    open_ = sorted((s for s in slots if is_open(s)), key=lambda s: s.name)
    if not open_:
        raise SlotError("No slot has a free place left, so there is nothing to offer in a poll.")
    if len(open_) == 1:
        raise SlotError(
            "Only '{slot}' has a free place: claim it with !slot claim {slot} (a poll needs two answers).",
            slot=open_[0].name,
        )
    return Offer(tuple(open_[:MAX_OFFERED]), tuple(open_[MAX_OFFERED:]))


def in_order(chosen: Mapping[str, Sequence[str]], latest: Mapping[str, tuple[int, str]]) -> list[Choice]:
    """Who chose which slot (a poll's tally), as claims in the order the answers came:
    ``latest`` gives each person's latest answer as (ms, event id); ties go by user id."""
    choices = [
        Choice(person, slot, *latest[person])
        for slot, people in chosen.items()
        for person in people
        if person in latest
    ]
    return sorted(choices, key=lambda c: (c.at, c.user))


def claim_by_poll(slots: Mapping[str, Slot], text: str, user: str) -> tuple[Slot, Claimed]:
    """A typed claim's rule, except that a first-come slot with no free place refuses."""
    slot = find(slots, text)
    if slot.drawn and not is_open(slot) and user not in slot.queue:
        raise SlotError(
            "All places as '{slot}' were taken before the poll ended; to wait for one: !slot claim {slot}",
            slot=slot.name,
        )
    return claim(slots, text, user)
