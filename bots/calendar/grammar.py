"""The calendar's converters: ``!event add``'s and ``!event edit``'s words (a title, times and
a place in words the router cannot split), parsed by their pure parsers
(``protocols.calendar_events``) once the room's zone is known."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from bots.runtime.commands import CommandContext
from bots.runtime.converters import Converter, Deferred
from protocols.calendar_events import EventDraft, EventEdit, parse_event_add, parse_event_edit


def _as_typed(ctx: CommandContext, skip: int, words: str) -> str:
    """The words after the command's name as typed (quotes and spacing kept)."""
    parts = ctx.body.split(maxsplit=skip)
    return parts[skip] if len(parts) > skip else words


@dataclass(frozen=True)
class PendingEvent(Deferred):
    """The words after ``!event add``, parsed in the room's zone at the command's time."""

    words: str

    async def resolve(self, ctx: CommandContext) -> EventDraft:
        text = _as_typed(ctx, 2, self.words)
        return parse_event_add(text, await ctx.host.settings.zone(ctx.room_id), ctx.now)


@dataclass(frozen=True)
class PendingEdit(Deferred):
    """The words after ``!event edit``: ``<id> <field> <value>``, times in the room's zone."""

    words: str

    async def resolve(self, ctx: CommandContext) -> EventEdit:
        text = _as_typed(ctx, 2, self.words)
        return parse_event_edit(text, await ctx.host.settings.zone(ctx.room_id))


# ``<title> at <when> [until <when>] [where <place>] [private]``.
EventSpec = Annotated[
    EventDraft, Converter(PendingEvent, "words", "title> at <when> [until <when>] [where <place>] [private]")
]
# ``<id> <field> <value>``.
EditSpec = Annotated[EventEdit, Converter(PendingEdit, "words", "id> <title|at|until|where|private> <value>")]
