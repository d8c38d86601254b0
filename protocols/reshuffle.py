"""Scheduled reshuffles: new cells at each boundary, away from the people one already met.

"Schedule periodic reshuffling of groups and sunset clauses for projects." (seed) At each boundary
of a ``!cells every <recurrence> <min>-<max>`` schedule, the previous generation's cells close and
a new generation is formed from the pool, so that people who shared a cell before (in any earlier
generation still remembered) are kept apart as far as the sizes allow.

How a generation is formed (:func:`form_cells`): the sizes come from
:func:`protocols.groups.cell_sizes` (as few cells as fit, sizes differing by at most one). Then,
for each of several attempts, a *greedy* placement puts the most constrained people first (those
with the most earlier meetings inside the pool), each into the cell with room where they meet
the fewest people again; *local swaps* then exchange two people between cells while that lowers
the number of repeated meetings. The best attempt wins; ties go to the earliest, so the result
depends only on the pool, the memory of meetings and the ``random.Random`` passed in.

What is remembered is a count per pair (:func:`remember`), enough to avoid them, never which cell
or when; :func:`forget_member` drops one person from it (``affinity forget``).

A schedule may carry a *pause*: for that long after a boundary, no ritual of the new cells fires
(:func:`in_pause`), a rest between one generation and the next.

Pure: ``now``, the pool and a seeded ``rng`` are passed in.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from protocols.groups import (
    ATTEMPTS,
    Group,
    GroupingError,
    Pair,
    cell_sizes,
    pairs_in,
    parse_cell_bounds,
)
from protocols.recurrence import (
    AfterGathering,
    Daily,
    NextGathering,
    Recurrence,
    RecurrenceError,
    next_occurrence,
    parse_recurrence,
)
from protocols.timespec import parse_duration

MAX_SWAP_PASSES = 12
MIN_PAUSE = timedelta(hours=1)
_RANGE = re.compile(r"^\d{1,3}-\d{1,3}$")


class ReshuffleError(GroupingError):
    """A reshuffle schedule cannot be used as typed; the message says what would work."""


# --- forming a generation -----------------------------------------------------------------


def remember(met: Counter[Pair], cells: Iterable[Iterable[str]]) -> Counter[Pair]:
    """The memory of meetings after a generation: each pair that shared a cell counts once more."""
    updated = Counter(met)
    updated.update(pairs_in(cells))
    return updated


def forget_member(met: Counter[Pair], member: str) -> Counter[Pair]:
    """The memory without any pair that includes ``member``."""
    return Counter({pair: n for pair, n in met.items() if member not in pair})


def repeated_meetings(cells: Iterable[Iterable[str]], met: Counter[Pair]) -> int:
    """How many pairs in ``cells`` met before (each pair once, however often it met)."""
    return sum(1 for pair in pairs_in(cells) if met[pair] > 0)


def form_cells(
    members: Iterable[str],
    rng: random.Random,
    min_size: int,
    max_size: int,
    met: Counter[Pair],
    attempts: int = ATTEMPTS,
) -> tuple[Group, ...]:
    """A new generation of cells of ``min_size``..``max_size`` from the pool, keeping apart the
    pairs in ``met`` (heavier pairs first: two who met twice are kept apart before two who met
    once). Raises :class:`protocols.groups.GroupingError` when the sizes cannot be met."""
    pool = sorted(set(members))
    sizes = cell_sizes(len(pool), min_size, max_size)
    # People as indices and the memory as a weight matrix: the swaps below evaluate thousands
    # of exchanges, and integer lookups keep a generation of 30 well under a tenth of a second.
    index = {member: i for i, member in enumerate(pool)}
    weight = [[0] * len(pool) for _ in pool]
    for pair, n in met.items():
        if n > 0 and pair <= index.keys():
            a, b = (index[m] for m in pair)
            weight[a][b] = weight[b][a] = n
    best: list[list[int]] | None = None
    best_score = math.inf
    for _ in range(max(1, attempts)):
        cells = _greedy(len(pool), sizes, rng, weight)
        score = _swap(cells, weight)
        if score < best_score:
            best, best_score = cells, score
        if best_score == 0:
            break
    assert best is not None
    return tuple(sorted(tuple(sorted(pool[i] for i in cell)) for cell in best))


def _greedy(n: int, sizes: Sequence[int], rng: random.Random, weight: list[list[int]]) -> list[list[int]]:
    """Most constrained first, each into the open cell where they meet the fewest again."""
    order = list(range(n))
    rng.shuffle(order)
    order.sort(key=lambda m: -sum(weight[m]))  # stable: the shuffle breaks the ties
    cells: list[list[int]] = [[] for _ in sizes]
    cell_order = list(range(len(sizes)))
    for member in order:
        rng.shuffle(cell_order)
        row = weight[member]
        # Fewest repeats first; then the emptiest, so the less constrained people placed last
        # still find room where they meet nobody again.
        chosen = min(
            (i for i in cell_order if len(cells[i]) < sizes[i]),
            key=lambda i: (sum(row[o] for o in cells[i]), len(cells[i]) - sizes[i]),
        )
        cells[chosen].append(member)
    return cells


def _swap(cells: list[list[int]], weight: list[list[int]]) -> int:
    """Exchange two people between cells while that lowers the repeats (in place); returns the
    repeat score of the result (as :func:`protocols.groups.repeat_score` counts it)."""
    n = len(weight)
    # cost[m][c]: how many earlier meetings m has with the people of cell c.
    cost = [[sum(weight[m][o] for o in cell) for cell in cells] for m in range(n)]
    for _ in range(MAX_SWAP_PASSES):
        improved = False
        for ci in range(len(cells)):
            for cj in range(ci + 1, len(cells)):
                first, second = cells[ci], cells[cj]
                for ai in range(len(first)):
                    for bi in range(len(second)):
                        a, b = first[ai], second[bi]
                        w = weight[a][b]
                        delta = (cost[a][cj] - w + cost[b][ci] - w) - (cost[a][ci] + cost[b][cj])
                        if delta < 0:
                            first[ai], second[bi] = b, a
                            for m in range(n):
                                moved = weight[m][a] - weight[m][b]
                                cost[m][ci] -= moved
                                cost[m][cj] += moved
                            improved = True
        if not improved:
            break
    return sum(cost[m][c] for c, cell in enumerate(cells) for m in cell) // 2


# --- the schedule -------------------------------------------------------------------------


@dataclass(frozen=True)
class CellsSchedule:
    """``!cells every <recurrence> <min>-<max> [rooms] [pause <duration>]``."""

    recurrence: Recurrence
    min_size: int
    max_size: int
    rooms: bool = False
    pause: timedelta | None = None


def parse_cells_schedule(
    text: str, zone: ZoneInfo, now: datetime, short_units: bool = False
) -> CellsSchedule:
    """``"every 4 weeks on monday at 18:00 5-7 rooms pause 1w"`` -> a :class:`CellsSchedule`.

    The recurrence comes first (see :mod:`protocols.recurrence`), then the size range, then the
    options. Reshuffles are at most weekly and on dates: a cell needs time to become one
    (``short_units``, for tests and demos only, also reads ``every 30 seconds``).
    """
    words = text.split()
    at = next((i for i, w in enumerate(words) if _RANGE.match(w)), None)
    if at is None:
        raise ReshuffleError(
            "Give the cell sizes after the recurrence, like !cells every 4 weeks on monday 5-7."
        )
    recurrence = parse_recurrence(" ".join(words[:at]), zone, now, short_units)
    if isinstance(recurrence.pattern, AfterGathering):
        raise RecurrenceError(
            "Cells reshuffle on dates, not after each gathering: say how often, like every 4 weeks on monday."
        )
    if isinstance(recurrence.pattern, Daily) and recurrence.pattern.interval < 7:
        raise RecurrenceError(
            "Reshuffling more often than weekly leaves no time for a cell to form: try every "
            "4 weeks on monday."
        )
    low, high = parse_cell_bounds(words[at])
    rooms = False
    pause: timedelta | None = None
    rest = [w.lower() for w in words[at + 1 :]]
    while rest:
        word = rest.pop(0)
        if word == "rooms" and not rooms:
            rooms = True
        elif word == "pause" and pause is None:
            if not rest:
                raise ReshuffleError("'pause' needs a duration, like pause 1w.")
            pause = parse_duration(rest.pop(0))
            if pause < MIN_PAUSE:
                raise ReshuffleError("A pause shorter than an hour is no pause: try pause 1d.")
        else:
            raise ReshuffleError(
                "'{word}' is not an option here: after the sizes come 'rooms' and "
                "'pause <duration>', each at most once.",
                word=word,
            )
    return CellsSchedule(recurrence, low, high, rooms, pause)


def next_boundary(
    schedule: CellsSchedule, after: datetime, next_gathering: NextGathering | None = None
) -> datetime | None:
    """When the next generation forms (None: the schedule has ended)."""
    return next_occurrence(schedule.recurrence, after, next_gathering)


def in_pause(schedule: CellsSchedule, boundary: datetime | None, now: datetime) -> bool:
    """Whether the cells formed at ``boundary`` are still resting: no ritual of theirs fires."""
    if schedule.pause is None or boundary is None:
        return False
    return boundary <= now < boundary + schedule.pause


@dataclass(frozen=True)
class Boundary:
    """What changes at a boundary: the cells to ``close`` (a closing note, then the bot leaves
    their rooms and forgets what served only them), the cells to ``open``, and the memory of
    meetings to keep for the next boundary."""

    generation: int
    close: tuple[Group, ...]
    open: tuple[Group, ...]
    met: Counter[Pair]


def plan_boundary(
    generation: int,
    previous: Sequence[Group],
    members: Iterable[str],
    rng: random.Random,
    schedule: CellsSchedule,
    met: Counter[Pair],
) -> Boundary:
    """The plan for a boundary: the ``previous`` cells close, and the new generation is formed
    away from every pair in ``met`` (the memory the last boundary returned, which already holds
    the previous cells; cells formed before the schedule began are added with :func:`remember`
    once, when it starts). Store the returned ``met`` with the new cells."""
    cells = form_cells(members, rng, schedule.min_size, schedule.max_size, met)
    return Boundary(generation, tuple(previous), cells, remember(met, cells))
