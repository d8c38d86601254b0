"""A run's latest phase, pinned in each member room (``m.room.pinned_events``): the message a
room should find without scrolling in the middle of an action, one tap away in every client.

- When a phase message of a run lands in a room (this herald sent it), it is pinned there and
  the run's previous phase in that room unpinned: one pin per run and room, the latest phase.
  Amendments and stand-downs are not pinned: an amendment marks the pinned phase (an edit with
  its banner), a stand-down ends the run.
- Everything a run pinned is unpinned when the run ends for a room: it was cancelled (stood
  down), the room left the coalition, the run was forgotten, or it finished (nothing left to
  send, and its last phase has been out for :data:`PINNED_AFTER_LAST`).
- Only what this bot pinned is ever unpinned (``herald_pin`` keeps the event it pinned per run
  and room, so a restart loses nothing); pins people set stay, and a message someone had pinned
  already is not taken as the bot's.
- Where the bot lacks the power to pin, nothing is said in the room: the phase still goes out,
  and the log says so once per room.

Pinning is state written directly (``bots.runtime.pins``), idempotent; a failed write is tried
again at the next settle (a phase, the sweeper, a restart).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from bots.herald.config import HeraldConfig
from bots.herald.dayofaction_port import DayOfActionPort
from bots.herald.delivery import is_urgent
from bots.runtime import pins
from bots.runtime.errors import MatrixError
from bots.runtime.host import Host
from bots.runtime.ids import RoomID
from bots.runtime.offline import Offline
from protocols.coalition.delivery import parse_copy
from storage.herald import Delivery, Run
from storage.herald_pins import HeraldPins, RunPin

log = logging.getLogger(__name__)

# A finished run's last phase (a debrief) stays pinned this long after it went out.
PINNED_AFTER_LAST = timedelta(hours=12)


def unpin_job_id(run_id: str) -> str:
    return f"unpin-{run_id}"


def _pins_path(room_id: str) -> str:
    return f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/state/{pins.PINNED}/"


def may_send_state(levels: dict[str, Any], power: int, event_type: str) -> bool:
    """Whether ``power`` may send the state event ``event_type`` under these power levels."""
    events = levels.get("events") or {}
    try:
        needed = int(events.get(event_type, levels.get("state_default", 50)))
    except (TypeError, ValueError):
        return False
    return power >= needed


class PhasePins(DayOfActionPort):
    """Pins a run's latest phase per member room and takes the run's pins down when it ends."""

    def __init__(self, host: Host, config: HeraldConfig) -> None:
        super().__init__(host, config)
        self.pins = HeraldPins(host.db, host.user_id)
        self._pin_refused: set[str] = set()  # rooms already logged as refusing
        self._pin_locks: dict[str, asyncio.Lock] = {}  # one change of a room's pins at a time

    def _room_lock(self, room_id: str) -> asyncio.Lock:
        return self._pin_locks.setdefault(room_id, asyncio.Lock())

    # -- the sending path: a phase landed, a batch ended, a run was looked at -------------------

    async def _record(self, d: Delivery) -> None:
        await super()._record(d)
        await self._pin_if_sent(d)

    async def _follow_copy(self, d: Delivery, content: dict[str, Any]) -> None:
        await super()._follow_copy(d, content)
        await self._pin_if_sent(d)

    async def _after_batch(self, run_id: str) -> None:
        await super()._after_batch(run_id)
        await self.settle_pins(run_id)

    async def deliver_due(self, run_id: str) -> int:
        sent = await super().deliver_due(run_id)
        await self.settle_pins(run_id)  # a stand-down, or a room that left, since the last look
        return sent

    async def seen_copy(self, room_id: str, event: dict[str, Any]) -> None:
        """Another herald's copy of a later phase in a room: this herald's pin of an earlier
        phase there comes down (that herald pins its own copy, where it may)."""
        await super().seen_copy(room_id, event)
        copy = parse_copy(event, room_id)
        view = self.view_for_room(room_id)
        if copy is None or view is None or copy.sender == str(self.host.user_id):
            return
        if copy.sender not in view.registry.admitted:
            return  # a room member imitating a herald takes nothing down
        mine = await self.pins.get(copy.key.run_id, room_id)
        if mine is None or mine.event_id == copy.event_id:
            return
        phase = next(
            (
                d
                for d in await self.runs.deliveries(copy.key.run_id)
                if d.room_id == room_id and d.phase_key == copy.key.key
            ),
            None,
        )
        if phase is not None and not is_urgent(phase.phase_key) and phase.due_at > mine.due_at:
            async with self._room_lock(room_id):
                if await self.pins.get(mine.run_id, room_id) == mine:
                    await self._take_down(mine)

    # -- pinning ---------------------------------------------------------------------------------

    async def _pin_if_sent(self, d: Delivery) -> None:
        if is_urgent(d.phase_key):
            return
        try:
            now = await self.runs.delivery(d.txn_id)
            if now is not None and now.state == "sent" and now.event_id:
                await self.pin_phase(now, now.event_id)
        except MatrixError as exc:  # never let a pin stop a delivery's follow-up
            log.warning("herald: pinning a phase failed: %s", exc.errcode)

    async def pin_phase(self, d: Delivery, event_id: str) -> bool:
        """Pin ``event_id`` (phase ``d``) in its room as the run's latest phase, replacing the
        run's earlier pin there. False when nothing was pinned (an earlier phase arriving late,
        a run that ended, a room where the bot may not pin)."""
        async with self._room_lock(d.room_id):
            return await self._pin_phase(d, event_id)

    async def _pin_phase(self, d: Delivery, event_id: str) -> bool:
        room = RoomID(d.room_id)
        current = await self.pins.get(d.run_id, d.room_id)
        if current is not None and (current.event_id == event_id or current.due_at > d.due_at):
            return False
        run = await self.runs.get(d.run_id)
        if run is None or await self._run_ended(run, d.room_id):
            return False
        if await self._may_pin(room) is not True:
            return False
        # One read and one write: the new phase on top, the run's previous one off.
        now_pinned = await pins.pinned(self.host, room)
        already = event_id in now_pinned
        after = list(now_pinned) if already else pins.with_pin(now_pinned, event_id, True)
        if current is not None:
            after = pins.with_pin(after, current.event_id, False)
        if after != now_pinned:
            await self.host.api("PUT", _pins_path(room), {"pinned": after})
        if current is not None:
            await self.pins.drop(current.run_id, current.room_id)
        if already:
            return False  # someone pinned it first: theirs, never unpinned by the bot
        mine = RunPin(d.run_id, d.room_id, event_id, d.due_at, self.host.clock())
        await self.pins.put(mine)
        now = await self.runs.get(d.run_id)
        if now is None or await self._run_ended(now, d.room_id):  # ended meanwhile: settle missed it
            await self._take_down(mine)
            return False
        log.info("herald: pinned a phase of run %s", d.run_id)
        return True

    async def _may_pin(self, room: RoomID) -> bool | None:
        """Whether the bot may change the room's pins (None: the homeserver did not say)."""
        try:
            table = await self.host.power_table(room)
        except MatrixError:
            return None
        allowed = may_send_state(table.levels, table.of(str(self.host.user_id)), pins.PINNED)
        if not allowed and str(room) not in self._pin_refused:
            self._pin_refused.add(str(room))
            log.info("herald: %s does not let this bot pin messages; phases go out unpinned there", room)
        return allowed

    async def _take_down(self, pin: RunPin) -> bool:
        """Unpin what this bot pinned and forget the row; a row the room could not take (the
        homeserver away) stays and is tried again at the next settle."""
        room = RoomID(pin.room_id)
        try:
            done = await pins.unpin(self.host, room, pin.event_id)
        except MatrixError:
            done = False
        if done or await self._may_pin(room) is False:  # taken down, or never will be by this bot
            await self.pins.drop(pin.run_id, pin.room_id)
            return True
        return False

    # -- when a run ends -----------------------------------------------------------------------

    async def _run_ended(self, run: Run, room_id: str) -> bool:
        if run.state == "cancelled":
            return True
        return room_id not in {m.room_id for m in await self.coalitions.members(run.coalition)}

    async def finish_at(self, run: Run) -> datetime | None:
        """When a finished run's pins come down (None: it has not finished)."""
        if run.state != "done":
            return None
        sent = [d.sent_at for d in await self.runs.deliveries(run.run_id) if d.sent_at is not None]
        return (max(sent) if sent else run.action_at) + PINNED_AFTER_LAST

    async def settle_pins(self, run_id: str) -> int:
        """Take down the run's pins where the run has ended; when it finished, at the moment its
        last phase has been up long enough (a job, rebuilt at start). How many came down."""
        mine = await self.pins.of_run(run_id)
        if not mine:
            self.host.schedule.cancel(unpin_job_id(run_id))
            return 0
        run = await self.runs.get(run_id)
        members: set[str] = set()
        ended = run is None or run.state == "cancelled"
        if run is not None and not ended:
            members = {m.room_id for m in await self.coalitions.members(run.coalition)}
            finish = await self.finish_at(run)
            if finish is not None and finish <= self.host.clock():
                ended = True
            elif finish is not None:
                self.host.schedule.at(unpin_job_id(run_id), finish, self.settle_pins, run_id)
        down = 0
        for pin in mine:
            if not (ended or pin.room_id not in members):
                continue
            async with self._room_lock(pin.room_id):  # a phase being pinned there goes first
                if await self.pins.get(run_id, pin.room_id) != pin:
                    continue  # replaced meanwhile: the newer pin is settled on its own
                if await self._take_down(pin):
                    down += 1
        if down:
            log.info("herald: run %s ended; %d pins taken down", run_id, down)
        return down

    async def settle_all_pins(self) -> int:
        """Every run with a pin up, looked at again (at start, and by the sweeper)."""
        return sum([await self.settle_pins(run_id) for run_id in await self.pins.run_ids()])

    async def forget_room_pins(self, room_id: str) -> int:
        """The bot is out of ``room_id``: its pins there are the room's now (it cannot unpin)."""
        return await self.pins.forget_room(room_id)

    async def forget_expired_pins(self, cutoff: datetime) -> int:
        """Rows of runs that expired (or are gone), and what settling takes down."""
        settled = 0
        try:
            settled = await self.settle_all_pins()
        except (MatrixError, Offline):  # the homeserver away, or offline (affinity forget)
            log.info("herald: pins not settled now; their rows expire with their runs")
        return settled + await self.pins.forget_stale(cutoff)
