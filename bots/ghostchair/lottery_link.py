"""The ghost chair's one way to the lottery: a gathering set up with ``draw`` opens the
lottery's draw of the room's roles and posts a speaking order at its start.

The lottery's public interface for this is :meth:`LotteryFeature.opening_draw` and
:meth:`LotteryFeature.speaking_order`; the host finds this bot's running lottery by its class
(:meth:`bots.runtime.host.Host.peer`), so the calls are typed and nothing is looked up by name.
"""

from __future__ import annotations

from bots.lottery.feature import LotteryFeature
from bots.runtime.host import Host


def find_lottery(host: Host) -> LotteryFeature | None:
    """This bot's lottery, if the bot runs one (the operator may run the ghost chair alone)."""
    return host.peer(LotteryFeature)
