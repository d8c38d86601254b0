"""What every part of the calendar shares: its repositories, the coalition facts it reads from
the herald, and the public view of a coalition's calendar (its feed events)."""

from __future__ import annotations

import logging
from datetime import datetime

from bots.calendar.config import CalendarConfig
from bots.calendar.store import (
    CalendarEvents,
    CalendarFollows,
    CalendarPublishing,
    CalendarRooms,
    StoredEvent,
)
from bots.herald.feature import CoalitionSeat, HeraldFeature
from bots.runtime.commands import CommandContext
from bots.runtime.contract import ContractFeature
from bots.runtime.errors import MatrixError, PermissionDenied, UserError
from bots.runtime.host import Host
from bots.runtime.i18n import _, rendering
from bots.runtime.ids import RoomID
from protocols.calendar_events import names_nobody
from protocols.calendar_feed import MEMBER_GROUP, FeedError, FeedEvent, FeedWords, parse_followed

log = logging.getLogger("bots.calendar")

NOT_IN_COALITION = _(
    "This room is not in a coalition, and the calendar is a coalition's. A coalition's coordination "
    "room invites a room (!coalition invite); a moderator here then types !coalition join <token>."
)


def feed_event(event: StoredEvent, holder: str) -> FeedEvent:
    return FeedEvent(
        uid=event.uid,
        title=event.title,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        zone=event.zone,
        place=event.place,
        private=event.private,
        sequence=event.sequence,
        created_at=event.created_at,
        modified_at=event.modified_at,
        cancelled=event.cancelled_at is not None,
        reason=event.reason,
        holder=holder,
    )


class CalendarBase(ContractFeature[CalendarConfig]):
    """The calendar's repositories and shared questions; every table is scoped to this bot."""

    def __init__(self, host: Host, config: CalendarConfig) -> None:
        super().__init__(host, config)
        self.events = CalendarEvents(host.db, host.user_id)
        self.publishing = CalendarPublishing(host.db, host.user_id)
        self.follows = CalendarFollows(host.db, host.user_id)
        self.rooms = CalendarRooms(host.db, host.user_id)
        # Bumped on every change of a coalition's calendar: the listener rebuilds on a new one.
        self.versions: dict[str, int] = {}
        self._words: FeedWords | None = None

    def words(self) -> FeedWords:
        """The words the feed and the page write themselves, in ``features.calendar.language``
        (whatever language the room that asked speaks: the calendar is the coalition's)."""
        if self._words is None:
            with rendering(self.config.language):
                self._words = FeedWords(
                    # Each placeholder is given as itself: the protocol fills it per event.
                    calendar=_("{name} coalition calendar", name="{name}").plain(),
                    held=_("Held by {holder}.", holder="{holder}").plain(),
                    listed=_("Listed by {source}.", source="{source}").plain(),
                    cancelled=_("Cancelled.").plain(),
                    cancelled_because=_("Cancelled: {reason}", reason="{reason}").plain(),
                    private_place=_("Place shared with participants").plain(),
                    member_group=_("a member group").plain(),
                )
        return self._words

    def changed(self, coalition: str) -> None:
        self.versions[coalition] = self.versions.get(coalition, 0) + 1

    # -- coalition facts, from the herald ------------------------------------------------------

    def _herald(self) -> HeraldFeature:
        herald = self.host.peer(HeraldFeature)
        if herald is None:
            raise UserError(
                _("The calendar is a coalition's, and this bot runs no herald (features: [herald]).")
            )
        return herald

    async def seat(self, room_id: str, user_id: str = "") -> CoalitionSeat | None:
        """The coalition ``room_id`` is in, as the herald says (None: none, or no herald)."""
        herald = self.host.peer(HeraldFeature)
        return await herald.coalition_seat(room_id, user_id) if herald is not None else None

    async def member_seat(self, ctx: CommandContext) -> CoalitionSeat:
        self._herald()
        found = await self.seat(ctx.room_id, ctx.sender)
        if found is None:
            raise UserError(NOT_IN_COALITION)
        return found

    async def liaison_seat(self, ctx: CommandContext) -> CoalitionSeat:
        """The room's coalition, if the sender is its liaison or a moderator here."""
        seat = await self.member_seat(ctx)
        if not seat.liaison:
            try:
                await ctx.require_power("moderator")
            except PermissionDenied:
                raise PermissionDenied(_("Only this room's liaison or a moderator can do this.")) from None
        return seat

    async def coordinator_seat(self, ctx: CommandContext) -> CoalitionSeat:
        """The coalition this room coordinates, if the sender may coordinate it (the command
        itself needs moderator power here)."""
        seat = await self.member_seat(ctx)
        seat.require_coordinator()
        return seat

    # -- the public view ----------------------------------------------------------------------

    async def holder(self, room_id: str, names: dict[str, str]) -> str:
        """How the public calendar names the local group of ``room_id``: its room name, unless
        it opted out, has none, or the name holds a Matrix id (then "a member group")."""
        if room_id in names:
            return names[room_id]
        label = MEMBER_GROUP
        if await self.rooms.shows_name(room_id):
            try:
                name = str(await self.host.room_name(RoomID(room_id)))
            except MatrixError:
                name = ""
            # room_name falls back to the alias or the id, which name a homeserver: not those.
            if name and not name.startswith(("#", "!")) and names_nobody(name) and name != room_id:
                label = " ".join(name.split())[:80]
        names[room_id] = label
        return label

    async def feed_events(self, coalition: str, now: datetime) -> list[FeedEvent]:
        """Everything the coalition's feed holds: its rooms' events (of rooms still in it) and
        the events of the feeds it follows, none past the retention."""
        cutoff = now - self.host.retention.events
        names: dict[str, str] = {}
        still_in: dict[str, bool] = {}
        out: list[FeedEvent] = []
        for event in await self.events.list_for(coalition):
            if (event.ends_at or event.starts_at) < cutoff:
                continue
            if event.room_id not in still_in:
                seat = await self.seat(event.room_id)
                still_in[event.room_id] = seat is not None and seat.coalition == coalition
            if still_in[event.room_id]:
                out.append(feed_event(event, await self.holder(event.room_id, names)))
        own = [e.uid for e in out]
        seen = set(own)
        for followed in await self.follows.list_for(coalition):
            try:
                theirs = parse_followed(
                    followed.body, followed.label, max_events=self.config.follow.max_events, own_uids=own
                )
            except FeedError:
                continue  # the stored copy was good when stored; a newer parser may disagree
            for e in theirs:
                if e.uid not in seen and (e.ends_at or e.starts_at) >= cutoff:
                    seen.add(e.uid)
                    out.append(e)
        return out
