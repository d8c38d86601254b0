"""The blind-mirror feature: one class on the feature contract.

A round's life (each step in :mod:`bots.mirror.jobs`):

0. ``!mirror open <room>`` in the reflecting room, by a moderator who is a member of the other
   room too, stores a *request* and posts it in the room to be reflected upon; the opener's
   reply does not name that room. Nothing opens unless a moderator there answers
   ``!mirror accept <code>`` (``!mirror decline <code>`` drops it) within ``REQUEST_TTL``
   (:mod:`bots.mirror.commands`);
1. on acceptance the round is stored (with its own key, and the keyed hashes of the reflecting
   room's members, who alone may take part), announced in both rooms, and its close scheduled;
2. members reflect by DM (:mod:`bots.mirror.conversation`); nothing of that conversation is
   stored, not even in the outbox;
3. the round closes, is released at a random delay or withheld, and its messages are redacted
   after ``retention.mirror_messages``.

Logs carry round ids and counts only: never a user id, a DM room, or any text.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from datetime import timedelta

from bots.mirror.commands import MirrorCommands
from bots.mirror.config import MirrorConfig
from bots.mirror.conversation import Conversations
from bots.mirror.jobs import MirrorJobs
from bots.mirror.render import (
    render_cancelled,
    render_request_gone,
    render_stale,
    render_unclaimable,
)
from bots.runtime.commands import CommandContext
from bots.runtime.errors import MatrixError
from bots.runtime.host import Host
from bots.runtime.ids import RoomID
from bots.runtime.registry import register
from protocols.mirror import REQUEST_TTL
from storage import crypto
from storage.mirror import scrub_for_backup

log = logging.getLogger(__name__)


@register
class MirrorFeature(MirrorCommands, MirrorJobs):
    """Blind mirrors: anonymous reflections collected by encrypted DM, released at once."""

    def __init__(self, host: Host, config: MirrorConfig) -> None:
        super().__init__(host, config)
        self.conversations = Conversations(self)

    @classmethod
    def scrub_copy(cls, conn: sqlite3.Connection, restoring: bool) -> str | None:
        """No backup keeps a round key, a sealed reflection, a request, an unreleased round or
        a release waiting in the outbox; a restore destroys every unreleased round, as an old
        copy must never release again (see storage.mirror_forget.BACKUP_SCRUB)."""
        dropped = scrub_for_backup(conn)
        if restoring:
            return (
                f"{dropped} blind-mirror round(s) in the backup were not released yet: destroyed unread."
                if dropped
                else None
            )
        return (
            "Blind mirrors are left out of it: round keys, reflections and requests; "
            f"{dropped} unreleased round(s) were not copied (a restore cannot resume them)."
        )

    def retention(self) -> Mapping[str, timedelta]:
        return {
            "release messages (redacted, then forgotten)": self.message_lifetime,
            "withheld rounds": self.message_lifetime,
            "consent requests": REQUEST_TTL,
            "drafts (in memory only)": self.config.draft_idle,
        }

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Catch up on what fell due while the bot was down, then rebuild every job."""
        now = self.host.clock()
        await self._claim_old_rounds()
        stale_before = now - self.message_lifetime
        for round_ in await self.rounds.active():
            if round_.closes_at <= stale_before:
                # Too late to release: forget_expired destroys it unread. Say so, never silently.
                await self.host.post(
                    RoomID(round_.reflecting_room), render_stale(round_), self.round_key("stale", round_)
                )
            elif round_.state == "open" and round_.closes_at <= now:
                await self._close(round_.id)  # closes before forgetting (see storage.mirror)
        await self.forget_expired(now)
        for round_ in [*await self.rounds.active(), *await self.rounds.awaiting_expiry()]:
            self._schedule(round_)

    async def on_message(self, ctx: CommandContext) -> bool:
        return await self.conversations.on_message(ctx)

    async def forget_room(self, room_id: RoomID) -> None:
        """Out of a room: every round in or about it that was not released is destroyed unread
        (its drafts too), and the requests in or about it are dropped; the other room is told
        without naming this one."""
        destroyed, requests = await self.rounds.forget_room(room_id)
        for round_ in destroyed:
            self._unschedule(round_.id)
            await self.conversations.end_round(round_)
            other = round_.reflected_room if round_.reflecting_room == room_id else round_.reflecting_room
            if round_.state in ("open", "closed"):
                await self.host.post(
                    RoomID(other), render_cancelled(round_), self.round_key("removed", round_)
                )
        for request in requests:
            if request.reflecting_room != room_id:
                await self.host.post(
                    RoomID(request.reflecting_room),
                    render_request_gone(request),
                    self.request_key("gone", request),
                )
        if destroyed or requests:
            log.info(
                "out of a room: %d blind-mirror rounds and %d requests forgotten",
                len(destroyed),
                len(requests),
            )

    async def _claim_old_rounds(self) -> None:
        """Rounds stored before they belonged to a bot: the bot in their reflecting room takes
        them (open ones get their box: the room's members now may take part)."""
        for round_ in await self.rounds.unclaimed():
            try:
                members = await self.host.members(RoomID(round_.reflecting_room))
            except MatrixError:
                continue  # not this bot's room: another bot of the process may claim it
            try:
                await self.rounds.claim(round_.id, members)
            except crypto.DecryptionError:
                # Wrapped under a key that is not this one (the old public default): the
                # reflections cannot be trusted to be sealed. Destroy them unread.
                await self.rounds.destroy(round_.id)
                await self.host.post(
                    RoomID(round_.reflecting_room),
                    render_unclaimable(round_),
                    self.round_key("unclaimable", round_),
                )
