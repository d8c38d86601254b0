"""``!event add``, ``!events`` and ``!events ics``: the coalition calendar of local actions."""

from __future__ import annotations

from bots.herald.grammar import EventSpec
from bots.herald.protocols import ProtocolCommands
from bots.herald.render import events_listing
from bots.runtime.commands import CommandContext, command
from bots.runtime.errors import UserError
from bots.runtime.message import Message
from protocols.herald import CalendarEvent, events_to_ics
from protocols.herald.consent import MAX_EVENTS_PER_COALITION, MAX_EVENTS_PER_ROOM
from protocols.timespec import format_local
from storage.herald import Coalition


class CalendarCommands(ProtocolCommands):
    """The coalition calendar."""

    async def _calendar(self, coalition: Coalition, ctx: CommandContext) -> list[CalendarEvent]:
        stored = await self.events.list_for(coalition.name, since=ctx.now)
        return [
            CalendarEvent(e.coalition, e.room_id, e.title, e.starts_at, e.place, e.created_at) for e in stored
        ]

    @command("event add", help="List a local action in the coalition calendar (liaison)")
    async def event_add(self, ctx: CommandContext, event: EventSpec) -> None:
        coalition, member = await self.member_of(ctx)
        await self.require_liaison(ctx, member)
        stored = await self.events.add_within(
            coalition.name,
            ctx.room_id,
            event.title,
            event.starts_at,
            event.place,
            ctx.now,
            per_room=MAX_EVENTS_PER_ROOM,
            per_coalition=MAX_EVENTS_PER_COALITION,
        )
        if stored is None:
            raise UserError(
                f"The {coalition.name} calendar is full: a room lists at most {MAX_EVENTS_PER_ROOM} upcoming "
                f"events and a coalition at most {MAX_EVENTS_PER_COALITION}. Past events drop off on their own."
            )
        zone = await self.zone_of(ctx.room_id)
        where = f" at {event.place}" if event.place else ""
        await ctx.reply(
            Message.of(
                f"Listed in the {coalition.name} calendar: {event.title}, {format_local(event.starts_at, zone)}{where}."
            )
        )

    @command("events", help="Upcoming events from every room of the coalition")
    async def events_list(self, ctx: CommandContext) -> None:
        coalition, _ = await self.member_of(ctx)
        calendar = await self._calendar(coalition, ctx)
        await ctx.reply(events_listing(coalition.name, calendar, await self.zone_of(ctx.room_id)))

    @command("events ics", help="Upload the coalition calendar as an .ics file")
    async def events_ics(self, ctx: CommandContext) -> None:
        coalition, _ = await self.member_of(ctx)
        calendar = await self._calendar(coalition, ctx)
        data = events_to_ics(calendar, f"{coalition.name} coalition calendar")
        filename = f"{coalition.name}.ics"
        # Through the outbox: encrypted in an encrypted room, retried until it lands.
        await self.host.upload(
            ctx.room_id, data, filename, "text/calendar", ctx.key("ics"), reply_to=ctx.event_id
        )
        await ctx.reply(
            Message.of(f"{len(calendar)} upcoming events in {filename}: import it into any calendar app.")
        )
