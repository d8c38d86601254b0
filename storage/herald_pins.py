"""What the herald remembers of the native affordances it set up (issue 17): the phase message
each run pinned in each member room, and the space it made for a coalition.

Both are small and short-lived: a pin row goes once the pin is taken down (the run ended), a
space row with its coalition. Neither names a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.herald_scope import _Scoped
from storage.times import from_ts
from storage.times import to_ts as _ts


@dataclass(frozen=True)
class RunPin:
    run_id: str
    room_id: str
    event_id: str
    due_at: datetime  # the pinned phase's due time: only a later phase replaces it
    pinned_at: datetime


_PIN = "run_id, room_id, event_id, due_at, pinned_at"


def _pin(r: Any) -> RunPin:
    return RunPin(str(r[0]), str(r[1]), str(r[2]), from_ts(r[3]), from_ts(r[4]))


class HeraldPins(_Scoped):
    """One row per (run, room): the event this bot pinned there for the run."""

    async def get(self, run_id: str, room_id: str) -> RunPin | None:
        row = await self._db.fetchone(
            f"SELECT {_PIN} FROM herald_pin WHERE bot = ? AND run_id = ? AND room_id = ?",
            (self._bot, run_id, room_id),
        )
        return None if row is None else _pin(row)

    async def of_run(self, run_id: str) -> list[RunPin]:
        rows = await self._db.fetchall(
            f"SELECT {_PIN} FROM herald_pin WHERE bot = ? AND run_id = ? ORDER BY room_id",
            (self._bot, run_id),
        )
        return [_pin(r) for r in rows]

    async def run_ids(self) -> list[str]:
        """Every run that has a pin up (what a restart or a sweep looks at again)."""
        extra, params = self._only()
        rows = await self._db.fetchall(
            "SELECT DISTINCT run_id FROM herald_pin WHERE 1 = 1" + extra + " ORDER BY run_id", params
        )
        return [str(r[0]) for r in rows]

    async def put(self, pin: RunPin) -> None:
        await self._db.execute(
            "INSERT INTO herald_pin (bot, run_id, room_id, event_id, due_at, pinned_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (bot, run_id, room_id) DO UPDATE SET"
            " event_id = excluded.event_id, due_at = excluded.due_at, pinned_at = excluded.pinned_at",
            (self._bot, pin.run_id, pin.room_id, pin.event_id, _ts(pin.due_at), _ts(pin.pinned_at)),
        )

    async def drop(self, run_id: str, room_id: str) -> bool:
        return bool(
            await self._db.execute(
                "DELETE FROM herald_pin WHERE bot = ? AND run_id = ? AND room_id = ?",
                (self._bot, run_id, room_id),
            )
        )

    async def forget_room(self, room_id: str) -> int:
        extra, params = self._only()
        return await self._db.execute("DELETE FROM herald_pin WHERE room_id = ?" + extra, (room_id, *params))

    async def forget_stale(self, cutoff: datetime) -> int:
        """Rows older than ``cutoff`` (their run's retention) or whose run is gone."""
        extra, params = self._only()
        return await self._db.execute(
            "DELETE FROM herald_pin WHERE (pinned_at < ? OR NOT EXISTS (SELECT 1 FROM herald_run r"
            " WHERE r.run_id = herald_pin.run_id AND r.bot = herald_pin.bot))" + extra,
            (_ts(cutoff), *params),
        )


@dataclass(frozen=True)
class CoalitionSpace:
    coalition: str
    space_id: str


class HeraldSpaces(_Scoped):
    """The space this bot made for a coalition (at most one each)."""

    async def get(self, coalition: str) -> CoalitionSpace | None:
        row = await self._db.fetchone(
            "SELECT coalition, space_id FROM herald_space WHERE bot = ? AND coalition = ?",
            (self._bot, coalition),
        )
        return None if row is None else CoalitionSpace(str(row[0]), str(row[1]))

    async def put(self, coalition: str, space_id: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO herald_space (bot, coalition, space_id, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (bot, coalition) DO UPDATE SET space_id = excluded.space_id",
            (self._bot, coalition, space_id, _ts(now)),
        )

    async def every(self) -> list[CoalitionSpace]:
        rows = await self._db.fetchall(
            "SELECT coalition, space_id FROM herald_space WHERE bot = ? ORDER BY coalition", (self._bot,)
        )
        return [CoalitionSpace(str(r[0]), str(r[1])) for r in rows]

    async def orphans(self) -> list[CoalitionSpace]:
        """Spaces whose coalition this bot no longer has."""
        extra, params = self._only("s.")
        rows = await self._db.fetchall(
            "SELECT s.coalition, s.space_id FROM herald_space s WHERE NOT EXISTS (SELECT 1 FROM"
            " herald_coalition c WHERE c.name = s.coalition AND c.bot = s.bot)" + extra,
            params,
        )
        return [CoalitionSpace(str(r[0]), str(r[1])) for r in rows]

    async def drop(self, coalition: str) -> bool:
        extra, params = self._only()
        return bool(
            await self._db.execute(
                "DELETE FROM herald_space WHERE coalition = ?" + extra, (coalition, *params)
            )
        )

    async def forget_room(self, room_id: str) -> int:
        """The space itself removed the bot (it can no longer keep the space in step)."""
        extra, params = self._only()
        return await self._db.execute(
            "DELETE FROM herald_space WHERE space_id = ?" + extra, (room_id, *params)
        )
