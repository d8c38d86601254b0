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
from bots.runtime.i18n import Value, _, ngettext, when
from bots.runtime.i18n_join import concat
from bots.runtime.message import Inline, Message, Span, code
from protocols.calendar_events import USAGE, check_reason, check_times
from protocols.calendar_feed import MEMBER_GROUP, FeedEvent, build_feed, zone_of
from protocols.calendar_page import upcoming

EventNumber = Annotated[int, Metavar("id")]


def new_uid() -> str:
    """A UID no one can derive from the event, the room or the bot (RFC 5545 3.8.4.7)."""
    return f"{secrets.token_hex(16)}@affinity"


def _line(event: FeedEvent, number: int | None, zone: ZoneInfo) -> Span:
    """An action as ``!events`` lists it, in the asking room's zone."""
    parts: list[Inline] = [f"#{number} " if number is not None else ""]
    if event.ends_at is not None:
        parts.append(
            _("{start} until {end}", start=when(event.starts_at, zone), end=when(event.ends_at, zone))
        )
    else:
        parts.append(when(event.starts_at, zone))
    parts.append(f": {event.title}")
    if event.place:
        parts.append(f" — {event.place}")
        if event.private:
            parts += [" ", _("(private: the public calendar says “place shared with participants”)")]
    if event.source is None:
        parts += [" (", _("a member group") if event.holder == MEMBER_GROUP else event.holder, ")"]
    else:
        parts += [" ", _("(from {source})", source=event.source)]
    return concat(*parts)


class EventCommands(CalendarBase):
    async def _own_event(self, ctx: CommandContext, coalition: str, number: int) -> StoredEvent:
        """Event ``number`` of the coalition, if it was listed from this room (only the room that
        listed an action changes it)."""
        event = await self.events.get(coalition, number)
        if event is None or event.room_id != ctx.room_id:
            raise UserError(
                _(
                    "This room listed no event #{number} in the {coalition} calendar; !events lists them.",
                    number=str(number),
                    coalition=coalition,
                )
            )
        if event.cancelled_at is not None:
            raise UserError(_("Event #{number} is cancelled already.", number=str(number)))
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
                _(
                    "The {coalition} calendar is full: a room lists at most {per_room} upcoming events and "
                    "a coalition at most {per_coalition}. Past events drop off on their own.",
                    coalition=seat.coalition,
                    per_room=self.config.max_events_per_room,
                    per_coalition=self.config.max_events_per_coalition,
                )
            )
        self.changed(seat.coalition)
        zone = zone_of(event.zone)
        values: dict[str, Value] = {
            "coalition": seat.coalition,
            "number": code(f"#{number}"),
            "title": event.title,
            "when": when(event.starts_at, zone),
        }
        listed = (
            _(
                "Listed in the {coalition} calendar as {number}: {title}, {when} at {place}.",
                place=event.place,
                **values,
            )
            if event.place
            else _("Listed in the {coalition} calendar as {number}: {title}, {when}.", **values)
        )
        said: list[Inline] = [listed]
        if event.private:
            said += [
                " ",
                _("The public calendar says “{private}”.", private=_("Place shared with participants")),
            ]
        said += [
            " ",
            _(
                "Change it with !event edit {number} <field> <value>, or !event cancel {number}.",
                number=str(number),
            ),
        ]
        await ctx.reply(Message.of(*said))

    @command("event edit", help="Change an action this room listed (liaison)", where="room")
    async def event_edit(self, ctx: CommandContext, edit: EditSpec) -> None:
        seat = await self.liaison_seat(ctx)
        event = await self._own_event(ctx, seat.coalition, edit.event_id)
        changes = self._changes(event, edit.field, edit.value, ctx.now)
        await self.events.update(event, changes, ctx.now)
        self.changed(seat.coalition)
        await ctx.reply(
            Message.of(
                _(
                    "Event #{number} changed ({field}); calendars subscribed to the feed update on their next look.",
                    number=str(event.id),
                    field=edit.field,
                )
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
                raise UserError(_("Give the event a place first (!event edit <id> where <place>)."))
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
                _(
                    "Event #{number} ({title}) is cancelled. It stays in the feed marked cancelled, so "
                    "subscribed calendars remove it; the page no longer lists it.",
                    number=str(stored.id),
                    title=stored.title,
                )
            )
        )

    @command("events", help="Upcoming actions in the coalition's calendar", where="room")
    async def events_list(self, ctx: CommandContext) -> None:
        seat = await self.member_seat(ctx)
        own = {e.uid: e.id for e in await self.events.list_for(seat.coalition)}
        coming = upcoming(await self.feed_events(seat.coalition, ctx.now), ctx.now)
        if not coming:
            await ctx.reply(
                Message.of(
                    _(
                        "No upcoming actions in the {coalition} calendar. Add one: {usage}",
                        coalition=seat.coalition,
                        usage=USAGE,
                    )
                )
            )
            return
        zone = await self.host.settings.zone(ctx.room_id)
        await ctx.reply(
            Message.of(
                _("Upcoming in the {coalition} calendar ({n}):", coalition=seat.coalition, n=len(coming))
            ).bullets([_line(e, own.get(e.uid), zone) for e in coming[:50]])
        )

    @command("events ics", help="Upload the coalition calendar as an .ics file", where="room")
    async def events_ics(self, ctx: CommandContext) -> None:
        seat = await self.member_seat(ctx)
        events = await self.feed_events(seat.coalition, ctx.now)
        filename = f"{seat.coalition}.ics"
        # Through the outbox: encrypted in an encrypted room, retried until it lands.
        await self.host.upload(
            ctx.room_id,
            build_feed(seat.coalition, events, self.config.refresh, words=self.words()),
            filename,
            "text/calendar",
            ctx.key("ics"),
            reply_to=ctx.event_id,
        )
        coming = len(upcoming(events, ctx.now))
        await ctx.reply(
            Message.of(
                ngettext(
                    "{n} upcoming event in {file}: import it into any calendar app, or subscribe to the "
                    "public feed (!calendar link in a coordination room) to stay up to date.",
                    "{n} upcoming events in {file}: import it into any calendar app, or subscribe to the "
                    "public feed (!calendar link in a coordination room) to stay up to date.",
                    coming,
                    file=filename,
                )
            )
        )
