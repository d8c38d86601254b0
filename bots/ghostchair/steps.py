"""A gathering's job: what it does when it falls due, and catching up after downtime.

Each gathering has one job, ``gathering-<id>`` in the feature's namespace, carrying only the
id. When it runs (and for every gathering at start-up) :meth:`GatheringSteps.advance` loads the
row and handles whatever is due by the bot's clock, in step order:

1. the heads-up before (``remind``), only while the gathering has not begun;
2. the start: the ghost-chair reminder (rotating through the room's voices), marked late when
   the bot was away at the start but back within ``misfire_grace``; occurrences further back
   go into one short note that they were missed (:func:`protocols.schedule.catch_up`); then,
   for a gathering set up with ``draw``, the lottery's draw of the opening roles and a
   speaking order;
3. the care check-in after (``care``), within the grace too.

Every step is recorded with :meth:`storage.ghostchair.Gatherings.mark` (compare-and-set) in the
same transaction as queueing its message, under a key made of the gathering, the step and the
occurrence: a second firing, a restart or a race posts nothing twice. Then the job is set for
the next step, or, past the sunset, the gathering is deleted.

Logs carry gathering ids and step names only, never a message body or a voice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bots.ghostchair import render
from bots.ghostchair.base import GhostChairBase, job_id
from bots.runtime.ids import RoomID
from protocols.gathering import next_step
from protocols.ghostchair import reminder_for_turn
from protocols.schedule import (
    ON_TIME_WINDOW,
    CatchUp,
    catch_up,
    ends_at,
    final_occurrence,
    occurrences_between,
)
from storage.ghostchair import Gathering

log = logging.getLogger(__name__)


class GatheringSteps(GhostChairBase):
    async def advance(self, gathering_id: int) -> None:
        """Do what is due for this gathering by now, then wait for its next step."""
        gathering = await self.gatherings.get(gathering_id)
        if gathering is None:  # cancelled, or deleted at its sunset
            self.host.schedule.cancel(job_id(gathering_id))
            return
        now = self.host.clock()
        await self._owed_rituals(gathering, now)
        await self._remind(gathering, now)
        await self._start(gathering, now)
        await self._care(gathering, now)
        await self._schedule_next(gathering, now)

    async def forget_expired(self, now: datetime) -> int:
        """Delete gatherings past their sunset whose last occurrence was handled (their
        messages stay: they are the room's record of its gatherings)."""
        ended = await self.gatherings.delete_expired(now)
        for gathering_id in ended:
            self.host.schedule.cancel(job_id(gathering_id))
            log.info("gathering %d ended (sunset) and was deleted", gathering_id)
        return len(ended)

    async def _schedule_next(self, gathering: Gathering, now: datetime) -> None:
        step = next_step(gathering.schedule, gathering.options, now, gathering.created_at)
        when = step.due if step is not None else _expiry(gathering)
        if when is not None and when > now:
            self.host.schedule.at(job_id(gathering.id), when, self.advance, gathering.id)
            return
        self.host.schedule.cancel(job_id(gathering.id))
        await self.forget_expired(now)

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
        async with self.host.db.transaction():
            if not await self.gatherings.mark(gathering.id, "remind", occurrence):
                return
            if useful:
                await self.host.post(
                    RoomID(gathering.room_id),
                    render.heads_up(occurrence, gathering.schedule.zone),
                    self.step_key(gathering, "remind", occurrence),
                )
        log.info("gathering %d: heads-up %s", gathering.id, "posted" if useful else "skipped")

    async def _start(self, gathering: Gathering, now: datetime) -> None:
        plan = catch_up(gathering.schedule, gathering.last_handled, now, self.grace)
        if plan.handled_through is not None and await self.resting(gathering.room_id, now):
            # A cell at rest after a scheduled reshuffle: no ritual of it fires.
            log.info("gathering %d: its cell is resting; nothing posted", gathering.id)
            plan = CatchUp(post=None, late=False, missed=(), handled_through=plan.handled_through)
        if plan.handled_through is None:
            return
        room = RoomID(gathering.room_id)
        async with self.host.db.transaction():
            if not await self.gatherings.mark(gathering.id, "start", plan.handled_through):
                return
            if plan.missed:
                await self.host.post(
                    room,
                    render.missed_note(plan.missed, gathering.schedule.zone),
                    self.step_key(gathering, "missed", plan.handled_through),
                )
            if plan.post is not None:
                voices, turn = await self.voices.take_turn(room, now)
                chosen = reminder_for_turn(voices, turn, late=plan.late)
                await self.host.post(
                    room, render.reminder(chosen), self.step_key(gathering, "start", plan.post)
                )
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
        # Stable ids of this gathering's occurrence, one per ritual: the lottery derives its
        # draw and its messages' keys from them, so a second call opens nothing new.
        draw_origin = self.step_key(gathering, "draw", occurrence)
        lottery = self.lottery()
        if lottery is None:
            await self.host.post(room, render.NO_LOTTERY, draw_origin)
            return
        try:
            await lottery.opening_draw(room, draw_origin)
        except Exception as exc:  # the reminder went out; the order still may
            log.error("gathering %d: the draw failed: %s", gathering.id, type(exc).__name__)
        try:
            await lottery.speaking_order(room, self.step_key(gathering, "order", occurrence))
        except Exception as exc:  # a failed order must not stop the gathering
            log.error("gathering %d: the speaking order failed: %s", gathering.id, type(exc).__name__)

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
        async with self.host.db.transaction():
            if not await self.gatherings.mark(gathering.id, "care", occurrence):
                return
            if useful:
                await self.host.post(
                    RoomID(gathering.room_id),
                    render.care_check_in(late=delay > ON_TIME_WINDOW),
                    self.step_key(gathering, "care", occurrence),
                )
        log.info("gathering %d: care check-in %s", gathering.id, "posted" if useful else "skipped")


def _expiry(gathering: Gathering) -> datetime | None:
    """When a gathering with a sunset may be deleted (as ``Gatherings.delete_expired``)."""
    end = ends_at(gathering.schedule)
    if end is None:
        return None
    final = final_occurrence(gathering.schedule) or end
    care = gathering.options.care_after or timedelta(0)
    return max(end, final + care)
