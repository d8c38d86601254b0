"""Drills: a whole run rehearsed with its offsets compressed, and the report at the end.

A drill keeps the order and the proportions of a template's timeline: every offset (and every
acknowledgement window) is divided by ``speed``, and the first phase goes out at the drill's
start. Every message is marked DRILL. The report says, per room, how long it took to acknowledge
each phase, and which rooms stayed silent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from protocols.errors import RuleError

MIN_SPEED = 1
MAX_SPEED = 10_000
MIN_GAP = timedelta(seconds=5)  # compressed phases still go out in order, a little apart
DRILL_MARK = "DRILL"


class DrillError(RuleError):
    """A drill rule refused the input."""


def check_speed(speed: int) -> int:
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise DrillError("A drill's speed is {low}x to {high}x.", low=str(MIN_SPEED), high=str(MAX_SPEED))
    return speed


def compress(delta: timedelta, speed: int) -> timedelta:
    """``delta`` divided by ``speed``, to the whole second (never below one second if positive)."""
    check_speed(speed)
    seconds = delta.total_seconds() / speed
    if delta > timedelta(0):
        return timedelta(seconds=max(1, round(seconds)))
    return timedelta(seconds=round(seconds))


def schedule(offsets: Sequence[timedelta], start: datetime, speed: int) -> list[datetime]:
    """When each phase of a drill goes out: the first at ``start``, the others at their compressed
    distance from the first, and each at least :data:`MIN_GAP` after the one before."""
    if not offsets:
        return []
    ordered = list(offsets)
    if ordered != sorted(ordered):
        raise DrillError("Phases must be in time order.")
    out: list[datetime] = []
    for offset in ordered:
        at = start + compress(offset - ordered[0], speed)
        if out and at < out[-1] + MIN_GAP:
            at = out[-1] + MIN_GAP
        out.append(at)
    return out


def mark(text: str) -> str:
    """A drill message's first words: nobody mistakes a rehearsal for the real call."""
    return f"{DRILL_MARK} — {text}"


@dataclass(frozen=True)
class RoomReport:
    room: str
    ack_times: tuple[tuple[str, timedelta | None], ...]  # (phase, time to ack or None: silent)

    @property
    def silent(self) -> bool:
        """Acknowledged none of the phases that asked."""
        return bool(self.ack_times) and all(t is None for _, t in self.ack_times)


def report(
    rooms: Sequence[str],
    sent: Mapping[tuple[str, str], datetime],
    acked: Mapping[tuple[str, str], datetime],
    phases: Sequence[str],
) -> list[RoomReport]:
    """Per room, per phase that asked for an acknowledgement, the time from sending to ack.

    ``sent``/``acked``: (room, phase) -> when. A phase never sent to a room (declined) is left out.
    """
    out: list[RoomReport] = []
    for room in rooms:
        times: list[tuple[str, timedelta | None]] = []
        for phase in phases:
            at = sent.get((room, phase))
            if at is None:
                continue
            ack = acked.get((room, phase))
            times.append((phase, max(ack - at, timedelta(0)) if ack is not None else None))
        out.append(RoomReport(room, tuple(times)))
    return out


def silent_rooms(reports: Sequence[RoomReport]) -> list[str]:
    return [r.room for r in reports if r.silent]
