"""What a herald caches of its coalitions' control rooms (issue 12): which control room serves
which coalition, the private events received there, the run messages seen in member rooms, and
the revision of each run it shared or adopted. All of it can be rebuilt from the control room and
the other heralds, so forgetting any of it loses nothing the coalition needs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.herald_scope import _Scoped
from storage.times import to_ts as _ts


@dataclass(frozen=True)
class ControlLink:
    coalition: str
    control_room: str


@dataclass(frozen=True)
class StoredCopy:
    run_id: str
    phase: str
    room_id: str
    sender: str
    event_id: str
    origin_ts: int
    digest: str | None


class HeraldControl(_Scoped):
    # -- which control room serves which coalition --

    async def link(self, coalition: str, control_room: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO herald_control (bot, coalition, control_room, joined_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (bot, control_room) DO UPDATE SET coalition = excluded.coalition",
            (self._bot, coalition, control_room, _ts(now)),
        )

    async def links(self) -> list[ControlLink]:
        rows = await self._db.fetchall(
            "SELECT coalition, control_room FROM herald_control WHERE bot = ? ORDER BY coalition",
            (self._bot,),
        )
        return [ControlLink(r[0], r[1]) for r in rows]

    async def control_of(self, coalition: str) -> str | None:
        row = await self._db.fetchone(
            "SELECT control_room FROM herald_control WHERE bot = ? AND coalition = ?", (self._bot, coalition)
        )
        return None if row is None else str(row[0])

    async def unlink(self, control_room: str) -> int:
        extra, params = self._only()
        await self._db.execute(
            "DELETE FROM herald_control_event WHERE control_room = ?" + extra, (control_room, *params)
        )
        return await self._db.execute(
            "DELETE FROM herald_control WHERE control_room = ?" + extra, (control_room, *params)
        )

    # -- private events --

    async def add_event(self, control_room: str, event: dict[str, Any], now: datetime) -> bool:
        content = event.get("content")
        run_id = content.get("run") if isinstance(content, dict) else None
        changed = await self._db.execute(
            "INSERT OR IGNORE INTO herald_control_event"
            " (bot, control_room, event_id, run_id, received_at, source) VALUES (?, ?, ?, ?, ?, ?)",
            (
                self._bot,
                control_room,
                str(event.get("event_id")),
                run_id if isinstance(run_id, str) else None,
                _ts(now),
                json.dumps(event, separators=(",", ":")),
            ),
        )
        return changed == 1

    async def events(self, control_room: str) -> list[dict[str, Any]]:
        rows = await self._db.fetchall(
            "SELECT source FROM herald_control_event WHERE bot = ? AND control_room = ? ORDER BY received_at",
            (self._bot, control_room),
        )
        return [json.loads(r[0]) for r in rows]

    # -- copies seen in member rooms --

    async def add_copy(self, copy: StoredCopy) -> None:
        await self._db.execute(
            "INSERT OR IGNORE INTO herald_copy"
            " (bot, run_id, phase, room_id, sender, event_id, origin_ts, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self._bot,
                copy.run_id,
                copy.phase,
                copy.room_id,
                copy.sender,
                copy.event_id,
                copy.origin_ts,
                copy.digest,
            ),
        )

    async def copies(self, run_id: str) -> list[StoredCopy]:
        rows = await self._db.fetchall(
            "SELECT run_id, phase, room_id, sender, event_id, origin_ts, digest FROM herald_copy"
            " WHERE bot = ? AND run_id = ?",
            (self._bot, run_id),
        )
        return [StoredCopy(*r) for r in rows]

    async def sent_by_another(self, event_id: str, me: str) -> bool:
        """A run message another herald sent (each herald redacts only its own)."""
        row = await self._db.fetchone(
            "SELECT 1 FROM herald_copy WHERE bot = ? AND event_id = ? AND sender != ?",
            (self._bot, event_id, me),
        )
        return row is not None

    # -- the revision shared or adopted --

    async def shared_rev(self, run_id: str) -> tuple[int, str] | None:
        row = await self._db.fetchone(
            "SELECT rev, plan_hash FROM herald_shared_run WHERE bot = ? AND run_id = ?", (self._bot, run_id)
        )
        return None if row is None else (int(row[0]), str(row[1]))

    async def set_shared_rev(self, run_id: str, rev: int, plan_hash: str) -> None:
        await self._db.execute(
            "INSERT INTO herald_shared_run (bot, run_id, rev, plan_hash) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (bot, run_id) DO UPDATE SET rev = excluded.rev, plan_hash = excluded.plan_hash",
            (self._bot, run_id, rev, plan_hash),
        )

    # -- invitations shared by the other heralds (the table is storage.herald_coalitions') --

    async def mirror_invite(
        self,
        coalition: str,
        token_hash: str,
        room_id: str | None,
        issued_by: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        """An open invitation another herald issued, accepted here too (kept as its hash)."""
        await self._db.execute(
            "INSERT OR IGNORE INTO herald_invite"
            " (token_hash, bot, coalition, room_id, created_by, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (token_hash, self._bot, coalition, room_id, issued_by, _ts(now), _ts(expires_at)),
        )

    async def drop_invite(self, token_hash: str) -> int:
        """An invitation spent through another herald (or expired): no longer accepted here."""
        return await self._db.execute(
            "DELETE FROM herald_invite WHERE token_hash = ? AND bot = ?", (token_hash, self._bot)
        )

    # -- forgetting --

    async def forget_runs(self, run_ids: list[str]) -> int:
        """Everything cached about these runs (their runs expired or were forgotten)."""
        extra, params = self._only()
        gone = 0
        for run_id in run_ids:
            for table in ("herald_control_event", "herald_copy", "herald_shared_run"):
                gone += await self._db.execute(
                    f"DELETE FROM {table} WHERE run_id = ?" + extra, (run_id, *params)
                )
        return gone

    async def forget_older_than(self, cutoff: datetime) -> int:
        """Private events received before ``cutoff`` (a charter or liaison is resent on request)."""
        extra, params = self._only()
        return await self._db.execute(
            "DELETE FROM herald_control_event WHERE received_at < ?" + extra, (_ts(cutoff), *params)
        )

    async def forget_room(self, room_id: str) -> int:
        """A room that removed the bot: its control link (and events) or its copies."""
        extra, params = self._only()
        gone = await self.unlink(room_id)
        gone += await self._db.execute(
            "DELETE FROM herald_copy WHERE room_id = ?" + extra, (room_id, *params)
        )
        return gone
