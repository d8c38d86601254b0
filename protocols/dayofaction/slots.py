"""Sign-up slots for one room in one run: capacity, claim and release, a waitlist, and a
verifiable lottery when a slot is over-subscribed before its deadline.

A slot's state is one ordered queue of claimants: the first ``capacity`` hold the slot, the rest
wait in order. So releasing a held place promotes the first waiting person by construction.
Before the deadline the order is provisional: if more people claimed than there are places when
the deadline passes, the holders are drawn (:func:`draw_inputs`, :func:`apply_draw`, using the
role lottery of :mod:`protocols.lottery`) instead of first-come; everyone not drawn waits, in
the order they claimed. After the deadline it is first-come.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from protocols.errors import RuleError
from protocols.lottery import Assignment, DrawInputs, prepare

MAX_CAPACITY = 50
MAX_QUEUE = 200  # claimants per slot (holders and waiting): a bound, not a policy
_ITEM = re.compile(r"^\s*(?P<name>[A-Za-z][A-Za-z0-9 _-]{0,39}?)\s*:\s*(?P<cap>\d{1,3})\s*$")


class SlotError(RuleError):
    """A slot rule refused the input; the message says what to do."""


@dataclass(frozen=True)
class SlotSpec:
    """A checklist item with a capacity: ``marshal: 2``."""

    name: str
    capacity: int


def slot_name(text: str) -> str:
    """The canonical name of a slot as typed (case and spacing do not matter)."""
    return " ".join(text.lower().replace("_", " ").split())


def parse_slot_item(item: str) -> SlotSpec | None:
    """A checklist item's slot (``"Marshal: 2"`` -> marshal, 2), or None for a plain item."""
    found = _ITEM.match(item)
    if found is None:
        return None
    capacity = int(found["cap"])
    if not 1 <= capacity <= MAX_CAPACITY:
        raise SlotError("'{item}': a slot holds 1 to {most} people", item=item, most=MAX_CAPACITY)
    return SlotSpec(slot_name(found["name"]), capacity)


def slots_of(items: Iterable[str]) -> tuple[SlotSpec, ...]:
    """Every slot among checklist items, each name once (the first capacity wins)."""
    seen: dict[str, SlotSpec] = {}
    for item in items:
        spec = parse_slot_item(item)
        if spec is not None and spec.name not in seen:
            seen[spec.name] = spec
    return tuple(seen.values())


@dataclass(frozen=True)
class Slot:
    name: str
    capacity: int
    queue: tuple[str, ...] = ()
    drawn: bool = False  # the deadline's draw has happened (or was not needed)

    @property
    def holders(self) -> tuple[str, ...]:
        return self.queue[: self.capacity]

    @property
    def waiting(self) -> tuple[str, ...]:
        return self.queue[self.capacity :]

    @property
    def oversubscribed(self) -> bool:
        return len(self.queue) > self.capacity


@dataclass(frozen=True)
class Claimed:
    slot: str
    user: str
    holds: bool  # False: on the waitlist
    position: int  # 1-based place on the waitlist (0 when holding)
    provisional: bool  # before the deadline: an over-subscribed slot will be drawn


@dataclass(frozen=True)
class Released:
    slot: str
    user: str
    promoted: str | None  # the first waiting person, who now holds the place


def find(slots: Mapping[str, Slot], text: str) -> Slot:
    name = slot_name(text)
    slot = slots.get(name)
    if slot is None:
        if not slots:
            raise SlotError("There is no slot '{text}'. Slots: none in this run.", text=text)
        raise SlotError(
            "There is no slot '{text}'. Slots: {known}.", text=text, known=", ".join(sorted(slots))
        )
    return slot


def claim(slots: Mapping[str, Slot], text: str, user: str) -> tuple[Slot, Claimed]:
    """Take a place in a slot, or a place on its waitlist."""
    slot = find(slots, text)
    if user in slot.queue:
        if user in slot.holders:
            raise SlotError("You already hold '{slot}'. To give it up: !slot release {slot}", slot=slot.name)
        raise SlotError(
            "You already are waiting for '{slot}'. To give it up: !slot release {slot}", slot=slot.name
        )
    if len(slot.queue) >= MAX_QUEUE:
        raise SlotError(
            "'{slot}' has {n} people signed up already; no more can wait.", slot=slot.name, n=MAX_QUEUE
        )
    new = replace(slot, queue=(*slot.queue, user))
    holds = user in new.holders
    position = 0 if holds else new.waiting.index(user) + 1
    return new, Claimed(slot.name, user, holds, position, provisional=not slot.drawn and new.oversubscribed)


def release(slots: Mapping[str, Slot], text: str, user: str) -> tuple[Slot, Released]:
    """Give up a place (held or waiting); a freed held place goes to the first waiting."""
    slot = find(slots, text)
    if user not in slot.queue:
        raise SlotError("You have not claimed '{slot}'.", slot=slot.name)
    held = user in slot.holders
    new = replace(slot, queue=tuple(u for u in slot.queue if u != user))
    promoted = slot.waiting[0] if held and slot.waiting else None
    return new, Released(slot.name, user, promoted)


def draw_roles(slot: Slot) -> tuple[str, ...]:
    """The lottery's roles for a slot: one per place (``marshal#1``, ``marshal#2``)."""
    return tuple(f"{slot.name}#{i}" for i in range(1, slot.capacity + 1))


def draw_inputs(room: str, draw_id: str, slot: Slot) -> DrawInputs:
    """The committed inputs of an over-subscribed slot's draw: every claimant in the pool, one
    role per place, nobody favoured (no history). The load-first rule of the lottery gives each
    claimant at most one place, since the pool is larger than the places."""
    if not slot.oversubscribed:
        raise SlotError("'{slot}' is not over-subscribed; nothing to draw.", slot=slot.name)
    return prepare(room, draw_id, slot.queue, draw_roles(slot), {}, {})


def apply_draw(slot: Slot, assignment: Assignment) -> Slot:
    """The drawn hold the places (in draw order); everyone else waits in claim order."""
    winners = [holder for _, holder in assignment.picks]
    if len(set(winners)) != len(winners) or not set(winners) <= set(slot.queue):
        raise SlotError("The draw does not fit this slot's claimants.")
    rest = [u for u in slot.queue if u not in winners]
    return replace(slot, queue=(*winners, *rest), drawn=True)


def settle(slot: Slot) -> Slot:
    """At the deadline, a slot that needs no draw is first-come from now on."""
    return replace(slot, drawn=True)


def counts(slots: Iterable[Slot]) -> list[tuple[str, int, int, int]]:
    """(slot, filled, open, waiting) per slot: what the coalition's board shows, never names."""
    return [
        (s.name, len(s.holders), s.capacity - len(s.holders), len(s.waiting))
        for s in sorted(slots, key=lambda s: s.name)
    ]
