"""A herald's life in its control rooms: heartbeats, finding a control room it was invited to,
routing the sync's events, and answering each command once in a room several heralds share.

- **Heartbeats.** Every ``heartbeat`` period a herald writes its beat (a growing ``seq``: the
  time in milliseconds) into each control room and reads the room's state back: a beat of its own
  that comes back is what makes it sure its sync is alive, the others' beats who is up.
- **Discovery.** A herald invited into a control room learns that it is one from the first
  coalition event it sees there; it declares itself on duty and asks the others (a *want*) for
  what it cannot decrypt from before it joined.
- **Once per room.** In a member or coordination room several heralds read every command. The
  one ranked first for the room among the heralds it believes alive answers; the
  others stay silent (a command that records a room's own facts, such as ``!local set``, is
  applied by every herald, silently by all but one).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from bots.herald.base import log
from bots.herald.control_room import put_state, send_private
from bots.herald.control_view import ControlView
from bots.herald.room_check import SeenEvents
from bots.herald.self_doubt import SelfDoubt
from bots.herald.sharing import Sharing
from bots.runtime.commands import CommandContext
from bots.runtime.errors import MatrixError, TransportError
from bots.runtime.ids import EventID, RoomID
from bots.runtime.keys import key
from protocols.coalition.charter import want_event
from protocols.coalition.delivery import DeliveryKey, rank
from protocols.coalition.registry import NS
from protocols.coalition.reveal import heartbeat_state, instance_state

BEAT_JOB = "heartbeat"
# Who is joined to a member room, read once and kept: every membership change the sync shows
# drops the room's entry (``on_event``), so the age only bounds what a missed event could cost.
# Ten seconds made a herald read 200 rooms' members one by one at a phase's due time.
JOINED_TTL_S = 600.0
ANSWERS_KEPT = 1000  # decisions kept, one per recent command (event id)


class Heartbeats(Sharing):
    """Heartbeats, discovery, event routing and the once-per-room answer."""

    _joined_cache: dict[str, tuple[float, frozenset[str]]]

    async def start_control(self) -> None:
        """At start: read every control room this herald serves, then beat."""
        self._joined_cache = {}
        for link in await self.control.links():
            await self.refresh(link.control_room)
        self.host.schedule.at(BEAT_JOB, self.host.clock(), self.beat)

    async def beat(self) -> None:
        """Write this herald's heartbeat into each control room and read each room back.

        A beat that comes more than the staleness after the last one (the process was stopped
        or starved) or that cannot be written (the homeserver is away) makes this herald doubt
        its view: ``bots.herald.leaderless`` then holds its sends for a stagger once it is back
        and checks the rooms first."""
        now = self.host.clock()
        self.doubt.beat_started(now, self.config.staleness)
        seq = int(now.timestamp() * 1000)
        try:
            for room_id in list(self.views):
                try:
                    await put_state(self.host, room_id, heartbeat_state(str(self.host.user_id), seq=seq))
                    self.doubt.beat_written(self.host.clock())
                except MatrixError as exc:
                    # TransportError: the homeserver did not answer at all
                    self.doubt.beat_failed(now, unanswered=isinstance(exc, TransportError))
                    log.info("herald: a heartbeat was not written (%s)", type(exc).__name__)
                view = await self.refresh(room_id)
                if view is not None and view.coalition is None:
                    await self.ask_for_private(view)  # the answers may not have been readable yet
        finally:  # whatever failed, the next beat comes
            self.host.schedule.at(BEAT_JOB, self.host.clock() + self.config.heartbeat, self.beat)

    async def joined_cached(self, room_id: str) -> frozenset[str]:
        cache = getattr(self, "_joined_cache", None)
        if cache is None:
            cache = self._joined_cache = {}
        held = cache.get(room_id)
        if held is not None and time.monotonic() - held[0] < JOINED_TTL_S:
            return held[1]
        try:
            found = await self._joined(room_id)
        except MatrixError:
            return held[1] if held is not None else frozenset()
        cache[room_id] = (time.monotonic(), found)
        return found

    # -- events from the sync ----------------------------------------------------------------

    async def on_event(self, ctx: CommandContext, event: dict[str, Any]) -> None:
        room_id = str(ctx.room_id)
        kind = event.get("type")
        view = self.views.get(room_id)
        if view is not None:
            await self.control_event(view, event)
            return
        if isinstance(kind, str) and kind.startswith(NS + "."):
            await self.discover(room_id)
            return
        member_view = self.view_for_room(room_id)
        if member_view is not None and event.get("sender") in member_view.registry.admitted:
            self.seen_events.add(str(event.get("event_id")))
        if kind == "m.room.message" and member_view is not None:
            await self.seen_copy(room_id, event)
        if kind == "m.room.member":
            getattr(self, "_joined_cache", {}).pop(room_id, None)

    # Made on first use: the feature classes are assembled from mixins with no shared __init__.
    @cached_property
    def doubt(self) -> SelfDoubt:
        """Whether this herald's own view may be stale (``bots.herald.self_doubt``)."""
        return SelfDoubt()

    @cached_property
    def seen_events(self) -> SeenEvents:
        """The other heralds' events in member rooms that the sync delivered (``room_check``)."""
        return SeenEvents()

    async def seen_copy(self, room_id: str, event: dict[str, Any]) -> None:
        """A message in a member room (``bots.herald.leaderless`` reads it)."""

    async def discover(self, room_id: str) -> None:
        """A room where coalition events come from: a control room this bot was admitted to?"""
        view = await self.load_view(room_id)
        if view is None:
            log.warning("herald: ignored coalition events in a room where this bot is no herald")
            return
        if view.coalition is None:
            await self.ask_for_private(view)
            log.info("herald: joined a control room; asked the other heralds for its private events")
        await self.apply_view(view)
        if not self.host.schedule.when(BEAT_JOB):
            self.host.schedule.at(BEAT_JOB, self.host.clock(), self.beat)

    async def ask_for_private(self, view: ControlView) -> None:
        """Ask again at most once per staleness period: every answer is a burst of events."""
        now = self.host.clock()
        asked: dict[str, datetime] = self.__dict__.setdefault("_asked", {})
        last = asked.get(view.room_id)
        if last is not None and now - last < self.config.staleness:
            return
        asked[view.room_id] = now
        seq = int(now.timestamp())
        await send_private(self.host, view.room_id, want_event(), key(self.name, "want", view.room_id, seq))

    async def on_duty(self, view: ControlView) -> None:
        """Declare this herald on duty once it knows the coalition (its charter arrived): a
        herald that could not act yet must not be ranked first by the others."""
        me = str(self.host.user_id)
        herald = view.registry.heralds.get(me)
        if view.coalition is not None and herald is not None and not herald.active and not herald.retired:
            await self._state(view, instance_state(me))
            log.info("herald: on duty for a coalition (%d member rooms)", len(view.registry.member_rooms))

    # -- answering once ----------------------------------------------------------------------

    async def answers_in(self, room_id: RoomID, event_id: EventID) -> bool:
        """The runtime asks before its own replies (``!help``, ``!ping``, a refusal): the same
        herald answers them as answers the herald's commands."""
        return await self.answers(str(room_id), str(event_id))

    async def answers(self, room_id: str, event_id: str) -> bool:
        """Whether this herald is the one to answer a command in this room. Decided once per
        event and kept a while, so that the runtime's replies and the command's own agree."""
        decided: OrderedDict[str, bool] = self.__dict__.setdefault("_answers", OrderedDict())
        held = decided.get(event_id)
        if held is None:
            held = decided[event_id] = await self._first_here(room_id)
            while len(decided) > ANSWERS_KEPT:
                decided.popitem(last=False)
        return held

    async def _first_here(self, room_id: str) -> bool:
        view = self.view_for_room(room_id)
        if view is None:
            return True
        me = str(self.host.user_id)
        # A room that could not be read is taken to hold every herald (two answers rather than
        # none), and a herald counts as up for twice the staleness: a beat or two lost on a
        # loaded machine must not make two heralds each believe it is the first one left.
        joined = await self.joined_cached(room_id) or view.registry.live_heralds
        alive = view.heartbeats.alive(self.host.clock(), self.config.staleness * 2)
        candidates = view.registry.live_heralds & joined & (alive | {me})
        if me not in view.registry.live_heralds:
            return not candidates  # a retired herald answers only where no herald is left
        # Ranked per room, not per command: the herald that planned a run (``!protocol start``)
        # is the one that confirms it, while it is alive.
        order = rank(DeliveryKey("answer", "command", room_id), candidates | {me})
        return order[0] == me

    def staleness(self) -> timedelta:
        return self.config.staleness
