"""What a feature plugs into the runtime. The runtime names no feature; features register here."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from bots.runtime.ids import EventID, RoomID
from bots.runtime.router import Router

if TYPE_CHECKING:
    from bots.runtime.bot import BotRuntime
    from bots.runtime.context import Context


class Feature:
    """Base class: override what the feature needs. One instance per bot."""

    name = "feature"
    router: Router | None = None

    def __init__(self, bot: BotRuntime) -> None:
        self.bot = bot

    async def start(self) -> None:
        """Rebuild scheduled jobs from the feature's tables (called once the bot is ready)."""

    async def on_message(self, ctx: Context) -> bool:
        """A message that is not a command (a DM conversation, a reply). True if consumed."""
        return False

    async def on_reaction(self, ctx: Context, target: EventID, key: str) -> None:
        """Someone reacted to an event in a room the bot is in."""

    async def on_event(self, ctx: Context, event: dict[str, Any]) -> None:
        """Any event from an allowed sender in a room the bot is in (state, custom types, other
        bots' notices), after the runtime's checks; ``event`` is its source (decrypted)."""

    async def on_removed(self, room_id: RoomID) -> None:
        """The bot is out of a room (it left, or was kicked or banned): forget what served only
        that room. A room that wants the bot back invites it again and starts afresh."""

    async def sweep(self, now: datetime) -> None:
        """Delete what has outlived its retention (called by the sweeper)."""
