"""The ghost chair's one way to the lottery: a gathering set up with ``draw`` opens the
lottery's draw of the room's roles and posts a speaking order at its start.

:class:`OpeningRituals` is all the ghost chair needs of the lottery, typed; :func:`find_lottery`
finds this bot's lottery. It is the one place that knows how.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bots.runtime.host import Host
from bots.runtime.ids import RoomID


@runtime_checkable
class OpeningRituals(Protocol):
    """What the ghost chair needs of the lottery."""

    async def open_draw(self, room_id: RoomID, key: str) -> str | None:
        """Start a draw of the room's vacant roles (its commitment now), or post a note."""

    async def post_order(self, room_id: RoomID, key: str) -> None:
        """Post a random speaking order."""


def find_lottery(host: Host) -> OpeningRituals | None:
    """This bot's lottery, if the bot runs one.

    Interim: the lottery is not on the feature contract yet, so it is found as today, among the
    running bot's features (helper L's typed interface replaces this).
    """
    bot = getattr(host, "_bot", None)
    found = bot.feature("lottery") if bot is not None else None
    return found if isinstance(found, OpeningRituals) else None
