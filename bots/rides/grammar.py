"""How the ride commands read their words (converters, so no handler parses its text)."""

from __future__ import annotations

from typing import Annotated

from bots.runtime.converters import ArgumentError, Converter, IntRange
from bots.runtime.i18n_rules import said_clause
from protocols.dayofaction import rides


def _area(text: str) -> str:
    try:
        return rides.area(text)
    except rides.RideError as exc:
        raise ArgumentError(said_clause(exc)) from None


def _area_seats(text: str) -> tuple[str, int]:
    """``north`` or ``north 2``: the area, and the seats needed (1 if not said)."""
    words = text.split()
    seats = 1
    if len(words) > 1 and words[-1].lstrip("+-").isdigit():
        count = words.pop()
        seats = IntRange(rides.MIN_SEATS, rides.MAX_SEATS)(count)
    return _area(" ".join(words)), seats


def _clock(text: str) -> int:
    try:
        return rides.clock(text)
    except rides.RideError as exc:
        raise ArgumentError(said_clause(exc)) from None


Seats = Annotated[int, IntRange(rides.MIN_SEATS, rides.MAX_SEATS)]
Area = Annotated[str, Converter(_area, "words", "area")]
AreaSeats = Annotated[tuple[str, int], Converter(_area_seats, "words", "area> [<seats")]
Clock = Annotated[int, Converter(_clock, "words", "HH:MM")]
