"""The care feature's repositories: rotas (their state as JSON that :mod:`protocols.rota`
reads), swap requests, sent reminders and the bot's direct rooms.

Every row is this bot's own (several bots share a database), either by a ``bot`` column or
through its rota. Times are stored as UTC timestamps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiosqlite

from protocols.recurrence import describe, load_recurrence
from protocols.rota import Rota, Turn
from storage.db import Database


def _ts(instant: datetime) -> float:
    return instant.timestamp()


def _dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _turn_json(turn: Turn) -> dict[str, Any]:
    return {
        "n": turn.number,
        "at": _ts(turn.at),
        "holders": list(turn.holders),
        "offered": list(turn.offered),
        "reminded": list(turn.reminded),
        "flagged": turn.flagged,
    }


def _turn_of(raw: dict[str, Any]) -> Turn:
    return Turn(
        int(raw["n"]),
        _dt(float(raw["at"])),
        tuple(raw["holders"]),
        tuple(raw["offered"]),
        tuple(raw["reminded"]),
        bool(raw["flagged"]),
    )


def dump_state(rota: Rota) -> str:
    """Everything of a rota but its name and recurrence (their own columns)."""
    return json.dumps(
        {
            "size": rota.size,
            "seed": rota.seed,
            "created": _ts(rota.created),
            "pool": sorted(rota.pool),
            "away": {m: _ts(u) for m, u in sorted(rota.away.items())},
            "turns": [_turn_json(t) for t in rota.turns],
            "done": dict(sorted(rota.done.items())),
            "credit": dict(sorted(rota.credit.items())),
            "seen": sorted(rota.seen),
            "next": rota.next_number,
            "given_through": None if rota.given_through is None else _ts(rota.given_through),
            "remind": None if rota.remind is None else rota.remind.total_seconds(),
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class StoredRota:
    id: int
    room_id: str
    rota: Rota
    handled_through: datetime
    created_at: datetime


def _row_to_rota(row: aiosqlite.Row) -> StoredRota:
    zone = ZoneInfo(row["zone"])
    recurrence = load_recurrence(row["recurrence"], zone, date.fromisoformat(row["start_date"]))
    raw = json.loads(row["state"])
    rota = Rota(
        name=row["name"],
        recurrence=recurrence,
        size=int(raw["size"]),
        seed=int(raw["seed"]),
        created=_dt(float(raw["created"])),
        pool=frozenset(raw["pool"]),
        away={m: _dt(float(u)) for m, u in raw["away"].items()},
        turns=tuple(_turn_of(t) for t in raw["turns"]),
        done={m: int(n) for m, n in raw["done"].items()},
        credit={m: int(n) for m, n in raw["credit"].items()},
        seen=frozenset(raw["seen"]),
        next_number=int(raw["next"]),
        given_through=None if raw["given_through"] is None else _dt(float(raw["given_through"])),
        remind=None if raw.get("remind") is None else timedelta(seconds=float(raw["remind"])),
    )
    return StoredRota(
        int(row["id"]),
        row["room_id"],
        rota,
        _dt(float(row["handled_through"])),
        _dt(float(row["created_at"])),
    )


class Rotas:
    """This bot's rotas, per room; ids are shown to nobody (rotas are named in their room)."""

    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    async def add(self, room_id: str, rota: Rota, now: datetime) -> StoredRota:
        rota_id = await self._db.insert(
            "INSERT INTO care_rota (bot, room_id, name, recurrence, start_date, zone, state,"
            " handled_through, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._bot,
                room_id,
                rota.name,
                describe(rota.recurrence),
                rota.recurrence.start.isoformat(),
                rota.recurrence.zone.key,
                dump_state(rota),
                _ts(now),
                _ts(now),
            ),
        )
        stored = await self.get(rota_id)
        assert stored is not None
        return stored

    async def get(self, rota_id: int) -> StoredRota | None:
        row = await self._db.fetchone(
            "SELECT * FROM care_rota WHERE id = ? AND bot = ?", (rota_id, self._bot)
        )
        return None if row is None else _row_to_rota(row)

    async def named(self, room_id: str, name: str) -> StoredRota | None:
        row = await self._db.fetchone(
            "SELECT * FROM care_rota WHERE bot = ? AND room_id = ? AND name = ?",
            (self._bot, room_id, name),
        )
        return None if row is None else _row_to_rota(row)

    async def in_room(self, room_id: str) -> list[StoredRota]:
        rows = await self._db.fetchall(
            "SELECT * FROM care_rota WHERE bot = ? AND room_id = ? ORDER BY name", (self._bot, room_id)
        )
        return [_row_to_rota(r) for r in rows]

    async def all(self) -> list[StoredRota]:
        rows = await self._db.fetchall("SELECT * FROM care_rota WHERE bot = ? ORDER BY id", (self._bot,))
        return [_row_to_rota(r) for r in rows]

    async def save(self, rota_id: int, rota: Rota, handled_through: datetime | None = None) -> None:
        if handled_through is None:
            await self._db.execute("UPDATE care_rota SET state = ? WHERE id = ?", (dump_state(rota), rota_id))
        else:
            await self._db.execute(
                "UPDATE care_rota SET state = ?, handled_through = ? WHERE id = ?",
                (dump_state(rota), _ts(handled_through), rota_id),
            )

    async def mark_handled(self, rota_id: int, previous: datetime, through: datetime) -> bool:
        """Compare-and-set the last occurrence handled: False if another run handled it."""
        changed = await self._db.execute(
            "UPDATE care_rota SET handled_through = ? WHERE id = ? AND handled_through = ?",
            (_ts(through), rota_id, _ts(previous)),
        )
        return changed > 0

    async def remove(self, rota_id: int) -> bool:
        return await self._db.execute("DELETE FROM care_rota WHERE id = ?", (rota_id,)) > 0

    async def forget_room(self, room_id: str) -> list[int]:
        rows = await self._db.fetchall(
            "SELECT id FROM care_rota WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )
        await self._db.execute("DELETE FROM care_rota WHERE bot = ? AND room_id = ?", (self._bot, room_id))
        return [int(r["id"]) for r in rows]


@dataclass(frozen=True)
class SwapRequest:
    id: int
    rota_id: int
    room_id: str
    turn_number: int
    turn_at: datetime
    giver: str
    event_id: str | None


class SwapRequests:
    """Requests that someone take a turn, answered by ``!rota take <id>`` or a reaction."""

    _SELECT = (
        "SELECT s.id, s.rota_id, r.room_id, s.turn_number, s.turn_at, s.giver, s.event_id "
        "FROM care_swap s JOIN care_rota r ON r.id = s.rota_id WHERE r.bot = ?"
    )

    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    @staticmethod
    def _of(row: aiosqlite.Row) -> SwapRequest:
        return SwapRequest(
            int(row["id"]),
            int(row["rota_id"]),
            row["room_id"],
            int(row["turn_number"]),
            _dt(float(row["turn_at"])),
            row["giver"],
            row["event_id"],
        )

    async def add(self, rota_id: int, turn: Turn, giver: str, now: datetime) -> int:
        return await self._db.insert(
            "INSERT INTO care_swap (rota_id, turn_number, turn_at, giver, created_at) VALUES (?, ?, ?, ?, ?)",
            (rota_id, turn.number, _ts(turn.at), giver, _ts(now)),
        )

    async def set_event(self, request_id: int, event_id: str) -> None:
        await self._db.execute("UPDATE care_swap SET event_id = ? WHERE id = ?", (event_id, request_id))

    async def get(self, request_id: int) -> SwapRequest | None:
        row = await self._db.fetchone(self._SELECT + " AND s.id = ?", (self._bot, request_id))
        return None if row is None else self._of(row)

    async def by_event(self, room_id: str, event_id: str) -> SwapRequest | None:
        row = await self._db.fetchone(
            self._SELECT + " AND r.room_id = ? AND s.event_id = ?", (self._bot, room_id, event_id)
        )
        return None if row is None else self._of(row)

    async def of_rota(self, rota_id: int) -> list[SwapRequest]:
        rows = await self._db.fetchall(
            self._SELECT + " AND s.rota_id = ? ORDER BY s.id", (self._bot, rota_id)
        )
        return [self._of(r) for r in rows]

    async def ended(self, now: datetime, created_before: datetime) -> list[SwapRequest]:
        """Requests whose turn has passed, or older than the retention."""
        rows = await self._db.fetchall(
            self._SELECT + " AND (s.turn_at <= ? OR s.created_at < ?) ORDER BY s.id",
            (self._bot, _ts(now), _ts(created_before)),
        )
        return [self._of(r) for r in rows]

    async def delete(self, request_id: int) -> None:
        await self._db.execute("DELETE FROM care_swap WHERE id = ?", (request_id,))


class Reminders:
    """Where each DM reminder is, to redact it after the retention (never for whom)."""

    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    async def add(self, room_id: str, event_id: str, now: datetime) -> None:
        await self._db.insert(
            "INSERT INTO care_reminder (bot, room_id, event_id, sent_at) VALUES (?, ?, ?, ?)",
            (self._bot, room_id, event_id, _ts(now)),
        )

    async def older_than(self, cutoff: datetime) -> list[tuple[int, str, str]]:
        rows = await self._db.fetchall(
            "SELECT id, room_id, event_id FROM care_reminder WHERE bot = ? AND sent_at < ?",
            (self._bot, _ts(cutoff)),
        )
        return [(int(r["id"]), r["room_id"], r["event_id"]) for r in rows]

    async def by_event(self, room_id: str, event_id: str) -> int | None:
        """The reminder (or delivered note) that is this message, if it is one of ours."""
        row = await self._db.fetchone(
            "SELECT id FROM care_reminder WHERE bot = ? AND room_id = ? AND event_id = ?",
            (self._bot, room_id, event_id),
        )
        return None if row is None else int(row["id"])

    async def delete(self, reminder_id: int) -> None:
        await self._db.execute("DELETE FROM care_reminder WHERE id = ?", (reminder_id,))

    async def forget_room(self, room_id: str) -> int:
        return await self._db.execute(
            "DELETE FROM care_reminder WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )


class DirectRooms:
    """The bot's direct room with each person it reminds or hands a note to."""

    def __init__(self, db: Database, bot: str) -> None:
        self._db = db
        self._bot = bot

    async def get(self, user_id: str) -> str | None:
        row = await self._db.fetchone(
            "SELECT room_id FROM care_dm WHERE bot = ? AND user_id = ?", (self._bot, user_id)
        )
        return None if row is None else str(row["room_id"])

    async def put(self, user_id: str, room_id: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO care_dm (bot, user_id, room_id, used_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (bot, user_id) DO UPDATE SET room_id = excluded.room_id, used_at = excluded.used_at",
            (self._bot, user_id, room_id, _ts(now)),
        )

    async def is_dm(self, room_id: str) -> str | None:
        """The person whose direct room this is (None: not one of ours)."""
        row = await self._db.fetchone(
            "SELECT user_id FROM care_dm WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )
        return None if row is None else str(row["user_id"])

    async def unused_since(self, cutoff: datetime) -> int:
        return await self._db.execute(
            "DELETE FROM care_dm WHERE bot = ? AND used_at < ?", (self._bot, _ts(cutoff))
        )

    async def forget_room(self, room_id: str) -> int:
        return await self._db.execute(
            "DELETE FROM care_dm WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )
