"""The blind-mirror feature: rounds, their jobs, the release, and forgetting on schedule.

A round's life, each step a scheduled job that carries only the round id and checks the
round's state in the database before acting (so a restart or a second firing does nothing
twice):

0. ``!mirror open <room>`` in the reflecting room, by a moderator who is a member of the other
   room too, stores a *request* and posts it in the room to be reflected upon; the opener's
   reply does not name that room. Nothing opens unless a moderator there answers
   ``!mirror accept <code>`` (``!mirror decline <code>`` drops it) within ``REQUEST_TTL``;
1. on acceptance the round is stored (with its own key, and the keyed hashes of the reflecting
   room's members, who alone may take part), announced in both rooms, and
   ``mirror-close-<id>`` is scheduled;
2. at ``closes_at`` the round closes: reflections of members who left are dropped; with fewer
   than k left everything is destroyed unread and the reflecting room is told; otherwise
   ``mirror-release-<id>`` is scheduled at a random delay;
3. the release decrypts the batch, shuffles it (the order depends on nothing but the set of
   texts and a fresh random source), posts it to the room reflected upon in one go through the
   outbox, then destroys the key and the stored reflections;
4. at ``redact_at`` (``retention.mirror_messages`` later) ``mirror-expire-<id>`` redacts the
   posted messages and deletes what is left of the round. The sweeper does the same hourly,
   which also retries redactions the homeserver refused for a while.

Logs carry round ids and counts only: never a user id, a DM room, or any text.
"""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote

from bots.mirror.commands import router
from bots.mirror.conversation import Conversations
from bots.runtime.context import Context, notice, stable_key
from bots.runtime.errors import PERMANENT, MatrixError, TransportError, UserError
from bots.runtime.feature import Feature
from bots.runtime.ids import EventID, RoomID, UserID
from bots.runtime.scheduler import Job
from protocols.errors import RuleError
from protocols.mirror import (
    FRESH_JOIN,
    MirrorRound,
    check_quota,
    check_request,
    parse_code,
    plan_round,
    release_order,
    render_opened,
    render_opened_there,
    render_release,
    render_request,
    render_requested,
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


# What the runtime once used when no pickle key was configured: known to everyone, so never a
# master key (a database copy would open with it).
_PUBLIC_DEFAULT_KEYS = frozenset({"affinity-default-pickle-key"})

NO_PICKLE_KEY = (
    "Blind mirrors are off: the operator has not configured a pickle key "
    "(encryption.pickle_key or AFFINITY_PICKLE_KEY), and without one the reflections could be "
    "read from a copy of the bot's database. Nothing was opened."
)

# One reply for a room that cannot be found, that the bot is not in, and that the opener is
# not in: it must not tell anyone that a room they are not in exists.
NOT_A_ROOM_FOR_YOU = (
    "I cannot hold a blind mirror about {ref}: it must be a room that both you and I have "
    "joined. Use #alias:server, a room id or a matrix.to link."
)


def _master_key(bot: BotRuntime) -> bytes | None:
    """The key that wraps round keys, derived from the operator's pickle key (never stored).
    None without a real one: then no round opens (never a constant in its place)."""
    secret = getattr(bot, "pickle_key", None)
    if not secret or secret in _PUBLIC_DEFAULT_KEYS:
        return None
    return crypto.master_key_from_secret(secret)


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
            self._rounds = MirrorRounds(self.bot.db, _master_key(self.bot), self.bot.name)
        return self._rounds

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Catch up on what fell due while the bot was down, then rebuild every job."""
        now = self.bot.clock()
        await self._claim_old_rounds()
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

    async def on_removed(self, room_id: RoomID) -> None:
        """Out of a room: every round in or about it that was not released is destroyed unread
        (its drafts too), and the requests in or about it are dropped; the other room is told
        without naming this one."""
        destroyed, requests = await self.rounds.forget_room(room_id)
        for round_ in destroyed:
            self.bot.scheduler.cancel(f"mirror-close-{round_.id}")
            self.bot.scheduler.cancel(f"mirror-release-{round_.id}")
            self.bot.scheduler.cancel(f"mirror-expire-{round_.id}")
            await self.conversations.end_round(round_)
            other = round_.reflected_room if round_.reflecting_room == room_id else round_.reflecting_room
            if round_.state in ("open", "closed"):
                await self.bot.post(
                    RoomID(other),
                    f"Blind mirror {round_.code} was cancelled: I am no longer in one of its "
                    "rooms. Its reflections were destroyed unread.",
                    None,
                    key=self._key("removed", round_),
                )
        for request in requests:
            if request.reflecting_room != room_id:
                await self.bot.post(
                    RoomID(request.reflecting_room),
                    f"Blind mirror request {request.code} was dropped: I am no longer in the "
                    "room it was about.",
                    None,
                    key=f"mirror-request-gone-{request.id}-{request.code}",
                )
        if destroyed or requests:
            log.info("out of a room: %d blind-mirror rounds and %d requests forgotten",
                     len(destroyed), len(requests))

    async def _claim_old_rounds(self) -> None:
        """Rounds stored before they belonged to a bot: the bot in their reflecting room takes
        them (open ones get their box: the room's members now may take part)."""
        for round_ in await self.rounds.unclaimed():
            try:
                members = await self.bot.human_members(RoomID(round_.reflecting_room))
            except MatrixError:
                continue  # not this bot's room: another bot of the process may claim it
            try:
                await self.rounds.claim(round_.id, members)
            except crypto.DecryptionError:
                # Wrapped under a key that is not this one (the old public default): the
                # reflections cannot be trusted to be sealed. Destroy them unread.
                await self.rounds.destroy(round_.id)
                await self.bot.post(
                    RoomID(round_.reflecting_room),
                    f"Blind mirror {round_.code} was cancelled by an upgrade: its reflections "
                    "were stored under a key that was not secret, and were destroyed unread.",
                    None,
                    key=self._key("unclaimable", round_),
                )

    # -- commands ---------------------------------------------------------------------------

    async def open_round(
        self, ctx: Context, ref: str, close_after: timedelta | None, k: int | None
    ) -> None:
        """``!mirror open``: validate everything, then ask the room to be reflected upon.

        The opener must have joined that room (and so must the bot); otherwise the reply is
        the same whether the room exists or not. The reply here does not name the room: this
        room's members read it, and need not be in that one.
        """
        if not self.rounds.can_open:
            raise UserError(NO_PICKLE_KEY)
        try:
            reflected = await self.bot.matrix.resolve_room(ref)
            members = await self.bot.matrix.joined_members(reflected)
        except MatrixError as exc:
            raise UserError(NOT_A_ROOM_FOR_YOU.format(ref=ref)) from exc
        if ctx.sender not in members:
            raise UserError(NOT_A_ROOM_FOR_YOU.format(ref=ref))
        try:
            request = plan_round(
                ctx.room_id,
                reflected,
                ctx.now,
                close_after if close_after is not None else self.config.default_close_after,
                k if k is not None else self.config.default_min_submissions,
            )
            check_quota(*await self.rounds.active_counts(ctx.room_id, reflected, ctx.sender))
        except RuleError as exc:
            raise UserError(str(exc)) from exc
        pending = await self.rounds.add_request(
            ctx.room_id, reflected, ctx.sender, request.k,
            request.closes_at - ctx.now, ctx.now,
        )
        log.info("blind-mirror request %d made", pending.id)
        asked = render_request(pending, await self.bot.matrix.room_name(ctx.room_id), self.zone)
        await self.bot.post(
            reflected, asked.body, asked.html, key=f"mirror-request-{pending.id}-{pending.code}"
        )
        await ctx.reply(render_requested(pending, self.zone))

    async def answer_request(self, ctx: Context, code_text: str, accept: bool) -> None:
        """``!mirror accept|decline <code>`` in the room to be reflected upon, by a moderator."""
        try:
            code = parse_code(code_text)
            pending = check_request(
                await self.rounds.get_request(code), code, ctx.room_id, ctx.now
            )
        except RuleError as exc:
            raise UserError(str(exc)) from exc
        if not accept:
            await self.rounds.drop_request(pending.id)
            await ctx.reply(f"Declined: no blind mirror about this room from request {code}.")
            await self.bot.post(
                RoomID(pending.reflecting_room),
                f"Blind mirror request {code} was declined by the other room. Nothing opened.",
                None,
                key=f"mirror-declined-{pending.id}-{code}",
            )
            log.info("blind-mirror request %d declined", pending.id)
            return
        reflecting = RoomID(pending.reflecting_room)
        try:
            request = plan_round(
                reflecting, ctx.room_id, ctx.now, pending.close_after, pending.k
            )
            in_room, about_room, by_opener = await self.rounds.active_counts(
                reflecting, ctx.room_id, pending.opener
            )
            # This request is itself counted in all three.
            check_quota(in_room - 1, about_room - 1, by_opener - 1)
        except RuleError as exc:
            raise UserError(str(exc)) from exc
        try:
            members = await self.bot.human_members(reflecting)
        except MatrixError as exc:
            raise UserError(
                f"I am no longer in the room that asked (request {code}), so no round can "
                "open. Nothing was opened."
            ) from exc
        if not await self.rounds.drop_request(pending.id):
            return  # accepted twice at once: the other one opens it
        round_ = await self.rounds.open_round(request, pending.opener, members)
        self._schedule(round_)
        log.info("blind-mirror round %d opened", round_.id)
        here = render_opened_there(
            round_, await self.bot.matrix.room_name(reflecting), self.zone, self.retention
        )
        await ctx.reply(here.body, here.html)
        opened = render_opened(
            round_, await self.bot.matrix.room_name(ctx.room_id), self.zone, self.retention,
            eligible=len(members), fresh=await self._fresh_joins(reflecting, members, ctx.now),
        )
        body, html = opened.body, opened.html
        if len(members) < round_.k:
            warning = (
                f"Note: this room has {len(members)} members besides me, fewer than "
                f"{round_.k}: nothing can be released."
            )
            body += "\n" + warning
            html += f"<p><b>{warning}</b></p>"
        await self.bot.post(reflecting, body, html, key=self._key("opened", round_))

    async def _fresh_joins(self, room: RoomID, members: list[UserID], now: datetime) -> int:
        """How many of ``members`` joined ``room`` within ``FRESH_JOIN`` (from their membership
        events); 0 when the homeserver does not say."""
        api = getattr(self.bot.matrix, "api", None)
        if api is None:
            return 0
        try:
            data = await api(
                "GET", f"/_matrix/client/v3/rooms/{quote(room, safe='')}/members",
                query={"membership": "join"},
            )
        except (MatrixError, TransportError):
            return 0
        since_ms = (now - FRESH_JOIN).timestamp() * 1000
        wanted = set(members)
        fresh = 0
        for event in data.get("chunk") or []:
            if not isinstance(event, dict) or event.get("state_key") not in wanted:
                continue
            unsigned = event.get("unsigned")
            before = (unsigned or {}).get("prev_content") if isinstance(unsigned, dict) else None
            if isinstance(before, dict) and before.get("membership") == "join":
                continue  # a name or avatar change, not a join
            ts = event.get("origin_server_ts")
            if isinstance(ts, int) and not isinstance(ts, bool) and ts >= since_ms:
                fresh += 1
        return fresh

    async def status(self, ctx: Context) -> None:
        rounds = await self.rounds.rounds_for_room(ctx.room_id)
        labelled = [
            replace(r, reflected_room=await self.bot.matrix.room_name(RoomID(r.reflected_room)))
            for r in rounds
        ]
        requests = []
        for r in await self.rounds.requests_for_room(ctx.room_id):
            if r.reflected_room == ctx.room_id:
                label = await self.bot.matrix.room_name(RoomID(r.reflecting_room))
                requests.append((r, f"from {label}: !mirror accept {r.code} or decline"))
            else:
                requests.append((r, "asked of the room you named"))
        await ctx.reply(render_status(labelled, ctx.now, self.zone, requests))

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
        try:
            # Only reflections of people still in the room count (see storage.mirror).
            members: list[str] | None = list(
                await self.bot.matrix.joined_members(RoomID(before.reflecting_room))
            )
        except PERMANENT:
            members = []  # out of the reflecting room: nobody's reflection can count
        except MatrixError:
            log.warning("round %d: members unknown for now; closing again soon", round_id)
            self._at(f"mirror-close-{round_id}", self.bot.clock() + RELEASE_RETRY,
                     self._close, round_id)
            return
        round_ = await self.rounds.close(
            round_id,
            self.bot.clock(),
            self._rng,
            self.config.release_delay_min,
            self.config.release_delay_max,
            self.retention,
            members=members,
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
                f"posted to {label} shortly, all at once and in random order. "
                f"{round_.eligible} members could take part.",
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
        except TimeoutError:
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
        """Drop lapsed requests (telling the rooms that asked), redact released messages whose
        time is up and delete what is left; how many were redacted. A redaction the homeserver
        refuses for now is retried at the next sweep."""
        for request in await self.rounds.forget_requests(now):
            await self.bot.post(
                RoomID(request.reflecting_room),
                f"Blind mirror request {request.code} lapsed: no moderator of the other room "
                "accepted it in time. Nothing opened.",
                None,
                key=f"mirror-lapsed-{request.id}-{request.code}",
            )
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
