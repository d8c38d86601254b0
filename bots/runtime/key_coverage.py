"""A message waits until its room key has reached every device meant to read it (for a while).

nio shares a room's Megolm session with the member devices it can, and then counts the session
as shared. A device it could not reach is left out silently: one it has no Olm session with (its
one-time keys could not be claimed because the other homeserver was slow or away), one whose
to-device request failed, or one whose owner's device list could not be fetched at all. Every
message under that session stays unreadable on that device for good ("no session found"); for
a direct chat the bot has just opened, that is the whole conversation.

So before each encrypted send the bot checks who still lacks the current session, claims their
one-time keys again, and shares the *same* session with just them. If someone is still
unreachable, the send fails as a transport error and the outbox tries again with its backoff, up
to ``KEY_WAIT_S`` per homeserver; after that, messages go out for those who can read them (one
member's dead homeserver must not silence a room) and the missing devices are tried again, at most
every ``RECLAIM_EVERY_S``, before later sends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from nio import AsyncClient

from bots.runtime.errors import TransportError
from bots.runtime.ids import RoomID

log = logging.getLogger(__name__)

KEY_WAIT_S = 30.0
RECLAIM_EVERY_S = 60.0

Device = tuple[str, str]  # (user id, device id); device "*" stands for devices not yet known


def missing_devices(client: AsyncClient, room_id: str) -> set[Device]:
    """The member devices (joined or invited) that should hold the room's current outbound
    session and do not. A member whose device list nio has not fetched yet counts as missing."""
    olm = client.olm
    room = client.rooms.get(room_id)
    if olm is None or room is None or not room.encrypted:
        return set()
    session = olm.outbound_group_sessions.get(room_id)
    has = set(session.users_shared_with) | set(session.users_ignored) if session is not None else set()
    missing: set[Device] = set()
    for user_id in room.users:
        if user_id in olm.users_for_key_query:
            missing.add((user_id, "*"))
            continue
        for device in client.device_store.active_user_devices(user_id):
            if device.id == client.device_id or olm.is_device_blacklisted(device):
                continue
            if (user_id, device.id) not in has:
                missing.add((user_id, device.id))
    return missing


def _servers(devices: set[Device]) -> set[str]:
    return {user_id.split(":", 1)[1] for user_id, _ in devices}


class KeyCoverage:
    """Per process: which homeservers' devices lack a room key, since when, and which rooms'
    messages are held for them.

    The wait is counted per homeserver, not per room: a herald in a thousand rooms that all
    include someone on a dead server holds its messages once, for ``KEY_WAIT_S``, not a
    thousand times."""

    def __init__(
        self,
        client: AsyncClient,
        share: Callable[[RoomID], Awaitable[Any]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self._share = share  # shares the room's session with whoever lacks it (nio, as configured)
        self._clock = clock
        self._missing_since: dict[str, float] = {}  # homeserver -> first seen lacking a key
        self._last_try: dict[str, float] = {}  # homeserver -> last claim for its devices
        self._held: set[str] = set()
        self.sent_incomplete = 0  # messages sent although a device lacked the key (for tests)

    async def ensure(self, room_id: str) -> None:
        """Share the room's session until every member device has it; raise ``TransportError``
        while some device lacks it and its homeserver has been waited for less than
        ``KEY_WAIT_S``."""
        client = self.client
        olm = client.olm
        room = client.rooms.get(room_id)
        if olm is None or room is None or not room.encrypted:
            return
        await self._share_if_needed(room_id)
        missing = missing_devices(client, room_id)
        if missing:
            now = self._clock()
            servers = _servers(missing)
            for server in servers:
                self._missing_since.setdefault(server, now)
            if any(self._fresh(s, now) or self._try_due(s, now) for s in servers):
                for server in servers:
                    self._last_try[server] = now
                await self._reach(room_id, missing)
                missing = missing_devices(client, room_id)
                for server in servers - _servers(missing):  # reached again: no longer waited for
                    self._missing_since.pop(server, None)
                    self._last_try.pop(server, None)
            if missing and any(self._fresh(s, now) for s in _servers(missing)):
                self._held.add(room_id)
                raise TransportError(f"room key not yet delivered to {len(missing)} device(s)")
        self._held.discard(room_id)
        if missing:
            self.sent_incomplete += 1
            log.warning("sending although %d device(s) could not get the room key", len(missing))

    def waiting(self) -> frozenset[str]:
        """The rooms whose last send was held for a device to get the key (for tests)."""
        return frozenset(self._held)

    def forget(self, room_id: str) -> None:
        self._held.discard(room_id)

    def _fresh(self, server: str, now: float) -> bool:
        return now - self._missing_since[server] < KEY_WAIT_S

    def _try_due(self, server: str, now: float) -> bool:
        return now - self._last_try.get(server, now - RECLAIM_EVERY_S) >= RECLAIM_EVERY_S

    async def _share_if_needed(self, room_id: str) -> None:
        olm = self.client.olm
        assert olm is not None
        if olm.should_share_group_session(room_id):
            await self._run_share(room_id)

    async def _reach(self, room_id: str, missing: set[Device]) -> None:
        """Fetch unknown device lists, claim one-time keys for devices without an Olm session,
        then share the current session (not a new one) with the devices that lack it."""
        client = self.client
        olm = client.olm
        assert olm is not None
        try:
            if client.should_query_keys:
                await client.keys_query()
            claim: dict[str, list[str]] = {}
            for user_id, device_id in missing:
                for device in client.device_store.active_user_devices(user_id):
                    if device_id in ("*", device.id) and not olm.session_store.get(device.curve25519):
                        claim.setdefault(user_id, []).append(device.id)
            if claim:
                await client.keys_claim(claim)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransportError(f"reach devices: {type(exc).__name__}") from exc
        session = olm.outbound_group_sessions.get(room_id)
        if session is not None:
            # nio shares an unshared session only with devices it has not shared it with yet.
            session.shared = False
        await self._run_share(room_id)

    async def _run_share(self, room_id: str) -> None:
        sharing = self.client.sharing_session.get(room_id)
        if sharing is not None:  # another send is sharing it right now: let it finish
            await sharing.wait()
            return
        await self._share(RoomID(room_id))
