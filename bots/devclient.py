"""A person's side of a conversation, as a separate nio client with its own encryption store.

Used by the demo (the scripted exchange) and by the end-to-end tests. It cross-signs its own
device (as Element would), so the bot's MSC4153 policy shares room keys with it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nio import AsyncClient, AsyncClientConfig, LoginResponse, MegolmEvent, RoomSendResponse

from bots.runtime.crosssign import ensure_cross_signed
from bots.runtime.matrix import Matrix, check

Event = dict[str, Any]


class UserClient:
    def __init__(
        self, homeserver: str, user_id: str, password: str, store: Path, cross_sign: bool = True
    ) -> None:
        store.mkdir(parents=True, exist_ok=True)
        self.password = password
        self.store = store
        self.cross_sign = cross_sign
        self.client = AsyncClient(
            homeserver,
            user_id,
            store_path=str(store),
            config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True, max_timeouts=0),
        )
        self.events: list[tuple[str, Event]] = []
        self.invites: list[str] = []
        self._seen: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._new = asyncio.Event()

    @property
    def user_id(self) -> str:
        return str(self.client.user_id)

    async def login(self) -> None:
        resp = check(await self.client.login(self.password, device_name="test-device"))
        assert isinstance(resp, LoginResponse)
        if self.client.should_upload_keys:
            check(await self.client.keys_upload())
        if self.cross_sign:
            await ensure_cross_signed(Matrix(self.client), self.store / "cross_signing.json", self.password)
        await self.sync_once(full_state=True)
        self._task = asyncio.create_task(self._loop())

    async def sync_once(self, full_state: bool = False) -> None:
        resp = check(await self.client.sync(timeout=1000 if not full_state else 0, full_state=full_state))
        for room_id, info in resp.rooms.join.items():
            for event in info.timeline.events:
                self._record(room_id, event)
        self.invites.extend(resp.rooms.invite.keys())
        client = self.client
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()
        self._new.set()

    def _record(self, room_id: str, event: Any) -> None:
        # An event can come twice (the sync after a join and the history read): keep it once,
        # so that counting what arrived counts messages, not deliveries to this client.
        if isinstance(event, MegolmEvent):
            if event.event_id not in self._seen:
                self._seen.add(event.event_id)
                self.events.append(
                    (room_id, {"type": "undecryptable", "event_id": event.event_id, "sender": event.sender})
                )
            return
        src = getattr(event, "source", None)
        if isinstance(src, dict):
            event_id = src.get("event_id")
            if event_id is not None and event_id in self._seen:
                # Seen before undecryptable and readable now (its key came): keep the readable one.
                for i, (_r, e) in enumerate(self.events):
                    if e.get("event_id") == event_id and e.get("type") == "undecryptable":
                        self.events[i] = (room_id, src)
                return
            if event_id is not None:
                self._seen.add(event_id)
            self.events.append((room_id, src))

    async def _loop(self) -> None:
        while True:
            try:
                await self.sync_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.5)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self.client.close()

    async def create_room(
        self, name: str, invite: list[str], encrypted: bool = False, is_direct: bool = False
    ) -> str:
        body: dict[str, Any] = {
            "name": name,
            "invite": invite,
            "preset": "private_chat",
            "is_direct": is_direct,
        }
        if encrypted:
            body["initial_state"] = [
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            ]
        data = await Matrix(self.client).api("POST", "/_matrix/client/v3/createRoom", body)
        return str(data["room_id"])

    async def api(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        return await Matrix(self.client).api(method, path, body)

    async def join(self, room_id: str, history: bool = True) -> None:
        """Join, then read the room's recent history as Element does when it opens a room.

        A server that joins a room over federation gets its state, not the messages sent
        before the join; reading /messages backwards makes it backfill them (an invite sent
        with a first message, like the bot's alerts to a liaison on another server).
        """
        await Matrix(self.client).join(room_id)
        if history:
            await self.history(room_id)

    async def history(self, room_id: str, limit: int = 50) -> None:
        """Record the room's latest events that this client has not seen yet (oldest first)."""
        deadline = time.monotonic() + 30
        while room_id not in self.client.rooms and time.monotonic() < deadline:
            await self.wait_new(1)
        resp = check(await self.client.room_messages(room_id, limit=limit))
        for event in reversed(resp.chunk):
            self._record(room_id, event)
        self._new.set()

    async def send_text(self, room_id: str, body: str, extra: dict[str, Any] | None = None) -> str:
        content = {"msgtype": "m.text", "body": body, **(extra or {})}
        return await self.send(room_id, "m.room.message", content)

    async def send(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        deadline = time.monotonic() + 30
        while room_id not in self.client.rooms and time.monotonic() < deadline:
            await self.wait_new(1)
        resp = check(
            await self.client.room_send(room_id, event_type, content, ignore_unverified_devices=True)
        )
        assert isinstance(resp, RoomSendResponse)
        return str(resp.event_id)

    async def wait_new(self, timeout: float) -> None:
        self._new.clear()
        try:
            await asyncio.wait_for(self._new.wait(), timeout)
        except TimeoutError:
            pass

    async def wait_for(
        self, match: Callable[[str, Event], bool], timeout: float = 30, start: int = 0
    ) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            for room_id, event in self.events[start:]:
                if match(room_id, event):
                    return event
            if time.monotonic() > deadline:
                raise TimeoutError("the expected event did not arrive")
            await self.wait_new(min(1.0, max(0.05, deadline - time.monotonic())))

    async def wait_readable(self, room_id: str, match: Callable[[Event], bool], timeout: float = 30) -> Event:
        """Wait for a decrypted event in a room, reading its history again while keys arrive.

        A room key can come in a later sync than the message it opens (as when the bot writes
        to someone it has only invited); Element then decrypts the message again, and so do we.
        """
        deadline = time.monotonic() + timeout
        while True:
            for r, event in self.events:
                if r == room_id and event.get("type") != "undecryptable" and match(event):
                    return event
            if time.monotonic() > deadline:
                raise TimeoutError("no readable event arrived")
            await self.wait_new(1.0)
            await self.history(room_id)

    async def wait_reply(self, room_id: str, event_id: str, timeout: float = 30) -> Event:
        return await self.wait_for(lambda r, e: r == room_id and replies_to(e) == event_id, timeout)

    def replies(self, room_id: str, event_id: str) -> list[Event]:
        return [e for r, e in self.events if r == room_id and replies_to(e) == event_id]

    def notices(self, room_id: str, sender: str | None = None) -> list[Event]:
        return [
            e
            for r, e in self.events
            if r == room_id
            and e.get("type") == "m.room.message"
            and e.get("content", {}).get("msgtype") == "m.notice"
            and (sender is None or e.get("sender") == sender)
        ]

    async def wait_joined(self, room_id: str, user_id: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            members = await self.api("GET", f"/_matrix/client/v3/rooms/{room_id}/joined_members")
            if user_id in members.get("joined", {}):
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{user_id} did not join")


def replies_to(event: Event) -> str | None:
    content = event.get("content") or {}
    return ((content.get("m.relates_to") or {}).get("m.in_reply_to") or {}).get("event_id")
