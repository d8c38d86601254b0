"""How a blind-mirror round ends: its close (released later or withheld now), its release and
publication, and how it is destroyed and forgotten. The base of
:class:`storage.mirror.MirrorRounds`, which opens rounds and takes reflections (see its module
docstring for the promise both keep)."""

from __future__ import annotations

import random
import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from protocols.mirror import DEFAULT_RETENTION, ConsentRequest, MirrorRound, decide_close
from storage import crypto
from storage.mirror_box import (
    HASH_BYTES,
    Box,
    Redaction,
    read_box,
    read_key,
    scrub,
    shred,
    shred_legacy,
    write_box,
)
from storage.mirror_forget import ExpiredRounds, forget_expired_rounds
from storage.mirror_requests import MirrorRequests
from storage.times import to_ts as _ts


class RoundEnding(MirrorRequests, ABC):
    """Closing, releasing, destroying and forgetting one bot's rounds; the sealed box read and
    written under the round's key (unwrapped with the master key)."""

    _master: bytes | None

    @abstractmethod
    async def get(self, round_id: int) -> MirrorRound | None: ...

    @abstractmethod
    async def rounds_for_room(self, room_id: str) -> list[MirrorRound]: ...

    # --- the box --------------------------------------------------------------------------

    async def _key(self, round_id: int) -> bytes | None:
        return await read_key(self._db, self._master, round_id)

    async def _read_box(self, round_id: int, key: bytes) -> Box:
        return await read_box(self._db, round_id, key)

    async def _write_box(self, round_id: int, key: bytes, box: Box) -> None:
        await write_box(self._db, round_id, key, box)

    # --- close, release, publish ----------------------------------------------------------

    async def close(
        self,
        round_id: int,
        now: datetime,
        rng: random.Random,
        delay_low: timedelta,
        delay_high: timedelta,
        retention: timedelta = DEFAULT_RETENTION,
        members: Iterable[str] | None = None,
    ) -> MirrorRound | None:
        """Close an open round: with k or more reflections, schedule the release at a random
        delay; with fewer, withhold: destroy key and reflections now, and forget the round
        itself after ``retention``. A round that is not open is returned unchanged (so a
        restart may close twice); None if there is no such round.

        ``members``: the reflecting room's members now. Only reflections of people who were
        members when the round opened and still are count; the others are dropped unread, and
        how many could take part is stored (``eligible``). None: every eligible one counts.
        """
        async with self._db.transaction():
            round_ = await self.get(round_id)
            if round_ is None or round_.state != "open":
                return round_
            key = await self._key(round_id)
            box = await self._read_box(round_id, key) if key is not None else Box(set(), {})
            eligible = box.eligible
            if members is not None and key is not None:
                eligible = eligible & {crypto.keyed_hash(key, m) for m in members}
            counted = {a: t for a, t in box.entries.items() if a in eligible}
            decision = decide_close(len(counted), round_.k, now, rng, delay_low, delay_high)
            if decision.state == "withheld":
                await self._shred(round_id)
                await self._db.execute(
                    "UPDATE mirror_round SET state = 'withheld', redact_at = ?, eligible = ? WHERE id = ?",
                    (_ts(now + retention), len(eligible), round_id),
                )
            else:
                assert decision.release_at is not None and key is not None
                # Only what will be released stays: no one's eligibility, no dropped text, and
                # no author hash either (a text is never replaced after the close): random
                # labels in their place, so the box no longer says whose text is which.
                await self._write_box(
                    round_id, key, Box(set(), {secrets.token_bytes(HASH_BYTES): t for t in counted.values()})
                )
                await self._db.execute(
                    "UPDATE mirror_round SET state = 'closed', release_at = ?, eligible = ? WHERE id = ?",
                    (_ts(decision.release_at), len(eligible), round_id),
                )
        await self._scrub()
        return await self.get(round_id)

    async def take_batch_for_release(self, round_id: int) -> list[str]:
        """Decrypt every reflection of a closed round, in canonical (sorted) order.

        Read-only: the key and reflections stay until :meth:`mark_published`, so a crash before
        posting loses nothing. Shuffle with :func:`protocols.mirror.release_order` before posting.
        """
        round_ = await self.get(round_id)
        if round_ is None or round_.state != "closed":
            raise ValueError(f"round {round_id} is not closed and waiting for release")
        key = await self._key(round_id)
        if key is None:
            raise RuntimeError(f"round {round_id} has no key left to open its reflections")
        return sorted((await self._read_box(round_id, key)).entries.values())

    async def mark_published(
        self, round_id: int, messages: Sequence[tuple[str, str]], redact_at: datetime
    ) -> None:
        """The release was posted as ``messages`` ((room_id, event_id) pairs): remember them for
        redaction at ``redact_at``, and destroy the key and the stored reflections now."""
        async with self._db.transaction():
            changed = await self._db.execute(
                "UPDATE mirror_round SET state = 'released', redact_at = ?"
                " WHERE bot = ? AND id = ? AND state = 'closed'",
                (_ts(redact_at), self.bot, round_id),
            )
            if not changed:
                raise ValueError(f"round {round_id} is not closed and waiting for release")
            for room_id, event_id in messages:
                await self._db.execute(
                    "INSERT OR IGNORE INTO mirror_message (round_id, room_id, event_id) VALUES (?, ?, ?)",
                    (round_id, room_id, event_id),
                )
            await self._shred(round_id)
        await self._scrub()

    # --- forgetting -----------------------------------------------------------------------

    async def _shred(self, round_id: int) -> None:
        """Overwrite, then delete, the round's key and box (inside a transaction)."""
        await shred(self._db, round_id)

    async def _shred_legacy(self, round_id: int) -> None:
        await shred_legacy(self._db, round_id)

    async def _scrub(self) -> None:
        """Truncate the WAL, so no page image of what was just destroyed stays in it."""
        await scrub(self._db)

    async def destroy_key(self, round_id: int) -> None:
        """Destroy a round's key and reflections now: what is left can no longer be read."""
        async with self._db.transaction():
            await self._shred(round_id)
        await self._scrub()

    async def destroy(self, round_id: int) -> None:
        """Shred a round and delete it with everything it posted (the bot is out of a room)."""
        async with self._db.transaction():
            await self._shred(round_id)
            await self._db.execute("DELETE FROM mirror_round WHERE bot = ? AND id = ?", (self.bot, round_id))
        await self._scrub()

    async def forget_room(self, room_id: str) -> tuple[list[MirrorRound], list[ConsentRequest]]:
        """The bot is out of ``room_id``: destroy every round in or about it that has not
        been released (its reflections can go nowhere), and drop the requests in or about it.
        Released rounds whose messages are in the other room stay until redacted there; those
        whose messages were in this room are forgotten (nothing can be redacted from outside).
        Returns what was destroyed, to tell the other room."""
        rounds = [r for r in await self.rounds_for_room(room_id)]
        requests = await self.requests_for_room(room_id)
        destroyed = []
        async with self._db.transaction():
            for round_ in rounds:
                if round_.state in ("released", "expired") and round_.reflected_room != room_id:
                    continue
                await self._shred(round_.id)
                await self._db.execute("DELETE FROM mirror_round WHERE id = ?", (round_.id,))
                destroyed.append(round_)
            for request in requests:
                await self._db.execute("DELETE FROM mirror_request WHERE id = ?", (request.id,))
        await self._scrub()
        return destroyed, requests

    async def forget_expired(
        self, now: datetime, stale_after: timedelta = DEFAULT_RETENTION
    ) -> ExpiredRounds:
        """Forget what is due, and return the release messages to redact.

        Released rounds past ``redact_at`` become ``expired`` (their messages are returned until
        :meth:`mark_redacted` confirms them, so a crash in between redacts them on the next
        sweep); withheld rounds past ``redact_at`` are deleted; rounds that were never closed or
        released ``stale_after`` past their close (the bot was down) are shredded and deleted.
        """
        return await forget_expired_rounds(self._db, now, stale_after, self.bot)

    async def mark_redacted(self, redactions: Iterable[Redaction]) -> int:
        """These messages are redacted: forget them, and their round once none is left; how
        many rounds went."""
        async with self._db.transaction():
            for item in redactions:
                await self._db.execute(
                    "DELETE FROM mirror_message WHERE round_id = ? AND event_id = ?",
                    (item.round_id, item.event_id),
                )
            return await self._db.execute(
                "DELETE FROM mirror_round WHERE bot = ? AND state = 'expired' AND NOT EXISTS"
                " (SELECT 1 FROM mirror_message m WHERE m.round_id = mirror_round.id)",
                (self.bot,),
            )
