"""The herald's own converters: a room it must find. (``!event add``'s grammar moved with the
calendar to ``bots.calendar.grammar``.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from bots.runtime.commands import CommandContext
from bots.runtime.converters import ArgumentError, Converter, Deferred
from bots.runtime.errors import MatrixError, UserError
from bots.runtime.i18n import _
from bots.runtime.ids import RoomID


@dataclass(frozen=True)
class PendingRoom(Deferred):
    ref: str

    async def resolve(self, ctx: CommandContext) -> RoomID:
        try:
            return await ctx.host.resolve_room(self.ref)
        except MatrixError:
            raise UserError(
                _("The bot cannot find that room: use #alias:server, a room id or a matrix.to link.")
            ) from None


def _room(text: str) -> PendingRoom:
    if not (text.startswith(("#", "!", "https://matrix.to/#/")) and ":" in text):
        raise ArgumentError(
            _("'{text}' is not a room: use #alias:server, a room id or a matrix.to link", text=text)
        )
    return PendingRoom(text)


# A room the homeserver must find (an alias it cannot resolve is a clear refusal).
KnownRoom = Annotated[RoomID, Converter(_room, "word", "room")]
