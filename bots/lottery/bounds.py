"""The lottery's limits said in the room's language: a mandate's term and the commitment
window out of their bounds, and a pool that cannot be split into cells of the sizes asked.

The rules (protocols/lottery_room.py, protocols/groups.py) decide; these sentences say their
refusals with the lengths in words and the plural forms of the language. English reads as the
rules' own sentences."""

from __future__ import annotations

import math
from datetime import timedelta

from bots.runtime.errors import UserError
from bots.runtime.i18n import _, duration, ngettext
from bots.runtime.i18n_join import joined
from bots.runtime.message import Inline
from protocols.groups import MAX_CELL_SIZE, cells_feasible
from protocols.lottery_room import MAX_TERM, MAX_WINDOW, MIN_TERM, MIN_WINDOW, check_term, check_window


def term(length: timedelta) -> timedelta:
    """``!roles term``: a mandate's length within its bounds, else refused (nothing changed)."""
    if not MIN_TERM <= length <= MAX_TERM:
        raise UserError(
            _(
                "A mandate lasts between {low} and {high}: short terms keep roles rotating.",
                low=duration(MIN_TERM),
                high=duration(MAX_TERM),
            )
        )
    return check_term(length)


def window(length: timedelta) -> timedelta:
    """``!roles window``: the commitment window within its bounds, else refused."""
    if not MIN_WINDOW <= length <= MAX_WINDOW:
        raise UserError(
            _(
                "The window for adding chance lasts between {low} and {high}.",
                low=duration(MIN_WINDOW),
                high=duration(MAX_WINDOW),
            )
        )
    return check_window(length)


def check_cells(n: int, low: int, high: int) -> None:
    """Refuse cells of ``low``-``high`` for a pool of ``n`` that they cannot split, suggesting
    the bounds that would (the rule, protocols/groups.py, would refuse it in English)."""
    if cells_feasible(n, low, high):
        return
    raise UserError(infeasible_cells(n, low, high))


def infeasible_cells(n: int, low: int, high: int) -> Inline:
    count = str(n)
    if n < 2:
        return ngettext(
            "There is {size} person in the pool: nothing to split.",
            "There is {size} people in the pool: nothing to split.",
            n,
            size=count,
        )
    if n < low:
        return ngettext(
            "{size} person is too few for cells of {low}-{high}: stay together as one cell of {size}.",
            "{size} people are too few for cells of {low}-{high}: stay together as one cell of {size}.",
            n,
            size=count,
            low=str(low),
            high=str(high),
        )
    cells = math.ceil(n / high)
    options: list[Inline] = []
    if n // cells >= 2:
        options.append(_option(f"!cells {n // cells}-{high}", cells))
    if cells > 1 and math.ceil(n / (cells - 1)) <= MAX_CELL_SIZE:
        options.append(_option(f"!cells {low}-{math.ceil(n / (cells - 1))}", cells - 1))
    return ngettext(
        "{size} person cannot be split into cells of {low}-{high}. Try {options}.",
        "{size} people cannot be split into cells of {low}-{high}. Try {options}.",
        n,
        size=count,
        low=str(low),
        high=str(high),
        options=joined(options, _(" or ")),
    )


def _option(command: str, cells: int) -> Inline:
    return ngettext(
        "{command} ({cells} cell)", "{command} ({cells} cells)", cells, command=command, cells=str(cells)
    )
