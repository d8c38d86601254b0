"""The one adapter around nio: every homeserver call the suite makes goes through here.

nio returns ``ErrorResponse`` values instead of raising; here each becomes a typed exception
(``RateLimited``, ``Forbidden``, ``NotFound``, ``TransportError``, ``MatrixError``), so feature
code never inspects nio response types. Calls nio does not cover (cross-signing, raw state reads)
go through :meth:`Matrix.api`, which raises the same way.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from nio import AsyncClient, ErrorResponse, LocalProtocolError, RoomSendResponse

from bots.runtime.errors import (
    Forbidden,
    MatrixError,
    NotFound,
    RateLimited,
    TransportError,
)
from bots.runtime.ids import EventID, RoomID, UserID
from bots.runtime.key_coverage import KeyCoverage
from bots.runtime.room_state import RoomStates

log = logging.getLogger(__name__)

_NOT_FOUND = {"M_NOT_FOUND", "M_UNRECOGNIZED"}
_FORBIDDEN = {"M_FORBIDDEN", "M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_USER_DEACTIVATED"}


def q(part: str) -> str:
    return quote(part, safe="")


def raise_for(errcode: str | None, message: str, status: int | None, retry_after_ms: Any = None) -> None:
    if errcode == "M_LIMIT_EXCEEDED" or status == 429:
        raise RateLimited(int(retry_after_ms or 1000), message)
    if errcode in _FORBIDDEN or status == 403:
        raise Forbidden(message, errcode, status)
    if errcode in _NOT_FOUND or status == 404:
        raise NotFound(message, errcode, status)
    if status is not None and status >= 500:
        # The homeserver is up but failing: treat like being away, try again later.
        raise TransportError(message, errcode, status)
    raise MatrixError(message, errcode, status)


def check(resp: Any) -> Any:
    """Turn an nio error value into a typed exception; pass any success through."""
    if isinstance(resp, ErrorResponse):
        status = None
        transport = getattr(resp, "transport_response", None)
        if transport is not None:
            status = getattr(transport, "status", None)
        raise_for(resp.status_code, resp.message or str(resp.status_code), status, resp.retry_after_ms)
    return resp


def creators_of(create_event: dict[str, Any]) -> frozenset[UserID]:
    """Privileged creators named by an ``m.room.create`` event (none before room version 12)."""
    content = create_event.get("content") or {}
    version = str(content.get("room_version", "1"))
    privileged = version == "org.matrix.hydra.11" or (
        version.isascii() and version.isdigit() and int(version) >= 12
    )
    if not privileged or not isinstance(create_event.get("sender"), str):
        return frozenset()
    extra = content.get("additional_creators") or []
    return frozenset(UserID(u) for u in [create_event["sender"], *extra] if isinstance(u, str))


class Matrix:
    """A logged-in bot's view of its homeserver."""

    def __init__(self, client: AsyncClient, *, share_with_unverified: bool = False) -> None:
        self.client = client
        self.share_with_unverified = share_with_unverified
        # A room's create event never changes, so who created it can be remembered.
        self._creators: dict[str, frozenset[UserID]] = {}
        # Each room's state, loaded once per process when first needed (no full-state sync).
        self.room_states = RoomStates(client, self._fetch_state)
        # Sends wait until the room key reached every member device (bots/runtime/key_coverage.py).
        self.key_coverage = KeyCoverage(client, self.share_room_key)

    @property
    def user_id(self) -> UserID:
        return UserID(self.client.user_id)

    async def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> dict[str, Any]:
        """A raw client-server API call, with the bot's token; errors raise typed exceptions."""
        if query:
            path = f"{path}?{urlencode(query)}"
        headers = {"Authorization": f"Bearer {self.client.access_token}"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body)
        try:
            resp = await self.client.send(method, path, data, headers, timeout=timeout)
            try:
                payload = await resp.json(content_type=None)
            except (json.JSONDecodeError, aiohttp.ContentTypeError):
                payload = {}
            status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransportError(f"{method} {path.split('?')[0]}: {type(exc).__name__}") from exc
        if status >= 400:
            if not isinstance(payload, dict):
                payload = {}
            raise_for(
                payload.get("errcode"),
                payload.get("error", f"HTTP {status}"),
                status,
                payload.get("retry_after_ms"),
            )
        return payload if isinstance(payload, dict) else {"value": payload}

    async def load_room(self, room_id: RoomID) -> None:
        """Make sure nio knows the room's state (members, encryption), once per process."""
        await self.room_states.ensure(room_id)

    async def load_room_for_send(self, room_id: RoomID) -> None:
        """Enough of the room's state to send there (an unencrypted room: that it is one)."""
        await self.room_states.ensure_sendable(room_id, self._probe_encrypted)

    async def _probe_encrypted(self, room_id: str) -> bool:
        return await self.is_encrypted(RoomID(room_id))

    async def _fetch_state(self, room_id: str) -> list[dict[str, Any]]:
        data = await self.api("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/state")
        events = [e for e in data.get("value", []) if isinstance(e, dict)]
        create = next((e for e in events if e.get("type") == "m.room.create"), None)
        if create is not None:
            self._creators[room_id] = creators_of(create)
        return events

    async def share_room_key(self, room_id: RoomID) -> bool:
        """Share the room's outbound Megolm session now, if it needs sharing (bots/runtime/
        keys_ahead.py); whether it was shared. Call after the room's devices were settled."""
        client = self.client
        room = client.rooms.get(room_id)
        if room is None or not room.encrypted or client.olm is None:
            return False
        if not client.olm.should_share_group_session(room_id):
            return False
        sharing = client.sharing_session.get(room_id)
        if sharing is not None:  # a send is sharing it right now
            await sharing.wait()
            return False
        try:
            check(
                await client.share_group_session(
                    room_id, ignore_unverified_devices=self.share_with_unverified
                )
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransportError(f"share keys: {type(exc).__name__}") from exc
        return True

    async def send_event(
        self, room_id: RoomID, event_type: str, content: dict[str, Any], txn_id: str
    ) -> EventID:
        """Send one event. The stable ``txn_id`` makes a retry land at most once."""
        await self.load_room_for_send(room_id)  # nio must know the room, and who gets its key
        try:
            resp = await self.client.room_send(
                room_id,
                event_type,
                content,
                tx_id=txn_id,
                ignore_unverified_devices=self.share_with_unverified,
            )
        except LocalProtocolError as exc:
            # nio has not seen the room yet (just joined or created): try again after a sync.
            raise TransportError(f"room not known locally yet: {exc}") from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransportError(f"send: {type(exc).__name__}") from exc
        resp = check(resp)
        assert isinstance(resp, RoomSendResponse)
        return EventID(resp.event_id)

    async def joined_members(self, room_id: RoomID) -> list[UserID]:
        """Members joined right now, read fresh from the homeserver."""
        data = await self.api("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/joined_members")
        return [UserID(u) for u in data.get("joined", {})]

    async def state_event(self, room_id: RoomID, event_type: str, state_key: str = "") -> dict[str, Any]:
        path = f"/_matrix/client/v3/rooms/{q(room_id)}/state/{q(event_type)}/{q(state_key)}"
        return await self.api("GET", path)

    async def power_levels(self, room_id: RoomID) -> dict[str, Any]:
        """The room's power levels, read fresh (never a cache that a restart made stale)."""
        try:
            return await self.state_event(room_id, "m.room.power_levels")
        except NotFound:
            return {}

    async def creators(self, room_id: RoomID) -> frozenset[UserID]:
        """The users whose power in the room is above every level (room version 12 on).

        Since room version 12 (MSC4289) the room's creator and its ``additional_creators`` hold
        an infinite power level and are *not* listed in ``m.room.power_levels``. Element and
        current Synapse create version 12 rooms, so without this the person who made a room
        could not run a moderator command in it. Earlier versions have no such users.
        """
        cached = self._creators.get(room_id)
        if cached is not None:
            return cached
        path = f"/_matrix/client/v3/rooms/{q(room_id)}/state/m.room.create/?format=event"
        event = await self.api("GET", path)
        if "sender" not in event:  # a server that ignores format=event: find it in the state
            state = await self.api("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/state")
            event = next((e for e in state.get("value", []) if e.get("type") == "m.room.create"), {})
        result = creators_of(event)
        self._creators[room_id] = result
        return result

    async def room_name(self, room_id: RoomID) -> str:
        """A label people recognise: the room's name, else its canonical alias, else its id."""
        for event_type, key in (("m.room.name", "name"), ("m.room.canonical_alias", "alias")):
            try:
                value = (await self.state_event(room_id, event_type)).get(key)
            except (NotFound, Forbidden):
                continue
            if isinstance(value, str) and value.strip():
                return value.strip()
        return str(room_id)

    async def is_encrypted(self, room_id: RoomID) -> bool:
        try:
            await self.state_event(room_id, "m.room.encryption")
        except NotFound:
            return False
        return True

    async def joined_rooms(self) -> list[RoomID]:
        """The rooms the bot is joined to now (one cheap request, no room state)."""
        data = await self.api("GET", "/_matrix/client/v3/joined_rooms")
        return [RoomID(r) for r in data.get("joined_rooms", []) if isinstance(r, str)]

    async def join(self, room_id: str, reason: str | None = None) -> RoomID:
        body = {"reason": reason} if reason else {}
        data = await self.api("POST", f"/_matrix/client/v3/join/{q(room_id)}", body)
        return RoomID(data["room_id"])

    async def leave(self, room_id: RoomID, reason: str | None = None) -> None:
        body = {"reason": reason} if reason else {}
        await self.api("POST", f"/_matrix/client/v3/rooms/{q(room_id)}/leave", body)

    async def invite(self, room_id: RoomID, user_id: UserID) -> None:
        await self.api("POST", f"/_matrix/client/v3/rooms/{q(room_id)}/invite", {"user_id": user_id})

    async def create_room(
        self,
        name: str,
        invite: list[UserID],
        *,
        encrypted: bool = True,
        is_direct: bool = False,
        topic: str | None = None,
    ) -> RoomID:
        body: dict[str, Any] = {
            "name": name,
            "invite": list(invite),
            "preset": "trusted_private_chat" if is_direct else "private_chat",
            "is_direct": is_direct,
        }
        if topic:
            body["topic"] = topic
        if encrypted:
            body["initial_state"] = [
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            ]
        data = await self.api("POST", "/_matrix/client/v3/createRoom", body)
        return RoomID(data["room_id"])

    async def redact(
        self, room_id: RoomID, event_id: EventID, txn_id: str, reason: str | None = None
    ) -> None:
        path = f"/_matrix/client/v3/rooms/{q(room_id)}/redact/{q(event_id)}/{q(txn_id)}"
        await self.api("PUT", path, {"reason": reason} if reason else {})

    async def resolve_room(self, ref: str) -> RoomID:
        """A room id, ``#alias:server`` or matrix.to link -> the room id."""
        ref = ref.strip()
        if ref.startswith("https://matrix.to/#/"):
            ref = ref.removeprefix("https://matrix.to/#/").split("?")[0]
            from urllib.parse import unquote

            ref = unquote(ref)
        if ref.startswith("!"):
            return RoomID(ref)
        if ref.startswith("#"):
            data = await self.api("GET", f"/_matrix/client/v3/directory/room/{q(ref)}")
            return RoomID(data["room_id"])
        raise NotFound(f"'{ref}' is not a room: use #alias:server, a room id or a matrix.to link")

    async def upload(self, data: bytes, content_type: str, filename: str) -> str:
        """Upload media; returns its mxc:// URI."""
        headers = {
            "Authorization": f"Bearer {self.client.access_token}",
            "Content-Type": content_type,
        }
        path = f"/_matrix/media/v3/upload?{urlencode({'filename': filename})}"
        try:
            resp = await self.client.send("POST", path, data, headers)
            payload = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransportError(f"upload: {type(exc).__name__}") from exc
        if resp.status >= 400:
            raise_for(
                payload.get("errcode"), payload.get("error", ""), resp.status, payload.get("retry_after_ms")
            )
        return str(payload["content_uri"])

    async def messages(
        self, room_id: RoomID, start: str, end: str | None = None, limit: int = 100
    ) -> tuple[list[Any], str | None]:
        """Page backwards through a room's history (decrypted by nio where it can)."""
        try:
            resp = check(await self.client.room_messages(room_id, start=start, end=end, limit=limit))
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TransportError(f"messages: {type(exc).__name__}") from exc
        return list(resp.chunk), resp.end
