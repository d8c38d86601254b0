"""The slots' tables: a room's slots in a run, their queues, and the lists posted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from protocols.dayofaction.slots import Slot, SlotSpec
from storage.db import Database
from storage.run_scoped import run_scope


def _ts(at: datetime | None) -> float | None:
    return None if at is None else at.timestamp()


class SlotStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def ensure(
        self,
        run_id: str,
        room_id: str,
        specs: Sequence[SlotSpec],
        closes_at: datetime | None,
        forget_at: datetime,
    ) -> None:
        """The room's slots for the run, created once (a later call changes nothing). Without a
        deadline a slot is first-come from the start (``drawn``: no draw will come)."""
        async with self._db.transaction() as conn:
            for spec in specs:
                await conn.execute(
                    "INSERT OR IGNORE INTO slots_slot (run_id, room_id, name, capacity, closes_at, drawn, forget_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        run_id,
                        room_id,
                        spec.name,
                        spec.capacity,
                        _ts(closes_at),
                        int(closes_at is None),
                        forget_at.timestamp(),
                    ),
                )

    async def load(self, run_id: str, room_id: str) -> dict[str, Slot]:
        rows = await self._db.fetchall(
            "SELECT name, capacity, drawn FROM slots_slot WHERE run_id = ? AND room_id = ?", (run_id, room_id)
        )
        claims = await self._db.fetchall(
            "SELECT name, user_id FROM slots_claim WHERE run_id = ? AND room_id = ? ORDER BY pos",
            (run_id, room_id),
        )
        queues: dict[str, list[str]] = {}
        for name, user in claims:
            queues.setdefault(str(name), []).append(str(user))
        return {str(n): Slot(str(n), int(c), tuple(queues.get(str(n), ())), bool(d)) for n, c, d in rows}

    async def closes_at(self, run_id: str, room_id: str, name: str) -> datetime | None:
        row = await self._db.fetchone(
            "SELECT closes_at FROM slots_slot WHERE run_id = ? AND room_id = ? AND name = ?",
            (run_id, room_id, name),
        )
        return None if row is None or row[0] is None else datetime.fromtimestamp(float(row[0]), UTC)

    async def save(
        self, run_id: str, room_id: str, slot: Slot, claimed: tuple[str, str] | None = None
    ) -> None:
        """Write the slot's queue in order; ``claimed``: (user, event id) of a new claim."""
        async with self._db.transaction() as conn:
            events = {
                str(u): str(e)
                for u, e in await (
                    await conn.execute(
                        "SELECT user_id, event_id FROM slots_claim WHERE run_id = ? AND room_id = ? AND name = ?",
                        (run_id, room_id, slot.name),
                    )
                ).fetchall()
            }
            if claimed is not None:
                events[claimed[0]] = claimed[1]
            await conn.execute(
                "DELETE FROM slots_claim WHERE run_id = ? AND room_id = ? AND name = ?",
                (run_id, room_id, slot.name),
            )
            for pos, user in enumerate(slot.queue):
                await conn.execute(
                    "INSERT INTO slots_claim (run_id, room_id, name, user_id, pos, event_id) VALUES (?, ?, ?, ?, ?, ?)",
                    (run_id, room_id, slot.name, user, pos, events[user]),
                )
            await conn.execute(
                "UPDATE slots_slot SET drawn = ? WHERE run_id = ? AND room_id = ? AND name = ?",
                (int(slot.drawn), run_id, room_id, slot.name),
            )

    async def contributions(self, run_id: str, room_id: str, name: str) -> list[str]:
        rows = await self._db.fetchall(
            "SELECT event_id FROM slots_claim WHERE run_id = ? AND room_id = ? AND name = ?",
            (run_id, room_id, name),
        )
        return [str(r[0]) for r in rows]

    async def seed(self, run_id: str, room_id: str, name: str) -> bytes | None:
        row = await self._db.fetchone(
            "SELECT seed FROM slots_slot WHERE run_id = ? AND room_id = ? AND name = ?",
            (run_id, room_id, name),
        )
        return None if row is None or row[0] is None else bytes(row[0])

    async def set_seed(self, run_id: str, room_id: str, name: str, seed: bytes | None) -> bool:
        """Keep a seed once (True), or drop it after the draw (``None``)."""
        if seed is None:
            return bool(
                await self._db.execute(
                    "UPDATE slots_slot SET seed = NULL WHERE run_id = ? AND room_id = ? AND name = ?",
                    (run_id, room_id, name),
                )
            )
        changed = await self._db.execute(
            "UPDATE slots_slot SET seed = ? WHERE run_id = ? AND room_id = ? AND name = ? AND seed IS NULL",
            (seed, run_id, room_id, name),
        )
        return changed > 0

    async def undrawn(self) -> list[tuple[str, str, datetime]]:
        """(run, room, closes_at) of every room whose slots still wait for their deadline."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT run_id, room_id, closes_at FROM slots_slot WHERE drawn = 0 AND closes_at IS NOT NULL"
        )
        return [(str(a), str(b), datetime.fromtimestamp(float(c), UTC)) for a, b, c in rows]

    async def add_message(
        self, room_id: str, event_id: str, run_id: str, forget_at: datetime, *, own: bool = True
    ) -> None:
        """A message reactions on which claim a slot: the bot's own (redacted with the run), or
        the herald's checklist (``own=False``: only forgotten)."""
        await self._db.execute(
            "INSERT OR IGNORE INTO slots_message (room_id, event_id, run_id, forget_at, own) VALUES (?, ?, ?, ?, ?)",
            (room_id, event_id, run_id, forget_at.timestamp(), int(own)),
        )

    async def add_poll(
        self, room_id: str, event_id: str, run_id: str, forget_at: datetime, answers: Sequence[str]
    ) -> None:
        """The room's open slot poll for the run, offering ``answers`` (slot names): a message
        of the bot's, redacted with the run."""
        await self._db.execute(
            "INSERT OR IGNORE INTO slots_message (room_id, event_id, run_id, forget_at, own, poll, answers)"
            " VALUES (?, ?, ?, ?, 1, 1, ?)",
            (room_id, event_id, run_id, forget_at.timestamp(), "\n".join(answers)),
        )

    async def open_poll(self, run_id: str, room_id: str) -> tuple[str, tuple[str, ...]] | None:
        """The room's open slot poll for the run: its event id and the slots it offered."""
        row = await self._db.fetchone(
            "SELECT event_id, answers FROM slots_message WHERE run_id = ? AND room_id = ? AND poll = 1",
            (run_id, room_id),
        )
        return None if row is None else (str(row[0]), tuple(str(row[1] or "").split("\n")))

    async def close_poll(self, room_id: str, event_id: str) -> bool:
        """The poll is ended (True the first time): it stays a message to redact with the run."""
        changed = await self._db.execute(
            "UPDATE slots_message SET poll = 2 WHERE room_id = ? AND event_id = ? AND poll = 1",
            (room_id, event_id),
        )
        return changed > 0

    async def run_of_message(self, room_id: str, event_id: str) -> str | None:
        row = await self._db.fetchone(
            "SELECT run_id FROM slots_message WHERE room_id = ? AND event_id = ? AND poll = 0",
            (room_id, event_id),
        )
        return None if row is None else str(row[0])

    async def rooms_of_run(self, run_id: str) -> list[str]:
        rows = await self._db.fetchall("SELECT DISTINCT room_id FROM slots_slot WHERE run_id = ?", (run_id,))
        return [str(r[0]) for r in rows]

    async def messages(
        self, *, now: datetime | None = None, run_id: str | None = None
    ) -> list[tuple[str, str]]:
        """The bot's own messages to redact (not the herald's checklist)."""
        where, params = run_scope(now=now, run_id=run_id)
        rows = await self._db.fetchall(
            f"SELECT room_id, event_id FROM slots_message WHERE own = 1 AND {where}", params
        )
        return [(str(a), str(b)) for a, b in rows]

    async def forget(
        self, *, now: datetime | None = None, run_id: str | None = None, room_id: str | None = None
    ) -> int:
        """Delete what expired by ``now``, or everything of a run, or of a room."""
        where, params = run_scope(now=now, run_id=run_id, room_id=room_id)
        async with self._db.transaction() as conn:
            gone = (await conn.execute(f"DELETE FROM slots_slot WHERE {where}", params)).rowcount
            await conn.execute(f"DELETE FROM slots_message WHERE {where}", params)
        return gone
