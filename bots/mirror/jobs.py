"""A round's jobs, each carrying only the round id and checking the round's state in the
database before acting (so a restart or a second firing does nothing twice):

- ``close-<id>`` at ``closes_at``: reflections of members who left are dropped; with fewer than
  k left everything is destroyed unread and the reflecting room is told; otherwise
  ``release-<id>`` is scheduled at a random delay;
- ``release-<id>``: decrypts the batch, shuffles it (the order depends on nothing but the set of
  texts and a fresh random source), queues it for the room reflected upon in one go through the
  outbox, then destroys the key and the stored reflections;
- ``expire-<id>`` at ``redact_at``: redacts the posted messages (through the outbox, which
  retries until they land) and deletes what is left of the round. The sweeper does the same.

Logs carry round ids and counts only: never a user id, a DM room, or any text.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bots.mirror.base import MirrorBase
from bots.mirror.render import render_closed, render_lapsed, render_posted, render_release, render_withheld
from bots.runtime.errors import PERMANENT, MatrixError
from bots.runtime.ids import EventID, RoomID
from bots.runtime.keys import key
from bots.runtime.message import Message
from protocols.mirror import MirrorRound, release_order
from storage.mirror_release import ReleaseParts

log = logging.getLogger(__name__)

RELEASE_RETRY = timedelta(minutes=1)


class MirrorJobs(MirrorBase):
    def _schedule(self, round_: MirrorRound) -> None:
        """The one job a round waits for in its state (replacing any earlier one)."""
        at = self.host.schedule.at
        if round_.state == "open":
            at(f"close-{round_.id}", round_.closes_at, self._close, round_.id)
        elif round_.state == "closed" and round_.release_at is not None:
            at(f"release-{round_.id}", round_.release_at, self._release, round_.id)
        elif round_.state in ("released", "withheld") and round_.redact_at is not None:
            at(f"expire-{round_.id}", round_.redact_at, self._expire, round_.id)

    def _unschedule(self, round_id: int) -> None:
        for job in ("close", "release", "expire"):
            self.host.schedule.cancel(f"{job}-{round_id}")

    async def _close(self, round_id: int) -> None:
        before = await self.rounds.get(round_id)
        if before is None or before.state != "open":
            return
        try:
            # Only reflections of people still in the room count (see storage.mirror).
            members: list[str] | None = list(await self.host.members(RoomID(before.reflecting_room)))
        except PERMANENT:
            members = []  # out of the reflecting room: nobody's reflection can count
        except MatrixError:
            log.warning("round %d: members unknown for now; closing again soon", round_id)
            self.host.schedule.at(
                f"close-{round_id}", self.host.clock() + RELEASE_RETRY, self._close, round_id
            )
            return
        round_ = await self.rounds.close(
            round_id,
            self.host.clock(),
            self._rng,
            self.config.release_delay_min,
            self.config.release_delay_max,
            self.message_lifetime,
            members=members,
        )
        if round_ is None:
            return
        await self.conversations.end_round(round_)
        reflecting = RoomID(round_.reflecting_room)
        if round_.state == "withheld":
            await self.host.post(reflecting, render_withheld(round_), self.round_key("withheld", round_))
            log.info("blind-mirror round %d withheld", round_id)
        else:
            label = await self.host.room_name(RoomID(round_.reflected_room))
            await self.host.post(reflecting, render_closed(round_, label), self.round_key("closed", round_))
            log.info("blind-mirror round %d closed", round_id)
        self._schedule(round_)

    async def _release(self, round_id: int) -> None:
        round_ = await self.rounds.get(round_id)
        if round_ is None or round_.state != "closed":
            return
        reflected = RoomID(round_.reflected_room)
        messages = await self._queue_release(round_)
        try:
            # Already queued: waiting returns each message's event id (None if refused for good).
            events = [
                await self.host.post(reflected, msg, self.round_key("release", round_, i), wait=True)
                for i, msg in enumerate(messages)
            ]
        except TimeoutError:
            log.warning("release of round %d still sending; checking again soon", round_id)
            self.host.schedule.at(
                f"release-{round_id}", self.host.clock() + RELEASE_RETRY, self._release, round_id
            )
            return
        sent = [(reflected, e) for e in events if e]
        await self.rounds.mark_published(round_id, sent, self.host.clock() + self.message_lifetime)
        await ReleaseParts(self.host.db).forget(round_id)
        log.info("blind-mirror round %d released in %d messages", round_id, len(sent))
        label = await self.host.room_name(reflected)
        await self.host.post(
            RoomID(round_.reflecting_room),
            render_posted(round_, label, complete=len(sent) == len(events)),
            self.round_key("posted", round_),
        )
        released = await self.rounds.get(round_id)
        if released is not None:
            self._schedule(released)

    async def _queue_release(self, round_: MirrorRound) -> list[Message]:
        """Queue the release in the outbox, all messages or none, and return them.

        A release cut short by a crash is already queued (its number of messages was written
        in the same transaction): it resumes with exactly those, never a second shuffle (the
        outbox keeps the first content of a key; what is rendered again only fills the list).
        """
        parts = ReleaseParts(self.host.db)
        texts = await self.rounds.take_batch_for_release(round_.id)
        label = await self.host.room_name(RoomID(round_.reflecting_room))
        messages = render_release(round_, release_order(texts, self._rng), label, self.message_lifetime)
        queued = await parts.get(round_.id, round_.code)
        if queued is not None:
            filler = messages[-1]
            return [messages[i] if i < len(messages) else filler for i in range(queued)]
        async with self.host.db.transaction():
            await parts.put(round_.id, round_.code, len(messages))
            for i, msg in enumerate(messages):
                await self.host.post(RoomID(round_.reflected_room), msg, self.round_key("release", round_, i))
        return messages

    async def _expire(self, round_id: int) -> None:
        await self.forget_expired(self.host.clock())

    async def forget_expired(self, now: datetime) -> int:
        """Drop idle drafts and lapsed requests (telling the rooms that asked), redact released
        messages whose time is up and delete what is left; how many rounds and requests went.

        A redaction goes through the outbox, which retries it until it lands or the room
        refuses it for good: the queued redaction is the promise, so the rows go at once.
        """
        await self.conversations.forget_idle(now)
        requests = await self.rounds.forget_requests(now)
        for request in requests:
            await self.host.post(
                RoomID(request.reflecting_room), render_lapsed(request), self.request_key("lapsed", request)
            )
        due = await self.rounds.forget_expired(now, stale_after=self.message_lifetime)
        for item in due:
            room, event = RoomID(item.room_id), EventID(item.event_id)
            await self.host.redact(
                room,
                event,
                key(self.name, "redact", room, event),
                reason="Blind mirror: the retention period ended",
            )
        emptied = await self.rounds.mark_redacted(due)
        if due:
            log.info("redacting %d blind-mirror messages", len(due))
        return len(requests) + due.deleted + emptied
