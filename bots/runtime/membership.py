"""The bot's own membership: invites (accepted from allowed servers, joined with retries),
removals (each feature forgets the room, once), and which rooms are direct chats."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from nio import AsyncClient

from bots.runtime.adapter import MatrixAdapter
from bots.runtime.envelope import usable_event_id
from bots.runtime.errors import MatrixError, TransportError
from bots.runtime.ids import RoomID, UserID, server_of
from bots.runtime.sync import log_failure
from bots.runtime.sync_store import SyncStore
from storage.db import Database
from storage.room_settings import RoomSettings

if TYPE_CHECKING:
    from bots.runtime.feature import Feature

log = logging.getLogger(__name__)

# Joining an invited room: tries, 0.5 s apart at first, doubling up to 8 s (about 40 s in all).
JOIN_ATTEMPTS = 8
# Shown in the room's timeline ("joined: <reason>"): a join again is otherwise unexplained there.
REJOIN_REASON = "rejoining: the homeserver had counted this bot out of the room"


def is_direct_chat(member_count: int, invited_direct: bool | None) -> bool:
    """Two members at most, and not a room whose invite said it is a group's.

    The invite's ``is_direct`` (None when the bot never saw the invite) tells a DM from a
    group room with one member so far; a DM that grew a third member is no longer private,
    whatever its invite said (a blind-mirror reflection must never be typed there).
    """
    if member_count > 2:
        return False
    return invited_direct is not False


class Membership:
    """Part of :class:`~bots.runtime.bot.BotRuntime`: invites, removals and room kinds."""

    name: str
    user_id: UserID
    db: Database
    client: AsyncClient | None
    matrix: MatrixAdapter
    features: list[Feature]
    store: SyncStore
    direct_rooms: dict[str, bool]
    joined_rooms: set[RoomID]
    _stopping: asyncio.Event
    _invited_direct: dict[str, bool]
    _joining: dict[str, asyncio.Task[None]]
    _membership_repaired: set[str]  # rooms joined again this process (``_repair_membership``)

    if TYPE_CHECKING:  # provided by the other parts of the runtime

        def allowed(self, user_id: str) -> bool: ...
        async def _sleep(self, seconds: float) -> None: ...
        def _room_known(self, room_id: RoomID) -> bool: ...
        def _forget_room_state(self, room_id: RoomID) -> None: ...

    # -- invites ----------------------------------------------------------------------------

    async def _on_invite(self, room_id: RoomID, info: Any) -> None:
        inviter = None
        is_direct = False
        for event in info.invite_state:
            src = getattr(event, "source", None)
            if not isinstance(src, dict):
                continue
            if src.get("type") == "m.room.member" and src.get("state_key") == self.user_id:
                sender = src.get("sender")
                inviter = sender if isinstance(sender, str) else None
                # nio pops "content" out of the source of an invite's member event into .content
                content = src.get("content") or getattr(event, "content", None) or {}
                is_direct = isinstance(content, dict) and content.get("is_direct") is True
        if inviter is None or not self.allowed(inviter):
            log.info("declining an invite from a server that is not allowed (%s)", server_of(inviter or ""))
            try:
                await self.matrix.leave(room_id, "This bot only serves the servers its operator allows.")
            except MatrixError as exc:
                log.warning("declining an invite failed: %s", exc.errcode)
            return
        if room_id in self._joining:
            return  # already being joined (retries in progress)
        if await self._repair_membership(room_id):
            # Invited to a room the bot is in: a second inviter's invite that reached this
            # homeserver after the bot joined (two heralds adding a new one at once).
            return
        await self._remember_kind(room_id, is_direct)
        try:
            await self.matrix.join(room_id)
        except (MatrixError, TransportError) as exc:
            # Retried in the background, so that the sync loop goes on serving other rooms.
            log.info("joining an invited room failed (%s); trying again", exc.errcode or type(exc).__name__)
            task = asyncio.create_task(self._join_invited(room_id, is_direct), name="join-retry")
            self._joining[room_id] = task
            task.add_done_callback(lambda _: self._joining.pop(room_id, None))
            return
        await self.store.set_joined_ts(room_id, int(time.time() * 1000), overwrite=False)
        self.joined_rooms.add(room_id)
        log.info("joined a room on invite (direct: %s)", is_direct)

    async def _repair_membership(self, room_id: RoomID) -> bool:
        """Join again, with a reason, a room the bot's homeserver wrongly counts it out of.

        Synapse stores an invite that arrives over federation after the bot joined as the bot's
        membership, while the room's state still says joined: the sync goes on delivering the
        room's events, but every read of the room is refused, so no event there is handled. A
        plain join is a no-op (the state already says joined); one with a reason is a new
        membership event, which puts the record right. Only for a room the bot believes it is
        in, once per room per process: a room that truly refuses the bot is not asked again and
        again, and a room it was removed from is never joined again this way."""
        if room_id not in self.joined_rooms or room_id in self._membership_repaired:
            return False  # never into a room the bot was removed from
        self._membership_repaired.add(room_id)
        try:
            await self.matrix.join(room_id, reason=REJOIN_REASON)
        except (MatrixError, TransportError) as exc:
            log.warning("could not put the bot's membership of a room right: %s", exc.errcode or exc)
            return False
        log.warning("the homeserver counted the bot out of a room it is in; joined it again")
        return True

    async def _join_invited(self, room_id: RoomID, is_direct: bool) -> None:
        """Join again for a while: over federation the invite can reach us before the
        inviting server has stored it, and a join is then refused (M_FORBIDDEN). Giving up at
        the first refusal would leave an invited bot out of the room for good."""
        delay = 0.5
        for attempt in range(2, JOIN_ATTEMPTS + 1):
            await self._sleep(delay)
            if self._stopping.is_set():
                return
            try:
                await self.matrix.join(room_id)
            except (MatrixError, TransportError) as exc:
                code = exc.errcode or type(exc).__name__
                if attempt == JOIN_ATTEMPTS:
                    log.warning("joining an invited room failed %d times: %s", attempt, code)
                    return
                delay = min(delay * 2, 8.0)
                continue
            await self.store.set_joined_ts(room_id, int(time.time() * 1000), overwrite=False)
            self.joined_rooms.add(room_id)
            log.info("joined a room on invite after %d tries (direct: %s)", attempt, is_direct)
            return

    # -- removal ----------------------------------------------------------------------------

    async def _on_removed(self, room_id: RoomID, info: Any) -> None:
        """Out of a room: each feature forgets it, once (by the membership event's id); then its
        room settings go too, unless another bot of this database is still in the room."""
        event_id = None
        for event in getattr(getattr(info, "timeline", None), "events", []) or []:
            src = getattr(event, "source", None)
            if (
                isinstance(src, dict)
                and src.get("type") == "m.room.member"
                and src.get("state_key") == self.user_id
            ):
                event_id = usable_event_id(src)
        if event_id is not None and await self.store.already_handled(event_id):
            return
        self._invited_direct.pop(room_id, None)
        self._forget_room_state(room_id)
        await self.store.forget_kind(room_id)
        for feature in self.features:
            try:
                await feature.ready()
                await feature.forget_room(room_id)
            except Exception as exc:  # one feature's failure must not stop the others
                log_failure(event_id or f"leave of {room_id}", exc)
        await self.store.forget_joined(room_id)
        if not await self.store.other_bot_joined(room_id):
            # room_setting has no bot column: the room's zone, language and kind are shared.
            await RoomSettings(self.db).forget_room(room_id)
        if event_id is not None:
            await self.store.mark_handled(event_id)
        log.info("out of a room; its features forgot it")

    # -- direct chats -----------------------------------------------------------------------

    def is_direct(self, room_id: RoomID) -> bool:
        """A direct chat: just the bot and one person, in a room not invited to as a group."""
        room = self.client.rooms.get(room_id) if self.client is not None else None
        if room is None or not self._room_known(room_id):
            # A room whose members are not known yet is no DM: never type what is private
            # where a group might read it.
            return self.direct_rooms.get(room_id, False)
        return is_direct_chat(room.member_count, self._invited_direct.get(room_id))

    async def _load_room_kinds(self) -> None:
        self._invited_direct = await self.store.room_kinds()

    async def _remember_kind(self, room_id: RoomID, is_direct: bool) -> None:
        await self.store.remember_kind(room_id, is_direct)
        self._invited_direct[room_id] = is_direct
