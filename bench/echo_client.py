"""The baseline: a minimal nio client that answers !ping the way the suite does (a notice reply).

Run by bench/ping_roundtrip.py; not part of the suite.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from nio import AsyncClient, AsyncClientConfig, InviteMemberEvent, MatrixRoom, RoomMessageText

from bots.runtime.crosssign import ensure_cross_signed
from bots.runtime.matrix import Matrix


async def main(homeserver: str, user_id: str, password: str, store: str) -> None:
    Path(store).mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
    client = AsyncClient(
        homeserver,
        user_id,
        store_path=store,
        config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True),
    )
    await client.login(password, device_name="echo")
    if client.should_upload_keys:
        await client.keys_upload()
    # Element-style clients only talk to cross-signed devices; give the baseline the same chance.
    await ensure_cross_signed(Matrix(client), Path(store) / "xs.json", password)
    await client.sync(timeout=0, full_state=True)

    async def on_message(room: MatrixRoom, event: RoomMessageText) -> None:
        if event.sender != client.user_id and event.body == "!ping":
            await client.room_send(
                room.room_id,
                "m.room.message",
                {
                    "msgtype": "m.notice",
                    "body": "pong",
                    "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}},
                },
                ignore_unverified_devices=True,
            )

    async def on_invite(room: MatrixRoom, event: InviteMemberEvent) -> None:
        if event.state_key == client.user_id:
            await client.join(room.room_id)

    client.add_event_callback(on_message, RoomMessageText)
    client.add_event_callback(on_invite, InviteMemberEvent)
    print("ready", flush=True)
    await client.sync_forever(timeout=30000)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
