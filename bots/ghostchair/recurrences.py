"""Gatherings beyond weekly in the store: :class:`RecurringGatherings` is the gatherings'
repository with the ghost chair's own table ``ghostchair_recurrence`` beside it.

A recurring gathering is written as a weekly row (the weekday of its first occurrence, its
time, its end date) so every reader of ``ghost_gathering`` stays valid, with its sunset columns
set from the recurrence; the recurrence itself is in this feature's table, and every gathering
read through this repository carries it (:class:`protocols.schedule.Recurring`). Cancelling or
forgetting the gathering deletes it with the row (ON DELETE CASCADE).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from protocols.gathering import GatheringSpec
from protocols.recurrence import describe, load_recurrence
from protocols.schedule import Recurring, Weekly, ends_at, final_occurrence, next_occurrence
from storage.ghostchair import Gathering, Gatherings


class RecurringGatherings(Gatherings):
    async def add(self, room_id: str, spec: GatheringSpec, created_by: str, now: datetime) -> Gathering:
        schedule = spec.schedule
        if not isinstance(schedule, Recurring):
            return await super().add(room_id, spec, created_by, now)
        recurrence = schedule.recurrence
        first = next_occurrence(schedule, now)
        assert first is not None and recurrence.at is not None  # checked when parsed
        weekday = first.astimezone(recurrence.zone).weekday()
        placeholder = Weekly(weekday, recurrence.at, recurrence.zone, recurrence.until)
        end, final = ends_at(schedule), final_occurrence(schedule)
        async with self._db.transaction():
            stored = await super().add(room_id, replace(spec, schedule=placeholder), created_by, now)
            await self._db.execute(
                "INSERT INTO ghostchair_recurrence (gathering_id, recurrence, start_date) VALUES (?, ?, ?)",
                (stored.id, describe(recurrence), recurrence.start.isoformat()),
            )
            await self._db.execute(
                "UPDATE ghost_gathering SET ends_utc = ?, final_utc = ? WHERE id = ?",
                (
                    None if end is None else end.timestamp(),
                    None if final is None else final.timestamp(),
                    stored.id,
                ),
            )
        return replace(stored, schedule=schedule)

    async def _with_recurrence(self, gatherings: list[Gathering]) -> list[Gathering]:
        if not gatherings:
            return gatherings
        marks = ",".join("?" for _ in gatherings)
        rows = await self._db.fetchall(
            f"SELECT gathering_id, recurrence, start_date FROM ghostchair_recurrence WHERE gathering_id IN ({marks})",
            [g.id for g in gatherings],
        )
        found = {int(r[0]): (str(r[1]), date.fromisoformat(str(r[2]))) for r in rows}
        out = []
        for gathering in gatherings:
            if gathering.id in found:
                text, start = found[gathering.id]
                recurrence = load_recurrence(text, gathering.schedule.zone, start)
                gathering = replace(gathering, schedule=Recurring(recurrence))
            out.append(gathering)
        return out

    async def get(self, gathering_id: int) -> Gathering | None:
        gathering = await super().get(gathering_id)
        return None if gathering is None else (await self._with_recurrence([gathering]))[0]

    async def in_room(self, room_id: str) -> list[Gathering]:
        return await self._with_recurrence(await super().in_room(room_id))

    async def all(self) -> list[Gathering]:
        return await self._with_recurrence(await super().all())

    async def expired(self, now: datetime) -> list[Gathering]:
        return await self._with_recurrence(await super().expired(now))
