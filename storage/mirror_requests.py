"""The blind mirror's consent requests: a ``!mirror open`` waiting for a moderator of the room
to be reflected upon (table ``mirror_request``), and the quotas that count them. A part of
:class:`storage.mirror.MirrorRounds`, scoped like it by ``bot``."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from protocols.mirror import REQUEST_TTL, ConsentRequest, new_code
from storage.db import Database
from storage.mirror_box import request_from_row
from storage.times import to_ts as _ts

_OPEN_ATTEMPTS = 20

# States in which a round still holds reflections or waits to: what the quotas count.
ACTIVE_STATES = ("open", "closed")


class MirrorRequests:
    _db: Database
    bot: str

    async def add_request(
        self,
        reflecting_room: str,
        reflected_room: str,
        opener: str,
        k: int,
        close_after: timedelta,
        now: datetime,
        entropy: Callable[[int], bytes] = secrets.token_bytes,
    ) -> ConsentRequest:
        """Store a request (with a fresh code) that lapses after ``REQUEST_TTL``."""
        for _ in range(_OPEN_ATTEMPTS):
            code = new_code(entropy(16))
            async with self._db.transaction():
                if await self._db.fetchone("SELECT 1 FROM mirror_request WHERE code = ?", (code,)):
                    continue
                request_id = await self._db.insert(
                    "INSERT INTO mirror_request (bot, code, reflecting_room, reflected_room,"
                    " opener, k, close_after, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        self.bot,
                        code,
                        reflecting_room,
                        reflected_room,
                        opener,
                        k,
                        close_after.total_seconds(),
                        _ts(now + REQUEST_TTL),
                    ),
                )
            row = await self._db.fetchone("SELECT * FROM mirror_request WHERE id = ?", (request_id,))
            return request_from_row(row)
        raise RuntimeError("could not find a free request code; is the entropy source broken?")

    async def get_request(self, code: str) -> ConsentRequest | None:
        row = await self._db.fetchone(
            "SELECT * FROM mirror_request WHERE bot = ? AND code = ?", (self.bot, code)
        )
        return request_from_row(row) if row else None

    async def drop_request(self, request_id: int) -> bool:
        """Delete a request (accepted, declined); False if it was already gone."""
        return bool(
            await self._db.execute(
                "DELETE FROM mirror_request WHERE bot = ? AND id = ?", (self.bot, request_id)
            )
        )

    async def requests_for_room(self, room_id: str) -> list[ConsentRequest]:
        rows = await self._db.fetchall(
            "SELECT * FROM mirror_request WHERE bot = ? AND (reflecting_room = ? OR"
            " reflected_room = ?) ORDER BY expires_at, id",
            (self.bot, room_id, room_id),
        )
        return [request_from_row(r) for r in rows]

    async def forget_requests(self, now: datetime) -> list[ConsentRequest]:
        """Delete the requests that lapsed; them (to tell the room that asked)."""
        async with self._db.transaction():
            rows = await self._db.fetchall(
                "SELECT * FROM mirror_request WHERE bot = ? AND expires_at <= ?",
                (self.bot, _ts(now)),
            )
            await self._db.execute(
                "DELETE FROM mirror_request WHERE bot = ? AND expires_at <= ?",
                (self.bot, _ts(now)),
            )
        return [request_from_row(r) for r in rows]

    async def active_counts(
        self, reflecting_room: str, reflected_room: str, opener: str
    ) -> tuple[int, int, int]:
        """Waiting requests plus unreleased rounds: in the reflecting room, about the room
        reflected upon (as either side), and by the opener (see protocols.mirror.check_quota)."""
        states = ",".join(f"'{s}'" for s in ACTIVE_STATES)

        async def count(where: str, params: tuple[str, ...]) -> int:
            rounds = await self._db.fetchone(
                f"SELECT COUNT(*) FROM mirror_round WHERE bot = ? AND state IN ({states}) AND {where}",
                (self.bot, *params),
            )
            requests = await self._db.fetchone(
                f"SELECT COUNT(*) FROM mirror_request WHERE bot = ? AND {where}",
                (self.bot, *params),
            )
            return int(rounds[0] if rounds else 0) + int(requests[0] if requests else 0)

        both = "(reflecting_room = ? OR reflected_room = ?)"
        return (
            await count(both, (reflecting_room, reflecting_room)),
            await count(both, (reflected_room, reflected_room)),
            await count("opener = ?", (opener,)),
        )
