"""What the day-of-action e2e tests (tests/e2e/test_dayofaction.py) share: rooms, people set up
at the same time, the bot's messages, and the DMs it opens."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bots.devclient import UserClient
from bots.devserver import Homeserver
from tests.e2e.harness import BotHarness, person
from tests.e2e.helpers import Event, body, until
from tests.e2e.test_herald import wait_sent


async def room_of(
    owner: UserClient, bot: BotHarness, name: str, members: list[UserClient], encrypted: bool
) -> str:
    """A room version 10 room its owner moderates, with the bot and ``members`` joined."""
    content: dict[str, Any] = {
        "name": name,
        "invite": [bot.user_id, *(m.user_id for m in members)],
        "preset": "private_chat",
        "room_version": "10",
    }
    if encrypted:
        content["initial_state"] = [
            {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
        ]
    room = str((await owner.api("POST", "/_matrix/client/v3/createRoom", content))["room_id"])
    await owner.wait_joined(room, bot.user_id, timeout=45)
    for m in members:
        await m.join(room)
        await owner.wait_joined(room, m.user_id, timeout=45)
    return room


def from_bot(bot: BotHarness, room: str, needle: str) -> Any:
    return lambda r, e: r == room and e.get("sender") == bot.user_id and needle in body(e)


async def open_dm(who: UserClient, seen: int, bot: BotHarness | None = None) -> str:
    """The DM the bot opened with ``who`` after it had ``seen`` invites: joined, as Element does.
    With ``bot``: joined once the bot's first message is in it (joining over federation at the
    instant the bot writes can leave that message out of the person's server's view)."""
    await until(lambda: len(who.invites) > seen, f"{who.user_id} is invited to a DM", timeout=45)
    dm = who.invites[seen]
    if bot is not None:
        await wait_sent(bot, dm)
    await who.join(dm)
    return dm


async def readable(who: UserClient, bot: BotHarness, room: str, needle: str) -> Event:
    return await who.wait_readable(
        room, lambda e: e.get("sender") == bot.user_id and needle in body(e), timeout=45
    )


async def people(server: Homeserver, tmp_path: Path, n: int) -> list[UserClient]:
    """``n`` people on ``server``, logged in (and cross-signed) at the same time."""
    return list(await asyncio.gather(*(person(server, tmp_path) for _ in range(n))))
