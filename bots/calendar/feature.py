"""The coalition's public calendar, as one feature on the contract.

``events`` (``!event ...``, ``!events``) -> ``publish`` (``!calendar ...``, the public name) ->
this module: the life cycle (the public listener, the refresh of followed feeds, the one-time
copy of the herald's old events), the bodies the listener serves, and forgetting.

Coalition facts (which coalition a room is in, who may coordinate) come from the herald through
``host.peer(HeraldFeature).coalition_seat``; the calendar keeps none of its own.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path

from bots.calendar.config import CalendarConfig
from bots.calendar.fetch import fetch_feed
from bots.calendar.legacy import import_herald_events
from bots.calendar.page import render_page
from bots.calendar.public_http import Bodies, PublicServer
from bots.calendar.publish import PublishCommands
from bots.gains.feature import GainsFeature
from bots.herald.feature import HeraldFeature
from bots.runtime.host import Host
from bots.runtime.ids import RoomID
from bots.runtime.registry import register
from protocols.calendar_feed import FeedCache, FeedError, build_feed, parse_followed
from protocols.calendar_follow import FollowError
from protocols.calendar_page import page_days

log = logging.getLogger("bots.calendar")

REFRESH_JOB = "refresh-follows"
# A cancelled event stays in the feed (as STATUS:CANCELLED) at least this long after it was
# cancelled, even once it is over, so calendars that poll daily still see the cancellation.
CANCELLED_SHOWN = timedelta(days=7)


@register
class CalendarFeature(PublishCommands):
    """Events, the public page and feed, and feeds followed from other coalitions."""

    name = "calendar"
    title = "Public calendar"
    config_model = CalendarConfig
    migrations = Path(__file__).parent / "migrations"

    def __init__(self, host: Host, config: CalendarConfig) -> None:
        super().__init__(host, config)
        self._tokens: dict[str, str] = {}  # token -> coalition, for the listener's hot path
        self.server: PublicServer | None = None
        self.port: int | None = None  # the port the listener is on (tests listen on port 0)
        self._feed_caches: dict[str, FeedCache] = {}

    def retention(self) -> dict[str, timedelta]:
        return {
            "calendar events (after they end)": self.host.retention.events,
            "a followed feed's copy (replaced at each refresh)": self.config.follow.every,
        }

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await import_herald_events(self.host)
        self._tokens = {p.token: p.coalition for p in await self.publishing.all()}
        self.host.schedule.every(REFRESH_JOB, self.config.follow.every, self.refresh_follows)
        public = self.config.public
        if public is None:
            return
        self.server = PublicServer(
            self._lookup,
            self.bodies,
            self.host.clock,
            rebuild_after=self.config.rebuild_after,
            max_age=min(self.config.refresh, timedelta(minutes=5)),
        )
        try:
            self.port = await self.server.start(public.host, public.port)
        except OSError as exc:
            # The bot's Matrix side keeps working; the operator sees why the calendar is not served.
            log.error(
                "calendar: cannot listen on %s (%s); the public calendar is not served", public.listen, exc
            )
            self.server = None
            return
        log.info("calendar: serving public calendars on %s:%d", public.host, self.port)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None

    # -- what the listener serves -------------------------------------------------------------

    async def _lookup(self, token: str) -> tuple[str, object] | None:
        coalition = self._tokens.get(token)
        if coalition is None:
            return None
        return coalition, self.versions.get(coalition, 0)

    async def bodies(self, coalition: str) -> Bodies:
        """The page and the feed of a coalition, as of now."""
        now = self.host.clock()
        events = [
            e
            for e in await self.feed_events(coalition, now)
            if not e.cancelled or e.modified_at + CANCELLED_SHOWN >= now or (e.ends_at or e.starts_at) >= now
        ]
        token = await self.publishing.get(coalition)
        webcal = self.addresses(token.token)[2] if token is not None and self.config.public else None
        cache = self._feed_caches.setdefault(coalition, FeedCache())
        words, language = self.words(), self.config.language
        ledger = self.host.peer(GainsFeature)
        gains = await ledger.page_tally(token.room_id, coalition) if ledger and token else None

        def build() -> Bodies:
            # Serialising a large calendar is CPU work: in a thread, so the bot's loop keeps
            # syncing and answering while it runs (one build per coalition at a time).
            feed = build_feed(coalition, events, self.config.refresh, cache, words)
            return Bodies(
                page=render_page(coalition, page_days(events, now, words), webcal, language, gains), feed=feed
            )

        return await asyncio.to_thread(build)

    def published(self, coalition: str, token: str | None, old: str | None) -> None:
        if old is not None:
            self._tokens.pop(old, None)
            if self.server is not None:
                self.server.forget(old)
        if token is not None:
            self._tokens[token] = coalition
        self.changed(coalition)

    # -- followed feeds -----------------------------------------------------------------------

    async def fetch(self, url: str) -> tuple[str, bytes]:
        return await fetch_feed(url, self.config.follow.limits())

    async def refresh_follows(self) -> None:
        """Fetch every followed feed again; one that fails keeps its last good copy."""
        now = self.host.clock()
        fine = failed = 0
        for followed in await self.follows.all():
            try:
                _, body = await self.fetch(followed.url)
                parse_followed(body, followed.label, max_events=self.config.follow.max_events)
            except (FollowError, FeedError):
                await self.follows.failed(followed.id)
                failed += 1
                continue
            if body != followed.body:
                self.changed(followed.coalition)
            await self.follows.refreshed(followed.id, body, now)
            fine += 1
        if fine or failed:
            log.info(
                "calendar: followed feeds refreshed: %d fine, %d kept their last good copy", fine, failed
            )

    # -- forgetting ---------------------------------------------------------------------------

    async def forget_expired(self, now: datetime) -> int:
        """Delete events over for longer than the retention, and public addresses and follows
        of coalitions this bot no longer coordinates (the herald forgot them)."""
        events = await self.events.forget_older_than(now - self.host.retention.events)
        gone = 0
        if self.host.peer(HeraldFeature) is not None:  # offline (affinity forget) it may not run
            for published in await self.publishing.all():
                seat = await self.seat(published.room_id)
                if seat is None or seat.coalition != published.coalition or not seat.coordinates:
                    await self.publishing.remove(published.coalition)
                    await self.follows.remove(published.coalition, None)
                    self.published(published.coalition, None, published.token)
                    gone += 1
        for coalition in list(self.versions):
            self.changed(coalition)
        log.info("calendar sweep: %d events, %d unpublished coalitions forgotten", events, gone)
        return events + gone

    async def forget_room(self, room_id: RoomID) -> None:
        """The bot is out of a room: its events, its name setting, and (a coordination room)
        the public addresses and follows it set up."""
        for published in await self.publishing.all():
            if published.room_id == room_id:
                self.published(published.coalition, None, published.token)
        events = await self.events.forget_room(room_id)
        await self.publishing.forget_room(room_id)
        await self.follows.forget_room(room_id)
        await self.rooms.forget_room(room_id)
        for coalition in list(self.versions):
            self.changed(coalition)
        log.info("calendar: a room removed the bot; %d of its events forgotten", events)
