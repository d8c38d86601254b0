"""The ghost-chair feature: absent voices, gatherings on a schedule, and catching up after downtime.

Each gathering has one job, ``ghost-gathering-<id>``, carrying only the id. When it runs (and
for every gathering at start-up) :meth:`GhostChairFeature.advance` loads the row and handles
whatever is due by the bot's clock, in step order:

1. the heads-up before (``remind``), only while the gathering has not begun;
2. the start: the ghost-chair reminder (rotating through the room's voices), marked late when
   the bot was away at the start but back within ``misfire_grace``; occurrences further back
   go into one short note that they were missed (:func:`protocols.schedule.catch_up`); then,
   for a gathering set up with ``draw``, the lottery's draw of the opening roles and a
   speaking order;
3. the care check-in after (``care``), within the grace too.

Every step is recorded with :meth:`storage.ghostchair.Gatherings.mark` (compare-and-set) in the
same transaction as queueing its message, with a transaction key made of the gathering, the
step and the occurrence: a second firing, a restart or a race posts nothing twice. Then the job
is set for the next step, or, past the sunset, the gathering is deleted.

Logs carry gathering ids and step names only, never a message body or a voice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from bots.ghostchair.commands import router
from bots.runtime.feature import Feature
from bots.runtime.ids import RoomID
from protocols.ghostchair import (
    DEFAULT_ABSENT_VOICES,
    before_text,
    care_text,
    missed_note,
    next_step,
    reminder_for_turn,
)
from protocols.schedule import (
    ON_TIME_WINDOW,
    catch_up,
    ends_at,
    final_occurrence,
    occurrences_between,
)
from protocols.timespec import parse_zone
from storage.ghostchair import AbsentVoices, Gathering, Gatherings, RoomZones

if TYPE_CHECKING:
    from bots.runtime.bot import BotRuntime

log = logging.getLogger(__name__)

NO_LOTTERY = (
    "No draw of roles or speaking order: the lottery feature is not enabled for this bot "
    "(the operator can add it to the bot's features)."
)
LATE_CARE = "(Posted late: the bot was away when it was due.)"


class Lottery(Protocol):
    """What the ghost chair needs of the lottery feature (found by name at run time)."""

    name: str

    async def open_draw(self, room_id: RoomID, key: str) -> str | None:
        """Start a draw of the room's vacant roles (its commitment now), or post a note."""

    async def post_order(self, room_id: RoomID, key: str) -> None:
        """Post a random speaking order."""


def job_id(gathering_id: int) -> str:
    return f"ghost-gathering-{gathering_id}"


class GhostChairFeature(Feature):
    name = "ghostchair"
    router = router

    def __init__(self, bot: BotRuntime) -> None:
        super().__init__(bot)
        self.config = bot.app.features.ghostchair
        self.grace: timedelta = self.config.misfire_grace
        self.default_zone = parse_zone(self.config.default_timezone)
        defaults = self.config.default_voices
        # Voices and gatherings are this bot's own; the room's zone is the room's, for every bot.
        self.voices = AbsentVoices(
            bot.db, bot.user_id, DEFAULT_ABSENT_VOICES if defaults is None else tuple(defaults)
        )
        self.zones = RoomZones(bot.db)
        self.gatherings = Gatherings(bot.db, bot.user_id)

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Catch up on every gathering (late posts, missed notes) and rebuild its job."""
        for gathering in await self.gatherings.all():
            await self.advance(gathering.id)
        await self.sweep(self.bot.clock())

    async def sweep(self, now: datetime) -> None:
        """Delete gatherings past their sunset whose last occurrence was handled."""
        for gathering_id in await self.gatherings.delete_expired(now):
            self.bot.scheduler.cancel(job_id(gathering_id))
            log.info("gathering %d ended (sunset) and was deleted", gathering_id)

    async def on_removed(self, room_id: RoomID) -> None:
        """Out of the room: its gatherings stop and its absent voices are forgotten."""
        gatherings = await self.gatherings.in_room(room_id)
        for gathering in gatherings:
            self.bot.scheduler.cancel(job_id(gathering.id))
        await self.gatherings.forget_room(room_id)
        await self.voices.forget_room(room_id)
        if gatherings:
            log.info("out of a room: %d gatherings stopped", len(gatherings))

    def lottery(self) -> Lottery | None:
        """The lottery feature of this bot, if it is enabled."""
        return self.bot.feature("lottery")  # type: ignore[return-value]

    async def room_zone(self, room_id: str) -> ZoneInfo:
        return await self.zones.get(room_id) or self.default_zone

    # -- the job ----------------------------------------------------------------------------

    async def advance(self, gathering_id: int) -> None:
        """Do what is due for this gathering by now, then wait for its next step."""
        gathering = await self.gatherings.get(gathering_id)
        if gathering is None:  # cancelled, or deleted at its sunset
            self.bot.scheduler.cancel(job_id(gathering_id))
            return
        now = self.bot.clock()
        await self._owed_rituals(gathering, now)
        await self._remind(gathering, now)
        await self._start(gathering, now)
        await self._care(gathering, now)
        await self._schedule_next(gathering, now)

    def forget_job(self, gathering_id: int) -> None:
        self.bot.scheduler.cancel(job_id(gathering_id))

    async def _schedule_next(self, gathering: Gathering, now: datetime) -> None:
        step = next_step(gathering.schedule, gathering.options, now, gathering.created_at)
        when = step.due if step is not None else self._expiry(gathering)
        if when is not None and when > now:
            self._at(gathering.id, when)
            return
        self.forget_job(gathering.id)
        await self.sweep(now)

    def _at(self, gathering_id: int, when: datetime) -> None:
        job = job_id(gathering_id)
        self.bot.scheduler.cancel(job)  # a scheduler not yet started would otherwise keep both
        self.bot.scheduler.at(job, when, self.advance, gathering_id)

    @staticmethod
    def _expiry(gathering: Gathering) -> datetime | None:
        """When a gathering with a sunset may be deleted (as ``Gatherings.delete_expired``)."""
        end = ends_at(gathering.schedule)
        if end is None:
            return None
        final = final_occurrence(gathering.schedule) or end
        care = gathering.options.care_after or timedelta(0)
        return max(end, final + care)

    # -- the steps --------------------------------------------------------------------------

    async def _remind(self, gathering: Gathering, now: datetime) -> None:
        lead = gathering.options.remind_before
        if lead is None:
            return
        since = max(gathering.last_reminded or gathering.created_at, gathering.created_at)
        due = occurrences_between(gathering.schedule, since, now + lead)
        if not due:
            return
        occurrence = due[-1]
        # A heads-up only helps before the gathering begins, and is for a time after it was set.
        useful = occurrence > now and occurrence - lead >= gathering.created_at
        async with self.bot.db.transaction():
            if not await self.gatherings.mark(gathering.id, "remind", occurrence):
                return
            if useful:
                text, html = before_text(occurrence, gathering.schedule.zone)
                await self.bot.post(
                    gathering.room_id, text, html, _key(gathering, "remind", occurrence)
                )
        log.info("gathering %d: heads-up %s", gathering.id, "posted" if useful else "skipped")

    async def _start(self, gathering: Gathering, now: datetime) -> None:
        plan = catch_up(gathering.schedule, gathering.last_handled, now, self.grace)
        if plan.handled_through is None:
            return
        room = gathering.room_id
        async with self.bot.db.transaction():
            if not await self.gatherings.mark(gathering.id, "start", plan.handled_through):
                return
            if plan.missed:
                text, html = missed_note(plan.missed, gathering.schedule.zone)
                await self.bot.post(room, text, html, _key(gathering, "missed", plan.handled_through))
            if plan.post is not None:
                voices, turn = await self.voices.take_turn(room, now)
                text, html = reminder_for_turn(voices, turn, late=plan.late)
                await self.bot.post(room, text, html, _key(gathering, "start", plan.post))
                if gathering.options.draw:  # owed with the start: a crash cannot lose them
                    await self.gatherings.owe_rituals(gathering.id, plan.post)
        log.info(
            "gathering %d: started %s, %d missed",
            gathering.id,
            "no occurrence" if plan.post is None else ("late" if plan.late else "on time"),
            len(plan.missed),
        )
        if plan.post is not None and gathering.options.draw:
            await self._open_rituals(gathering, plan.post)
            await self.gatherings.rituals_done(gathering.id, plan.post)

    async def _owed_rituals(self, gathering: Gathering, now: datetime) -> None:
        """Open the rituals a crash left owed after a start was posted (within the grace: a draw
        for a gathering long over helps nobody)."""
        owed = gathering.rituals_owed
        if owed is None:
            return
        if now - owed <= self.grace:
            log.info("gathering %d: opening the rituals a restart left owed", gathering.id)
            await self._open_rituals(gathering, owed)
        else:
            log.info("gathering %d: owed rituals are past the grace; given up", gathering.id)
        await self.gatherings.rituals_done(gathering.id, owed)

    async def _open_rituals(self, gathering: Gathering, occurrence: datetime) -> None:
        """The draw of the opening roles and a speaking order, through the lottery feature.

        Owed from the moment the start is recorded until both are done, with keys stable for
        the occurrence: run again after a crash, they open the same draw and post the same
        order, once.
        """
        room = RoomID(gathering.room_id)
        key = _key(gathering, "draw", occurrence)
        lottery = self.lottery()
        if lottery is None:
            await self.bot.post(room, NO_LOTTERY, None, key)
            return
        try:
            await lottery.open_draw(room, key)
        except Exception as exc:  # the reminder went out; the order still may
            log.error("gathering %d: the draw failed: %s", gathering.id, type(exc).__name__)
        try:
            await lottery.post_order(room, _key(gathering, "order", occurrence))
        except Exception as exc:  # a failed order must not stop the gathering
            log.error(
                "gathering %d: the speaking order failed: %s", gathering.id, type(exc).__name__
            )

    async def _care(self, gathering: Gathering, now: datetime) -> None:
        after = gathering.options.care_after
        if after is None:
            return
        since = max(gathering.last_cared or gathering.created_at, gathering.created_at)
        due = occurrences_between(gathering.schedule, since, now - after)
        if not due:
            return
        occurrence = due[-1]
        delay = now - (occurrence + after)
        useful = delay <= self.grace  # a check-in a day late helps nobody
        async with self.bot.db.transaction():
            if not await self.gatherings.mark(gathering.id, "care", occurrence):
                return
            if useful:
                text, html = care_text()
                if delay > ON_TIME_WINDOW:
                    text, html = f"{text}\n{LATE_CARE}", f"{html}<br><small>{LATE_CARE}</small>"
                await self.bot.post(gathering.room_id, text, html, _key(gathering, "care", occurrence))
        log.info("gathering %d: care check-in %s", gathering.id, "posted" if useful else "skipped")


def _key(gathering: Gathering, step: str, occurrence: datetime) -> str:
    # The creation time as well as the id: an id is never reused (AUTOINCREMENT), and a
    # restored or rebuilt database must not make a new gathering's message a "duplicate".
    created = int(gathering.created_at.timestamp())
    return f"ghost-{gathering.id}.{created}-{step}-{int(occurrence.timestamp())}"
