"""``!event add``, ``!event edit``, ``!event cancel`` and ``!events``: a coalition's actions."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from bots.calendar.base import CalendarBase
from bots.calendar.grammar import EditSpec, EventSpec
from bots.calendar.store import StoredEvent
from bots.runtime.commands import CommandContext, command
from bots.runtime.converters import Metavar, Text
from bots.runtime.errors import UserError
from bots.runtime.message import Message, code
from protocols.calendar_events import USAGE, check_reason, check_times
from protocols.calendar_feed import PRIVATE_PLACE, FeedEvent, build_feed, zone_of
from protocols.calendar_page import upcoming
from protocols.timespec import format_local

EventNumber = Annotated[int, Metavar("id")]


def new_uid() -> str:
    """A UID no one can derive from the event, the room or the bot (RFC 5545 3.8.4.7)."""
    return f"{secrets.token_hex(16)}@affinity"


def _line(event: FeedEvent, number: int | None, zone: ZoneInfo) -> str:
    """An action as ``!events`` lists it, in the asking room's zone."""
    when = format_local(event.starts_at, zone)
    if event.ends_at is not None:
        when += f" until {format_local(event.ends_at, zone)}"
    where = f" — {event.place}" if event.place else ""
    if event.private and event.place:
        where += " (private: the public calendar says “place shared with participants”)"
    who = f" ({event.holder})" if event.source is None else f" (from {event.source})"
    prefix = f"#{number} " if number is not None else ""
    return f"{prefix}{when}: {event.title}{where}{who}"


class EventCommands(CalendarBase):
    async def _own_event(self, ctx: CommandContext, coalition: str, number: int) -> StoredEvent:
        """Event ``number`` of the coalition, if it was listed from this room (only the room that
        listed an action changes it)."""
        event = await self.events.get(coalition, number)
        if event is None or event.room_id != ctx.room_id:
            raise UserError(
                f"This room listed no event #{number} in the {coalition} calendar; !events lists them."
            )
        if event.cancelled_at is not None:
            raise UserError(f"Event #{number} is cancelled already.")
        return event

    @command("event add", help="List an action in the coalition's public calendar (liaison)", where="room")
    async def event_add(self, ctx: CommandContext, event: EventSpec) -> None:
        seat = await self.liaison_seat(ctx)
        fields = {
            "title": event.title,
            "starts_at": event.starts_at,
            "ends_at": event.ends_at,
            "zone": event.zone,
            "place": event.place,
            "private": event.private,
        }
        number = await self.events.add_within(
            seat.coalition,
            ctx.room_id,
            new_uid(),
            fields,
            ctx.now,
            per_room=self.config.max_events_per_room,
            per_coalition=self.config.max_events_per_coalition,
        )
        if number is None:
            raise UserError(
                f"The {seat.coalition} calendar is full: a room lists at most {self.config.max_events_per_room} "
                f"upcoming events and a coalition at most {self.config.max_events_per_coalition}. "
                "Past events drop off on their own."
            )
        self.changed(seat.coalition)
        zone = zone_of(event.zone)
        where = f" at {event.place}" if event.place else ""
        private = f" The public calendar says “{PRIVATE_PLACE}”." if event.private else ""
        await ctx.reply(
            Message.of(
                f"Listed in the {seat.coalition} calendar as ",
                code(f"#{number}"),
                f": {event.title}, {format_local(event.starts_at, zone)}{where}.{private} "
                f"Change it with !event edit {number} <field> <value>, or !event cancel {number}.",
            )
        )

    @command("event edit", help="Change an action this room listed (liaison)", where="room")
    async def event_edit(self, ctx: CommandContext, edit: EditSpec) -> None:
        seat = await self.liaison_seat(ctx)
        event = await self._own_event(ctx, seat.coalition, edit.event_id)
        changes = self._changes(event, edit.field, edit.value, ctx.now)
        await self.events.update(event, changes, ctx.now)
        self.changed(seat.coalition)
        await ctx.reply(
            Message.of(
                f"Event #{event.id} changed ({edit.field}); calendars subscribed to the feed update on their next look."
            )
        )

    def _changes(self, event: StoredEvent, field: str, value: object, now: datetime) -> dict[str, Any]:
        zone = zone_of(event.zone)
        if field == "title":
            return {"title": value}
        if field == "where":
            if value is None and event.private:
                return {"place": None, "private": False}
            return {"place": value}
        if field == "private":
            if value and event.place is None:
                raise UserError("Give the event a place first (!event edit <id> where <place>).")
            return {"private": value}
        if field == "until":
            assert value is None or isinstance(value, datetime)
            check_times(event.starts_at, value, zone, now)
            return {"ends_at": value}
        assert isinstance(value, datetime)  # "at": the start moves, and the end with it
        ends = event.ends_at + (value - event.starts_at) if event.ends_at is not None else None
        check_times(value, ends, zone, now)
        return {"starts_at": value, "ends_at": ends}

    @command("event cancel", help="Cancel an action this room listed (liaison)", where="room")
    async def event_cancel(self, ctx: CommandContext, event: EventNumber, reason: Text | None = None) -> None:
        seat = await self.liaison_seat(ctx)
        why = check_reason(reason)
        stored = await self._own_event(ctx, seat.coalition, event)
        await self.events.update(stored, {"cancelled_at": ctx.now, "cancel_reason": why}, ctx.now)
        self.changed(seat.coalition)
        await ctx.reply(
            Message.of(
                f"Event #{stored.id} ({stored.title}) is cancelled. It stays in the feed marked cancelled, so "
                "subscribed calendars remove it; the page no longer lists it."
            )
        )

    @command("events", help="Upcoming actions in the coalition's calendar", where="room")
    async def events_list(self, ctx: CommandContext) -> None:
        seat = await self.member_seat(ctx)
        own = {e.uid: e.id for e in await self.events.list_for(seat.coalition)}
        coming = upcoming(await self.feed_events(seat.coalition, ctx.now), ctx.now)
        if not coming:
            await ctx.reply(
                Message.of(f"No upcoming actions in the {seat.coalition} calendar. Add one: {USAGE}")
            )
            return
        zone = await self.host.settings.zone(ctx.room_id)
        await ctx.reply(
            Message.of(f"Upcoming in the {seat.coalition} calendar ({len(coming)}):").bullets(
                [_line(e, own.get(e.uid), zone) for e in coming[:50]]
            )
        )

    @command("events ics", help="Upload the coalition calendar as an .ics file", where="room")
    async def events_ics(self, ctx: CommandContext) -> None:
        seat = await self.member_seat(ctx)
        events = await self.feed_events(seat.coalition, ctx.now)
        filename = f"{seat.coalition}.ics"
        # Through the outbox: encrypted in an encrypted room, retried until it lands.
        await self.host.upload(
            ctx.room_id,
            build_feed(seat.coalition, events, self.config.refresh),
            filename,
            "text/calendar",
            ctx.key("ics"),
            reply_to=ctx.event_id,
        )
        coming = len(upcoming(events, ctx.now))
        await ctx.reply(
            Message.of(
                f"{coming} upcoming events in {filename}: import it into any calendar app, "
                "or subscribe to the public feed (!calendar link in a coordination room) to stay up to date."
            )
        )
