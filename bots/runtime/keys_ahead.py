"""Room keys shared before they are needed.

nio keeps its outbound Megolm sessions in memory only, so after a restart each encrypted room
pays a whole key share (claiming one-time keys, one to-device message per device) on its first
send: exactly when a herald phase is due in a thousand rooms at once. A feature that knows when
it will send says so ahead (``host.prepare_rooms(rooms, by=when)``); from ``lead`` before that
time this worker loads each room's state, settles which devices are trusted and shares the
room's session with them, at most ``per_second`` rooms a second so as not to flood the
homeserver, soonest deadline first. The send itself then goes out at plain-room speed.

A room whose deadline has passed is dropped (its send shares the key itself); a failure is
logged and the room tried again a few times; nothing here is durable, because a restart asks
again (features schedule their jobs, and with them their preparations, at start).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from bots.runtime.errors import MatrixError, RateLimited, TransportError
from bots.runtime.ids import RoomID

log = logging.getLogger(__name__)

ShareFn = Callable[[RoomID], Awaitable[bool]]
MAX_TRIES = 3


class KeysAhead:
    """Rooms waiting for their keys to be shared, by the time their send is due."""

    def __init__(
        self,
        share: ShareFn,
        clock: Callable[[], datetime],
        lead: timedelta = timedelta(minutes=10),
        per_second: float = 5.0,
    ) -> None:
        self._share = share
        self._clock = clock
        self.lead = lead
        self._pause = 1.0 / per_second if per_second > 0 else 0.0
        self._due: dict[RoomID, datetime] = {}
        self._tries: dict[RoomID, int] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.shared = 0  # rooms whose session went out ahead (read by tests and benchmarks)

    def prepare(self, rooms: Iterable[RoomID], by: datetime) -> int:
        """Share the rooms' keys before ``by`` (the earliest deadline asked for a room wins);
        how many rooms are waiting now."""
        for room in rooms:
            known = self._due.get(room)
            if known is None or by < known:
                self._due[room] = by
        self._wake.set()
        return len(self._due)

    def pending(self) -> int:
        return len(self._due)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="keys-ahead")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            room = self._next_ready()
            if room is None:
                await self._wait(self._seconds_to_next())
                continue
            await self._one(room)
            if self._pause:
                await asyncio.sleep(self._pause)

    def _next_ready(self) -> RoomID | None:
        now = self._clock()
        for room, by in list(self._due.items()):
            if by <= now:  # too late: the send shares the key itself
                del self._due[room]
                self._tries.pop(room, None)
        ready = [(by, room) for room, by in self._due.items() if by - self.lead <= now]
        return min(ready)[1] if ready else None

    def _seconds_to_next(self) -> float | None:
        if not self._due:
            return None
        start = min(self._due.values()) - self.lead
        return max(0.05, (start - self._clock()).total_seconds())

    async def _wait(self, seconds: float | None) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            pass

    async def _one(self, room: RoomID) -> None:
        try:
            if await self._share(room):
                self.shared += 1
        except RateLimited as exc:
            log.info("sharing room keys ahead: rate limited; waiting %d ms", exc.retry_after_ms)
            await asyncio.sleep(exc.retry_after_ms / 1000)
            return  # still due: tried again
        except (MatrixError, TransportError) as exc:
            tries = self._tries.get(room, 0) + 1
            self._tries[room] = tries
            log.warning("sharing room keys ahead failed (%s, try %d)", type(exc).__name__, tries)
            if tries < MAX_TRIES:
                return
        except Exception:  # a bug must not stop the worker; the send shares the key itself
            log.exception("sharing room keys ahead failed")
        self._due.pop(room, None)
        self._tries.pop(room, None)
