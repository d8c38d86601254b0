"""The blind-mirror feature: rounds, their jobs, the release, and forgetting on schedule.

A round's life, each step a scheduled job that carries only the round id and checks the
round's state in the database before acting (so a restart or a second firing does nothing
twice):

1. ``!mirror open`` stores the round (with its own key) and schedules ``mirror-close-<id>``;
2. at ``closes_at`` the round closes: with fewer than k reflections everything is destroyed
   unread and the reflecting room is told; otherwise ``mirror-release-<id>`` is scheduled at
   a random delay;
3. the release decrypts the batch, shuffles it (the order depends on nothing but the set of
   texts and a fresh random source), posts it to the room reflected upon in one go through the
   outbox, then destroys the key and the stored reflections;
4. at ``redact_at`` (``retention.mirror_messages`` later) ``mirror-expire-<id>`` redacts the
   posted messages and deletes what is left of the round. The sweeper does the same hourly,
   which also retries redactions the homeserver refused for a while.

Logs carry round ids and counts only: never a user id, a DM room, or any text.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bots.mirror.commands import router
from bots.mirror.conversation import Conversations
from bots.runtime.context import Context, notice, stable_key
from bots.runtime.errors import PERMANENT, MatrixError, NotFound, UserError
from bots.runtime.feature import Feature
from bots.runtime.ids import EventID, RoomID
from bots.runtime.scheduler import Job
from protocols.errors import RuleError
from protocols.mirror import (
    MirrorRound,
    plan_round,
    release_order,
    render_opened,
    render_release,
    render_status,
    render_withheld,
)
from protocols.timespec import parse_zone
from storage import crypto
from storage.mirror import MirrorRounds

if TYPE_CHECKING:
    from bots.runtime.bot import BotRuntime

log = logging.getLogger(__name__)

# How long a release waits for the outbox before checking again (the homeserver may be away).
RELEASE_WAIT_S = 120
RELEASE_RETRY = timedelta(minutes=1)


def _master_key(bot: BotRuntime) -> bytes | None:
    """The key that wraps round keys, derived from the operator's pickle key (never stored)."""
    secret = getattr(bot, "pickle_key", None)
    return crypto.master_key_from_secret(secret) if secret else None


class MirrorFeature(Feature):
    name = "mirror"
    router = router

    def __init__(self, bot: BotRuntime) -> None:
        super().__init__(bot)
        self.config = bot.app.features.mirror
        self.retention = bot.app.retention.mirror_messages
        self.zone = parse_zone(self.config.display_timezone)
        self.conversations = Conversations(self)
        self._rng = random.SystemRandom()
        self._rounds: MirrorRounds | None = None

    @property
    def rounds(self) -> MirrorRounds:
        # Built on first use: the pickle key is known only once the bot has started, and a DM
        # may arrive in the first sync, before start() ran.
        if self._rounds is None:
            self._rounds = MirrorRounds(self.bot.db, _master_key(self.bot))
        return self._rounds

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Catch up on what fell due while the bot was down, then rebuild every job."""
        now = self.bot.clock()
        stale_before = now - self.retention
        for round_ in await self.rounds.active():
            if round_.closes_at <= stale_before:
                # Too late to release: forget_expired destroys it unread. Say so, never silently.
                await self.bot.post(
                    RoomID(round_.reflecting_room),
                    f"Blind mirror {round_.code} could not be released in time (the bot was "
                    "down too long); its reflections were destroyed unread.",
                    None,
                    key=self._key("stale", round_),
                )
            elif round_.state == "open" and round_.closes_at <= now:
                await self._close(round_.id)  # closes before forgetting (see storage.mirror)
        await self.forget(now)
        for round_ in [*await self.rounds.active(), *await self.rounds.awaiting_expiry()]:
            self._schedule(round_)

    async def on_message(self, ctx: Context) -> bool:
        return await self.conversations.on_message(ctx)

    async def sweep(self, now: datetime) -> None:
        await self.conversations.forget_idle(now)
        await self.forget(now)

    # -- commands ---------------------------------------------------------------------------

    async def open_round(
        self, ctx: Context, ref: str, close_after: timedelta | None, k: int | None
    ) -> None:
        """``!mirror open``: validate everything first, then store, schedule and announce."""
        try:
            reflected = await self.bot.matrix.resolve_room(ref)
        except NotFound as exc:
            raise UserError(
                f"I cannot find the room {ref}: use #alias:server, a room id or a matrix.to link."
            ) from exc
        try:
            request = plan_round(
                ctx.room_id,
                reflected,
                ctx.now,
                close_after if close_after is not None else self.config.default_close_after,
                k if k is not None else self.config.default_min_submissions,
            )
        except RuleError as exc:
            raise UserError(str(exc)) from exc
        try:
            await self.bot.matrix.joined_members(reflected)
        except PERMANENT as exc:
            raise UserError(
                f"I am not in {ref}, so I could not post the reflections there. Invite me to "
                "that room first, then open the round again."
            ) from exc
        members = len(await self.bot.human_members(ctx.room_id))
        round_ = await self.rounds.open_round(request)
        self._schedule(round_)
        log.info("blind-mirror round %d opened", round_.id)
        opened = render_opened(
            round_, await self.bot.matrix.room_name(reflected), self.zone, self.retention
        )
        body, html = opened.body, opened.html
        if members < round_.k:
            warning = (
                f"Note: this room has {members} members besides me, fewer than {round_.k}: "
                "unless more join, nothing will be released."
            )
            body += "\n" + warning
            html += f"<p><b>{warning}</b></p>"
        await ctx.reply(body, html)

    async def status(self, ctx: Context) -> None:
        rounds = await self.rounds.rounds_for_room(ctx.room_id)
        labelled = [
            replace(r, reflected_room=await self.bot.matrix.room_name(RoomID(r.reflected_room)))
            for r in rounds
        ]
        await ctx.reply(render_status(labelled, ctx.now, self.zone))

    # -- jobs -------------------------------------------------------------------------------

    def _schedule(self, round_: MirrorRound) -> None:
        """The one job a round waits for in its state (replacing any earlier one)."""
        if round_.state == "open":
            self._at(f"mirror-close-{round_.id}", round_.closes_at, self._close, round_.id)
        elif round_.state == "closed" and round_.release_at is not None:
            self._at(f"mirror-release-{round_.id}", round_.release_at, self._release, round_.id)
        elif round_.state in ("released", "withheld") and round_.redact_at is not None:
            self._at(f"mirror-expire-{round_.id}", round_.redact_at, self._expire, round_.id)

    def _at(self, job_id: str, when: datetime, job: Job, round_id: int) -> None:
        self.bot.scheduler.cancel(job_id)  # a stopped scheduler would otherwise keep both
        self.bot.scheduler.at(job_id, when, job, round_id)

    @staticmethod
    def _key(what: str, round_: MirrorRound, *more: str) -> str:
        # The code as well as the id: a deleted round's id may be reused by SQLite, and a
        # reused transaction id would make the outbox drop the new message as a duplicate.
        return "-".join(("mirror", what, str(round_.id), round_.code, *more))

    async def _close(self, round_id: int) -> None:
        before = await self.rounds.get(round_id)
        if before is None or before.state != "open":
            return
        round_ = await self.rounds.close(
            round_id,
            self.bot.clock(),
            self._rng,
            self.config.release_delay_min,
            self.config.release_delay_max,
            self.retention,
        )
        if round_ is None:
            return
        await self.conversations.end_round(round_)
        if round_.state == "withheld":
            withheld = render_withheld(round_)
            await self.bot.post(
                RoomID(round_.reflecting_room), withheld.body, withheld.html,
                key=self._key("withheld", round_),
            )
            log.info("blind-mirror round %d withheld", round_id)
        else:
            label = await self.bot.matrix.room_name(RoomID(round_.reflected_room))
            await self.bot.post(
                RoomID(round_.reflecting_room),
                f"Blind mirror {round_.code} has closed with enough reflections. They will be "
                f"posted to {label} shortly, all at once and in random order.",
                None,
                key=self._key("closed", round_),
            )
            log.info("blind-mirror round %d closed", round_id)
        self._schedule(round_)

    async def _release(self, round_id: int) -> None:
        round_ = await self.rounds.get(round_id)
        if round_ is None or round_.state != "closed":
            return
        keys = await self._enqueued_release(round_)
        if not keys:
            keys = await self._enqueue_release(round_)
        try:
            deliveries = [await self.bot.outbox.wait(k, RELEASE_WAIT_S) for k in keys]
        except asyncio.TimeoutError:
            log.warning("release of round %d still sending; checking again soon", round_id)
            self._at(
                f"mirror-release-{round_id}", self.bot.clock() + RELEASE_RETRY,
                self._release, round_id,
            )
            return
        sent = [(d.room_id, d.event_id) for d in deliveries if d.state == "sent" and d.event_id]
        await self.rounds.mark_published(round_id, sent, self.bot.clock() + self.retention)
        log.info("blind-mirror round %d released in %d messages", round_id, len(sent))
        label = await self.bot.matrix.room_name(RoomID(round_.reflected_room))
        if len(sent) == len(deliveries):
            text = f"Blind mirror {round_.code}: the reflections were posted to {label}."
        else:
            text = (
                f"Blind mirror {round_.code}: I could not post all the reflections to {label} "
                "(I may have been removed from it). What was not posted was destroyed unread."
            )
        await self.bot.post(
            RoomID(round_.reflecting_room), text, None, key=self._key("posted", round_)
        )
        released = await self.rounds.get(round_id)
        if released is not None:
            self._schedule(released)

    async def _enqueued_release(self, round_: MirrorRound) -> list[str]:
        """The release messages already accepted by the outbox (a release cut short by a crash
        resumes with exactly those, never a second shuffle)."""
        keys: list[str] = []
        while await self.bot.outbox.delivery(self._key("release", round_, str(len(keys)))):
            keys.append(self._key("release", round_, str(len(keys))))
        return keys

    async def _enqueue_release(self, round_: MirrorRound) -> list[str]:
        texts = await self.rounds.take_batch_for_release(round_.id)
        ordered = release_order(texts, self._rng)
        label = await self.bot.matrix.room_name(RoomID(round_.reflecting_room))
        notices = render_release(round_, ordered, label, self.retention)
        keys = [self._key("release", round_, str(i)) for i in range(len(notices))]
        # All messages or none: a crash in between must not leave half a batch to resume from.
        async with self.bot.db.transaction():
            for key, item in zip(keys, notices, strict=True):
                await self.bot.outbox.enqueue(
                    RoomID(round_.reflected_room), notice(item.body, item.html), key
                )
        return keys

    async def _expire(self, round_id: int) -> None:
        await self.forget(self.bot.clock())

    async def forget(self, now: datetime) -> int:
        """Redact released messages whose time is up and delete what is left; how many were
        redacted. A redaction the homeserver refuses for now is retried at the next sweep."""
        due = await self.rounds.forget_expired(now, stale_after=self.retention)
        done = []
        for item in due:
            room, event = RoomID(item.room_id), EventID(item.event_id)
            try:
                await self.bot.matrix.redact(
                    room, event, f"mirror-redact-{stable_key(room, event)}",
                    reason="Blind mirror: the retention period ended",
                )
            except PERMANENT as exc:
                # Removed from the room, or the event is gone: nothing more we can do.
                log.warning("round %d: a release message cannot be redacted (%s)",
                            item.round_id, exc.errcode)
            except MatrixError as exc:
                log.warning("round %d: redaction failed for now (%s); retrying at the next sweep",
                            item.round_id, exc.errcode)
                continue
            done.append(item)
        await self.rounds.mark_redacted(done)
        if done:
            log.info("redacted %d blind-mirror messages", len(done))
        return len(done)
