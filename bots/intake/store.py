"""The intake's tables: started runs, respondents in progress, finished answers, messages."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from storage.db import Database
from storage.run_scoped import run_scope, scoped_messages


@dataclass(frozen=True)
class Respondent:
    run_id: str
    user_id: str
    room_id: str
    dm_room: str
    step: int
    answers: dict[str, str]
    done: bool


class IntakeStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(self, run_id: str, forget_at: datetime) -> bool:
        """True the first time a run's intake starts."""
        return (
            await self._db.execute(
                "INSERT OR IGNORE INTO intake_run (run_id, forget_at) VALUES (?, ?)",
                (run_id, forget_at.timestamp()),
            )
            > 0
        )

    async def started(self, run_id: str) -> bool:
        return await self._db.fetchone("SELECT 1 FROM intake_run WHERE run_id = ?", (run_id,)) is not None

    async def respondent(self, run_id: str, user_id: str) -> Respondent | None:
        row = await self._db.fetchone(
            "SELECT run_id, user_id, room_id, dm_room, step, answers, done FROM intake_respondent"
            " WHERE run_id = ? AND user_id = ?",
            (run_id, user_id),
        )
        return None if row is None else _respondent(row)

    async def answering_in(self, dm_room: str, user_id: str) -> Respondent | None:
        """The survey this person is answering in this DM (the newest, if several)."""
        row = await self._db.fetchone(
            "SELECT run_id, user_id, room_id, dm_room, step, answers, done FROM intake_respondent"
            " WHERE dm_room = ? AND user_id = ? AND done = 0 ORDER BY rowid DESC LIMIT 1",
            (dm_room, user_id),
        )
        return None if row is None else _respondent(row)

    async def opt_in(
        self, run_id: str, user_id: str, room_id: str, dm_room: str, forget_at: datetime
    ) -> None:
        await self._db.execute(
            "INSERT INTO intake_respondent (run_id, user_id, room_id, dm_room, forget_at) VALUES (?, ?, ?, ?, ?)",
            (run_id, user_id, room_id, dm_room, forget_at.timestamp()),
        )

    async def advance(self, r: Respondent, answers: Mapping[str, str]) -> None:
        await self._db.execute(
            "UPDATE intake_respondent SET step = ?, answers = ? WHERE run_id = ? AND user_id = ?",
            (r.step + 1, json.dumps(dict(answers)), r.run_id, r.user_id),
        )

    async def finish(self, r: Respondent, answers: Mapping[str, str], forget_at: datetime) -> None:
        """Move the answers under a random token; the respondent row keeps only "done"."""
        token = secrets.token_hex(8)
        async with self._db.transaction() as conn:
            for question, value in answers.items():
                await conn.execute(
                    "INSERT INTO intake_answer (run_id, room_id, token, question, value, forget_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (r.run_id, r.room_id, token, question, value, forget_at.timestamp()),
                )
            await conn.execute(
                "UPDATE intake_respondent SET done = 1, step = ?, answers = '{}' WHERE run_id = ? AND user_id = ?",
                (r.step + 1, r.run_id, r.user_id),
            )

    async def answers(self, run_id: str) -> dict[str, list[dict[str, str]]]:
        """room -> one mapping per finished respondent."""
        rows = await self._db.fetchall(
            "SELECT room_id, token, question, value FROM intake_answer WHERE run_id = ? ORDER BY room_id, token",
            (run_id,),
        )
        people: dict[tuple[str, str], dict[str, str]] = {}
        for room, token, question, value in rows:
            people.setdefault((str(room), str(token)), {})[str(question)] = str(value)
        out: dict[str, list[dict[str, str]]] = {}
        for (room, _), answers in people.items():
            out.setdefault(room, []).append(answers)
        return out

    async def add_message(
        self, room_id: str, event_id: str, run_id: str, forget_at: datetime, *, invitation: bool = False
    ) -> None:
        await self._db.execute(
            "INSERT OR IGNORE INTO intake_message (room_id, event_id, run_id, invitation, forget_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (room_id, event_id, run_id, int(invitation), forget_at.timestamp()),
        )

    async def invitation_run(self, room_id: str, event_id: str) -> str | None:
        row = await self._db.fetchone(
            "SELECT run_id FROM intake_message WHERE room_id = ? AND event_id = ? AND invitation = 1",
            (room_id, event_id),
        )
        return None if row is None else str(row[0])

    async def messages(
        self, *, now: datetime | None = None, run_id: str | None = None
    ) -> list[tuple[str, str]]:
        return await scoped_messages(self._db, "intake_message", now=now, run_id=run_id)

    async def forget(
        self, *, now: datetime | None = None, run_id: str | None = None, room_id: str | None = None
    ) -> int:
        where, params = run_scope(now=now, run_id=run_id, room_id=room_id)
        async with self._db.transaction() as conn:
            gone = 0
            for table in ("intake_answer", "intake_respondent", "intake_message"):
                gone += (await conn.execute(f"DELETE FROM {table} WHERE {where}", params)).rowcount
            if room_id is None:
                await conn.execute(f"DELETE FROM intake_run WHERE {where}", params)
            else:  # a DM the bot was removed from: the survey answered there cannot go on
                gone += (
                    await conn.execute("DELETE FROM intake_respondent WHERE dm_room = ?", (room_id,))
                ).rowcount
        return gone


def _respondent(r: aiosqlite.Row) -> Respondent:
    return Respondent(
        str(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), dict(json.loads(str(r[5]))), bool(r[6])
    )
