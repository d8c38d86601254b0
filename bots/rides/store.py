"""The rides' tables: offers, needs, proposals, and the messages to redact with the run."""

from __future__ import annotations

from datetime import datetime

from protocols.dayofaction.rides import Need, Offer, Proposal
from storage.db import Database
from storage.run_scoped import run_scope, scoped_messages


class RideStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_offer(
        self, run_id: str, room_id: str, driver: str, area: str, at: int, seats: int, forget_at: datetime
    ) -> int:
        return await self._db.insert(
            "INSERT INTO rides_offer (run_id, room_id, driver, area, at_min, seats, forget_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, room_id, driver, area, at, seats, forget_at.timestamp()),
        )

    async def add_need(
        self,
        run_id: str,
        room_id: str,
        rider: str,
        area: str,
        seats: int,
        at: int | None,
        forget_at: datetime,
    ) -> int:
        return await self._db.insert(
            "INSERT INTO rides_need (run_id, room_id, rider, area, seats, at_min, forget_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run_id, room_id, rider, area, seats, at, forget_at.timestamp()),
        )

    async def offers(self, run_id: str) -> list[Offer]:
        rows = await self._db.fetchall(
            "SELECT id, driver, area, at_min, seats FROM rides_offer WHERE run_id = ? ORDER BY id", (run_id,)
        )
        return [Offer(int(i), str(d), str(a), int(t), int(s)) for i, d, a, t, s in rows]

    async def needs(self, run_id: str) -> list[Need]:
        rows = await self._db.fetchall(
            "SELECT id, rider, area, seats, at_min FROM rides_need WHERE run_id = ? ORDER BY id", (run_id,)
        )
        return [Need(int(i), str(r), str(a), int(s), None if t is None else int(t)) for i, r, a, s, t in rows]

    async def proposals(self, run_id: str) -> tuple[list[Proposal], list[tuple[int, int]]]:
        """(pending and approved proposals, refused (offer, need) pairs) of the run."""
        rows = await self._db.fetchall(
            "SELECT p.offer_id, p.need_id, p.seats, p.state FROM rides_proposal p"
            " JOIN rides_offer o ON o.id = p.offer_id WHERE o.run_id = ?",
            (run_id,),
        )
        taken = [Proposal(int(o), int(n), int(s)) for o, n, s, st in rows if st != "refused"]
        refused = [(int(o), int(n)) for o, n, _, st in rows if st == "refused"]
        return taken, refused

    async def propose(self, p: Proposal) -> None:
        await self._db.execute(
            "INSERT INTO rides_proposal (offer_id, need_id, seats, state) VALUES (?, ?, ?, 'pending')",
            (p.offer, p.need, p.seats),
        )

    async def pending_for(self, need_id: int, driver: str) -> tuple[Offer, Need, str] | None:
        """The pending proposal for ``need_id`` whose driver is ``driver``, with the run."""
        row = await self._db.fetchone(
            "SELECT o.id, o.driver, o.area, o.at_min, o.seats, n.id, n.rider, n.area, n.seats, n.at_min, o.run_id"
            " FROM rides_proposal p JOIN rides_offer o ON o.id = p.offer_id JOIN rides_need n ON n.id = p.need_id"
            " WHERE p.need_id = ? AND o.driver = ? AND p.state = 'pending'",
            (need_id, driver),
        )
        if row is None:
            return None
        offer = Offer(int(row[0]), str(row[1]), str(row[2]), int(row[3]), int(row[4]))
        need = Need(
            int(row[5]), str(row[6]), str(row[7]), int(row[8]), None if row[9] is None else int(row[9])
        )
        return offer, need, str(row[10])

    async def asked_in(self, offer_id: int, need_id: int) -> tuple[str | None, str | None]:
        """The rooms the offer and the need were made in (a member room, or a direct chat): the
        driver's and the rider's direct chats about them take their language from there."""
        offer = await self._db.fetchone("SELECT room_id FROM rides_offer WHERE id = ?", (offer_id,))
        need = await self._db.fetchone("SELECT room_id FROM rides_need WHERE id = ?", (need_id,))
        return (None if offer is None else str(offer[0])), (None if need is None else str(need[0]))

    async def decide(self, offer_id: int, need_id: int, state: str) -> None:
        await self._db.execute(
            "UPDATE rides_proposal SET state = ? WHERE offer_id = ? AND need_id = ? AND state = 'pending'",
            (state, offer_id, need_id),
        )

    async def add_message(self, room_id: str, event_id: str, run_id: str, forget_at: datetime) -> None:
        await self._db.execute(
            "INSERT OR IGNORE INTO rides_message (room_id, event_id, run_id, forget_at) VALUES (?, ?, ?, ?)",
            (room_id, event_id, run_id, forget_at.timestamp()),
        )

    async def messages(
        self, *, now: datetime | None = None, run_id: str | None = None
    ) -> list[tuple[str, str]]:
        return await scoped_messages(self._db, "rides_message", now=now, run_id=run_id)

    async def forget(
        self, *, now: datetime | None = None, run_id: str | None = None, room_id: str | None = None
    ) -> int:
        """Delete what expired by ``now``, or everything of a run, or said in a room."""
        where, params = run_scope(now=now, run_id=run_id, room_id=room_id)
        async with self._db.transaction() as conn:
            gone = (await conn.execute(f"DELETE FROM rides_offer WHERE {where}", params)).rowcount
            gone += (await conn.execute(f"DELETE FROM rides_need WHERE {where}", params)).rowcount
            await conn.execute(f"DELETE FROM rides_message WHERE {where}", params)
        return gone
