"""Role lotteries on Matrix: verifiable draws, mandates that end on their own, chance groupings.

- :mod:`bots.lottery.feature`: the feature, its jobs (reveal, reminder, expiry, sunset) and the
  small API the ghost chair calls at a gathering's start (``open_draw``, ``post_order``);
- :mod:`bots.lottery.commands`: ``!roles``, ``!draw``, ``!verify``, ``!stepback``, ``!renew``,
  ``!order``, ``!triads``, ``!cells`` and the rest, declared once;
- :mod:`bots.lottery.render`: the messages.

The rules live in :mod:`protocols.lottery`, :mod:`protocols.mandates` and
:mod:`protocols.groups`; the state in :mod:`storage.lottery` and :mod:`storage.lottery_rooms`.
How anyone can recompute a draw offline is in ``docs/lottery-algorithm.md``.
"""

from __future__ import annotations

from bots.lottery.feature import LotteryFeature

__all__ = ["LotteryFeature"]
