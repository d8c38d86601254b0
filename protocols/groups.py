"""Chance groupings: speaking order, check-in triads, and affinity cells.

"A dice roll or shuffled playlist that determines who speaks next can interrupt social capital
from dictating airtime." "Small triads that meet regularly to discuss emotional and strategic
tensions." "Limit groups to five to seven participants." (seed)

Triads and cells try to bring together people who did not just meet: among several shuffles,
each improved by swapping members between groups, the grouping with the fewest repeated pairs
(pairs who shared a group last time, counted as often as they did) wins. Ties go to the earliest
shuffle, so the result depends only on the pool and the ``random.Random`` passed in.

Pure: the caller passes the pool (see :func:`protocols.lottery.pool`) and a seeded ``rng``.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from protocols.errors import RuleError

ATTEMPTS = 24
MAX_SWAP_PASSES = 8
DEFAULT_CELL_MIN = 5
DEFAULT_CELL_MAX = 7
MAX_CELL_SIZE = 50
# Cell rooms are real rooms with real invitations: a bounded number per command and per day, so a
# command in a large room, or one repeated, cannot make the bot create rooms and send invites
# without end (each is work for the homeserver and an invitation in someone's list).
MAX_CELL_ROOMS_PER_COMMAND = 12
MAX_CELL_ROOMS_PER_DAY = 24

Pair = frozenset[str]
Group = tuple[str, ...]


class GroupingError(RuleError):
    """A grouping cannot be made as asked; the message says what would work."""


def _distinct(members: Iterable[str]) -> list[str]:
    # Sorted first, so the result depends on the rng alone, not on the order members arrive in.
    return sorted(set(members))


# --- speaking order ------------------------------------------------------------------------


def speaking_order(members: Iterable[str], rng: random.Random) -> list[str]:
    """Everyone in the pool once, in a random order."""
    order = _distinct(members)
    if not order:
        raise GroupingError("Nobody is in the pool: someone can rejoin with !stepin.")
    rng.shuffle(order)
    return order


# --- repeated pairs ------------------------------------------------------------------------


def pairs_in(groups: Iterable[Iterable[str]]) -> Counter[Pair]:
    """How often each pair of people shared a group in ``groups`` (e.g. earlier groupings)."""
    counts: Counter[Pair] = Counter()
    for group in groups:
        members = sorted(set(group))
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                counts[frozenset((a, b))] += 1
    return counts


def repeat_score(groups: Iterable[Iterable[str]], previous: Counter[Pair]) -> int:
    """How many earlier meetings the grouping repeats (0: nobody meets anyone again)."""
    return sum(previous[pair] * n for pair, n in pairs_in(groups).items())


def _cost(member: str, group: Iterable[str], previous: Counter[Pair]) -> int:
    return sum(previous[frozenset((member, other))] for other in group if other != member)


def _improve(groups: list[list[str]], previous: Counter[Pair]) -> None:
    """Swap members between groups while a swap lowers the repeat score (in place)."""
    for _ in range(MAX_SWAP_PASSES):
        improved = False
        for gi, first in enumerate(groups):
            for gj in range(gi + 1, len(groups)):
                second = groups[gj]
                for ai, a in enumerate(first):
                    cost_a = _cost(a, first, previous)
                    if cost_a == 0:
                        continue  # moving someone with no repeats cannot help them
                    for bi, b in enumerate(second):
                        old = cost_a + _cost(b, second, previous)
                        new = _cost(a, (m for m in second if m != b), previous) + _cost(
                            b, (m for m in first if m != a), previous
                        )
                        if new < old:
                            first[ai], second[bi] = b, a
                            a, cost_a = b, _cost(b, first, previous)
                            improved = True
                            if cost_a == 0:
                                break
        if not improved:
            return


def _arrange(
    members: list[str],
    sizes: Sequence[int],
    rng: random.Random,
    previous: Counter[Pair],
    attempts: int,
) -> list[Group]:
    best: list[list[str]] | None = None
    best_score = math.inf
    for _ in range(max(1, attempts)):
        order = list(members)
        rng.shuffle(order)
        groups: list[list[str]] = []
        start = 0
        for size in sizes:
            groups.append(order[start : start + size])
            start += size
        if previous:
            _improve(groups, previous)
        score = repeat_score(groups, previous)
        if score < best_score:
            best, best_score = groups, score
        if best_score == 0:
            break
    assert best is not None
    return [tuple(sorted(g)) for g in best]


# --- triads --------------------------------------------------------------------------------


def triad_sizes(n: int) -> list[int]:
    """Groups of three; one or two of four where the count needs it; five people stay one group."""
    if n < 3:
        if n == 1:
            raise GroupingError(
                "Triads need at least 3 people in the pool; there is 1. Meet as you are, or invite "
                "someone back with !stepin."
            )
        raise GroupingError(
            "Triads need at least 3 people in the pool; there are {n}. Meet as you are, or invite "
            "someone back with !stepin.",
            n=n,
        )
    if n == 5:
        return [5]
    fours = {0: 0, 1: 1, 2: 2}[n % 3]
    return [4] * fours + [3] * ((n - 4 * fours) // 3)


def triads(
    members: Iterable[str],
    rng: random.Random,
    previous_pairs: Iterable[Iterable[str]] = (),
    attempts: int = ATTEMPTS,
) -> list[Group]:
    """Check-in triads for the pool, avoiding pairs that met in earlier triads.

    ``previous_pairs``: pairs (two-member iterables) that met before; a pair listed twice
    weighs twice. :func:`pairs_in` turns earlier groupings into pairs.
    """
    pool = _distinct(members)
    sizes = triad_sizes(len(pool))
    previous: Counter[Pair] = Counter()
    for pair in previous_pairs:
        key = frozenset(pair)
        if len(key) == 2:
            previous[key] += 1
    return _arrange(pool, sizes, rng, previous, attempts)


# --- cells ---------------------------------------------------------------------------------


def check_cell_bounds(min_size: int, max_size: int) -> None:
    if min_size < 2:
        raise GroupingError("A cell has at least 2 people: use bounds like !cells 5-7.")
    if min_size > max_size:
        raise GroupingError(
            "The smallest cell size ({low}) is larger than the largest ({high}): write the smaller "
            "first, like !cells {high}-{low}.",
            low=min_size,
            high=max_size,
        )
    if max_size > MAX_CELL_SIZE:
        raise GroupingError(
            "Cells of more than {most} are not affinity cells: try !cells 5-7.", most=MAX_CELL_SIZE
        )


def parse_cell_bounds(text: str) -> tuple[int, int]:
    """``"5-7"`` -> (5, 7); checked with :func:`check_cell_bounds`."""
    match = re.fullmatch(r"\s*(\d{1,3})\s*-\s*(\d{1,3})\s*", text)
    if not match:
        raise GroupingError("'{text}' is not a size range: write it like 5-7.", text=text)
    low, high = int(match.group(1)), int(match.group(2))
    check_cell_bounds(low, high)
    return low, high


def check_cell_rooms(wanted: int, made_last_day: int) -> None:
    """Refuse to create ``wanted`` cell rooms beyond the caps (per command, per room per day).

    ``made_last_day``: cell rooms this room had made in the last 24 hours.
    """
    if wanted > MAX_CELL_ROOMS_PER_COMMAND:
        raise GroupingError(
            "That makes {wanted} cells, and I create at most {most} cell "
            "rooms for one !cells. Use larger cells (like !cells 10-12 rooms), or post the cells "
            "without rooms (!cells 5-7). Nothing was created.",
            wanted=wanted,
            most=MAX_CELL_ROOMS_PER_COMMAND,
        )
    if made_last_day + wanted > MAX_CELL_ROOMS_PER_DAY:
        left = max(0, MAX_CELL_ROOMS_PER_DAY - made_last_day)
        raise GroupingError(
            "This room has had {made} cell rooms made in the last 24 hours, and I make "
            "at most {most} a day for one room ({left} more now, {wanted} "
            "asked). Try again later, or post the cells without rooms. Nothing was created.",
            made=made_last_day,
            most=MAX_CELL_ROOMS_PER_DAY,
            left=left,
            wanted=wanted,
        )


def cells_feasible(n: int, min_size: int, max_size: int) -> bool:
    """Whether n people split into cells all within [min_size, max_size].

    The fewest cells that can hold n is ceil(n / max); more cells only need more people, fewer
    cannot hold everyone, so that count decides.
    """
    if n < 1:
        return False
    return math.ceil(n / max_size) * min_size <= n


def cell_sizes(n: int, min_size: int, max_size: int) -> list[int]:
    """As few cells as fit, as even as possible (sizes differ by at most one)."""
    check_cell_bounds(min_size, max_size)
    if not cells_feasible(n, min_size, max_size):
        raise GroupingError(_infeasible_message(n, min_size, max_size))
    count = math.ceil(n / max_size)
    base, extra = divmod(n, count)
    return [base + 1] * extra + [base] * (count - extra)


def _infeasible_message(n: int, low: int, high: int) -> str:
    people = "1 person" if n == 1 else f"{n} people"
    if n < 2:
        return f"There is {people} in the pool: nothing to split."
    if n < low:
        return f"{people} are too few for cells of {low}-{high}: stay together as one cell of {n}."
    count = math.ceil(n / high)
    options = [f"!cells {n // count}-{high} ({count} cells)"] if n // count >= 2 else []
    if count > 1 and math.ceil(n / (count - 1)) <= MAX_CELL_SIZE:
        fewer = count - 1
        options.append(f"!cells {low}-{math.ceil(n / fewer)} ({fewer} cell{'s' if fewer > 1 else ''})")
    return f"{people} cannot be split into cells of {low}-{high}. Try " + " or ".join(options) + "."


def cells(
    members: Iterable[str],
    rng: random.Random,
    min_size: int = DEFAULT_CELL_MIN,
    max_size: int = DEFAULT_CELL_MAX,
    previous_cells: Iterable[Iterable[str]] = (),
    attempts: int = ATTEMPTS,
) -> list[Group]:
    """Split the pool into cells of min_size..max_size, away from earlier co-members.

    ``previous_cells``: earlier cells (groups of members); people who shared one are kept
    apart as far as the sizes allow.
    """
    pool = _distinct(members)
    sizes = cell_sizes(len(pool), min_size, max_size)
    return _arrange(pool, sizes, rng, pairs_in(previous_cells), attempts)
