"""The herald's own converters: a room it must find, and ``!event add``'s grammar (a title, a
time and maybe a place, in words the router cannot split), kept in its pure parser
(``protocols.herald.events.parse_event_add``) and run once the room's zone is known."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from bots.runtime.commands import CommandContext
from bots.runtime.converters import ArgumentError, Converter, Deferred
from bots.runtime.errors import MatrixError, UserError
from bots.runtime.ids import RoomID
from protocols.herald import EventDraft, parse_event_add


@dataclass(frozen=True)
class PendingRoom(Deferred):
    ref: str

    async def resolve(self, ctx: CommandContext) -> RoomID:
        try:
            return await ctx.host.resolve_room(self.ref)
        except MatrixError:
            raise UserError(
                "The bot cannot find that room: use #alias:server, a room id or a matrix.to link."
            ) from None


def _room(text: str) -> PendingRoom:
    if not (text.startswith(("#", "!", "https://matrix.to/#/")) and ":" in text):
        raise ArgumentError(f"'{text}' is not a room: use #alias:server, a room id or a matrix.to link")
    return PendingRoom(text)


@dataclass(frozen=True)
class PendingEvent(Deferred):
    """The words after ``!event add`` as typed, parsed in the room's zone at the command's time."""

    words: str

    async def resolve(self, ctx: CommandContext) -> EventDraft:
        parts = ctx.body.split(maxsplit=2)
        text = parts[2] if len(parts) > 2 else self.words
        return parse_event_add(text, await ctx.host.settings.zone(ctx.room_id), ctx.now)


def _event(text: str) -> PendingEvent:
    return PendingEvent(text)


# A room the homeserver must find (an alias it cannot resolve is a clear refusal).
KnownRoom = Annotated[RoomID, Converter(_room, "word", "room")]
# ``<title> at <YYYY-MM-DD HH:MM> [zone] [where <place>]``.
EventSpec = Annotated[EventDraft, Converter(_event, "words", "title> at <when> [where <place>]")]
