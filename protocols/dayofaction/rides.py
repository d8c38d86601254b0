"""Rides to the action: offers (a driver, seats, an area, a time) and needs (a rider, seats, an
area, optionally a time), matched by area and time.

Matching proposes, it never decides: each proposal waits for the driver's approval by DM, and
only an approved ride reveals names to the two people concerned. Seats in pending and approved
rides count against an offer, so an offer is never promised to more riders than it has seats.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from protocols.errors import RuleError

MIN_SEATS, MAX_SEATS = 1, 8
TIME_WINDOW_MINUTES = 60  # a need with a time matches offers leaving within an hour of it
_AREA = re.compile(r"^[\w][\w .'-]{0,39}$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class RideError(RuleError):
    """A ride rule refused the input."""


def check_seats(seats: int) -> int:
    if not MIN_SEATS <= seats <= MAX_SEATS:
        raise RideError("Seats: a number from {low} to {high}.", low=MIN_SEATS, high=MAX_SEATS)
    return seats


def area(text: str) -> str:
    """An area as compared: case and spacing do not matter."""
    name = " ".join(text.split()).casefold()
    if not _AREA.match(name):
        raise RideError("An area is a place name of up to 40 letters, digits, spaces, ' . or -.")
    return name


def clock(text: str) -> int:
    """``HH:MM`` -> minutes after midnight (the room's zone on the action day)."""
    found = _CLOCK.match(text.strip())
    if found is None:
        raise RideError("'{text}' is not a time of day: use HH:MM, like 08:30.", text=text.strip()[:20])
    return int(found[1]) * 60 + int(found[2])


def format_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Offer:
    id: int
    driver: str
    area: str
    at: int  # minutes after midnight
    seats: int


@dataclass(frozen=True)
class Need:
    id: int
    rider: str
    area: str
    seats: int
    at: int | None = None


@dataclass(frozen=True)
class Proposal:
    offer: int
    need: int
    seats: int


def free_seats(offer: Offer, taken: Iterable[Proposal]) -> int:
    return offer.seats - sum(p.seats for p in taken if p.offer == offer.id)


def match(
    offers: Sequence[Offer],
    needs: Sequence[Need],
    taken: Sequence[Proposal],
    refused: Iterable[tuple[int, int]] = (),
) -> list[Proposal]:
    """New proposals for the needs not yet in ``taken``: each need (oldest first) to the offer of
    its area with enough free seats, leaving closest to the need's time (earliest if none), never
    the rider's own offer, never an (offer, need) pair the driver ``refused``. Deterministic: ties
    go to the older offer."""
    placed = {p.need for p in taken}
    no = set(refused)
    free = {o.id: free_seats(o, taken) for o in offers}
    out: list[Proposal] = []
    for need in sorted(needs, key=lambda n: n.id):
        if need.id in placed:
            continue
        fits = [
            o
            for o in offers
            if o.area == need.area
            and o.driver != need.rider
            and (o.id, need.id) not in no
            and free[o.id] >= need.seats
            and (need.at is None or abs(o.at - need.at) <= TIME_WINDOW_MINUTES)
        ]
        if not fits:
            continue
        best = min(fits, key=lambda o: (abs(o.at - need.at) if need.at is not None else o.at, o.id))
        free[best.id] -= need.seats
        out.append(Proposal(best.id, need.id, need.seats))
    return out


def counts_per_area(
    offers: Sequence[Offer], needs: Sequence[Need], taken: Sequence[Proposal]
) -> list[tuple[str, int, int]]:
    """(area, free seats offered, seats still needed) per area, sorted: counts, never names."""
    placed = {p.need for p in taken}
    areas = sorted({o.area for o in offers} | {n.area for n in needs})
    out = []
    for a in areas:
        offered = sum(max(free_seats(o, taken), 0) for o in offers if o.area == a)
        needed = sum(n.seats for n in needs if n.area == a and n.id not in placed)
        out.append((a, offered, needed))
    return out
