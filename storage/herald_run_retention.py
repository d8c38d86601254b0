"""How a run leaves: expiry (and the sent messages to redact first), a room out of the bot's
rooms, a coalition that lost its coordination room."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from protocols.herald.plan import MAX_RUN_AHEAD
from storage.herald_scope import _Scoped
from storage.times import to_ts as _ts

# When a run's rows start to age: its action, or its creation if that came later, and never
# later than MAX_RUN_AHEAD after its creation (so a run set before action times were bounded
# expires too).
_RUN_END = f"MIN(MAX(created_at, action_at), created_at + {int(MAX_RUN_AHEAD.total_seconds())})"


class RunRetention(_Scoped):
    """The forgetting half of :class:`storage.herald_runs.HeraldRuns`."""

    def _expired_where(self, cutoff: datetime) -> tuple[str, tuple[Any, ...]]:
        # A run ends with its action, or with its creation if that came later; one only planned
        # and never confirmed goes once it is as old as the cutoff (abandoned previews do not
        # linger). The hard cap makes every row expire, even one set before action times were
        # bounded: nothing outlives its creation by more than the cutoff plus MAX_RUN_AHEAD.
        scope, params = self._only()
        return (
            f"({_RUN_END} < ? OR (state = 'planned' AND created_at < ?))" + scope,
            (_ts(cutoff), _ts(cutoff), *params),
        )

    async def sent_messages_older_than(self, cutoff: datetime) -> list[tuple[str, str]]:
        """``(room_id, event_id)`` of sent messages, not yet redacted, of runs
        :meth:`forget_older_than` would delete, so they can be redacted first."""
        where, params = self._expired_where(cutoff)
        rows = await self._db.fetchall(
            "SELECT d.room_id, d.event_id FROM herald_delivery d WHERE d.event_id IS NOT NULL"
            " AND d.run_id IN (SELECT run_id FROM herald_run WHERE " + where + ") ORDER BY d.id",
            params,
        )
        return [(r[0], r[1]) for r in rows]

    async def mark_redacted(self, room_id: str, event_id: str) -> bool:
        """The Matrix event of a delivery is redacted (or can never be): forget its id."""
        changed = await self._db.execute(
            "UPDATE herald_delivery SET event_id = NULL WHERE bot = ? AND room_id = ? AND event_id = ?",
            (self._bot, room_id, event_id),
        )
        return changed >= 1

    async def expired_run_ids(self, cutoff: datetime) -> list[str]:
        """The runs :meth:`forget_older_than` would delete (to forget their cached parts too)."""
        where, params = self._expired_where(cutoff)
        rows = await self._db.fetchall("SELECT run_id FROM herald_run WHERE " + where, params)
        return [str(r[0]) for r in rows]

    async def forget_older_than(self, cutoff: datetime) -> int:
        """Delete runs (with deliveries and amendments) past ``cutoff``; returns runs deleted.
        Their sent messages are redacted first (:meth:`sent_messages_older_than`): the feature
        queues each redaction in the outbox, which keeps it until it lands, then calls this."""
        where, params = self._expired_where(cutoff)
        return await self._db.execute("DELETE FROM herald_run WHERE " + where, params)

    async def cancel_room(self, room_id: str, coalition: str | None = None) -> int:
        """Nothing more goes to a room that is out (of the coalition, or of the bot's rooms):
        its pending messages are cancelled. Returns how many."""
        sql = (
            "UPDATE herald_delivery SET state = 'cancelled'"
            " WHERE bot = ? AND room_id = ? AND state = 'pending'"
        )
        params: list[Any] = [self._bot, room_id]
        if coalition is not None:
            sql += " AND run_id IN (SELECT run_id FROM herald_run WHERE bot = ? AND coalition = ?)"
            params += [self._bot, coalition]
        return await self._db.execute(sql, params)

    async def forget_room(self, room_id: str) -> int:
        """Every message planned for or sent to a room the bot is out of (it cannot redact
        there any more, and the texts carry the room's local details)."""
        return await self._db.execute(
            "DELETE FROM herald_delivery WHERE bot = ? AND room_id = ?", (self._bot, room_id)
        )

    async def cancel_coalition(self, coalition: str, now: datetime) -> int:
        """The coalition lost its coordination room: every live run is cancelled and its
        pending messages are not sent. Returns runs cancelled."""
        async with self._db.transaction():
            await self._db.execute(
                "UPDATE herald_delivery SET state = 'cancelled' WHERE bot = ? AND state = 'pending'"
                " AND run_id IN (SELECT run_id FROM herald_run WHERE bot = ? AND coalition = ?)",
                (self._bot, self._bot, coalition),
            )
            return await self._db.execute(
                "UPDATE herald_run SET state = 'cancelled', updated_at = ?"
                " WHERE bot = ? AND coalition = ? AND state IN ('planned', 'confirmed')",
                (_ts(now), self._bot, coalition),
            )
