"""A rota's job: what it does when something falls due, and catching up after downtime.

Each rota has one job, ``rota-<id>`` in the feature's namespace, carrying only the id. When it
runs (and for every rota at start-up, and after every command that changed the rota)
:meth:`RotaTurns.advance` loads the row and, by the bot's clock:

1. announces the turn that began (the newest occurrence since the last one handled), marked
   late when the bot was away at its start but back within ``misfire_grace``; older ones, and
   that one past the grace, go into one note (:func:`protocols.recurrence.catch_up`, the rule
   gatherings follow). The last occurrence handled is compare-and-set in the same transaction
   as queueing the message, under a key of the rota and the occurrence: a second firing, a
   restart or a race posts nothing twice;
2. frees the turns of members who stepped back (``!stepback``, read from the lottery), then
   gives holders to the turns ahead (:func:`protocols.rota.commit`);
3. reminds each holder by direct message before their turn (the rota's ``remind``, else
   ``remind_before``), once;
4. flags to the room a turn still offered or short of people ``flag_before`` it, once;
5. sets the job for the next of these.

Logs carry rota ids and counts only, never a name or a message.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta

from bots.care import render
from bots.care.base import CareBase, log, rota_job
from bots.care.storage import StoredRota
from bots.runtime.ids import RoomID
from protocols.recurrence import AfterGathering, NextGathering, catch_up, next_occurrence
from protocols.rota import (
    Rota,
    StepBacks,
    commit,
    due_flags,
    due_reminders,
    mark_flagged,
    mark_reminded,
    release,
)

# A rota after each gathering in a room without gatherings looks again this often.
RECHECK = timedelta(hours=1)
# A step that failed (the homeserver away) is tried again this much later.
RETRY = timedelta(minutes=1)


def _who(user_id: str) -> str:
    """A short stable token for a person in a message key (keys never carry user ids)."""
    return hashlib.sha256(user_id.encode()).hexdigest()[:12]


class RotaTurns(CareBase):
    async def advance(self, rota_id: int) -> None:
        """Do what is due for this rota by now, then wait for its next step."""
        async with self.lock:
            await self.advance_locked(rota_id)

    async def _job(self, rota_id: int) -> None:
        """The timer's entry: the step runs in a task of its own, so the timer's job ends at
        once. (A step can take a while, sending reminders; a job set again for the same id
        while one still runs would be skipped by the scheduler.)"""
        task = asyncio.create_task(self._guarded_advance(rota_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guarded_advance(self, rota_id: int) -> None:
        try:
            await self.advance(rota_id)
        except Exception as exc:  # one rota's failure must not stop the others; retried later
            log.error("rota %d: step failed: %s", rota_id, type(exc).__name__)
            self.host.schedule.at(rota_job(rota_id), self.host.clock() + RETRY, self._job, rota_id)

    async def advance_locked(self, rota_id: int) -> None:
        stored = await self.rotas.get(rota_id)
        if stored is None:  # removed, or forgotten with its room
            self.host.schedule.cancel(rota_job(rota_id))
            return
        now = self.host.clock()
        room = stored.room_id
        rest = await self.paused(room, now)
        if rest is not None:
            # A cell at rest after a reshuffle: no turn is announced, nobody is reminded.
            await self.rotas.mark_handled(stored.id, stored.handled_through, now)
            self.host.schedule.at(rota_job(rota_id), rest, self._job, rota_id)
            log.info("rota %d: resting until its cell's pause ends", rota_id)
            return
        stepped = await self.stepped_back(room, now)
        following = await self.next_gathering(room, stored.rota.recurrence)
        await self._start(stored, now, following)
        rota = self._free_stepped_back(stored.rota, now, stepped)
        rota, changed = commit(rota, now, self.config.turns_ahead, stepped, following)
        await self.rotas.save(rota_id, rota)
        if changed:
            log.info("rota %d: %d turns given or changed", rota_id, len(changed))
        rota = await self._remind(stored, rota, now)
        rota = await self._flag(stored, rota, now)
        self._schedule_next(stored, rota, now, following)

    def lead(self, rota: Rota) -> timedelta:
        """How long before a turn its holders are reminded: the rota's own, else the default."""
        return rota.remind if rota.remind is not None else self.config.remind_before

    # -- the steps --------------------------------------------------------------------------

    async def _start(self, stored: StoredRota, now: datetime, following: NextGathering | None) -> None:
        rota = stored.rota
        plan = catch_up(rota.recurrence, stored.handled_through, now, self.config.misfire_grace, following)
        if plan.handled_through is None:
            return
        room = RoomID(stored.room_id)
        async with self.host.db.transaction():
            if not await self.rotas.mark_handled(stored.id, stored.handled_through, plan.handled_through):
                return
            given = {t.at: t for t in rota.turns}
            missed = [i for i in plan.missed if i in given]
            if missed:
                await self.host.post(
                    room,
                    render.missed(rota, missed),
                    self.rota_key(
                        stored.id, stored.created_at, "missed", int(plan.handled_through.timestamp())
                    ),
                )
            turn = given.get(plan.post) if plan.post is not None else None
            if turn is not None and plan.post is not None:
                message = render.turn_start(rota, turn, plan.late)
                await self.host.post(
                    room,
                    message,
                    self.rota_key(stored.id, stored.created_at, "start", int(plan.post.timestamp())),
                    mentions=turn.holders,
                )
        log.info(
            "rota %d: turn %s, %d missed",
            stored.id,
            "none given" if plan.post is None else ("late" if plan.late else "on time"),
            len(plan.missed),
        )

    @staticmethod
    def _free_stepped_back(rota: Rota, now: datetime, stepped: StepBacks) -> Rota:
        """Turns ahead held by someone who stepped back (until a time, or open-ended) go to
        others; their level is kept (a step-back is not debt)."""
        for member in sorted(rota.pool & stepped.keys()):
            until = stepped[member]
            if any(
                member in t.holders and t.at > now and (until is None or t.at < until) for t in rota.turns
            ):
                rota, _ = release(rota, member, now, until, stepped)
        return rota

    async def _remind(self, stored: StoredRota, rota: Rota, now: datetime) -> Rota:
        due = due_reminders(rota, now, self.lead(rota))
        if not due:
            return rota
        room_name = await self.host.room_name(RoomID(stored.room_id))
        for turn, holder in due:
            dm = await self.dm_room(holder, now, stored.room_id)
            k = self.rota_key(
                stored.id, stored.created_at, "remind", turn.number, _who(holder), int(turn.at.timestamp())
            )
            event_id = await self.host.post(dm, render.reminder(rota, turn, room_name), k, wait=True)
            async with self.host.db.transaction():
                rota = mark_reminded(rota, turn.number, holder)
                await self.rotas.save(stored.id, rota)
                if event_id is not None:
                    await self.reminders.add(dm, event_id, now)
        log.info("rota %d: %d reminders sent", stored.id, len(due))
        return rota

    async def _flag(self, stored: StoredRota, rota: Rota, now: datetime) -> Rota:
        flags = due_flags(rota, now, self.config.flag_before)
        if not flags:
            return rota
        requests = await self.swaps.of_rota(stored.id)
        for item in flags:
            numbers = [r.id for r in requests if r.turn_number == item.turn.number]
            async with self.host.db.transaction():
                rota = mark_flagged(rota, item.turn.number)
                await self.rotas.save(stored.id, rota)
                await self.host.post(
                    RoomID(stored.room_id),
                    render.flag(rota, item, numbers),
                    self.rota_key(
                        stored.id, stored.created_at, "flag", item.turn.number, int(item.turn.at.timestamp())
                    ),
                    mentions=item.offered,
                )
        log.info("rota %d: %d turns flagged", stored.id, len(flags))
        return rota

    def _schedule_next(
        self, stored: StoredRota, rota: Rota, now: datetime, following: NextGathering | None
    ) -> None:
        candidates: list[datetime] = []
        occurrence = next_occurrence(rota.recurrence, now, following)
        if occurrence is not None:
            candidates.append(occurrence)
        elif isinstance(rota.recurrence.pattern, AfterGathering):
            candidates.append(now + RECHECK)
        for turn in rota.turns:
            if turn.at <= now:
                continue
            if set(turn.holders) - set(turn.reminded):
                candidates.append(turn.at - self.lead(rota))
            if not turn.flagged:
                candidates.append(turn.at - self.config.flag_before)
        for until in rota.away.values():
            candidates.append(until)  # back from away: places short may be filled
        ahead = [c for c in candidates if c > now]
        if not ahead:
            self.host.schedule.cancel(rota_job(stored.id))
            return
        self.host.schedule.at(rota_job(stored.id), min(ahead), self._job, stored.id)
