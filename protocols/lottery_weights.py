"""The role lottery's fairness weights: who won a role recently is less likely to win it
again, never excluded (see :mod:`protocols.lottery`). Integers, so the arithmetic is exact in
every language. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

# Weight of a member for a role: WEIGHT_SCALE // (1 + k), k = wins of that role among its last
# RECENT_DRAWS draws. 2520 = lcm(1..10), so every weight for k <= 9 is an exact integer.
WEIGHT_SCALE = 2520
RECENT_DRAWS = 4


@dataclass(frozen=True)
class PastWin:
    """One line of draw history: ``holder`` won ``role`` at ``at``."""

    role: str
    holder: str
    at: datetime


def recent_wins(history: Iterable[PastWin], window: int = RECENT_DRAWS) -> dict[str, dict[str, int]]:
    """role -> member -> how many of that role's last ``window`` draws the member won."""
    by_role: dict[str, list[PastWin]] = {}
    for win in history:
        by_role.setdefault(win.role, []).append(win)
    out: dict[str, dict[str, int]] = {}
    for role, wins in by_role.items():
        latest = sorted(wins, key=lambda w: (w.at, w.holder), reverse=True)[:window]
        counts: dict[str, int] = {}
        for win in latest:
            counts[win.holder] = counts.get(win.holder, 0) + 1
        out[role] = counts
    return out


def weight(recent: int) -> int:
    """A member's weight for a role they won ``recent`` times among its last draws.

    0 -> 2520, 1 -> 1260, 2 -> 840, 3 -> 630, 4 -> 504: someone who just held a role is half as
    likely as a newcomer to get it again, never excluded (a small group must still fill it).
    """
    if recent < 0:
        raise ValueError("recent wins cannot be negative")
    return WEIGHT_SCALE // (1 + recent)
