"""A room's state, loaded once per room and per process, instead of a full-state sync.

Asking ``/sync`` for ``full_state`` on every restart costs the homeserver seconds of CPU per
thousand rooms and nio seconds more to parse it. The bot resumes from its checkpoint with an
incremental sync instead, and learns a room's state (who is in it, invited or joined; whether it
is encrypted; who created it) the first time it needs it: before it handles an event there,
before it sends there, before it shares a room key there. One ``GET /rooms/{id}/state`` per room
fills nio's room (so that nio encrypts for the right people) and the creator cache.

A room is never treated as unencrypted for lack of knowledge: nio's store remembers every room
it saw encrypted, and a send waits for the room's state before it goes out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from nio import AsyncClient, Event, MatrixRoom, RoomEncryptionEvent, RoomMemberEvent

log = logging.getLogger(__name__)

StateFetch = Callable[[str], Awaitable[list[dict[str, Any]]]]
EncryptionProbe = Callable[[str], Awaitable[bool]]


def apply_state(client: AsyncClient, room_id: str, events: Iterable[Any]) -> MatrixRoom:
    """Fill nio's room ``room_id`` from the room's current state events (as ``/state`` returns
    them), as nio does from the state of a sync; returns the room."""
    room = client.rooms.get(room_id)
    if room is None:
        room = MatrixRoom(room_id, client.user_id, room_id in client.encrypted_rooms)
        client.rooms[room_id] = room
    encrypted = False
    for raw in events:
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            continue
        event = Event.parse_event(raw)
        if isinstance(event, RoomEncryptionEvent):
            encrypted = True
        if isinstance(event, RoomMemberEvent):
            if room.handle_membership(event) and client.olm is not None:
                # Someone came or went: the next message needs a session shared afresh.
                client.olm.outbound_group_sessions.pop(room_id, None)
        elif isinstance(event, Event):
            room.handle_event(event)
    if encrypted:
        room.encrypted = True
        if room_id not in client.encrypted_rooms:
            client.encrypted_rooms.add(room_id)
            if client.store is not None:
                client.store.save_encrypted_rooms({room_id})
    # The member list is whole now (joined and invited), so nio need not ask for it again.
    room.members_synced = True
    if room.encrypted and client.olm is not None:
        client.olm.update_tracked_users(room)
    return room


class RoomStates:
    """Which rooms' state this process has loaded; loads each at most once, even when many
    callers ask at the same time."""

    def __init__(self, client: AsyncClient, fetch: StateFetch) -> None:
        self._client = client
        self._fetch = fetch
        self._loaded: set[str] = set()
        self._plain: set[str] = set()  # known unencrypted: enough to send there
        self._loading: dict[str, asyncio.Future[None]] = {}
        self.loads = 0  # how many rooms were loaded (read by tests and benchmarks)

    def is_loaded(self, room_id: str) -> bool:
        return room_id in self._loaded

    def forget(self, room_id: str) -> None:
        """Out of the room: its state is stale; a later join loads it afresh."""
        self._loaded.discard(room_id)
        self._plain.discard(room_id)

    async def ensure_sendable(self, room_id: str, encrypted: EncryptionProbe) -> None:
        """Enough of the room's state to send there: an unencrypted room needs only to be known
        as one (a single small read, not its member list); an encrypted room needs its members,
        so its whole state is loaded. A room nio's store saw encrypted is never probed again."""
        if room_id in self._loaded or room_id in self._plain:
            return
        if room_id not in self._client.encrypted_rooms and not await encrypted(room_id):
            if room_id not in self._client.rooms:
                self._client.rooms[room_id] = MatrixRoom(room_id, self._client.user_id, False)
            self._plain.add(room_id)
            return
        await self.ensure(room_id)

    async def ensure(self, room_id: str) -> None:
        """Load the room's state unless this process already did. Raises the typed errors of
        the fetch (a room the bot is not in: ``Forbidden``), and then loads again next time."""
        if room_id in self._loaded:
            return
        pending = self._loading.get(room_id)
        if pending is not None:
            await asyncio.shield(pending)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._loading[room_id] = future
        try:
            events = await self._fetch(room_id)
            apply_state(self._client, room_id, events)
            self._loaded.add(room_id)
            self.loads += 1
            future.set_result(None)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: waiters re-raise it, nobody else must
            raise
        finally:
            self._loading.pop(room_id, None)
